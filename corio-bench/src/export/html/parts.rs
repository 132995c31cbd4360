//! The pieces of report.html: its style, the markdown a verdict uses turned into HTML, a
//! markdown table as an HTML one, and a chart's figure with the list of its series (what the
//! browser test checks) and the lines under it; the servers a chart draws.

use crate::export::charts::{self, Series};
use crate::results::summary::Group;
use crate::results::Row;
use std::fmt::Write as _;

pub(super) const STYLE: &str = "\
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1000px;color:#222;padding:0 12px}\
h1{margin-bottom:4px}h2{margin-top:36px;border-bottom:1px solid #ccc}\
table{border-collapse:collapse;font-size:12px;margin:8px 0}td,th{border:1px solid #ddd;padding:2px 6px}\
td{text-align:right}td:first-child{text-align:left}\
dl.machine{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px}dt{font-weight:600}dd{margin:0}\
.legend span{display:inline-block;margin:2px 10px 2px 0;white-space:nowrap}\
.legend i{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:-1px}\
.legend i.readiness{clip-path:polygon(50% 0,100% 100%,0 100%)}.legend i.completion{border-radius:6px}\
figure{margin:16px 0}figcaption{font-size:13px}figcaption ul{margin:4px 0;padding-left:18px}\
details{margin:8px 0}code{background:#f4f4f4;padding:0 3px}.note{color:#555}";

/// Escapes text for HTML, then turns the markdown a verdict uses (`**bold**`, `` `code` ``)
/// into HTML.
pub(super) fn inline(md: &str) -> String {
    let esc = md
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;");
    let mut out = String::new();
    let (mut bold, mut code) = (false, false);
    let mut rest = esc.as_str();
    while let Some(i) = rest.find(['*', '`']) {
        out.push_str(&rest[..i]);
        if rest[i..].starts_with("**") {
            out.push_str(if bold { "</strong>" } else { "<strong>" });
            bold = !bold;
            rest = &rest[i + 2..];
        } else if rest[i..].starts_with('`') {
            out.push_str(if code { "</code>" } else { "<code>" });
            code = !code;
            rest = &rest[i + 1..];
        } else {
            out.push('*');
            rest = &rest[i + 1..];
        }
    }
    out.push_str(rest);
    out
}

/// A markdown table (as `markdown.rs` writes them) as an HTML table.
pub(super) fn table(md: &str) -> String {
    let mut out = String::from("<table>");
    let rows: Vec<&str> = md.lines().filter(|l| l.starts_with('|')).collect();
    for (i, line) in rows.iter().enumerate() {
        if i == 1 {
            continue; // the |---| line
        }
        let tag = if i == 0 { "th" } else { "td" };
        out.push_str("<tr>");
        for cell in line.trim().trim_matches('|').split('|') {
            let _ = write!(out, "<{tag}>{}</{tag}>", inline(cell.trim()));
        }
        out.push_str("</tr>");
    }
    out.push_str("</table>");
    out
}

/// A chart with its series' list for the browser test, and lines under it.
pub(super) fn figure(svg: Result<String, String>, series: &[Series], lines: &[String]) -> String {
    let svg = match svg {
        Ok(svg) => svg,
        Err(e) => return format!("<p class=\"note\">chart not drawn: {}</p>", inline(&e)),
    };
    let list: Vec<String> = series
        .iter()
        .map(|s| {
            format!(
                "{{\"name\":\"{}\",\"color\":\"{}\",\"points\":{}}}",
                s.name,
                charts::hex(&s.name),
                s.points
                    .iter()
                    .filter(|p| p.is_some_and(|p| p.min > 0.0))
                    .count()
            )
        })
        .collect();
    let mut out = format!(
        "<figure class=\"chart\" data-series='[{}]'>{svg}<figcaption>",
        list.join(",")
    );
    if !lines.is_empty() {
        out.push_str("<ul>");
        for l in lines {
            let _ = write!(out, "<li>{}</li>", inline(l));
        }
        out.push_str("</ul>");
    }
    out.push_str("</figcaption></figure>\n");
    out
}

/// The servers that have a row among `groups`, in order of appearance.
pub(super) fn servers<'a>(groups: &[&'a Group]) -> Vec<&'a Row> {
    let mut out: Vec<&Row> = Vec::new();
    for g in groups {
        if !out.iter().any(|r| r.server == g.first().server) {
            out.push(g.first());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_markdown_becomes_html() {
        assert_eq!(
            inline("**a less**: `x` <b> & *"),
            "<strong>a less</strong>: <code>x</code> &lt;b&gt; &amp; *"
        );
        let t = table("| a | b |\n|---|---:|\n| x | 1 |\n");
        assert_eq!(
            t,
            "<table><tr><th>a</th><th>b</th></tr><tr><td>x</td><td>1</td></tr></table>"
        );
    }
}
