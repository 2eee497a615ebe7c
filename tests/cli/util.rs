//! The command builder and wiremock helpers shared by every module.

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicI64, Ordering};

use base64::Engine as _;
use serde::de::DeserializeOwned;
use wiremock::{Request, Respond, ResponseTemplate};

/// Username every test uses.
pub const USER: &str = "tester";
/// A password that must never show up in any output.
pub const PASSWORD: &str = "s3cr3t-Pa55w0rd-xyzzy";

/// The `Authorization` value for [`USER`] / [`PASSWORD`].
pub fn basic_auth() -> String {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    format!("Basic {token}")
}

/// A run of the binary with a clean environment (no `UPSTASH_*`, `UPKAFKA_*`, `RUST_LOG`,
/// `HOME`), and no profiles: `UPKAFKA_CONFIG_DIR` names an empty directory unless the test
/// sets it.
#[derive(Debug, Default)]
pub struct Cmd {
    args: Vec<String>,
    /// Connection options, placed right after the subcommand's name (they belong to it), so
    /// that the test's own ones, given later, win.
    client_args: Vec<String>,
    envs: Vec<(String, String)>,
    stdin: Vec<u8>,
}

/// The `upkafka` binary, nothing set.
pub fn upkafka() -> Cmd {
    Cmd::default()
}

/// The binary pointed at `server` with the test credentials (in the environment) and no
/// retries.
pub fn against(server: &wiremock::MockServer) -> Cmd {
    let mut cmd = upkafka()
        .env("UPSTASH_KAFKA_REST_URL", &server.uri())
        .env("UPSTASH_KAFKA_REST_USERNAME", USER)
        .env("UPSTASH_KAFKA_REST_PASSWORD", PASSWORD);
    cmd.client_args = vec!["--retries".to_owned(), "0".to_owned()];
    cmd
}

/// The subcommands that take the connection options (`--retries`, `--url`...).
const CLIENT_SUBCOMMANDS: &[&str] = &["produce", "consume", "fetch", "group", "inspect", "sensor"];

impl Cmd {
    /// Appends arguments.
    pub fn args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(|s| (*s).to_owned()));
        self
    }

    /// Sets a variable.
    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.envs.push((k.to_owned(), v.to_owned()));
        self
    }

    /// Feeds stdin.
    pub fn stdin(mut self, input: impl Into<Vec<u8>>) -> Self {
        self.stdin = input.into();
        self
    }

    /// Runs the binary (off the async runtime, so the mock server keeps answering).
    pub async fn run(self) -> Outcome {
        tokio::task::spawn_blocking(move || self.run_blocking())
            .await
            .expect("the runner thread panicked")
    }

    /// The command line: the test's arguments with [`Cmd::client_args`] after the subcommand.
    fn argv(&self) -> Vec<String> {
        let mut argv = self.args.clone();
        if let Some(i) = argv
            .iter()
            .position(|a| CLIENT_SUBCOMMANDS.contains(&a.as_str()))
        {
            argv.splice(i + 1..i + 1, self.client_args.iter().cloned());
        }
        argv
    }

    fn run_blocking(self) -> Outcome {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_upkafka"));
        for (k, _) in std::env::vars() {
            if k.starts_with("UPSTASH_") || k.starts_with("UPKAFKA_") || k == "RUST_LOG" {
                cmd.env_remove(k);
            }
        }
        cmd.env_remove("HOME").env("NO_COLOR", "1");
        // Never the profiles of whoever runs the tests (dirs-sys finds a home without HOME).
        cmd.env(
            "UPKAFKA_CONFIG_DIR",
            concat!(env!("CARGO_TARGET_TMPDIR"), "/no-profiles"),
        );
        let argv = self.argv();
        cmd.args(&argv).envs(self.envs.iter().map(|(k, v)| (k, v)));
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("cannot start upkafka");
        let mut stdin = child.stdin.take().expect("stdin is piped");
        let input = self.stdin.clone();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
        let out = child.wait_with_output().expect("cannot wait for upkafka");
        let _ = writer.join();
        Outcome {
            argv,
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// What a run left behind.
#[derive(Debug)]
pub struct Outcome {
    pub argv: Vec<String>,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    fn report(&self, what: &str) -> String {
        format!(
            "{what}\nargv: upkafka {}\nstatus: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.argv.join(" "),
            self.code,
            self.stdout,
            self.stderr
        )
    }

    /// Asserts exit code 0.
    #[track_caller]
    pub fn success(self) -> Self {
        self.code(0)
    }

    /// Asserts the exit code.
    #[track_caller]
    pub fn code(self, code: i32) -> Self {
        assert_eq!(
            self.code,
            Some(code),
            "{}",
            self.report("unexpected exit status")
        );
        self
    }

    /// Asserts stderr contains each of `parts`.
    #[track_caller]
    pub fn stderr_has(self, parts: &[&str]) -> Self {
        for p in parts {
            assert!(
                self.stderr.contains(p),
                "{}",
                self.report(&format!("stderr lacks {p:?}"))
            );
        }
        self
    }

    /// Asserts stdout is exactly `expected`.
    #[track_caller]
    pub fn stdout_is(self, expected: &str) -> Self {
        assert_eq!(
            self.stdout,
            expected,
            "{}",
            self.report("unexpected stdout")
        );
        self
    }

    /// Asserts neither stdout nor stderr contains `secret`.
    #[track_caller]
    pub fn never_shows(self, secret: &str) -> Self {
        assert!(
            !self.stdout.contains(secret) && !self.stderr.contains(secret),
            "{}",
            self.report(&format!("output shows {secret:?}"))
        );
        self
    }

    /// Stdout as one JSON document.
    #[track_caller]
    pub fn json<T: DeserializeOwned>(&self) -> T {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("{}", self.report(&format!("stdout is not the JSON: {e}"))))
    }

    /// Stdout as one JSON document per line.
    #[track_caller]
    pub fn json_lines<T: DeserializeOwned>(&self) -> Vec<T> {
        self.stdout
            .lines()
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| {
                    panic!(
                        "{}",
                        self.report(&format!("line {l:?} is not the JSON: {e}"))
                    )
                })
            })
            .collect()
    }
}

/// Answers a produce request with one metadata entry per message, offsets counting up.
pub struct ProduceEcho {
    pub topic: &'static str,
    pub next: AtomicI64,
}

impl ProduceEcho {
    pub fn new(topic: &'static str) -> Self {
        Self {
            topic,
            next: AtomicI64::new(0),
        }
    }
}

impl Respond for ProduceEcho {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap_or_default();
        let n = body.as_array().map_or(1, Vec::len);
        let metas: Vec<serde_json::Value> = (0..n)
            .map(|_| {
                serde_json::json!({"topic": self.topic, "partition": 0,
                    "offset": self.next.fetch_add(1, Ordering::SeqCst), "timestamp": 1})
            })
            .collect();
        ResponseTemplate::new(200).set_body_json(metas)
    }
}

/// `{"result":"Success","status":200}`.
pub fn success() -> ResponseTemplate {
    ResponseTemplate::new(200)
        .set_body_json(serde_json::json!({"result": "Success", "status": 200}))
}

/// A message as the server sends it.
pub fn message(
    topic: &str,
    partition: i32,
    offset: i64,
    key: &str,
    value: &str,
) -> serde_json::Value {
    serde_json::json!({"topic": topic, "partition": partition, "offset": offset,
        "timestamp": 1_700_000_000_000i64 + offset, "key": key, "value": value, "headers": []})
}
