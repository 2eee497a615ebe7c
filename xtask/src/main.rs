//! `cargo xtask`: the project's tasks that need more than cargo.
//!
//! `cargo xtask test` is the one command that runs every test on a fresh machine: it installs
//! what the suites need that cargo cannot (Node.js and npm, Debian's Chromium, the npm
//! packages pinned by the lockfiles, the Tansu broker for the gateway suite, Schemathesis for
//! the schema fuzzing), reusing whatever
//! is already there, says what it installs before it does, and then runs `cargo test` over the
//! whole workspace with every suite turned on. `cargo xtask setup` does only the installing.
//!
//! Installing uses `apt-get` as root, or through `sudo` as a user. The Tansu build goes to
//! `$HOME/.cache/upkafka/`, where later runs find it.

use std::env;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

/// The Tansu release the gateway suite runs against, and its storage engine: SQLite
/// (`libsql`), not the in-memory one, which mishandles batches of more than one record.
const TANSU_VERSION: &str = "0.6.0";
const TANSU_FEATURES: &str = "libsql";

/// The Schemathesis release of the schema fuzzing (`tests/fuzz.rs`), installed with every
/// package it needs pinned by `tests/fuzz/requirements.txt`.
const SCHEMATHESIS_VERSION: &str = "4.32.5";

const USAGE: &str = "\
usage: cargo xtask <task> [-- <cargo test arguments>]

tasks:
  test    install what the test suites need (if missing), then run every test:
          cargo test --workspace, with the Node.js, Chromium and Kafka (Tansu) suites on
  setup   only install what the test suites need
  help    this text

Examples:
  cargo xtask test
  cargo xtask test -- --test gateway
";

