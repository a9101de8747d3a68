//! `qtomo export DIR`: JSONL, CSV or NPY from a run directory's results log.

use crate::store::{self, ExportFormat, MissingPolicy};
use anyhow::Context;
use clap::{Args, ValueEnum};
use std::path::PathBuf;

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// One JSON object per sample, in index order.
    Jsonl,
    /// Scalar metrics, one row per sample × method.
    Csv,
    /// rho_METHOD.npy (N×d×d complex128) per method plus index.csv, in a directory.
    Npy,
}

/// Arguments of `qtomo export`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  qtomo export runs/a --format jsonl\n  qtomo export runs/a --format csv --target bell-phi+ --out fidelity.csv\n  qtomo export runs/a --format npy --out runs/a/npy\n  python3 -c \"import numpy; print(numpy.load('runs/a/npy/rho_mle.npy').shape)\""
)]
pub(crate) struct ExportArgs {
    /// The run directory.
    pub dir: PathBuf,
    /// Output format.
    #[arg(long, value_enum)]
    pub format: Format,
    /// Output path (default: DIR/results.jsonl, DIR/results.csv or DIR/npy/); `-` writes jsonl or csv to standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Export an unfinished run: samples not yet computed are listed with status "missing".
    #[arg(long)]
    pub partial: bool,
    /// Compute fidelity and trace distance against this state from the stored density matrices:
    /// bell-phi+, bell-phi-, bell-psi+, bell-psi-, ghz, w, or an NPY file with a d×d density
    /// matrix (default: the target the run directory stores from `run --target`, if any).
    #[arg(long)]
    pub target: Option<String>,
}

/// Runs `qtomo export`.
pub(crate) fn run(args: ExportArgs) -> anyhow::Result<u8> {
    let (format, default) = match args.format {
        Format::Jsonl => (ExportFormat::Jsonl, "results.jsonl"),
        Format::Csv => (ExportFormat::Csv, "results.csv"),
        Format::Npy => (ExportFormat::Npy, "npy"),
    };
    let missing = if args.partial {
        MissingPolicy::Mark
    } else {
        MissingPolicy::Error
    };
    // The target is read before anything is written; a folder that is not
    // a run directory is left to the export to refuse.
    let target = match store::Manifest::read(&args.dir)? {
        Some(manifest) => crate::cli::target::for_reading(
            &args.dir,
            args.target.as_deref(),
            manifest.dim as usize,
        )?
        .map(|t| (t, manifest.dim as usize)),
        None => None,
    };
    let mut rescore = target.map(|(t, d)| crate::cli::target::rescorer(t, d));
    let rescore = rescore
        .as_mut()
        .map(|r| r as &mut dyn FnMut(&mut store::MethodResult));
    if args.out.as_ref().is_some_and(|o| o.as_os_str() == "-") {
        let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
        let stats = store::export_to_writer(
            &args.dir,
            format,
            &mut stdout,
            std::path::Path::new("standard output"),
            missing,
            rescore,
        )
        .with_context(|| format!("exporting {}", args.dir.display()))?;
        crate::say!(
            "wrote standard output: {} samples ({} ok, {} failed, {} missing)",
            stats.total,
            stats.ok,
            stats.failed,
            stats.missing
        );
        return Ok(crate::cli::exit_codes::OK);
    }
    let default_out = args.out.is_none();
    let out = args.out.unwrap_or_else(|| args.dir.join(default));
    // The default NPY directory is inside the run directory: a symbolic
    // link planted there must not redirect the export's writes. (Files are
    // renamed into place, which replaces a link rather than following it.)
    if default_out
        && format == ExportFormat::Npy
        && std::fs::symlink_metadata(&out).is_ok_and(|m| m.file_type().is_symlink())
    {
        return Err(
            anyhow::Error::new(std::io::Error::other(store::SymlinkRefused {
                path: out.clone(),
            }))
            .context(format!("exporting {}", args.dir.display())),
        );
    }
    let stats = store::export(&args.dir, format, &out, missing, rescore)
        .with_context(|| format!("exporting {}", args.dir.display()))?;
    crate::say!(
        "wrote {}: {} samples ({} ok, {} failed, {} missing)",
        out.display(),
        stats.total,
        stats.ok,
        stats.failed,
        stats.missing
    );
    Ok(crate::cli::exit_codes::OK)
}
