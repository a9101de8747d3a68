//! The `qtomo` command line: argument parsing and wiring only.
//!
//! Each subcommand lives in its own file with its clap arguments, its help
//! text (with an example) and its `run` function. [`run()`] is the whole
//! program: it parses, sets up logging, dispatches, and turns the outcome
//! into an exit code from `exit_codes.rs` in one place.
//!
//! # Layout
//! - `simulate.rs`, `run.rs`, `status.rs`, `export.rs`, `merge.rs`,
//!   `show.rs`, `report.rs`, `bases.rs`, `completions.rs`: one subcommand
//!   each.
//! - `basis.rs`: `--basis` (with `--qubits`, `--dim`: `SetArgs`,
//!   flattened into `run` and `simulate`) to a measurement set;
//!   `method.rs`: `--method` values; `probe.rs`: a quick look at
//!   an input's columns (to infer `--qubits` and suggest a basis);
//!   `shard.rs`: `--shard` and scheduler environments; `duration.rs`:
//!   `90s`-style durations.
//! - `target.rs`: `--target` of `run`, `show` and `export`.
//! - `model.rs`: `--readout` and `--scale` (`ModelArgs`, flattened into
//!   `run` and `simulate`): the measurement model applied to the set.
//! - `error.rs` + `exit_codes.rs`: errors and the exit-code table.
//!
//! What a run does once parsed (plan, segment, execution, summary) is
//! `crate::run`; the hidden `__worker` subcommand goes straight to it.

mod bases;
mod basis;
mod completions;
mod duration;
mod error;
mod exit_codes;
mod export;
mod merge;
mod method;
mod model;
mod probe;
mod report;
mod run;
mod shard;
mod show;
mod simulate;
mod status;
mod target;

use clap::{Parser, Subcommand, ValueEnum};
use std::process::ExitCode;

/// Batch quantum state tomography: linear inversion, projected least squares
/// and certified maximum likelihood, under a crash-safe multi-process supervisor.
#[derive(Debug, Parser)]
#[command(
    name = "qtomo",
    version,
    propagate_version = true,
    max_term_width = 100
)]
#[command(
    after_help = "Examples:\n  qtomo run examples/bell-drift.csv --out results\n  qtomo status results\n  qtomo export results --format jsonl\n\nExit codes: 0 complete, 3 complete with failed samples, 75 interrupted (resumable), 2 usage or input error, 1 fatal."
)]
pub(crate) struct Cli {
    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
    /// Only warnings and errors on stderr; no progress.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// Log format on stderr.
    #[arg(long, value_enum, default_value = "text", global = true)]
    pub log_format: LogFormat,
}

/// Log formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Write simulated counts with shot noise (reproducible from a seed).
    Simulate(simulate::SimulateArgs),
    /// Reconstruct every sample of an input into a run directory (resumable).
    Run(run::RunArgs),
    /// Show the progress of a run directory (works while it runs).
    Status(status::StatusArgs),
    /// Export a run directory as JSONL, CSV or NPY.
    Export(export::ExportArgs),
    /// Combine shard run directories into one.
    Merge(merge::MergeArgs),
    /// Print one sample's density matrices and metrics.
    Show(show::ShowArgs),
    /// Write a self-contained HTML report of a run (plots, drift, worst samples).
    Report(report::ReportArgs),
    /// List the built-in measurement sets and their labels.
    Bases(bases::BasesArgs),
    /// Print a shell completion script.
    Completions(completions::CompletionsArgs),
    /// Internal: a pool worker process, started by `qtomo run`.
    #[command(name = "__worker", hide = true)]
    Worker,
}

/// The whole program: parse, log, dispatch, map the outcome to an exit code.
pub fn run() -> ExitCode {
    // faer's convenience calls stay on one thread (with faer's rayon
    // feature they would default to every core); threads are only ever
    // asked for explicitly, by --threads-per-worker.
    crate::tomo::parallel::sequential_by_default();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if e.use_stderr() && json_requested(std::env::args_os().skip(1)) => {
            // A usage error with --log-format json: one JSON object too.
            crate::stderr::set_json(true);
            let text = e.render().to_string();
            let text = text.trim_end();
            crate::stderr::error_line(
                text.strip_prefix("error: ").unwrap_or(text),
                exit_codes::USAGE,
            );
            return ExitCode::from(exit_codes::USAGE);
        }
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit_codes::USAGE
            } else {
                exit_codes::OK
            });
        }
    };
    init_logging(cli.quiet, cli.log_format);
    let quiet = cli.quiet;
    let result = match cli.command {
        Command::Simulate(a) => simulate::run(a),
        Command::Run(a) => run::run(a, quiet),
        Command::Status(a) => status::run(a),
        Command::Export(a) => export::run(a),
        Command::Merge(a) => merge::run(a),
        Command::Show(a) => show::run(a),
        Command::Report(a) => report::run(a),
        Command::Bases(a) => bases::run(a),
        Command::Completions(a) => completions::run(a),
        Command::Worker => crate::run::worker_main().map_err(anyhow::Error::new),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitCode::from(exit_codes::OK);
            }
            let code = exit_code_of(&err);
            crate::stderr::error_line(&error::chain_text(&err), code);
            ExitCode::from(code)
        }
    }
}

