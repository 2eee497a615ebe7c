//! Exit codes and the CLI's one error type, defined once.

use std::fmt;
use std::io;
use std::process::ExitCode;

/// Everything went well (also: stdout was closed early, e.g. by `| head`).
pub const OK: u8 = 0;
/// A runtime or server error: a failed request, a bad input line, an I/O error.
pub const RUNTIME: u8 = 1;
/// A usage error: bad flags (clap's own errors), a missing URL, an invalid configuration.
pub const USAGE: u8 = 2;
/// The server refused the credentials (HTTP 401).
pub const AUTH: u8 = 3;

/// The exit codes as listed in `upkafka --help` (and `docs/cli.md`).
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success (also when stdout is closed early, e.g. `| head`)
  1  runtime or server error (a failed request, a bad input line, ...)
  2  usage error (bad flags, missing URL, invalid configuration)
  3  authentication failed (HTTP 401)";

/// Why a subcommand failed. `Display` is the one line printed after `upkafka: error: `.
#[derive(Debug)]
#[non_exhaustive]
pub enum CliError {
    /// The command line or configuration cannot work (exit 2).
    Usage(String),
    /// A client call failed; exit 3 for a 401, 2 for a configuration or input problem, 1
    /// otherwise.
    Client(upkafka_client::Error),
    /// A client call failed, with what the CLI was doing (and what was done) around it.
    ClientContext {
        /// What had happened before, e.g. how many messages were acknowledged.
        context: String,
        /// The failure.
        source: upkafka_client::Error,
    },
    /// Reading input or writing output failed (exit 1; a broken pipe exits 0).
    Io {
        /// What was being read or written.
        context: String,
        /// The I/O error.
        source: io::Error,
    },
    /// Anything else that went wrong at run time, e.g. a bad input line (exit 1).
    Runtime(String),
}

impl CliError {
    /// An I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: io::Error) -> Self {
        CliError::Io {
            context: context.into(),
            source,
        }
    }

    /// The process exit status for this error.
    pub fn code(&self) -> u8 {
        let client = |e: &upkafka_client::Error| match e.kind() {
            _ if e.is_auth() => AUTH,
            upkafka_client::ErrorKind::Config | upkafka_client::ErrorKind::InvalidInput => USAGE,
            _ => RUNTIME,
        };
        match self {
            CliError::Usage(_) => USAGE,
            CliError::Client(e) => client(e),
            CliError::ClientContext { source, .. } => client(source),
            CliError::Io { .. } | CliError::Runtime(_) => RUNTIME,
        }
    }

    /// The exit code for this error ([`OK`] for a broken pipe).
    pub fn exit_code(&self) -> ExitCode {
        if self.is_broken_pipe() {
            ExitCode::from(OK)
        } else {
            ExitCode::from(self.code())
        }
    }

    /// The one line printed after `upkafka: error: `: the message, then each underlying cause
    /// that it does not already say (e.g. "Connection refused" below "error sending request").
    pub fn report(&self) -> String {
        match self {
            CliError::ClientContext { context, source } => {
                format!("{}; {context}", with_causes(source))
            }
            other => with_causes(other),
        }
    }

    /// True when the error is (caused by) writing to a closed pipe: not worth reporting.
    pub fn is_broken_pipe(&self) -> bool {
        let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(self);
        while let Some(e) = cur {
            if let Some(io) = e.downcast_ref::<io::Error>()
                && io.kind() == io::ErrorKind::BrokenPipe
            {
                return true;
            }
            cur = e.source();
        }
        false
    }
}

/// `err`, then each cause whose text it does not already contain.
fn with_causes(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        let part = e.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        cur = e.source();
    }
    text
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage(msg) | CliError::Runtime(msg) => f.write_str(msg),
            CliError::Client(e) => write!(f, "{e}"),
            CliError::ClientContext { context, source } => write!(f, "{source}; {context}"),
            CliError::Io { context, source } => write!(f, "{context}: {source}"),
        }
    }
}

impl std::error::Error for CliError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CliError::Client(e) | CliError::ClientContext { source: e, .. } => Some(e),
            CliError::Io { source, .. } => Some(source),
            CliError::Usage(_) | CliError::Runtime(_) => None,
        }
    }
}

impl From<upkafka_client::Error> for CliError {
    fn from(e: upkafka_client::Error) -> Self {
        CliError::Client(e)
    }
}

impl From<super::serve::ServeCliError> for CliError {
    fn from(e: super::serve::ServeCliError) -> Self {
        use super::serve::ServeCliError;
        use upkafka_server::ServeError;
        match e {
            ServeCliError::Usage(m) => CliError::Usage(m),
            ServeCliError::Serve(ServeError::Config(m)) => CliError::Usage(m),
            ServeCliError::Serve(e) => CliError::Runtime(e.to_string()),
            #[cfg(not(feature = "kafka"))]
            e @ ServeCliError::NoKafkaSupport => CliError::Usage(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        assert_eq!(CliError::Usage("x".into()).code(), USAGE);
        assert_eq!(CliError::Runtime("x".into()).code(), RUNTIME);
        let auth = upkafka_client::Error::Unauthorized {
            message: String::new(),
            endpoint: "GET /topics".into(),
        };
        assert_eq!(CliError::from(auth).code(), AUTH);
        assert_eq!(
            CliError::from(upkafka_client::Error::Config("bad".into())).code(),
            USAGE
        );
        let pipe = CliError::io("writing", io::Error::from(io::ErrorKind::BrokenPipe));
        assert!(pipe.is_broken_pipe());
        assert!(!CliError::Runtime("x".into()).is_broken_pipe());
    }
}
