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
pub struct ShowArgs {
    /// The run directory.
    pub dir: PathBuf,
    /// The sample index (0-based).
    #[arg(long)]
    pub sample: u64,
    /// Show only this method (mle, pls or linear; one the run computed).
    #[arg(long)]
    pub method: Option<Method>,
    /// Print the sample as one JSON object, with the fields of a line of
    /// `export --format jsonl` (index, id, status, error, methods).
    #[arg(long)]
    pub json: bool,
}

/// Runs `qtomo show`.
pub fn run(args: ShowArgs) -> anyhow::Result<u8> {
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
    let r = found.ok_or_else(|| {
        CliError::Usage(format!(
            "sample {} has no result in {}",
            args.sample,
            args.dir.display()
        ))
    })?;
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
    for m in r
        .methods
        .iter()
        .filter(|m| args.method.is_none_or(|want| m.method == want.name()))
    {
        print_method(out, m)?;
    }
    Ok(crate::cli::exit_codes::OK)
}

fn print_method(out: &mut impl Write, m: &MethodResult) -> std::io::Result<()> {
    let d = m.dim as usize;
    writeln!(out, "\n{}: ρ =", m.method)?;
    for r in 0..d {
        let row: Vec<String> = (0..d)
            .map(|c| {
                let (re, im) = (m.rho_re[r * d + c], m.rho_im[r * d + c]);
                format!(
                    "{re:>8.4}{}{:.4}i",
                    if im < 0.0 { '-' } else { '+' },
                    im.abs()
                )
            })
            .collect();
        writeln!(out, "  [{}]", row.join("  "))?;
    }
    let x = &m.metrics;
    let opt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.6}"));
    writeln!(
        out,
        "  trace {:.6}  purity {:.6}  physical {}",
        x.trace, x.purity, x.physical
    )?;
    writeln!(
        out,
        "  eigenvalues {:?}",
        x.eigenvalues
            .iter()
            .map(|v| (v * 1e6).round() / 1e6)
            .collect::<Vec<_>>()
    )?;
    writeln!(
        out,
        "  von Neumann entropy {:.6} bits  linear entropy {:.6}",
        x.von_neumann_entropy, x.linear_entropy
    )?;
    writeln!(
        out,
        "  log-likelihood {}  chi2 {}",
        opt(x.log_likelihood),
        opt(x.chi2)
    )?;
    if let (Some(g), Some(it), Some(c)) = (x.gap_bound, x.iterations, x.converged) {
        let floor = x
            .gap_floor
            .map_or_else(|| "-".to_string(), |f| format!("{f:.3e}"));
        writeln!(
            out,
            "  gap bound {g:.3e}  floor {floor}  iterations {it}  converged {c}"
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
    Ok(())
}
