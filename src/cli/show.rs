//! `qtomo show DIR --sample I`: one sample's density matrices and metrics.

use crate::cli::error::CliError;
use crate::store::{LogReader, Manifest, MethodResult, RunDir, SampleRecord};
use crate::tomo::Method;
use anyhow::Context;
use clap::Args;
use std::io::Write;
use std::path::PathBuf;

/// Arguments of `qtomo show`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  qtomo show runs/a --sample 0 --method mle")]
pub(crate) struct ShowArgs {
    /// The run directory.
    pub dir: PathBuf,
    /// The sample index (0-based).
    #[arg(long)]
    pub sample: u64,
    /// Show only this method (mle, pls or linear; one the run computed).
    #[arg(long, value_parser = crate::cli::method::parser())]
    pub method: Option<Method>,
    /// Print the sample as one JSON object, with the fields of a line of
    /// `export --format jsonl` (index, id, status, error, methods).
    #[arg(long)]
    pub json: bool,
    /// Compute fidelity and trace distance against this state from the stored density matrices
    /// (as `export --target`; default: the target the run directory stores, if any).
    #[arg(long)]
    pub target: Option<String>,
    /// Digits after the decimal point, 0 to 17 (default: 4 for the entries
    /// of ρ, 6 for the metrics).
    #[arg(long, value_parser = parse_precision)]
    pub precision: Option<usize>,
}

/// The most `--precision` accepted: 17 decimals show every bit of an f64
/// in [0, 1].
pub(crate) const MAX_PRECISION: usize = 17;

/// Lines of `show` are kept within this many columns: wider matrices are
/// printed in blocks of columns, long lists wrapped.
pub(crate) const MAX_WIDTH: usize = 100;

/// `--precision`: a whole number in `0..=MAX_PRECISION`.
fn parse_precision(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(p) if p <= MAX_PRECISION => Ok(p),
        _ => Err(format!(
            "expected a number of decimals from 0 to {MAX_PRECISION}"
        )),
    }
}

/// How many decimals `show` prints.
#[derive(Debug, Clone, Copy)]
struct Precision {
    /// Entries of ρ.
    matrix: usize,
    /// Metrics.
    metrics: usize,
}

/// Runs `qtomo show`.
pub(crate) fn run(args: ShowArgs) -> anyhow::Result<u8> {
    let out = &mut std::io::stdout().lock();
    let Some(manifest) = Manifest::read(&args.dir)? else {
        return Err(CliError::Usage(format!(
            "{} is not a run directory: expected a manifest.json in it",
            args.dir.display()
        ))
        .into());
    };
    if let Some(m) = args.method
        && !manifest.methods.iter().any(|x| x == m.name())
    {
        return Err(CliError::Usage(format!(
            "--method {}: the run in {} did not compute it; it has {}",
            m.name(),
            args.dir.display(),
            manifest.methods.join(", ")
        ))
        .into());
    }
    let log = RunDir::new(&args.dir).results_log();
    let mut reader = LogReader::open(&log).with_context(|| format!("reading {}", log.display()))?;
    // The effective record: the latest ok one, else the latest failed one.
    let mut found: Option<SampleRecord> = None;
    while let Some((_, r)) = reader.next_record()? {
        if r.index == args.sample && (r.is_ok() || found.as_ref().is_none_or(|f| !f.is_ok())) {
            found = Some(r);
        }
    }
    let mut r = found.ok_or_else(|| {
        CliError::Usage(format!(
            "sample {} has no result in {}",
            args.sample,
            args.dir.display()
        ))
    })?;
    let dim = manifest.dim as usize;
    if let Some(target) = crate::cli::target::for_reading(&args.dir, args.target.as_deref(), dim)? {
        let mut rescore = crate::cli::target::rescorer(target, dim);
        r.methods.iter_mut().for_each(&mut rescore);
    }
    if args.json {
        let json =
            crate::store::sample_json(&r, |m| args.method.is_none_or(|want| m == want.name()))?;
        writeln!(out, "{json}")?;
        return Ok(crate::cli::exit_codes::OK);
    }
    writeln!(
        out,
        "sample {} (id {}): {}",
        r.index,
        r.id,
        r.status.as_str()
    )?;
    if let Some(e) = r.status.error() {
        writeln!(out, "  error: {e}")?;
    }
    writeln!(
        out,
        "  attempts {}, worker pid {}, {:.3} ms",
        r.attempts,
        r.worker_pid,
        r.elapsed_us as f64 / 1000.0
    )?;
    if let Some(model) = model_line(&manifest.fingerprint) {
        writeln!(out, "  measurement model: {model}")?;
    }
    let precision = Precision {
        matrix: args.precision.unwrap_or(4),
        metrics: args.precision.unwrap_or(6),
    };
    for m in r
        .methods
        .iter()
        .filter(|m| args.method.is_none_or(|want| m.method == want.name()))
    {
        print_method(out, m, precision)?;
    }
    Ok(crate::cli::exit_codes::OK)
}

