//! `qtomo completions`: shell completion scripts.

use clap::{Args, CommandFactory};
use clap_complete::Shell;

/// Arguments of `qtomo completions`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  qtomo completions bash > /etc/bash_completion.d/qtomo")]
pub(crate) struct CompletionsArgs {
    /// The shell: bash, zsh, fish, elvish or powershell.
    pub shell: Shell,
}

/// Prints the completion script to stdout.
///
/// The script is generated into memory first: `clap_complete::generate`
/// panics when a write fails, while a write error returned from here is
/// handled like any other (a closed pipe, as in `| head`, exits 0).
pub(crate) fn run(args: CompletionsArgs) -> anyhow::Result<u8> {
    use std::io::Write;
    let mut cmd = crate::cli::Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "qtomo", &mut script);
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&script)?;
    stdout.flush()?;
    Ok(crate::cli::exit_codes::OK)
}
