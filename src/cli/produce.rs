//! `upkafka produce`: stream messages from stdin, files or `--value` to one topic, in batches
//! with a bounded window of requests in flight.
//!
//! Accounting is exact: before any error is reported every in-flight batch has completed, so
//! "N messages were acknowledged" counts exactly the messages the server confirmed.

use std::fmt;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::task::JoinSet;

use super::args::{ClientArgs, OutputFormat};
use super::values::{ByteSize, Delimiter, HeaderArg, HumanDuration};
use super::{CliError, Ctx, stdout_err};
use upkafka_protocol::{Header, ProduceMetadata, ProduceRecord};

/// `upkafka produce`.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  echo hello | upkafka produce greetings
  upkafka produce cities cities.txt -K ':'          # lines like  city:Istanbul
  upkafka produce events --value '{\"id\":1}' -k user-7 -H source=cli -H v=2
  upkafka produce logs app.log --batch-size 1000 --in-flight 4   # faster, may reorder

Input is streamed; messages are sent in batches of --batch-size messages or --batch-bytes
bytes, whichever is reached first. With --in-flight 1 (the default) one batch is in flight at
a time, so messages keep their order. A bad line stops the run with FILE:LINE and the exact
number of messages acknowledged before it; --skip-invalid reports and skips such lines.")]
pub struct ProduceArgs {
    /// Topic to produce to.
    #[arg(value_name = "TOPIC")]
    pub topic: String,

    /// Files to read messages from; `-` or none means stdin.
    #[arg(value_name = "FILE", conflicts_with = "value")]
    pub files: Vec<PathBuf>,

    /// Produce this single message instead of reading input.
    #[arg(long, value_name = "TEXT")]
    pub value: Option<String>,

    /// Message separator in the input; escapes \n \t \r \0 \\ are understood.
    #[arg(short = 'D', long, value_name = "DELIM", default_value = "\\n")]
    pub delimiter: Delimiter,

    /// Split each message into key and value at the first DELIM (e.g. -K ':').
    #[arg(short = 'K', long, value_name = "DELIM", conflicts_with_all = ["key", "value"])]
    pub key_delimiter: Option<Delimiter>,

    /// Key for every message.
    #[arg(short = 'k', long, value_name = "KEY")]
    pub key: Option<String>,

    /// Partition for every message (default: chosen by the server).
    #[arg(short = 'p', long, value_name = "PARTITION")]
    pub partition: Option<i32>,

    /// Header for every message, NAME=VALUE; repeatable.
    #[arg(short = 'H', long = "header", value_name = "NAME=VALUE")]
    pub headers: Vec<HeaderArg>,

    /// Most messages per request.
    #[arg(long, value_name = "N", default_value_t = 500,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub batch_size: u32,

    /// Most bytes (keys + values) per request, e.g. 262144, 512KiB, 1MiB.
    #[arg(long, value_name = "SIZE", default_value = "1MiB")]
    pub batch_bytes: ByteSize,

    /// Batches in flight at once. Above 1, batches can complete out of order, so messages
    /// of different batches may be stored out of order.
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=64))]
    pub in_flight: u32,

    /// Skip lines that cannot be sent (reporting each on stderr) instead of stopping.
    #[arg(long)]
    pub skip_invalid: bool,

    /// Send a partly filled batch when no more input arrives for this long, so that
    /// `tail -f app.log | upkafka produce logs` sends lines as they come.
    #[arg(long, value_name = "DURATION", default_value = "100ms")]
    pub linger: HumanDuration,
    /// How to reach the server.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Where a message came from: input name and 1-based record number ("line").
#[derive(Debug, Clone)]
struct Pos {
    source: Arc<str>,
    line: u64,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.source, self.line)
    }
}

/// The input lines a batch holds, for reporting.
#[derive(Debug, Clone)]
struct Span {
    first: Pos,
    last: Pos,
    messages: usize,
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines = if self.first.source == self.last.source {
            if self.first.line == self.last.line {
                format!("{}", self.first)
            } else {
                format!("{}-{}", self.first, self.last.line)
            }
        } else {
            format!("{} to {}", self.first, self.last)
        };

        let s = if self.messages == 1 { "" } else { "s" };
        write!(f, "{lines} ({} message{s})", self.messages)
    }
}

/// Messages collected for the next request.
#[derive(Debug, Default)]
struct Batch {
    records: Vec<ProduceRecord>,
    bytes: u64,
    first: Option<Pos>,
    last: Option<Pos>,
}

