//! `qtomo status DIR`: progress of a run directory, readable while a run writes it.

use crate::store::RunStatus;
use anyhow::Context;
use clap::Args;
use std::io::Write;
use std::path::PathBuf;

/// Arguments of `qtomo status`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  qtomo status runs/a\n  qtomo status runs/a --json | jq .eta_s")]
pub(crate) struct StatusArgs {
    /// The run directory.
    pub dir: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs `qtomo status`.
pub(crate) fn run(args: StatusArgs) -> anyhow::Result<u8> {
    let out = &mut std::io::stdout().lock();
    let s = RunStatus::read(&args.dir)
        .with_context(|| format!("reading run directory {}", args.dir.display()))?;
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&s)?)?;
        return Ok(crate::cli::exit_codes::OK);
    }
    let pct = if s.total > 0 {
        100.0 * (s.done + s.failed) as f64 / s.total as f64
    } else {
        100.0
    };
    writeln!(out, "run directory: {}", s.dir.display())?;
    writeln!(
        out,
        "basis:         {} (d = {}), methods {}",
        s.manifest.basis,
        s.manifest.dim,
        s.manifest.methods.join(",")
    )?;
    writeln!(
        out,
        "progress:      {}/{} finished ({} ok, {} failed), {} pending ({pct:.1}%)",
        s.done + s.failed,
        s.total,
        s.done,
        s.failed,
        s.pending
    )?;
    match (s.running, s.holder_pid) {
        (true, Some(pid)) => writeln!(out, "running:       yes, supervisor pid {pid}")?,
        (true, None) => writeln!(out, "running:       yes")?,
        _ => writeln!(out, "running:       no")?,
    }
    if let Some(rate) = s.rate_per_s {
        writeln!(out, "rate:          {rate:.2} samples/s")?;
    }
    if let Some(eta) = s.eta_s {
        writeln!(out, "eta:           {eta:.0} s")?;
    }
    if let Some(err) = &s.summary_error {
        writeln!(
            out,
            "last summary:  summary.json is damaged ({err}); the progress above is read from results.log, and the next run rewrites the summary"
        )?;
    }
    if let Some((i, n)) = s.manifest.fingerprint.shard {
        writeln!(
            out,
            "shard:         {i}/{n} ({} of {} input samples)",
            s.total, s.manifest.total
        )?;
    }
    if let Some(summary) = &s.summary {
        writeln!(
            out,
            "last summary:  {}, {} ok, {} failed, {:.1} s",
            summary.status.as_str(),
            summary.succeeded,
            summary.failed,
            summary.elapsed_s
        )?;
    }
    if s.damaged_regions > 0 {
        let at: Vec<String> = s.damage.iter().map(|r| r.offset.to_string()).collect();
        writeln!(
            out,
            "damage:        {} damaged region(s), {} bytes, in results.log at byte offset(s) {}; their samples are not counted, and the next run removes them and recomputes those samples",
            s.damaged_regions,
            s.damaged_bytes,
            at.join(", ")
        )?;
    }
    if s.torn_bytes > 0 {
        writeln!(
            out,
            "note:          {} bytes of a record being written (or torn) at the end of the log",
            s.torn_bytes
        )?;
    }
    Ok(crate::cli::exit_codes::OK)
}