/// Prints the d×d `cells` (row-major, already formatted) as rows
/// `[a  b  c]`, right-aligned, in blocks of as many columns as fit in
/// [`MAX_WIDTH`] (each block headed by its column range when there are
/// several).
fn print_matrix(out: &mut impl Write, cells: &[String], d: usize) -> std::io::Result<()> {
    let width = cells.iter().map(|c| c.chars().count()).max().unwrap_or(1);
    let per_block = ((MAX_WIDTH - 4) / (width + 2)).max(1);
    for start in (0..d).step_by(per_block) {
        let end = (start + per_block).min(d);
        if per_block < d {
            writeln!(out, "  columns {}-{} of {d}:", start + 1, end)?;
        }
        for r in 0..d {
            let row: Vec<String> = (start..end)
                .map(|c| format!("{:>width$}", cells[r * d + c]))
                .collect();
            writeln!(out, "  [{}]", row.join("  "))?;
        }
    }
    Ok(())
}

/// Prints `label` and then `items` separated by two spaces, wrapping at
/// [`MAX_WIDTH`] with continuation lines indented under the first item.
fn print_list(out: &mut impl Write, label: &str, items: &[String]) -> std::io::Result<()> {
    let indent = label.chars().count() + 3;
    let mut line = format!("  {label} ");
    let mut first = true;
    for item in items {
        let added = item.chars().count() + if first { 0 } else { 2 };
        if !first && line.chars().count() + added > MAX_WIDTH {
            writeln!(out, "{line}")?;
            line = " ".repeat(indent);
            first = true;
        }
        if !first {
            line.push_str("  ");
        }
        line.push_str(item);
        first = false;
    }
    writeln!(out, "{line}")
}

