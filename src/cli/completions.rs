//! `qtomo completions`: shell completion scripts.

use clap::{Args, CommandFactory};
use clap_complete::Shell;

/// Arguments of `qtomo completions`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  qtomo completions bash > /etc/bash_completion.d/qtomo")]
pub struct CompletionsArgs {
    /// The shell: bash, zsh, fish, elvish or powershell.
    pub shell: Shell,
}

/// Prints the completion script to stdout.
pub fn run(args: CompletionsArgs) -> anyhow::Result<u8> {
    let mut cmd = crate::cli::Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "qtomo", &mut std::io::stdout());
    Ok(crate::cli::exit_codes::OK)
}
