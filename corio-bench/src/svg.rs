//! A small hand-written SVG line chart: x on a log scale, y linear or log, 1-2-5 ticks, a
//! legend on the right. Enough for "metric against connection count, one line per server".

use std::fmt::Write as _;

/// One line of the chart.
pub struct Series {
    pub name: String,
    pub color: &'static str,
    /// Drawn dashed (the report dashes readiness-model servers).
    pub dashed: bool,
    pub points: Vec<(f64, f64)>,
}

#[derive(Clone, Copy, PartialEq)]
pub enum Scale {
    /// From 0 up to the largest value.
    Linear,
    /// Between 1-2-5 bounds around the values; values ≤ 0 are left out.
    Log,
}

pub struct Chart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub y_scale: Scale,
    pub series: Vec<Series>,
}

const W: f64 = 720.0;
const H: f64 = 420.0;
/// Margins: left, right (the legend), top, bottom.
const ML: f64 = 72.0;
const MR: f64 = 150.0;
const MT: f64 = 40.0;
const MB: f64 = 50.0;

/// Escapes text for an SVG text node or attribute.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A compact label: 1.5M, 20k, 500, 0.25.
pub fn short(v: f64) -> String {
    let (v, suffix) = match v.abs() {
        a if a >= 1e9 => (v / 1e9, "G"),
        a if a >= 1e6 => (v / 1e6, "M"),
        a if a >= 1e3 => (v / 1e3, "k"),
        _ => (v, ""),
    };
    let s = format!("{v:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{s}{suffix}")
}

/// The 1-2-5 value nearest `v` from below (`up == false`) or above.
fn step125(v: f64, up: bool) -> f64 {
    let e = v.log10().floor();
    let base = 10f64.powf(e);
    let m = v / base;
    let pick = if up {
        [1.0, 2.0, 5.0, 10.0]
            .into_iter()
            .find(|&c| c >= m - 1e-9)
            .unwrap_or(10.0)
    } else {
        [10.0, 5.0, 2.0, 1.0]
            .into_iter()
            .find(|&c| c <= m + 1e-9)
            .unwrap_or(1.0)
    };
    pick * base
}

/// Axis bounds and tick values for `values` (all positive for Log).
fn ticks(scale: Scale, min: f64, max: f64) -> (f64, f64, Vec<f64>) {
    match scale {
        Scale::Linear => {
            let top = if max > 0.0 { max * 1.05 } else { 1.0 };
            let step = step125(top / 5.0, true);
            let top = (top / step).ceil() * step;
            let n = (top / step).round() as usize;
            (0.0, top, (0..=n).map(|i| i as f64 * step).collect())
        }
        Scale::Log => {
            let (lo, hi) = (step125(min, false), step125(max, true));
            let hi = if hi <= lo { lo * 10.0 } else { hi };
            let decades = (hi / lo).log10();
            let mut t = Vec::new();
            let mut e = lo.log10().floor() as i32;
            while 10f64.powi(e) <= hi * 1.0001 {
                for m in [1.0, 2.0, 5.0] {
                    let v = m * 10f64.powi(e);
                    // Past three decades, only the powers of ten.
                    if (decades <= 3.0 || m == 1.0) && v >= lo * 0.9999 && v <= hi * 1.0001 {
                        t.push(v);
                    }
                }
                e += 1;
            }
            (lo, hi, t)
        }
    }
}

/// Where the data lands on the canvas: log10 x range, y range and scale.
struct Frame {
    xmin: f64,
    xmax: f64,
    ylo: f64,
    yhi: f64,
    y_scale: Scale,
}

impl Frame {
    fn px(&self, x: f64) -> f64 {
        let pw = W - ML - MR;
        if self.xmax > self.xmin {
            ML + (x.log10() - self.xmin) / (self.xmax - self.xmin) * pw
        } else {
            ML + pw / 2.0
        }
    }

    fn py(&self, y: f64) -> f64 {
        let f = match self.y_scale {
            Scale::Linear => (y - self.ylo) / (self.yhi - self.ylo),
            Scale::Log => (y.log10() - self.ylo.log10()) / (self.yhi.log10() - self.ylo.log10()),
        };
        H - MB - f * (H - MT - MB)
    }
}

impl Chart {
    fn keep(&self, &(x, y): &(f64, f64)) -> bool {
        x > 0.0 && x.is_finite() && y.is_finite() && (y > 0.0 || self.y_scale == Scale::Linear)
    }