/// Exit code for an error: 2 for input and usage errors (a resume refused
/// for a changed fingerprint, an `--out` that is not a run directory, a
/// symbolic link inside a run directory, `status`/`show`/`export` of a
/// folder that is not a run directory, an `export` of an unfinished run
/// without `--partial`, a `merge` of overlapping shards or of different
/// runs or into a run directory), 1 for everything else.
pub(crate) fn exit_code_of(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<error::CliError>() {
            return e.exit_code();
        }
        if cause
            .downcast_ref::<crate::store::RunDirError>()
            .is_some_and(crate::store::RunDirError::is_refusal)
        {
            return exit_codes::USAGE;
        }
        if cause
            .downcast_ref::<crate::store::MergeError>()
            .is_some_and(crate::store::MergeError::is_refusal)
            || cause
                .downcast_ref::<crate::store::StatusError>()
                .is_some_and(crate::store::StatusError::is_refusal)
            || cause
                .downcast_ref::<crate::store::ExportError>()
                .is_some_and(crate::store::ExportError::is_refusal)
            || cause
                .downcast_ref::<crate::report::ReportError>()
                .is_some_and(crate::report::ReportError::is_refusal)
        {
            return exit_codes::USAGE;
        }
        // A symbolic link planted in a run directory is refused, not followed.
        if cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(crate::store::is_symlink_refusal)
        {
            return exit_codes::USAGE;
        }
        // An output (or run directory) the command cannot use: a folder
        // that is missing, not a directory, not writable or read-only.
        if is_output_setup_error(cause)
            && cause_chain_from(cause).any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(error::is_unusable_path)
            })
        {
            return exit_codes::USAGE;
        }
    }
    exit_codes::FATAL
}

/// Errors raised while a command opens its run directory or output, before
/// it has written anything: an unusable path there is the user's mistake.
/// (Faults during a run, such as a full disk, reach the edge as the run's
/// abort reason or as other types, and stay exit 1.)
fn is_output_setup_error(cause: &(dyn std::error::Error + 'static)) -> bool {
    cause.is::<crate::store::RunDirError>()
        || cause.is::<crate::store::ExportError>()
        || cause.is::<crate::store::MergeError>()
        || cause.is::<crate::report::ReportError>()
        || cause.is::<crate::io::OutputError>()
}

/// `cause` and everything below it.
fn cause_chain_from<'a>(
    cause: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(cause), |c| c.source())
}

/// Whether the error is a reader of our standard output going away (`qtomo
/// export --out - | head`): not a failure, so the command exits quietly.
/// The csv and serde_json crates keep their I/O error inside their own
/// error, not as a source.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    let broken = |e: &std::io::Error| e.kind() == std::io::ErrorKind::BrokenPipe;
    err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>().is_some_and(broken)
            || c.downcast_ref::<csv::Error>()
                .is_some_and(|e| matches!(e.kind(), csv::ErrorKind::Io(io) if broken(io)))
            || c.downcast_ref::<serde_json::Error>()
                .is_some_and(|e| e.io_error_kind() == Some(std::io::ErrorKind::BrokenPipe))
    })
}

/// Whether the raw arguments ask for `--log-format json` (read when clap
/// could not parse them, so that its error is a JSON line too).
fn json_requested(args: impl Iterator<Item = std::ffi::OsString>) -> bool {
    let mut previous_was_option = false;
    for arg in args {
        if arg == "--" {
            break;
        }
        if arg == "--log-format=json" || (previous_was_option && arg == "json") {
            return true;
        }
        previous_was_option = arg == "--log-format";
    }
    false
}

/// How to call this program again in a hint: as it was called when that
/// was a path (`target/release/qtomo` after `cargo run`, where `qtomo` is
/// not on `PATH`), else `qtomo`.
pub(crate) fn program_name() -> String {
    std::env::args_os()
        .next()
        .map(std::path::PathBuf::from)
        .filter(|p| p.components().count() > 1)
        .map_or_else(|| "qtomo".to_string(), |p| p.display().to_string())
}

