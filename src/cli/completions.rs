//! `upkafka completions SHELL`: a completion script generated from the clap command.

use std::process::ExitCode;

use clap::{Args, CommandFactory};

use super::args::Cli;
use super::output::Output;
use super::{CliError, stdout_err};

/// `upkafka completions`.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  upkafka completions bash > ~/.local/share/bash-completion/completions/upkafka
  upkafka completions zsh > ~/.zfunc/_upkafka
  upkafka completions fish > ~/.config/fish/completions/upkafka.fish")]
pub struct CompletionsArgs {
    /// Shell to generate the script for.
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

/// Prints the completion script for `args.shell` on stdout.
///
/// # Errors
/// [`CliError::Io`] when stdout cannot be written.
pub fn run(args: CompletionsArgs, out: &mut Output) -> Result<ExitCode, CliError> {
    let mut cmd = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "upkafka", &mut script);
    out.raw(&script).map_err(stdout_err)?;
    out.flush().map_err(stdout_err)?;
    Ok(ExitCode::SUCCESS)
}
