//! HTTP benchmark: lb vs haproxy vs nginx (keep-alive, fixed rate, self-answering, new
//! connection per request, h2c).

use anyhow::Result;

use super::Section;

/// Measures the HTTP scenarios and returns the report section.
pub fn run() -> Result<Section> {
    Ok(Section {
        title: "HTTP".into(),
        body: "Not measured yet.\n".into(),
    })
}
