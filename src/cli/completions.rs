//! `upkafka completions SHELL`: a completion script generated from the clap command.

use std::process::ExitCode;

use clap::CommandFactory;

use super::args::{Cli, CompletionsArgs};
use super::output::Output;
use super::{CliError, stdout_err};

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
