//! `qtomo merge DIR... --out DIR`: combine shard run directories.

use anyhow::Context;
use clap::Args;
use std::path::PathBuf;

/// Arguments of `qtomo merge`.
#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  qtomo merge runs/shard-0 runs/shard-1 runs/shard-2 runs/shard-3 --out runs/all"
)]
pub(crate) struct MergeArgs {
    /// Shard run directories.
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
    /// The merged run directory.
    #[arg(long)]
    pub out: PathBuf,
}

/// Runs `qtomo merge`. Samples missing from the shards exit 75 (finish
/// the shards and merge again) with nothing written.
pub(crate) fn run(args: MergeArgs) -> anyhow::Result<u8> {
    let report = match crate::store::merge(&args.dirs, &args.out) {
        Err(e @ crate::store::MergeError::Incomplete { .. }) => {
            crate::stderr::error_line(
                &format!("merging shards: {e}"),
                crate::cli::exit_codes::INTERRUPTED,
            );
            return Ok(crate::cli::exit_codes::INTERRUPTED);
        }
        result => result.context("merging shards")?,
    };
    if report.targets_differ {
        tracing::warn!(
            "the shards store different fidelity targets (or only some store one): the merged directory stores none; give show and export --target"
        );
    }
    let s = &report.summary;
    crate::say!(
        "merged {} shards into {}: {} of {} samples ok, {} failed, {} missing",
        args.dirs.len(),
        args.out.display(),
        s.succeeded,
        s.total,
        s.failed,
        report.missing
    );
    Ok(if report.missing > 0 {
        crate::cli::exit_codes::INTERRUPTED
    } else if s.failed > 0 {
        crate::cli::exit_codes::FAILED_SAMPLES
    } else {
        crate::cli::exit_codes::OK
    })
}