fn print_method(out: &mut impl Write, m: &MethodResult, p: Precision) -> std::io::Result<()> {
    let d = m.dim as usize;
    let pm = p.matrix;
    if d <= 4 {
        // Small states: one matrix of complex entries, re±im i.
        writeln!(out, "\n{}: ρ =", m.method)?;
        let cells: Vec<String> = m
            .rho_re
            .iter()
            .zip(&m.rho_im)
            .map(|(re, im)| {
                format!(
                    "{re:.pm$}{}{:.pm$}i",
                    if *im < 0.0 { '-' } else { '+' },
                    im.abs()
                )
            })
            .collect();
        print_matrix(out, &cells, d)?;
    } else {
        // Larger states: real and imaginary parts as two real matrices,
        // half as wide as complex entries.
        writeln!(out, "\n{}: ρ = Re ρ + i Im ρ", m.method)?;
        for (name, part) in [("Re ρ", &m.rho_re), ("Im ρ", &m.rho_im)] {
            writeln!(out, "  {name} =")?;
            let cells: Vec<String> = part.iter().map(|v| format!("{v:.pm$}")).collect();
            print_matrix(out, &cells, d)?;
        }
    }
    let x = &m.metrics;
    let q = p.metrics;
    let opt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.q$}"));
    // Bounds and floors span many orders of magnitude: scientific notation.
    let sci = |v: f64| {
        let digits = q.min(3);
        format!("{v:.digits$e}")
    };
    writeln!(
        out,
        "  trace {:.q$}  purity {:.q$}  physical {}",
        x.trace, x.purity, x.physical
    )?;
    let eigenvalues: Vec<String> = x
        .eigenvalues
        .iter()
        .map(|v| {
            // −0.0 and values that round to zero print as 0.
            let v = if v.abs() < 0.5 * 10f64.powi(-(q as i32)) {
                0.0
            } else {
                *v
            };
            format!("{v:.q$}")
        })
        .collect();
    print_list(out, "eigenvalues", &eigenvalues)?;
    writeln!(
        out,
        "  von Neumann entropy {:.q$} bits  linear entropy {:.q$}",
        x.von_neumann_entropy, x.linear_entropy
    )?;
    writeln!(
        out,
        "  log-likelihood {}  chi2 {}",
        opt(x.log_likelihood),
        opt(x.chi2)
    )?;
    if let (Some(g), Some(it), Some(c)) = (x.gap_bound, x.iterations, x.converged) {
        let floor = x.gap_floor.map_or_else(|| "-".to_string(), sci);
        writeln!(
            out,
            "  gap bound {}  floor {floor}  iterations {it}  converged {c}",
            sci(g)
        )?;
    }
    if x.fidelity.is_some() {
        writeln!(
            out,
            "  fidelity {}  trace distance {}",
            opt(x.fidelity),
            opt(x.trace_distance)
        )?;
    }
    if x.concurrence.is_some() {
        writeln!(
            out,
            "  concurrence {}  negativity {}  log-negativity {}",
            opt(x.concurrence),
            opt(x.negativity),
            opt(x.log_negativity)
        )?;
    }
    if let Some(g) = &m.gof {
        writeln!(
            out,
            "  goodness of fit: G2 {:.q$}  dof {}  p-value {}  boundary p-value {}{}",
            g.g2,
            g.dof,
            opt(g.p_value),
            opt(g.p_value_boundary),
            g.p_value_bootstrap
                .map_or(String::new(), |p| format!("  bootstrap p-value {p:.q$}"))
        )?;
    }
    if let Some(b) = &m.bootstrap {
        writeln!(
            out,
            "  bootstrap ({}, {} replicates, {} failed): mean ± std [2.5%, 97.5%]",
            b.kind, b.replicates, b.failed
        )?;
        let k = &b.metrics;
        for (name, s) in [
            ("purity", k.purity),
            ("entropy", k.entropy),
            ("linear entropy", k.linear_entropy),
            ("fidelity", k.fidelity),
            ("trace distance", k.trace_distance),
            ("concurrence", k.concurrence),
            ("negativity", k.negativity),
        ] {
            if let Some(s) = s {
                writeln!(
                    out,
                    "    {name} {:.q$} ± {:.q$} [{:.q$}, {:.q$}]",
                    s.mean, s.std, s.q025, s.q975
                )?;
            }
        }
    }
    Ok(())
}

/// The run's measurement model as one line, e.g. `readout per-qubit (2
/// qubits) [readout r.npy sha256 0123456789ab…]`; `None` without a model.
fn model_line(f: &crate::store::Fingerprint) -> Option<String> {
    let model = f.options.get("model")?;
    let files: Vec<String> = ["readout", "scale", "background"]
        .iter()
        .filter_map(|role| {
            f.files.get(*role).map(|d| {
                format!(
                    "{role} {} sha256 {}…",
                    d.path,
                    d.sha256.get(..12).unwrap_or(&d.sha256)
                )
            })
        })
        .collect();
    Some(if files.is_empty() {
        model.clone()
    } else {
        format!("{model} [{}]", files.join(", "))
    })
}