impl Batch {
    fn push(&mut self, record: ProduceRecord, bytes: u64, pos: Pos) {
        if self.first.is_none() {
            self.first = Some(pos.clone());
        }
        self.last = Some(pos);
        self.bytes += bytes;
        self.records.push(record);
    }

    fn span(&self) -> Option<Span> {
        Some(Span {
            first: self.first.clone()?,
            last: self.last.clone()?,
            messages: self.records.len(),
        })
    }
}

type BatchResult = (
    Span,
    u64,
    Result<Vec<ProduceMetadata>, upkafka_client::Error>,
);

/// The window of batches in flight and what came back.
struct Sender {
    client: upkafka_client::Client,
    topic: Arc<str>,
    window: usize,
    /// Spawned, so requests progress while input is read.
    in_flight: JoinSet<BatchResult>,
    acked: u64,
    acked_bytes: u64,
    failures: Vec<(Span, upkafka_client::Error)>,
}

impl Sender {
    async fn send(&mut self, batch: Batch) {
        let Some(span) = batch.span() else { return };
        while self.in_flight.len() >= self.window {
            self.complete_one().await;
        }
        let client = self.client.clone();
        let topic = Arc::clone(&self.topic);
        let bytes = batch.bytes;
        let records = batch.records;
        tracing::debug!(messages = records.len(), bytes, from = %span.first, "sending batch");
        self.in_flight.spawn(async move {
            let res = client.produce_many_to(&topic, &records).await;
            (span, bytes, res)
        });
    }

    async fn complete_one(&mut self) {
        let done = match self.in_flight.join_next().await {
            Some(Ok(done)) => Some(done),
            // A batch task cannot be cancelled here; a panic is a bug, so pass it on.
            Some(Err(e)) => std::panic::resume_unwind(e.into_panic()),
            None => None,
        };
        if let Some((span, bytes, res)) = done {
            match res {
                Ok(meta) => {
                    self.acked += meta.len() as u64;
                    self.acked_bytes += bytes;
                }
                Err(e) => {
                    tracing::debug!(error = %e, batch = %span, "batch failed");
                    self.failures.push((span, e));
                }
            }
        }
    }

    async fn drain(&mut self) {
        while !self.in_flight.is_empty() {
            self.complete_one().await;
        }
    }

    fn failed(&self) -> bool {
        !self.failures.is_empty()
    }
}

/// Why reading stopped early.
enum Stop {
    BadLine(String),
    Read(String, std::io::Error),
}

/// The end-of-run summary.
#[derive(Debug, Serialize)]
struct Summary {
    messages: u64,
    bytes: u64,
    seconds: f64,
    messages_per_second: f64,
    skipped: u64,
}