    pub fn render(&self) -> String {
        let mut svg = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" \
             viewBox=\"0 0 {W} {H}\" font-family=\"sans-serif\" font-size=\"12\">\n\
             <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
             <text x=\"{:.1}\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">{}</text>\n",
            (W - MR + ML) / 2.0,
            esc(&self.title)
        );
        let all: Vec<(f64, f64)> = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().copied().filter(|p| self.keep(p)))
            .collect();
        if all.is_empty() {
            svg.push_str("<text x=\"40\" y=\"80\">no data</text>\n</svg>\n");
            return svg;
        }
        let fold = |f: fn(&(f64, f64)) -> f64| {
            all.iter()
                .map(f)
                .fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v), b.max(v)))
        };
        let (xmin, xmax) = fold(|p| p.0.log10());
        let (ymin, ymax) = fold(|p| p.1);
        let (ylo, yhi, yticks) = ticks(self.y_scale, ymin, ymax);
        let frame = Frame {
            xmin,
            xmax,
            ylo,
            yhi,
            y_scale: self.y_scale,
        };
        let mut xs: Vec<f64> = all.iter().map(|p| p.0).collect();
        xs.sort_by(f64::total_cmp);
        xs.dedup();
        self.grid(&mut svg, &frame, &yticks, &xs);
        let mut legend_row = 0.0;
        for s in &self.series {
            if self.line(&mut svg, &frame, s, legend_row) {
                legend_row += 1.0;
            }
        }
        svg.push_str("</svg>\n");
        svg
    }

    /// Grid and ticks, then the axes and their labels over them.
    fn grid(&self, svg: &mut String, f: &Frame, yticks: &[f64], xs: &[f64]) {
        for &v in yticks {
            let y = f.py(v);
            let _ = writeln!(
                svg,
                "<line x1=\"{ML}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#e4e4e4\"/>\
                 <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
                W - MR,
                ML - 6.0,
                y + 4.0,
                short(v)
            );
        }
        for &x in xs {
            let _ = writeln!(
                svg,
                "<line x1=\"{0:.1}\" y1=\"{1}\" x2=\"{0:.1}\" y2=\"{2}\" stroke=\"#e4e4e4\"/>\
                 <text x=\"{0:.1}\" y=\"{3}\" text-anchor=\"middle\">{4}</text>",
                f.px(x),
                MT,
                H - MB,
                H - MB + 18.0,
                short(x)
            );
        }
        let _ = writeln!(
            svg,
            "<polyline fill=\"none\" stroke=\"black\" points=\"{ML},{MT} {ML},{0} {1},{0}\"/>\n\
             <text x=\"{2:.1}\" y=\"{3}\" text-anchor=\"middle\">{4}</text>\n\
             <text x=\"16\" y=\"{5:.1}\" transform=\"rotate(-90 16 {5:.1})\" \
             text-anchor=\"middle\">{6}</text>",
            H - MB,
            W - MR,
            (W - MR + ML) / 2.0,
            H - 10.0,
            esc(&self.x_label),
            MT + (H - MT - MB) / 2.0,
            esc(&self.y_label)
        );
    }

    /// One series: its line, its points and its legend entry in row `legend_row`. False (and
    /// nothing drawn) when it has no point to show.
    fn line(&self, svg: &mut String, f: &Frame, s: &Series, legend_row: f64) -> bool {
        let mut pts: Vec<(f64, f64)> = s.points.iter().copied().filter(|p| self.keep(p)).collect();
        if pts.is_empty() {
            return false;
        }
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        let dash = if s.dashed {
            " stroke-dasharray=\"6 4\""
        } else {
            ""
        };
        let line: Vec<String> = pts
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", f.px(x), f.py(y)))
            .collect();
        let _ = writeln!(
            svg,
            "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2\"{dash} points=\"{}\"/>",
            s.color,
            line.join(" ")
        );
        for &(x, y) in &pts {
            let _ = writeln!(
                svg,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{}\"/>",
                f.px(x),
                f.py(y),
                s.color
            );
        }
        let ly = MT + 10.0 + legend_row * 20.0;
        let _ = writeln!(
            svg,
            "<line x1=\"{:.1}\" y1=\"{ly}\" x2=\"{:.1}\" y2=\"{ly}\" stroke=\"{}\" \
             stroke-width=\"2\"{dash}/><text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            W - MR + 10.0,
            W - MR + 34.0,
            s.color,
            W - MR + 40.0,
            ly + 4.0,
            esc(&s.name)
        );
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_ticks() {
        assert_eq!(short(1_500_000.0), "1.5M");
        assert_eq!(short(20_000.0), "20k");
        assert_eq!(short(500.0), "500");
        assert_eq!(short(0.25), "0.25");
        assert_eq!(short(0.0), "0");
        let (lo, hi, t) = ticks(Scale::Log, 70.0, 8000.0);
        assert_eq!((lo, hi), (50.0, 10_000.0));
        assert_eq!(t.first(), Some(&50.0));
        assert_eq!(t.last(), Some(&10_000.0));
        let (lo, hi, t) = ticks(Scale::Linear, 9000.0, 160_000.0);
        assert_eq!(lo, 0.0);
        assert!((160_000.0..=250_000.0).contains(&hi), "{hi}");
        assert!((4..=8).contains(&t.len()), "{t:?}");
    }

    #[test]
    fn renders_series_and_escapes_text() {
        let chart = Chart {
            title: "a <b> & c".into(),
            x_label: "connections".into(),
            y_label: "µs".into(),
            y_scale: Scale::Log,
            series: vec![
                Series {
                    name: "one".into(),
                    color: "#123456",
                    dashed: false,
                    points: vec![(1.0, 10.0), (50.0, 100.0), (500.0, 0.0)],
                },
                Series {
                    name: "empty".into(),
                    color: "#654321",
                    dashed: true,
                    points: vec![],
                },
            ],
        };
        let svg = chart.render();
        assert!(svg.contains("a &lt;b&gt; &amp; c"));
        assert_eq!(svg.matches("<polyline").count(), 2, "axes + one series");
        assert_eq!(
            svg.matches("<circle").count(),
            2,
            "the y = 0 point is left out"
        );
        assert!(!svg.contains("empty"));
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
    }
}
