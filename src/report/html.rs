//! The report page: HTML with inline CSS and inline SVG plots, nothing
//! loaded from anywhere (no scripts, no fonts, no images by URL).

use std::fmt::Write as _;

use super::gather::{MAX_FAILURES_LISTED, Pick, ReportData};
use super::metric::Metric;
use super::plots::{self, MAX_CITY_DIM, PlotError};
use crate::store::{MethodResult, RunOutcome};

/// The page's style sheet.
const CSS: &str = "
body { font-family: sans-serif; margin: 1.5em auto; max-width: 1180px; color: #222; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 1.6em; }
h3 { margin: 1.2em 0 0.4em; }
table { border-collapse: collapse; font-size: 0.92em; }
td, th { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f5f8; }
code, .mono { font-family: monospace; font-size: 0.95em; }
.grid { display: flex; flex-wrap: wrap; gap: 0.6em; }
figure { margin: 0; border: 1px solid #e3e3e3; background: #fff; }
figure svg { display: block; max-width: 100%; height: auto; }
figcaption { font-size: 0.82em; color: #555; padding: 0.2em 0.5em 0.4em; width: 0; min-width: 100%; box-sizing: border-box; }
.note { background: #fff6dd; border: 1px solid #e8d28a; padding: 0.5em 0.8em; }
.muted { color: #666; }
";

/// Renders the report page of `data`.
pub fn html(data: &ReportData) -> Result<String, PlotError> {
    let mut page = String::with_capacity(256 * 1024);
    let title = format!("qtomo report: {}", data.dir.display());
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
        esc(&title),
        esc(&title)
    );
    summary(&mut page, data);
    distributions(&mut page, data)?;
    trends(&mut page, data)?;
    samples(&mut page, data)?;
    failures(&mut page, data);
    let _ = write!(
        page,
        "<p class=\"muted\">Made by qtomo {} (<code>qtomo report</code>).</p>\n</body>\n</html>\n",
        env!("CARGO_PKG_VERSION")
    );
    Ok(page)
}

/// Escapes text for HTML.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A number with six significant digits, `–` when absent or not finite.
fn num(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() => {
            let a = v.abs();
            if a != 0.0 && !(1e-3..1e6).contains(&a) {
                format!("{v:.4e}")
            } else {
                format!("{v:.6}")
            }
        }
        _ => "–".to_string(),
    }
}

fn row(page: &mut String, key: &str, value_html: &str) {
    let _ = writeln!(page, "<tr><th>{}</th><td>{value_html}</td></tr>", esc(key));
}

fn summary(page: &mut String, data: &ReportData) {
    let m = &data.manifest;
    let c = &data.counts;
    page.push_str("<section id=\"summary\">\n<h2>Summary</h2>\n");
    let running = data.lock.as_ref().filter(|l| l.held);
    if c.missing > 0 || running.is_some() {
        let mut note = String::from("Partial run: ");
        if let Some(l) = running {
            let _ = write!(
                note,
                "a run holds this directory now{}; ",
                l.holder_pid
                    .map(|p| format!(" (pid {p})"))
                    .unwrap_or_default()
            );
        }
        let _ = write!(
            note,
            "{} of {} samples have no result yet. This report shows the samples recorded so far.",
            c.missing, c.total
        );
        let _ = writeln!(page, "<p class=\"note\" id=\"partial\">{}</p>", esc(&note));
    }
    page.push_str("<table>\n");
    row(page, "run directory", &esc(&data.dir.display().to_string()));
    let status = match (&data.summary, &data.summary_error) {
        (Some(s), _) => match s.status {
            RunOutcome::Complete => "complete".to_string(),
            other => format!("{} (resumable: rerun the same command)", other.as_str()),
        },
        (None, Some(e)) => format!("unknown: {e}"),
        (None, None) => "no summary.json yet (the run has not ended once)".to_string(),
    };
    row(page, "status", &esc(&status));
    row(
        page,
        "samples",
        &format!(
            "{} in all: <b>{}</b> ok, <b>{}</b> failed, {} without a result yet",
            c.total, c.ok, c.failed, c.missing
        ),
    );
    let mut not_converged = Vec::new();
    for s in &data.methods {
        if s.name == "mle" || s.not_converged > 0 {
            not_converged.push(format!("{}: {}", s.name, s.not_converged));
        }
    }
    if !not_converged.is_empty() {
        row(page, "not converged", &esc(&not_converged.join(", ")));
    }
    let unphysical: Vec<String> = data
        .methods
        .iter()
        .filter(|s| s.unphysical > 0)
        .map(|s| format!("{}: {}", s.name, s.unphysical))
        .collect();
    if !unphysical.is_empty() {
        row(page, "not a density matrix", &esc(&unphysical.join(", ")));
    }
    row(page, "methods", &esc(&m.methods.join(", ")));
    row(page, "basis", &esc(&format!("{} (d = {})", m.basis, m.dim)));
    if let Some(s) = &data.summary {
        row(
            page,
            "elapsed (last invocation)",
            &esc(&format!(
                "{:.1} s, {:.1} samples/s",
                s.elapsed_s, s.samples_per_s
            )),
        );
        row(page, "workers", &s.workers.to_string());
        row(page, "worker restarts", &s.worker_restarts.to_string());
    }
    let target = match &data.target {
        Some(t) => esc(&t.name),
        None => "none (samples are picked by log-likelihood; give --target for fidelity)".into(),
    };
    row(page, "target", &target);
    row(page, "created", &esc(&super::timeaxis::utc(m.created)));
    fingerprint(page, data);
    page.push_str("</table>\n</section>\n");
}

fn fingerprint(page: &mut String, data: &ReportData) {
    let f = &data.manifest.fingerprint;
    let digest = serde_json::to_vec(f)
        .map(|bytes| {
            use sha2::Digest;
            let hash = sha2::Sha256::digest(&bytes);
            hash.iter().map(|b| format!("{b:02x}")).collect::<String>()
        })
        .unwrap_or_default();
    let mut parts = vec![format!("sha256 <span class=\"mono\">{digest}</span> of:")];
    for (role, file) in &f.files {
        parts.push(format!(
            "{} file {} sha256 <span class=\"mono\">{}</span>",
            esc(role),
            esc(&file.path),
            esc(&file.sha256)
        ));
    }
    let options: Vec<String> = f.options.iter().map(|(k, v)| format!("{k}={v}")).collect();
    parts.push(format!(
        "basis {}, dim {}, methods {}, shard {}",
        esc(&f.basis),
        f.dim,
        esc(&f.methods.join(",")),
        f.shard
            .map(|(i, n)| format!("{i}/{n}"))
            .unwrap_or_else(|| "none".to_string())
    ));
    if !options.is_empty() {
        parts.push(format!("options {}", esc(&options.join(", "))));
    }
    row(page, "fingerprint", &parts.join("<br>"));
}

fn figure(page: &mut String, id: &str, svg: &str, caption: &str) {
    let _ = writeln!(
        page,
        "<figure class=\"plot\" id=\"{}\">{svg}<figcaption>{}</figcaption></figure>",
        esc(id),
        esc(caption)
    );
}

fn distributions(page: &mut String, data: &ReportData) -> Result<(), PlotError> {
    page.push_str("<section id=\"distributions\">\n<h2>Distributions</h2>\n");
    for s in &data.methods {
        let _ = writeln!(
            page,
            "<h3>{} <span class=\"muted\">({} results)</span></h3>\n<div class=\"grid\">",
            esc(&s.name),
            s.results
        );
        for (metric, h) in &s.histograms {
            let title = format!("{}: {}", s.name, metric.key());
            let bins = if metric.is_count() {
                // Whole numbers: centre each value in its bin.
                h.bins()
                    .into_iter()
                    .map(|(a, b, c)| (a - 0.5, b - 0.5, c))
                    .collect()
            } else {
                h.bins()
            };
            let svg = plots::histogram(&title, metric.label(), &bins)?;
            let mut caption = format!(
                "{} of {}: median {}",
                metric.label(),
                s.name,
                num(h.quantile(0.5))
            );
            if let Some((lo, hi)) = h.min_max() {
                let _ = write!(caption, ", range {} to {}", num(Some(lo)), num(Some(hi)));
            }
            if h.non_finite() > 0 {
                let _ = write!(caption, "; {} not finite (not drawn)", h.non_finite());
            }
            figure(
                page,
                &format!("hist-{}-{}", s.name, metric.key()),
                &svg,
                &caption,
            );
        }
        page.push_str("</div>\n");
    }
    page.push_str("</section>\n");
    Ok(())
}

fn trends(page: &mut String, data: &ReportData) -> Result<(), PlotError> {
    page.push_str("<section id=\"trends\">\n<h2>Drift</h2>\n");
    let _ = writeln!(
        page,
        "<p class=\"muted\">Samples are grouped into at most {} consecutive index ranges; \
         each range shows the median and the 10–90 % band of its samples, and the line is the \
         median of {} neighbouring ranges together.{}</p>",
        super::stats::TREND_BINS,
        super::stats::ROLLING,
        if data.id_times.is_some() {
            " The sample ids are times: the x axis shows them (UTC)."
        } else {
            ""
        }
    );
    for s in &data.methods {
        let _ = writeln!(page, "<h3>{}</h3>\n<div class=\"grid\">", esc(&s.name));
        for (metric, t) in &s.trends {
            let against = if data.id_times.is_some() {
                "time"
            } else {
                "the sample index"
            };
            let title = format!("{}: {} against {against}", s.name, metric.key());
            let svg = plots::trend(
                &title,
                metric.label(),
                &t.points(),
                t.total(),
                data.id_times.as_deref(),
            )?;
            figure(
                page,
                &format!("trend-{}-{}", s.name, metric.key()),
                &svg,
                &format!("{} of {} against {against}", metric.label(), s.name),
            );
        }
        page.push_str("</div>\n");
    }
    page.push_str("</section>\n");
    Ok(())
}

fn samples(page: &mut String, data: &ReportData) -> Result<(), PlotError> {
    let sel = &data.selection;
    page.push_str("<section id=\"samples\">\n<h2>Density matrices</h2>\n");
    let how = match sel.metric {
        Metric::Fidelity => "fidelity to the target",
        Metric::LogLikelihood => "log-likelihood (no target)",
        _ => "purity (no target, and no log-likelihoods)",
    };
    let _ = writeln!(
        page,
        "<p class=\"muted\">The best, median and worst samples by {how} of <b>{}</b> \
         (the median sample is one whose value is within a fine histogram bin of the median, {}), \
         then the samples asked for with <code>--sample</code>. Blue: positive entries, orange: \
         negative{}.</p>",
        esc(&sel.method),
        num(sel.median),
        if data.target.is_some() {
            "; black wire frames and outlines: the target"
        } else {
            ""
        }
    );
    if data.picks.is_empty() {
        page.push_str("<p>No sample has a result yet.</p>\n");
    }
    for pick in &data.picks {
        draw_pick(page, data, pick)?;
    }
    page.push_str("</section>\n");
    Ok(())
}

fn draw_pick(page: &mut String, data: &ReportData, pick: &Pick) -> Result<(), PlotError> {
    let sel = &data.selection;
    let heading = match pick.role {
        "sample" => format!("sample {}", pick.index),
        role => format!("{role} sample: {}", pick.index),
    };
    let id_base = format!("{}-{}", pick.role, pick.index);
    let Some(record) = &pick.record else {
        let _ = writeln!(
            page,
            "<h3 id=\"{id_base}\">{}</h3>\n<p>No result recorded yet.</p>",
            esc(&heading)
        );
        return Ok(());
    };
    let _ = writeln!(
        page,
        "<h3 id=\"{id_base}\">{} <span class=\"muted\">(id {})</span></h3>",
        esc(&heading),
        esc(&record.id)
    );
    if let Some(e) = record.status.error() {
        let _ = writeln!(page, "<p>Failed: {}</p>", esc(e));
        return Ok(());
    }
    let Some(m) = record.methods.iter().find(|m| m.method == sel.method) else {
        let _ = writeln!(
            page,
            "<p>No {} result in this record.</p>",
            esc(&sel.method)
        );
        return Ok(());
    };
    let x = &m.metrics;
    let _ = writeln!(
        page,
        "<p>{}: purity {}, entropy {} bits, fidelity {}, log-likelihood {}, gap bound {}</p>",
        esc(&m.method),
        num(Some(x.purity)),
        num(Some(x.von_neumann_entropy)),
        num(x.fidelity),
        num(x.log_likelihood),
        num(x.gap_bound)
    );
    page.push_str("<div class=\"grid\">\n");
    matrix_plots(page, data, m, &id_base, &heading)?;
    page.push_str("</div>\n");
    Ok(())
}

/// One part of ρ to draw: id key, name, values, the target's values.
type Part<'a> = (&'a str, &'a str, &'a [f64], Option<&'a [f64]>);

fn matrix_plots(
    page: &mut String,
    data: &ReportData,
    m: &MethodResult,
    id_base: &str,
    heading: &str,
) -> Result<(), PlotError> {
    let d = m.dim as usize;
    let target = data.target.as_ref().filter(|t| t.re.len() == d * d);
    let parts: [Part<'_>; 2] = [
        ("re", "Re ρ", &m.rho_re, target.map(|t| t.re.as_slice())),
        ("im", "Im ρ", &m.rho_im, target.map(|t| t.im.as_slice())),
    ];
    // One scale for Re and Im (and the target) so that they compare.
    let all = || {
        parts
            .iter()
            .flat_map(|p| p.2.iter().chain(p.3.into_iter().flatten()))
            .copied()
            .filter(|v| v.is_finite())
    };
    let lo = all().fold(0.0_f64, f64::min);
    let hi = all().fold(0.0_f64, f64::max);
    let max_abs = lo.abs().max(hi.abs());
    let pad = ((hi - lo) * 0.05).max(1e-3);
    let range = (if lo < 0.0 { lo - pad } else { 0.0 }, hi + pad);
    if d <= MAX_CITY_DIM {
        for (key, name, values, t) in parts {
            let svg = plots::city(&format!("{name}, {}", m.method), d, values, t, range)?;
            figure(
                page,
                &format!("{id_base}-city-{key}"),
                &svg,
                &format!("{heading}: city plot of {name} ({})", m.method),
            );
        }
    }
    for (key, name, values, t) in parts {
        let svg = plots::hinton(&format!("{name}, {}", m.method), d, values, t, max_abs)?;
        figure(
            page,
            &format!("{id_base}-hinton-{key}"),
            &svg,
            &format!("{heading}: Hinton diagram of {name} ({})", m.method),
        );
    }
    if d > MAX_CITY_DIM {
        let _ = writeln!(
            page,
            "<p class=\"muted\">No city plots above d = {MAX_CITY_DIM}: {} bars per plot are too many to read.</p>",
            d * d
        );
    }
    Ok(())
}

fn failures(page: &mut String, data: &ReportData) {
    page.push_str("<section id=\"failures\">\n<h2>Failed samples</h2>\n");
    let failed = data.counts.failed;
    if failed == 0 {
        page.push_str("<p>None.</p>\n</section>\n");
        return;
    }
    if failed > data.failures.len() as u64 {
        let _ = writeln!(
            page,
            "<p>{failed} failed samples; the first {MAX_FAILURES_LISTED} by index:</p>"
        );
    }
    page.push_str("<table>\n<tr><th>index</th><th>id</th><th>error</th></tr>\n");
    for (index, id, error) in &data.failures {
        let _ = writeln!(
            page,
            "<tr><td>{index}</td><td>{}</td><td>{}</td></tr>",
            esc(id),
            esc(error)
        );
    }
    page.push_str("</table>\n</section>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn numbers_are_short_and_absent_ones_are_dashes() {
        assert_eq!(num(Some(0.5)), "0.500000");
        assert_eq!(num(Some(1.5e-9)), "1.5000e-9");
        assert_eq!(num(None), "–");
        assert_eq!(num(Some(f64::NAN)), "–");
    }
}
