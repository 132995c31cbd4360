//! report.html's charts, drawn by plotters as SVG text (no fonts, no bitmaps): a case chart
//! (a figure for each case of a workload, one marker per server at its median with a min–max
//! error bar over the rounds, servers side by side within a case) and a line chart (a figure
//! against a numeric x: the price of a syscall, or the worker count). Every server has one
//! colour in every chart ([`color`]); completion servers are drawn with circles and solid
//! lines, readiness servers with triangles and dashed lines. The y axis is logarithmic: the
//! cases of one workload span two orders of magnitude. The legend is the report's, in HTML.

use crate::results::summary::Stat;
use crate::results::Model;
use plotters::prelude::*;

/// One server's points.
pub struct Series {
    pub name: String,
    pub model: Model,
    /// Case chart: one per case (None where it has no figure); line chart: at `xs[i]`.
    pub points: Vec<Option<Stat>>,
}

/// Colours for the servers and proxies the harness knows, so that each keeps its colour from
/// chart to chart and report to report.
const KNOWN: [(&str, u32); 13] = [
    ("corio-uring", 0xd62728),
    ("corio-epoll", 0x1f77b4),
    ("corio-uring-compat", 0xff9896),
    ("raw-uring", 0x8c564b),
    ("raw-epoll", 0x17becf),
    ("tokio", 0x2ca02c),
    ("tokio-mt", 0x98df8a),
    ("monoio", 0x9467bd),
    ("compio", 0xe377c2),
    ("haproxy", 0xff7f0e),
    ("nginx", 0x7f7f7f),
    ("corio-uring-splice", 0xbcbd22),
    ("corio-epoll-splice", 0x393b79),
];

/// For names the table does not know.
const OTHERS: [u32; 4] = [0x637939, 0x843c39, 0x7b4173, 0x5254a3];

pub fn color(name: &str) -> RGBColor {
    let rgb = KNOWN
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, c)| *c)
        .unwrap_or_else(|| {
            let h = name
                .bytes()
                .fold(0usize, |h, b| h.wrapping_mul(31) + b as usize);
            OTHERS[h % OTHERS.len()]
        });
    RGBColor((rgb >> 16) as u8, (rgb >> 8) as u8, rgb as u8)
}

/// The colour as plotters writes it into the SVG ("#D62728").
pub fn hex(name: &str) -> String {
    let RGBColor(r, g, b) = color(name);
    format!("#{r:02X}{g:02X}{b:02X}")
}

const W: u32 = 900;
const H: u32 = 340;

/// A log y range around every value: from under the lowest to over the highest, positive.
fn y_range(series: &[Series]) -> (f64, f64) {
    let vals = series
        .iter()
        .flat_map(|s| s.points.iter().flatten())
        .flat_map(|st| [st.min, st.max]);
    let (lo, hi) = vals
        .filter(|v| *v > 0.0)
        .fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if lo > hi {
        return (0.1, 10.0);
    }
    let (lo, hi) = (lo / 1.6, hi * 1.6);
    if hi / lo < 4.0 {
        let mid = (lo * hi).sqrt();
        (mid / 2.0, mid * 2.0)
    } else {
        (lo, hi)
    }
}

fn marker<DB: DrawingBackend>(
    x: f64,
    y: f64,
    model: Model,
    style: ShapeStyle,
) -> DynElement<'static, DB, (f64, f64)> {
    match model {
        Model::Completion => Circle::new((x, y), 5, style).into_dyn(),
        Model::Readiness => TriangleMarker::new((x, y), 7, style).into_dyn(),
    }
}

/// The y axis' labelled values between `lo` and `hi`: 1-2-5 steps per decade over a wide
/// range, evenly spaced round values over a narrow one (a log axis would show one label).
fn ticks(lo: f64, hi: f64) -> Vec<f64> {
    if hi / lo >= 8.0 {
        let (a, b) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
        return (a..=b)
            .flat_map(|e| [1.0, 2.0, 5.0].map(|m| m * 10f64.powi(e)))
            .filter(|v| (lo..=hi).contains(v))
            .collect();
    }
    let raw = (hi - lo) / 5.0;
    let mag = 10f64.powi(raw.log10().floor() as i32);
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last).map(|i| i as f64 * step).collect()
}

