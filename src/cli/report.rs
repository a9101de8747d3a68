//! `qtomo report DIR`: one self-contained HTML page about a run
//! (summary, histograms, drift, density matrices, failures).

use crate::report::{ReportOptions, ReportTarget};
use anyhow::Context;
use clap::Args;
use std::path::PathBuf;

/// Arguments of `qtomo report`.
#[derive(Debug, Args)]
#[command(
    after_help = "The page needs no network and no JavaScript: plots are inline SVG.\n\nExamples:\n  qtomo report runs/a                       # runs/a/report.html\n  qtomo report runs/a --target bell-phi+ --sample 17 --sample 1999 --out a.html"
)]
pub(crate) struct ReportArgs {
    /// The run directory (a run still going, or stopped, gives a partial report).
    pub dir: PathBuf,
    /// Output HTML file (default: DIR/report.html).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Also draw this sample's density matrix (0-based index; repeat for more).
    #[arg(long = "sample", value_name = "I")]
    pub samples: Vec<u64>,
    /// Measure fidelity against this state, overlay it on the density-matrix plots and pick
    /// samples by it: bell-phi+, bell-phi-, bell-psi+, bell-psi-, ghz, w, or an NPY file with a
    /// d×d density matrix (default: the target the run directory stores from `run --target`,
    /// if any; without one, samples are picked by log-likelihood).
    #[arg(long)]
    pub target: Option<String>,
}

/// Runs `qtomo report`.
pub(crate) fn run(args: ReportArgs) -> anyhow::Result<u8> {
    // The target is read before anything is written; a folder that is not
    // a run directory is left to the report to refuse.
    let target = match crate::store::Manifest::read(&args.dir)? {
        Some(manifest) => {
            let dim = manifest.dim as usize;
            let name = match &args.target {
                Some(t) => Some(t.clone()),
                None => crate::cli::target::read_stored(&args.dir)?.map(|s| s.given),
            };
            crate::cli::target::for_reading(&args.dir, args.target.as_deref(), dim)?.map(|target| {
                ReportTarget {
                    name: name.unwrap_or_default(),
                    target,
                }
            })
        }
        None => None,
    };
    let options = ReportOptions {
        samples: args.samples,
        target,
    };
    let out = args.out.unwrap_or_else(|| args.dir.join("report.html"));
    let stats = crate::report::write_report(&args.dir, &options, &out)
        .with_context(|| format!("reporting on {}", args.dir.display()))?;
    let partial = if stats.missing > 0 {
        format!(", {} without a result yet (partial)", stats.missing)
    } else {
        String::new()
    };
    crate::say!(
        "wrote {}: {} plots, {} KiB ({} samples ok, {} failed{partial})",
        out.display(),
        stats.plots,
        stats.bytes.div_ceil(1024),
        stats.ok,
        stats.failed
    );
    Ok(crate::cli::exit_codes::OK)
}
