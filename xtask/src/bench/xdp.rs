//! XDP benchmark: per-packet cost via BPF_PROG_TEST_RUN against a trivial XDP_DROP program,
//! and a SYN flood into a veth pair against an nftables raw-table drop.

use anyhow::Result;

use super::Section;

/// Measures the XDP scenarios and returns the report section.
pub fn run() -> Result<Section> {
    Ok(Section {
        title: "XDP guard".into(),
        body: "Not measured yet.\n".into(),
    })
}
