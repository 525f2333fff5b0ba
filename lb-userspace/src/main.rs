//! The `lb` binary: see `lb -h`.

fn main() {
    std::process::exit(lb::process::main_with_args(std::env::args().skip(1)));
}
