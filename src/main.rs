//! The `upkafka` binary: parse, set up tracing, run, and turn an error into one line on
//! stderr and an exit code (see `upkafka --help`).

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

mod cli;
mod sensor;

use crate::cli::Cli;

#[tokio::main]
async fn main() -> ExitCode {
    // clap prints usage errors itself and exits with 2.
    let args = Cli::parse();
    cli::init_tracing(&args.global);
    match cli::run(args).await {
        Ok(code) => code,
        // `upkafka consume ... | head`: a closed stdout is not an error.
        Err(err) if err.is_broken_pipe() => ExitCode::SUCCESS,
        Err(err) => {
            let _ = writeln!(std::io::stderr().lock(), "upkafka: error: {}", err.report());
            err.exit_code()
        }
    }
}