/// The arguments a pool worker is started with: the hidden subcommand,
/// after `--log-format json` when this process logs JSON, so that a
/// worker's own lines on the shared stderr are JSON too.
pub(crate) fn worker_args() -> Vec<std::ffi::OsString> {
    let mut args = Vec::new();
    if crate::stderr::is_json() {
        args.extend(["--log-format".into(), "json".into()]);
    }
    args.push("__worker".into());
    args
}

fn init_logging(quiet: bool, format: LogFormat) {
    if format == LogFormat::Json {
        crate::stderr::set_json(true);
        // A panic is reported as one JSON line too (exit code 101, Rust's).
        std::panic::set_hook(Box::new(|info| {
            crate::stderr::error_line(&format!("panic: {info}"), 101);
        }));
    }
    use tracing_subscriber::EnvFilter;
    let default = if quiet { "warn" } else { "info" };
    let filter = EnvFilter::try_from_env("QTOMO_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    // Colour only on a terminal: journald, Slurm output files and pipes get
    // plain text (and NO_COLOR is honoured, as tracing-subscriber does).
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Never panics on a closed or broken stderr; failures are counted.
        .with_writer(crate::stderr::Stderr)
        // No colour codes in files (Slurm job logs, systemd journal, pipes).
        .with_ansi(ansi)
        .with_target(false);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn json_is_requested_in_either_spelling_before_a_double_dash() {
        let req = |args: &[&str]| json_requested(args.iter().map(std::ffi::OsString::from));
        assert!(req(&["--log-format", "json", "run"]));
        assert!(req(&["run", "x", "--log-format=json"]));
        assert!(!req(&["run", "--log-format", "text", "json"]));
        assert!(!req(&["run", "--", "--log-format=json"]));
        assert!(!req(&["run", "json"]));
    }

    #[test]
    fn run_and_simulate_share_the_set_options() {
        let set_of = |args: &[&str]| match Cli::try_parse_from(args).expect("parses").command {
            Command::Run(a) => a.set,
            Command::Simulate(a) => a.set,
            _ => panic!("not run or simulate"),
        };
        let run = set_of(&[
            "qtomo", "run", "in.csv", "--out", "d", "--basis", "qudit", "--dim", "3",
        ]);
        let sim = set_of(&[
            "qtomo", "simulate", "--out", "x.csv", "--basis", "qudit", "--dim", "3",
        ]);
        for set in [run, sim] {
            assert_eq!(
                (set.basis.as_str(), set.qubits, set.dim),
                ("qudit", None, Some(3))
            );
        }
        let default = set_of(&["qtomo", "run", "in.csv", "--out", "d"]);
        assert_eq!((default.basis.as_str(), default.qubits), ("pauli", None));
    }

    #[test]
    fn kwiat_conf_parses() {
        let cli = Cli::try_parse_from([
            "qtomo",
            "run",
            "data.jsonl",
            "--out",
            "d",
            "--kwiat-conf",
            "conf.toml",
        ])
        .expect("parses");
        let Command::Run(a) = cli.command else {
            panic!("not run")
        };
        assert_eq!(
            a.kwiat_conf.as_deref(),
            Some(std::path::Path::new("conf.toml"))
        );
        assert!(
            Cli::try_parse_from(["qtomo", "run", "d.json", "--out", "d", "--kwiat-conf"]).is_err()
        );
    }

    #[test]
    fn run_flags_parse() {
        let cli = Cli::try_parse_from([
            "qtomo",
            "run",
            "in.csv",
            "--out",
            "d",
            "--method",
            "mle,linear",
            "--workers",
            "3",
            "--sample-timeout",
            "90s",
            "--retries",
            "4",
            "--grace",
            "5s",
            "--max-worker-rss",
            "2G",
            "--shard",
            "1/4",
            "--target",
            "bell-phi+",
            "--fresh",
        ])
        .unwrap();
        let Command::Run(a) = cli.command else {
            panic!("not run")
        };
        assert_eq!(
            a.method,
            [crate::tomo::Method::Mle, crate::tomo::Method::Linear]
        );
        assert_eq!(a.workers, Some(3));
        assert_eq!(a.sample_timeout, std::time::Duration::from_secs(90));
        assert_eq!(a.retries, 4);
        assert_eq!(a.shard, Some(shard::Shard { index: 1, count: 4 }));
        assert!(a.fresh);
        assert!(
            Cli::try_parse_from(["qtomo", "run", "in.csv", "--out", "d", "--method", "bogus"])
                .is_err()
        );
        assert!(
            Cli::try_parse_from(["qtomo", "run", "in.csv", "--out", "d", "--shard", "4/4"])
                .is_err()
        );
    }
}