/// A case chart: `cases` along x, each server's median and min–max per case.
pub fn cases(title: &str, cases: &[String], series: &[Series]) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let (lo, hi) = y_range(series);
        let k = cases.len().max(1) as f64;
        let y = (lo..hi).log_scale().with_key_points(ticks(lo, hi));
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 15))
            .margin(10)
            .x_label_area_size(36)
            .y_label_area_size(64)
            .build_cartesian_2d(-0.5..k - 0.5, y)
            .map_err(|e| e.to_string())?;
        let labels = cases.to_vec();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(cases.len() * 2 + 1)
            .x_label_formatter(&move |x| {
                let i = x.round();
                if (x - i).abs() > 0.01 || i < 0.0 {
                    return String::new();
                }
                labels.get(i as usize).cloned().unwrap_or_default()
            })
            .y_label_formatter(&|y| short(*y))
            .label_style(("sans-serif", 11))
            .draw()
            .map_err(|e| e.to_string())?;
        let m = series.len().max(1) as f64;
        let slot = 0.8 / m;
        for (si, s) in series.iter().enumerate() {
            let c = color(&s.name);
            let dx = (si as f64 - (m - 1.0) / 2.0) * slot;
            let points: Vec<(f64, Stat)> = s
                .points
                .iter()
                .enumerate()
                .filter_map(|(i, p)| Some((i as f64 + dx, (*p)?)))
                .filter(|(_, st)| st.min > 0.0)
                .collect();
            chart
                .draw_series(points.iter().map(|&(x, st)| {
                    ErrorBar::new_vertical(x, st.min, st.median, st.max, c.stroke_width(2), 6)
                }))
                .map_err(|e| e.to_string())?;
            chart
                .draw_series(
                    points
                        .iter()
                        .map(|&(x, st)| marker(x, st.median, s.model, c.filled())),
                )
                .map_err(|e| e.to_string())?;
        }
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// A line chart: each server's median at each x, with its min–max, joined by a line.
pub fn lines(
    title: &str,
    x_label: &str,
    xs: &[(f64, String)],
    series: &[Series],
) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let (lo, hi) = y_range(series);
        // x on a log scale too (worker counts double, syscall prices multiply), labelled at
        // exactly the values measured.
        let finite: Vec<f64> = xs.iter().map(|x| x.0).filter(|x| *x > 0.0).collect();
        let (x0, x1) = finite
            .iter()
            .fold((f64::MAX, f64::MIN), |(a, b), &x| (a.min(x), b.max(x)));
        let (x0, x1) = if x0 > x1 { (1.0, 2.0) } else { (x0, x1) };
        let x = ((x0 / 1.25)..(x1 * 1.25))
            .log_scale()
            .with_key_points(finite);
        let y = (lo..hi).log_scale().with_key_points(ticks(lo, hi));
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 15))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d(x, y)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_label_formatter(&|y| short(*y))
            .x_label_formatter(&|x| short(*x))
            .label_style(("sans-serif", 11))
            .draw()
            .map_err(|e| e.to_string())?;
        for s in series {
            let c = color(&s.name);
            let points: Vec<(f64, Stat)> = s
                .points
                .iter()
                .zip(xs)
                .filter_map(|(p, x)| Some((x.0, (*p)?)))
                .filter(|(x, st)| x.is_finite() && st.min > 0.0)
                .collect();
            let medians = points.iter().map(|&(x, st)| (x, st.median));
            let line = c.stroke_width(2);
            match s.model {
                Model::Completion => chart
                    .draw_series(LineSeries::new(medians, line))
                    .map(|_| ()),
                Model::Readiness => chart
                    .draw_series(DashedLineSeries::new(medians, 6, 4, line))
                    .map(|_| ()),
            }
            .map_err(|e| e.to_string())?;
            chart
                .draw_series(points.iter().map(|&(x, st)| {
                    ErrorBar::new_vertical(x, st.min, st.median, st.max, c.stroke_width(2), 6)
                }))
                .map_err(|e| e.to_string())?;
            chart
                .draw_series(
                    points
                        .iter()
                        .map(|&(x, st)| marker(x, st.median, s.model, c.filled())),
                )
                .map_err(|e| e.to_string())?;
        }
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// A compact axis label: 1.5M, 20k, 500, 0.25.
fn short(v: f64) -> String {
    let (v, suffix) = match v.abs() {
        a if a >= 1e6 => (v / 1e6, "M"),
        a if a >= 1e3 => (v / 1e3, "k"),
        _ => (v, ""),
    };
    // Three significant digits below 100, so that neighbouring ticks of a narrow axis near
    // zero (0.01, 0.015, 0.02) keep distinct labels.
    let decimals = if v == 0.0 || v.abs() >= 100.0 {
        0
    } else {
        (2 - v.abs().log10().floor() as i32).max(0) as usize
    };
    let s = format!("{v:.decimals$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        &s
    };
    format!("{s}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(m: f64) -> Option<Stat> {
        Some(Stat {
            median: m,
            min: m * 0.9,
            max: m * 1.1,
            n: 3,
        })
    }

    #[test]
    fn every_series_is_drawn_in_its_colour() {
        let series = vec![
            Series {
                name: "corio-uring".into(),
                model: Model::Completion,
                points: vec![stat(6.0), stat(0.4), None],
            },
            Series {
                name: "tokio".into(),
                model: Model::Readiness,
                points: vec![stat(7.0), stat(0.5), stat(60.0)],
            },
        ];
        let names = ["a c=1".to_string(), "b".into(), "c".into()];
        let svg = cases("cpu", &names, &series).unwrap();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        // Two error bars and two markers for corio-uring, three each for tokio.
        assert!(svg.matches(&hex("corio-uring")).count() >= 4, "{svg}");
        assert!(svg.matches(&hex("tokio")).count() >= 6);
        assert!(svg.contains("a c=1"));
        let xs = vec![(80.0, "none".to_string()), (300.0, "x".to_string())];
        let svg = lines("cost", "ns per syscall", &xs, &series).unwrap();
        assert!(svg.matches(&hex("tokio")).count() >= 3);
        assert_ne!(hex("corio-uring"), hex("corio-epoll"));
        assert_eq!(hex("somebody"), hex("somebody"));
        assert_eq!(short(1500.0), "1.5k");
        // A narrow axis near zero: every tick keeps its own label (they read 0.01, 0.01,
        // 0.02, 0.03, 0.03 with two fixed decimals).
        let labels: Vec<String> = ticks(0.0095, 0.031).into_iter().map(short).collect();
        assert_eq!(labels, ["0.01", "0.015", "0.02", "0.025", "0.03"]);
        assert_eq!(short(12.5), "12.5");
        assert_eq!(short(0.0), "0");
        assert_eq!(ticks(0.3, 60.0), [0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0]);
        assert_eq!(ticks(6.0, 9.0), [6.0, 7.0, 8.0, 9.0]);
    }
}
