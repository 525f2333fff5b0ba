//! Why eBPF cannot be used here: build, privileges, kernel BTF, bpffs.

use std::{fs, path::Path};

use super::{BUILT_IN, Unavailable, build_info};

const CAP_NET_ADMIN: u32 = 12;
const CAP_SYS_ADMIN: u32 = 21;
const CAP_BPF: u32 = 39;
const KERNEL_BTF: &str = "/sys/kernel/btf/vmlinux";

/// Checks everything needed to load XDP and pin maps under `pin_path`; the first missing piece.
pub fn probe(pin_path: &Path) -> Result<(), Unavailable> {
    if !BUILT_IN {
        return Err(Unavailable::NotBuiltIn(build_info()));
    }
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    if !privileged(effective_caps(&status)) {
        return Err(Unavailable::NotPrivileged);
    }
    if !Path::new(KERNEL_BTF).exists() {
        return Err(Unavailable::NoKernelBtf);
    }
    let mounts = fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    if !on_bpffs(&mounts, pin_path) {
        return Err(Unavailable::BpffsNotMounted(pin_path.to_path_buf()));
    }
    Ok(())
}

/// The `CapEff` mask of a `/proc/<pid>/status` text (0 when absent).
fn effective_caps(status: &str) -> u64 {
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .unwrap_or(0)
}

/// Loading needs CAP_BPF (or the older CAP_SYS_ADMIN); attaching XDP needs CAP_NET_ADMIN.
fn privileged(caps: u64) -> bool {
    let has = |cap: u32| caps & (1 << cap) != 0;
    (has(CAP_BPF) || has(CAP_SYS_ADMIN)) && has(CAP_NET_ADMIN)
}

/// Whether the deepest mount containing `path` in a `/proc/mounts` text is a bpffs.
fn on_bpffs(mounts: &str, path: &Path) -> bool {
    mounts
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (_source, point, fstype) = (fields.next()?, fields.next()?, fields.next()?);
            let point = unescape_mount_path(point);
            path.starts_with(&point)
                .then_some((point.len(), fstype == "bpf"))
        })
        // The last mount on the deepest mount point is the one in effect.
        .fold(None, |best: Option<(usize, bool)>, m| match best {
            Some(b) if b.0 > m.0 => Some(b),
            _ => Some(m),
        })
        .is_some_and(|(_, bpf)| bpf)
}

/// `/proc/mounts` writes space, tab, newline and backslash as octal escapes (`\040`).
fn unescape_mount_path(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut rest = field;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let code = rest
            .get(i + 1..i + 4)
            .and_then(|o| u8::from_str_radix(o, 8).ok());
        match code {
            Some(byte) => {
                out.push(char::from(byte));
                rest = &rest[i + 4..];
            }
            None => {
                out.push('\\');
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTS: &str = "\
sysfs /sys sysfs rw,nosuid 0 0
bpf /sys/fs/bpf bpf rw,relatime,mode=700 0 0
tmpfs /sys/fs/bpf/lb\\040x tmpfs rw 0 0
";

    #[test]
    fn caps_parsed_from_status() {
        let status = "Name:\tlb\nCapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\n";
        assert!(privileged(effective_caps(status)));
        assert!(!privileged(effective_caps("CapEff:\t0000000000000000\n")));
        assert!(!privileged(effective_caps("garbage")));
        // CAP_BPF without CAP_NET_ADMIN loads but cannot attach.
        assert!(!privileged(1 << CAP_BPF));
        assert!(privileged(1 << CAP_BPF | 1 << CAP_NET_ADMIN));
        assert!(privileged(1 << CAP_SYS_ADMIN | 1 << CAP_NET_ADMIN));
    }

    #[test]
    fn bpffs_is_the_deepest_mount() {
        assert!(on_bpffs(MOUNTS, Path::new("/sys/fs/bpf/lb")));
        assert!(on_bpffs(MOUNTS, Path::new("/sys/fs/bpf")));
        assert!(!on_bpffs(MOUNTS, Path::new("/sys/fs/bpfx")));
        assert!(!on_bpffs(MOUNTS, Path::new("/sys/fs/bpf/lb x/maps")));
        assert!(!on_bpffs(MOUNTS, Path::new("/tmp")));
        assert!(!on_bpffs("", Path::new("/sys/fs/bpf")));
    }

    #[test]
    fn a_later_mount_on_the_same_point_wins() {
        let mounts = "bpf /sys/fs/bpf bpf rw 0 0\nnone /sys/fs/bpf tmpfs rw 0 0\n";
        assert!(!on_bpffs(mounts, Path::new("/sys/fs/bpf/lb")));
    }

    #[test]
    fn mount_paths_are_unescaped() {
        assert_eq!(unescape_mount_path("/a\\040b\\134c"), "/a b\\c");
        assert_eq!(unescape_mount_path("/trailing\\"), "/trailing\\");
        assert_eq!(unescape_mount_path("/bad\\9xx"), "/bad\\9xx");
    }
}
