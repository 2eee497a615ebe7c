//! Every output decision in one place: tables or JSON, message formats, buffering, and what
//! goes to stderr.
//!
//! Subcommands hand typed values to [`Output`] and never print themselves. Terminal state is
//! captured once: stdout is line-buffered on a terminal and block-buffered otherwise (message
//! streams flush once per poll). `UPKAFKA_TEST_TTY=1` makes both stdout and stderr count as
//! terminals, so the terminal paths can be tested from a pipe.

use std::io::{self, IsTerminal, Write};

use serde::Serialize;

use super::args::OutputFormat;
use super::values::{FormatPiece, MessageFormat};
use upkafka_protocol::Message;

/// Variable that makes [`Output`] treat stdout and stderr as terminals (for tests).
pub const ENV_TEST_TTY: &str = "UPKAFKA_TEST_TTY";

/// A table printed as aligned columns (text) or as a JSON array of row objects (json).
pub trait Table: Serialize {
    /// Column titles.
    const HEADERS: &'static [&'static str];
    /// The cells of this row, in [`Table::HEADERS`] order.
    fn cells(&self) -> Vec<String>;
}

/// How messages of `consume` and `fetch` are printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageStyle {
    /// One JSON object per line.
    Json,
    /// A kcat-style format.
    Format(MessageFormat),
}

/// The JSON envelope of one message (`--json`).
#[derive(Debug, Serialize)]
struct Envelope<'a> {
    topic: &'a str,
    partition: i32,
    offset: i64,
    timestamp: i64,
    key: &'a str,
    value: &'a str,
    headers: &'a [upkafka_protocol::Header],
}

/// The printer: owns stdout, the output format and the quiet flag.
pub struct Output {
    format: OutputFormat,
    quiet: bool,
    stdout_tty: bool,
    stderr_tty: bool,
    out: Box<dyn Write + Send>,
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Output")
            .field("format", &self.format)
            .field("quiet", &self.quiet)
            .field("stdout_tty", &self.stdout_tty)
            .field("stderr_tty", &self.stderr_tty)
            .finish_non_exhaustive()
    }
}

impl Output {
    /// An output on the process's stdout/stderr.
    pub fn new(format: OutputFormat, quiet: bool) -> Self {
        let forced = std::env::var_os(ENV_TEST_TTY).is_some_and(|v| v == "1");
        let stdout_tty = forced || io::stdout().is_terminal();
        let stderr_tty = forced || io::stderr().is_terminal();
        let out: Box<dyn Write + Send> = if stdout_tty {
            Box::new(io::LineWriter::new(io::stdout()))
        } else {
            Box::new(io::BufWriter::with_capacity(64 * 1024, io::stdout()))
        };
        Self {
            format,
            quiet,
            stdout_tty,
            stderr_tty,
            out,
        }
    }

    /// The chosen `--output` format.
    pub fn format(&self) -> OutputFormat {
        self.format
    }

    /// True when diagnostics other than errors are suppressed (`-q`).
    pub fn is_quiet(&self) -> bool {
        self.quiet
    }

    /// True when text on stdout may be coloured: a terminal, and `NO_COLOR` unset.
    pub fn colour(&self) -> bool {
        self.stdout_tty && std::env::var_os("NO_COLOR").is_none()
    }

    /// True when stderr is a terminal (progress bars go there).
    pub fn stderr_is_tty(&self) -> bool {
        self.stderr_tty
    }

    /// Prints rows as an aligned table with a header line, or as one JSON array.
    pub fn table<T: Table>(&mut self, rows: &[T]) -> io::Result<()> {
        match self.format {
            OutputFormat::Json => self.json(&rows)?,
            OutputFormat::Text => {
                let cells: Vec<Vec<String>> = rows.iter().map(Table::cells).collect();
                let mut widths: Vec<usize> = T::HEADERS.iter().map(|h| h.len()).collect();
                for row in &cells {
                    for (w, c) in widths.iter_mut().zip(row) {
                        *w = (*w).max(c.chars().count());
                    }
                }
                let headers: Vec<String> = T::HEADERS.iter().map(|h| (*h).to_owned()).collect();
                for row in std::iter::once(&headers).chain(&cells) {
                    let mut line = String::new();
                    for (i, (c, w)) in row.iter().zip(&widths).enumerate() {
                        if i + 1 == row.len() {
                            line.push_str(c);
                        } else {
                            line.push_str(c);
                            let pad = w.saturating_sub(c.chars().count()) + 2;
                            line.extend(std::iter::repeat_n(' ', pad));
                        }
                    }
                    writeln!(self.out, "{}", line.trim_end())?;
                }
            }
        }
        self.flush()
    }

    /// Prints one value as a single line of JSON.
    pub fn json<T: Serialize + ?Sized>(&mut self, value: &T) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, value).map_err(io::Error::other)?;
        writeln!(self.out)
    }

    /// Prints one line of text on stdout.
    pub fn line(&mut self, text: &str) -> io::Result<()> {
        writeln!(self.out, "{text}")
    }

    /// Writes raw bytes to stdout (completion scripts).
    pub fn raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)
    }

    /// The message style for `--json` / `-f` / `--output`.
    pub fn message_style(&self, json_flag: bool, format: Option<MessageFormat>) -> MessageStyle {
        match format {
            Some(f) => MessageStyle::Format(f),
            None if json_flag || self.format == OutputFormat::Json => MessageStyle::Json,
            None => MessageStyle::Format(MessageFormat::value_per_line()),
        }
    }

    /// Prints one message in `style` (buffered; call [`Output::flush`] after a poll).
    pub fn message(&mut self, m: &Message, style: &MessageStyle) -> io::Result<()> {
        match style {
            MessageStyle::Json => self.json(&Envelope {
                topic: &m.topic,
                partition: m.partition,
                offset: m.offset,
                timestamp: m.timestamp,
                key: &m.key,
                value: &m.value,
                headers: &m.headers,
            }),
            MessageStyle::Format(f) => {
                for piece in &f.0 {
                    match piece {
                        FormatPiece::Literal(s) => self.out.write_all(s.as_bytes())?,
                        FormatPiece::Topic => self.out.write_all(m.topic.as_bytes())?,
                        FormatPiece::Partition => write!(self.out, "{}", m.partition)?,
                        FormatPiece::Offset => write!(self.out, "{}", m.offset)?,
                        FormatPiece::Key => self.out.write_all(m.key.as_bytes())?,
                        FormatPiece::Value => self.out.write_all(m.value.as_bytes())?,
                        FormatPiece::Timestamp => write!(self.out, "{}", m.timestamp)?,
                        FormatPiece::KeyLen => write!(self.out, "{}", m.key.len())?,
                        FormatPiece::ValueLen => write!(self.out, "{}", m.value.len())?,
                        FormatPiece::Headers => {
                            for (i, h) in m.headers.iter().enumerate() {
                                if i > 0 {
                                    self.out.write_all(b",")?;
                                }
                                write!(self.out, "{}={}", h.key, h.value)?;
                            }
                        }
                    }
                }
                Ok(())
            }
        }
    }

    /// Flushes stdout: after each poll, so what was committed was really written.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// A note on stderr (summaries, skipped lines), unless `-q`.
    pub fn note(&self, text: &str) {
        if !self.quiet {
            let _ = writeln!(io::stderr().lock(), "{text}");
        }
    }

    /// A warning on stderr, shown even with `-q`.
    pub fn warn(&self, text: &str) {
        let _ = writeln!(io::stderr().lock(), "upkafka: warning: {text}");
    }
}
