//! The `upkafka` binary: parse, set up tracing, run, and turn an error into one line on
//! stderr and an exit code (see `upkafka --help`).

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

mod cli;
mod sensor;

use crate::cli::Cli;

fn main() -> ExitCode {
    // clap prints usage errors itself and exits with 2.
    let args = Cli::parse();
    // `consume` is one poll (or stream) at a time, with the next poll sent ahead while the
    // last one is written out: a single thread does it with no hand-offs between worker
    // threads, which cost it a futex wake and a context switch per request (about 15% of a
    // drain's time, bench/consume.sh). Everything else keeps the multi-threaded runtime.
    let runtime = if args.command.is_consume() {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
    };
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            let _ = writeln!(
                std::io::stderr().lock(),
                "upkafka: error: no async runtime: {e}"
            );
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(args))
}

async fn run(args: Cli) -> ExitCode {
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