/// Runs `upkafka produce`.
///
/// # Errors
/// A bad input line (unless `--skip-invalid`), an unreadable input, or a failed batch, each
/// with the exact number of messages acknowledged before it.
pub async fn run(args: ProduceArgs, ctx: &mut Ctx) -> Result<ExitCode, CliError> {
    let started = Instant::now();
    let mut sender = Sender {
        client: ctx.client.clone(),
        topic: Arc::from(args.topic.as_str()),
        window: args.in_flight as usize,
        in_flight: JoinSet::new(),
        acked: 0,
        acked_bytes: 0,
        failures: Vec::new(),
    };
    let mut skipped = 0u64;
    let mut pending = Batch::default();
    let mut stop: Option<Stop> = None;
    let mut cut_short = false;

    if let Some(value) = &args.value {
        let (record, bytes) = make_record(&args, None, value.clone());
        pending.push(
            record,
            bytes,
            Pos {
                source: Arc::from("--value"),
                line: 1,
            },
        );
    } else {
        let files: Vec<PathBuf> = if args.files.is_empty() {
            vec![PathBuf::from("-")]
        } else {
            args.files.clone()
        };
        let progress = progress_bar(&files, ctx);
        let batch_size = args.batch_size as usize;
        let batch_bytes = args.batch_bytes.0;
        let delim = args.delimiter.0.clone();
        let mut buf = Vec::new();
        'inputs: for file in &files {
            let (name, reader) = match open(file).await {
                Ok(x) => x,
                Err(e) => {
                    stop = Some(Stop::Read(format!("cannot open {}", file.display()), e));
                    break;
                }
            };
            let mut reader = BufReader::with_capacity(64 * 1024, reader);
            let mut line = 0u64;
            loop {
                if !pending.records.is_empty() {
                    // Input is slow (a pipe from a live source, a terminal): do not hold
                    // messages back waiting for a full batch. Errors surface in the read below.
                    let waited = tokio::time::timeout(args.linger.0, reader.fill_buf()).await;
                    if waited.is_err() {
                        sender.send(std::mem::take(&mut pending)).await;
                    }
                }
                let n = match read_record(&mut reader, &delim, &mut buf).await {
                    Ok(None) => break,
                    Ok(Some(n)) => n,
                    Err(e) => {
                        stop = Some(Stop::Read(format!("cannot read {name}"), e));
                        break 'inputs;
                    }
                };
                line += 1;
                if let Some(pb) = &progress {
                    pb.inc(n as u64);
                }
                let pos = Pos {
                    source: Arc::clone(&name),
                    line,
                };
                match parse_line(&args, std::mem::take(&mut buf)) {
                    Ok((record, bytes)) => {
                        let full = !pending.records.is_empty()
                            && (pending.records.len() >= batch_size
                                || pending.bytes + bytes > batch_bytes);
                        if full {
                            sender.send(std::mem::take(&mut pending)).await;
                        }
                        pending.push(record, bytes, pos);
                    }
                    Err(what) if args.skip_invalid => {
                        skipped += 1;
                        let msg = format!("{pos}: {what}; skipped");
                        match &progress {
                            Some(pb) => pb.suspend(|| ctx.out.warn(&msg)),
                            None => ctx.out.warn(&msg),
                        }
                    }
                    Err(what) => {
                        stop = Some(Stop::BadLine(format!("{pos}: {what}")));
                        break 'inputs;
                    }
                }
                if sender.failed() {
                    cut_short = true;
                    break 'inputs;
                }
            }
        }
        if let Some(pb) = progress {
            pb.finish_and_clear();
        }
    }

    let unsent = if stop.is_none() && !sender.failed() {
        sender.send(std::mem::take(&mut pending)).await;
        None
    } else {
        pending.span()
    };
    sender.drain().await;

    let acked = sender.acked;
    let ack_text = match acked {
        1 => "1 message was acknowledged".to_owned(),
        n => format!("{n} messages were acknowledged"),
    };
    let unsent_text = unsent
        .map(|s| format!("; {s} not sent"))
        .unwrap_or_default();
    if !sender.failures.is_empty() {
        let mut failures = std::mem::take(&mut sender.failures);
        let lost: Vec<String> = failures.iter().map(|(span, _)| span.to_string()).collect();
        let (_, first_err) = failures.remove(0);
        let mut context = format!(
            "{ack_text}; not acknowledged (maybe not stored; resending may duplicate): {}{unsent_text}",
            lost.join(", ")
        );
        if let Some(Stop::BadLine(bad)) = &stop {
            context.push_str(&format!("; also stopped at {bad}"));
        }
        if cut_short {
            context.push_str("; the rest of the input was not read");
        }
        return Err(CliError::ClientContext {
            context,
            source: first_err,
        });
    }
    match stop {
        Some(Stop::BadLine(bad)) => {
            return Err(CliError::Runtime(format!(
                "{bad}\n{ack_text} before it{unsent_text}; nothing after it was sent \
                 (--skip-invalid skips such lines)"
            )));
        }
        Some(Stop::Read(what, e)) => {
            return Err(CliError::io(
                format!("{what} ({ack_text} before it{unsent_text})"),
                e,
            ));
        }
        None => {}
    }

    let seconds = started.elapsed().as_secs_f64();
    let summary = Summary {
        messages: acked,
        bytes: sender.acked_bytes,
        seconds: (seconds * 1000.0).round() / 1000.0,
        messages_per_second: if seconds > 0.0 {
            (acked as f64 / seconds).round()
        } else {
            0.0
        },
        skipped,
    };
    match ctx.out.format() {
        OutputFormat::Json => {
            ctx.out.json(&summary).map_err(stdout_err)?;
            ctx.out.flush().map_err(stdout_err)?;
        }
        OutputFormat::Text => {
            let mut text = format!(
                "produced {} message{} ({}) to {} in {:.2} s ({} msg/s)",
                summary.messages,
                if summary.messages == 1 { "" } else { "s" },
                human_bytes(summary.bytes),
                args.topic,
                seconds,
                summary.messages_per_second
            );
            if skipped > 0 {
                text.push_str(&format!("; skipped {skipped} invalid line(s)"));
            }
            ctx.out.note(&text);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Opens an input: `-` is stdin.
async fn open(file: &PathBuf) -> std::io::Result<(Arc<str>, Box<dyn AsyncRead + Unpin + Send>)> {
    if file.as_os_str() == "-" {
        return Ok((Arc::from("<stdin>"), Box::new(tokio::io::stdin())));
    }
    let f = tokio::fs::File::open(file).await?;
    Ok((Arc::from(file.display().to_string().as_str()), Box::new(f)))
}

/// Reads the next record up to `delim` (which is removed) into `buf`. Returns the bytes
/// consumed, or `None` at the end of input. A final record without a delimiter counts; the
/// empty "record" after a final delimiter does not. With the newline delimiter a `\r` before
/// it is dropped too (CRLF files).
async fn read_record<R: tokio::io::AsyncBufRead + Unpin>(
    reader: &mut R,
    delim: &[u8],
    buf: &mut Vec<u8>,
) -> std::io::Result<Option<usize>> {
    buf.clear();
    let Some(&last) = delim.last() else {
        return Ok(None);
    };
    let mut consumed = 0;
    loop {
        let n = reader.read_until(last, buf).await?;
        consumed += n;
        if n == 0 {
            return Ok((consumed > 0).then_some(consumed));
        }
        if buf.ends_with(delim) {
            buf.truncate(buf.len() - delim.len());
            if delim == b"\n" && buf.last() == Some(&b'\r') {
                buf.pop();
            }
            return Ok(Some(consumed));
        }
        if buf.last() != Some(&last) {
            // End of input without a delimiter.
            return Ok(Some(consumed));
        }
    }
}

/// Turns one input record into a message, or says what is wrong with it.
fn parse_line(args: &ProduceArgs, bytes: Vec<u8>) -> Result<(ProduceRecord, u64), String> {
    let text = String::from_utf8(bytes)
        .map_err(|_| "not valid UTF-8 (the REST API carries text values)".to_owned())?;
    match &args.key_delimiter {
        None => Ok(make_record(args, None, text)),
        Some(kd) => {
            let kd_text = String::from_utf8_lossy(&kd.0).into_owned();
            match text.split_once(kd_text.as_str()) {
                Some((k, v)) => Ok(make_record(args, Some(k.to_owned()), v.to_owned())),
                None => Err(format!("no key delimiter \"{kd}\" in the line (-K)")),
            }
        }
    }
}

/// A record with the per-run key, partition and headers; returns it with its size in bytes.
fn make_record(args: &ProduceArgs, key: Option<String>, value: String) -> (ProduceRecord, u64) {
    let key = key.or_else(|| args.key.clone());
    let bytes = (value.len() + key.as_ref().map_or(0, String::len)) as u64;
    let mut record = ProduceRecord::new(value);
    record.key = key;
    record.partition = args.partition;
    record.headers = args
        .headers
        .iter()
        .map(|h| h.0.clone())
        .collect::<Vec<Header>>();
    (record, bytes)
}

/// A byte-based progress bar on stderr when it is a terminal and every input is a file.
fn progress_bar(files: &[PathBuf], ctx: &Ctx) -> Option<ProgressBar> {
    if ctx.out.is_quiet() || !ctx.out.stderr_is_tty() {
        return None;
    }
    let mut total = 0;
    for f in files {
        if f.as_os_str() == "-" {
            return None;
        }
        total += std::fs::metadata(f).ok()?.len();
    }
    let pb = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
    {
        pb.set_style(style);
    }
    Some(pb)
}

fn human_bytes(n: u64) -> String {
    const KIB: f64 = 1024.0;
    let f = n as f64;
    if f < KIB {
        format!("{n} B")
    } else if f < KIB * KIB {
        format!("{:.1} KiB", f / KIB)
    } else {
        format!("{:.1} MiB", f / (KIB * KIB))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn records(input: &[u8], delim: &[u8]) -> Vec<String> {
        let mut r = BufReader::new(input);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        while read_record(&mut r, delim, &mut buf)
            .await
            .unwrap()
            .is_some()
        {
            out.push(String::from_utf8(buf.clone()).unwrap());
        }
        out
    }

    #[tokio::test]
    async fn records_split_on_single_and_multi_byte_delimiters() {
        assert_eq!(records(b"a\nb\r\n\nc", b"\n").await, ["a", "b", "", "c"]);
        assert_eq!(records(b"a\nb\n", b"\n").await, ["a", "b"]);
        assert_eq!(records(b"", b"\n").await, Vec::<String>::new());
        assert_eq!(records(b"a||b|c||", b"||").await, ["a", "b|c"]);
        assert_eq!(records(b"a\0b", b"\0").await, ["a", "b"]);
    }

    #[test]
    fn spans_read_well() {
        let p = |l| Pos {
            source: Arc::from("f.txt"),
            line: l,
        };
        let s = Span {
            first: p(3),
            last: p(4),
            messages: 2,
        };
        assert_eq!(s.to_string(), "f.txt:3-4 (2 messages)");
        assert_eq!(human_bytes(2048), "2.0 KiB");
    }
}
