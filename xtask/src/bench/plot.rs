//! A small SVG line plot (no dependencies): one or more series against a shared x axis.

use std::fmt::Write as _;

/// One line of a plot.
pub struct Series {
    /// Legend text.
    pub name: String,
    /// Points `(x, y)`, drawn in order.
    pub points: Vec<(f64, f64)>,
}

/// A plot's titles.
pub struct Axes<'a> {
    /// Title above the plot.
    pub title: &'a str,
    /// Label of the x axis.
    pub x: &'a str,
    /// Label of the y axis.
    pub y: &'a str,
}

const W: f64 = 640.0;
const H: f64 = 400.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 150.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 50.0;
const COLORS: &[&str] = &[
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
];

/// Draws the series as an SVG document (axes from 0 to the largest value).
pub fn svg(axes: &Axes<'_>, series: &[Series]) -> String {
    let all = series.iter().flat_map(|s| s.points.iter());
    let (xmax, ymax) = all.fold((0.0_f64, 0.0_f64), |(x, y), p| (x.max(p.0), y.max(p.1)));
    let (xmax, ymax) = (nonzero(xmax), nonzero(ymax));
    let px = |x: f64| LEFT + x / xmax * (W - LEFT - RIGHT);
    let py = |y: f64| H - BOTTOM - y / ymax * (H - TOP - BOTTOM);
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{}" y="20" text-anchor="middle" font-size="14">{}</text>
<line x1="{LEFT}" y1="{}" x2="{}" y2="{}" stroke="black"/>
<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{}" stroke="black"/>
<text x="{}" y="{}" text-anchor="middle">{}</text>
<text x="15" y="{}" text-anchor="middle" transform="rotate(-90 15 {})">{}</text>
"#,
        W / 2.0,
        esc(axes.title),
        H - BOTTOM,
        W - RIGHT,
        H - BOTTOM,
        H - BOTTOM,
        (LEFT + W - RIGHT) / 2.0,
        H - 12.0,
        esc(axes.x),
        H / 2.0,
        H / 2.0,
        esc(axes.y),
    );
    for i in 0..=4 {
        let f = f64::from(i) / 4.0;
        let _ = writeln!(
            out,
            r#"<text x="{}" y="{}" text-anchor="end">{}</text><text x="{}" y="{}" text-anchor="middle">{}</text>"#,
            LEFT - 5.0,
            py(ymax * f) + 4.0,
            short(ymax * f),
            px(xmax * f),
            H - BOTTOM + 16.0,
            short(xmax * f),
        );
    }
    for (i, s) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let pts: Vec<String> = s
            .points
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", px(x), py(y)))
            .collect();
        let _ = writeln!(
            out,
            r#"<polyline fill="none" stroke="{color}" stroke-width="2" points="{}"/>"#,
            pts.join(" ")
        );
        for &(x, y) in &s.points {
            let _ = writeln!(
                out,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{color}"/>"#,
                px(x),
                py(y)
            );
        }
        let ly = TOP + 20.0 * i as f64;
        let _ = writeln!(
            out,
            r#"<line x1="{}" y1="{ly}" x2="{}" y2="{ly}" stroke="{color}" stroke-width="2"/><text x="{}" y="{}">{}</text>"#,
            W - RIGHT + 10.0,
            W - RIGHT + 30.0,
            W - RIGHT + 35.0,
            ly + 4.0,
            esc(&s.name),
        );
    }
    out.push_str("</svg>\n");
    out
}

fn nonzero(v: f64) -> f64 {
    if v > 0.0 { v } else { 1.0 }
}

/// A compact tick label (`12.5k`, `3.2M`).
fn short(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_one_polyline_per_series_with_legend() {
        let s = svg(
            &Axes {
                title: "t",
                x: "offered req/s",
                y: "req/s",
            },
            &[
                Series {
                    name: "lb".into(),
                    points: vec![(0.0, 0.0), (10.0, 9.0)],
                },
                Series {
                    name: "haproxy <2.6>".into(),
                    points: vec![(10.0, 8.0)],
                },
            ],
        );
        assert_eq!(s.matches("<polyline").count(), 2);
        assert!(s.contains("haproxy &lt;2.6&gt;"));
        assert!(s.starts_with("<svg") && s.ends_with("</svg>\n"));
    }
}