fn main() -> ExitCode {
    let mut args = env::args_os().skip(1);
    let task = args.next();
    let rest: Vec<OsString> = args.skip_while(|a| a == "--").collect();
    let result = match task.as_ref().and_then(|t| t.to_str()) {
        Some("test") => setup().and_then(|tools| test(&tools, &rest)),
        Some("setup") => setup().map(|tools| {
            tools.print_env();
            ExitCode::SUCCESS
        }),
        Some("help" | "--help" | "-h") => {
            print!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        other => {
            eprint!(
                "xtask: unknown task {:?}\n\n{USAGE}",
                other.unwrap_or("(none)")
            );
            Ok(ExitCode::from(2))
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("xtask: error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// What the suites need, found or installed.
struct Tools {
    tansu: PathBuf,
    node: PathBuf,
    chromium: PathBuf,
    schemathesis: PathBuf,
}

impl Tools {
    /// The variables that turn the suites on (read by `build.rs` and the tests).
    fn env(&self) -> [(&'static str, &Path); 4] {
        [
            ("UPKAFKA_TEST_TANSU", &self.tansu),
            ("UPKAFKA_TEST_NODE", &self.node),
            ("UPKAFKA_TEST_CHROMIUM", &self.chromium),
            ("UPKAFKA_TEST_SCHEMATHESIS", &self.schemathesis),
        ]
    }

    fn print_env(&self) {
        for (name, path) in self.env() {
            // Single-quoted for the shell: `eval "$(cargo xtask setup)"`.
            let quoted = path.display().to_string().replace('\'', r"'\''");
            println!("export {name}='{quoted}'");
        }
    }
}

/// How long the whole test run (its compilation included) may take before it is taken for
/// hung and stopped, unless `UPKAFKA_TEST_TIMEOUT_MINUTES` says otherwise (`0`: no limit).
/// A cold run takes about a quarter of this; a test that hangs would otherwise hold CI until
/// CI's own limit, with nothing said about which test it was.
const DEFAULT_TEST_MINUTES: u64 = 40;

/// Runs every test with every suite on, within the time limit.
fn test(tools: &Tools, extra: &[OsString]) -> Result<ExitCode, String> {
    let limit = match env::var("UPKAFKA_TEST_TIMEOUT_MINUTES") {
        Ok(v) => v.trim().parse::<u64>().map_err(|_| {
            format!("UPKAFKA_TEST_TIMEOUT_MINUTES must be a whole number of minutes, not {v:?}")
        })?,
        Err(_) => DEFAULT_TEST_MINUTES,
    };
    let mut cmd = Command::new(cargo());
    cmd.args(["test", "--workspace"]).args(extra);
    for (name, path) in tools.env() {
        cmd.env(name, path);
    }
    say(&format!("running {}", describe(&cmd)));
    let mut child = cmd.spawn().map_err(|e| format!("cannot run cargo: {e}"))?;
    let deadline = (limit > 0).then(|| Instant::now() + Duration::from_secs(limit * 60));
    let status = loop {
        if let Some(status) = child
            .try_wait()
            .map_err(|e| format!("waiting for cargo test: {e}"))?
        {
            break status;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            // The test binary, and what its tests started (brokers, browsers), go too:
            // orphans would keep CI's output pipe open.
            let tree = descendants(child.id());
            let _ = Command::new("kill")
                .arg("-KILL")
                .args(tree.iter().map(u32::to_string))
                .status();
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "the test run was still going after {limit} min and was stopped: a test \
                 hangs (cargo test names it above, \"has been running for over 60 seconds\"). \
                 UPKAFKA_TEST_TIMEOUT_MINUTES changes the limit"
            ));
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    Ok(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(c) => ExitCode::from(u8::try_from(c).unwrap_or(1)),
        None => ExitCode::FAILURE,
    })
}

/// Every process below `root` (Linux: read from `/proc`), deepest last.
fn descendants(root: u32) -> Vec<u32> {
    let mut parent_of = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            // `pid (comm) state ppid …`; the command name may hold spaces and parentheses.
            let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            if let Some(ppid) = ppid {
                parent_of.push((pid, ppid));
            }
        }
    }
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            parent_of
                .iter()
                .filter(|(_, ppid)| *ppid == parent)
                .map(|(pid, _)| *pid),
        );
        i += 1;
    }
    found.remove(0);
    found
}

/// Finds or installs everything the suites need.
fn setup() -> Result<Tools, String> {
    let root = workspace_root()?;
    let mut packages = Vec::new();
    if find("node").is_none() || find("npm").is_none() {
        packages.push((
            "nodejs",
            "Node.js, for the official-client and console tests",
        ));
        packages.push(("npm", "npm, to install their pinned packages"));
    }
    if find("chromium").is_none() {
        packages.push((
            "chromium",
            "Chromium, the headless browser of the console tests",
        ));
    }
    if !packages.is_empty() {
        apt_install(&packages)?;
    }
    let node = find("node").ok_or("node is still missing after installing nodejs")?;
    let chromium = find("chromium").ok_or("chromium is still missing after installing it")?;
    npm_ci(&root.join("tests/node"), "node_modules/@upstash/kafka")?;
    npm_ci(&root.join("tests/browser"), "node_modules/playwright-core")?;
    let tansu = tansu()?;
    let schemathesis = schemathesis(&root)?;
    Ok(Tools {
        tansu,
        node,
        chromium,
        schemathesis,
    })
}

/// Installs Debian packages, as root or through sudo, after saying which and why.
fn apt_install(packages: &[(&str, &str)]) -> Result<(), String> {
    for (name, why) in packages {
        say(&format!("installing the Debian package `{name}`: {why}"));
    }
    let sudo = !is_root();
    if sudo && find("sudo").is_none() {
        return Err(format!(
            "not root and no sudo: install {} yourself, then run this again",
            packages.iter().map(|p| p.0).collect::<Vec<_>>().join(" ")
        ));
    }
    let apt = |args: &[&str]| -> Result<(), String> {
        let mut cmd = if sudo {
            let mut c = Command::new("sudo");
            c.arg("apt-get");
            c
        } else {
            Command::new("apt-get")
        };
        cmd.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        run(&mut cmd)
    };
    apt(&["update", "-qq"])?;
    let mut install = vec!["install", "-y", "-qq", "--no-install-recommends"];
    install.extend(packages.iter().map(|p| p.0));
    apt(&install)
}

/// `npm ci` in `dir` (from its lockfile) unless `marker` under it is already installed.
fn npm_ci(dir: &Path, marker: &str) -> Result<(), String> {
    if dir.join(marker).exists() {
        return Ok(());
    }
    say(&format!(
        "installing the npm packages pinned by {}",
        dir.join("package-lock.json").display()
    ));
    run(Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(dir)
        // playwright-core drives Debian's Chromium; it must not download a browser.
        .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1"))
}

/// The Tansu binary, built into the cache on first use (about 11 minutes on 2 cores).
fn tansu() -> Result<PathBuf, String> {
    let home = env::var_os("HOME").ok_or("HOME is not set: it holds the cache for Tansu")?;
    let root = PathBuf::from(home)
        .join(".cache/upkafka")
        .join(format!("tansu-{TANSU_VERSION}-{TANSU_FEATURES}"));
    let bin = root.join("bin/tansu");
    if bin.is_file() {
        return Ok(bin);
    }
    say(&format!(
        "building the Tansu {TANSU_VERSION} Kafka broker into {} (once; about 11 minutes on 2 \
         cores): the gateway suite runs `upkafka serve --kafka` in front of it",
        root.display()
    ));
    run(Command::new(cargo())
        .args(["install", "tansu", "--version", TANSU_VERSION, "--locked"])
        .args(["--features", TANSU_FEATURES, "--debug", "--quiet", "--root"])
        .arg(&root)
        // Only run, never debugged: it builds faster without debug info.
        .env("CARGO_PROFILE_DEV_DEBUG", "0"))?;
    if bin.is_file() {
        Ok(bin)
    } else {
        Err(format!("cargo install tansu left no {}", bin.display()))
    }
}

/// The `schemathesis` program, installed on first use into a Python virtual environment in the
/// cache from the pinned `tests/fuzz/requirements.txt` (Debian's `python3-venv` first, when the
/// machine's Python cannot make one).
fn schemathesis(root: &Path) -> Result<PathBuf, String> {
    let home = env::var_os("HOME").ok_or("HOME is not set: it holds the cache for Schemathesis")?;
    let venv = PathBuf::from(home)
        .join(".cache/upkafka")
        .join(format!("schemathesis-{SCHEMATHESIS_VERSION}"));
    let bin = venv.join("bin/schemathesis");
    if bin.is_file() {
        return Ok(bin);
    }
    let python = find("python3").ok_or("python3 is missing: the schema fuzzing needs Python 3")?;
    let can_venv = Command::new(&python)
        .args(["-m", "venv", "--help"])
        .stdout(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !can_venv {
        apt_install(&[(
            "python3-venv",
            "to install Schemathesis for the schema fuzzing",
        )])?;
    }
    let requirements = root.join("tests/fuzz/requirements.txt");
    say(&format!(
        "installing Schemathesis {SCHEMATHESIS_VERSION} from PyPI into {} (once), with the \
         packages pinned by {}: tests/fuzz.rs fuzzes the server against its OpenAPI document",
        venv.display(),
        requirements.display()
    ));
    run(Command::new(&python).args(["-m", "venv"]).arg(&venv))?;
    run(Command::new(venv.join("bin/pip"))
        .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
        .arg(&requirements))?;
    if bin.is_file() {
        Ok(bin)
    } else {
        Err(format!("installing Schemathesis left no {}", bin.display()))
    }
}

/// Runs a set-up step; its output goes to stderr, so that stdout holds only what
/// `cargo xtask setup` prints for `eval`.
fn run(cmd: &mut Command) -> Result<(), String> {
    let status = cmd
        .stdout(std::io::stderr())
        .status()
        .map_err(|e| format!("cannot run {}: {e}", describe(cmd)))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{} failed ({status})", describe(cmd)))
    }
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

fn say(what: &str) {
    eprintln!("xtask: {what}");
}

fn cargo() -> OsString {
    env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// The workspace root: this crate's parent directory.
fn workspace_root() -> Result<PathBuf, String> {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .ok_or_else(|| "xtask is not inside the workspace".to_owned())
}

/// `program` on `PATH`, if it is there.
fn find(program: &str) -> Option<PathBuf> {
    let path = env::var_os("PATH")?;
    env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}
