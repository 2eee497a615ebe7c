//! The web console (`/ui`) in a real browser: headless Chromium driven by playwright-core.
//! Shared by `tests/console.rs` (embedded) and `tests/gateway` (Kafka gateway).
//!
//! Needs, besides Rust: Node.js with npm, and Debian's Chromium. On a fresh Debian machine
//! (what `.ci/run` must do before `cargo test`):
//!
//! ```sh
//! command -v chromium >/dev/null || { apt-get update && apt-get install -y chromium; }
//! command -v node >/dev/null || apt-get install -y nodejs npm
//! (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
//! ```
//!
//! playwright-core is pinned by `tests/browser/package-lock.json` and never downloads a
//! browser; the test runs `npm ci` itself when `tests/browser/node_modules` is missing. When
//! node or chromium is missing the test fails and says what to install: it never skips.
//!
//! Screenshots of each page go to `target/tmp/console-screenshots-<backend>/`; with
//! `UPKAFKA_UPDATE_SCREENSHOTS=1` the embedded run's are also copied to `docs/screenshots/` (the README's).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use upkafka_server::{Credentials, ServerConfig, TopicSpec};

use super::{Backend, TestServer};

const USER: &str = "console";
const PASS: &str = "console-test-pw";

/// The Chromium binary the browser tests drive (`UPKAFKA_TEST_CHROMIUM`, `CHROMIUM`, or
/// Debian's); fails the test, saying what to install, when it is missing.
pub fn chromium() -> PathBuf {
    let path = std::env::var_os("UPKAFKA_TEST_CHROMIUM")
        .or_else(|| std::env::var_os("CHROMIUM"))
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        path.exists(),
        "the console test needs Chromium at {}: install it with `apt-get install -y chromium` \
         (or set CHROMIUM to a Chromium binary)",
        path.display()
    );
    path
}

/// Fails the test, saying what to install, when Node.js cannot run.
pub fn node_ok() {
    let ok = std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "the console test needs Node.js (>= 18) and npm: install them with `apt-get install -y nodejs npm`"
    );
}

/// Installs the npm packages of `dir` (playwright-core, no browser download) unless they are.
pub fn npm_ci(dir: &Path) {
    if dir.join("node_modules/playwright-core").is_dir() {
        return;
    }
    let status = std::process::Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
        .current_dir(dir)
        .status()
        .expect("running npm (install it with `apt-get install -y npm`)");
    assert!(status.success(), "npm ci in {} failed", dir.display());
}

/// Drives every console page in headless Chromium against a fresh server on `backend`.
/// Runs the Node script `script` (playwright-core driving [`chromium`]) with `env` and
/// `CHROMIUM` set, within 60 s; fails the test unless it succeeds. Returns its stdout and
/// stderr.
pub async fn run_browser_script(script: &Path, env: &[(&str, &str)]) -> (String, String) {
    let child = tokio::process::Command::new("node")
        .arg(script)
        .envs(env.iter().copied())
        .env("CHROMIUM", chromium())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("starting node");
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("the browser test did not finish within 60 s")
        .expect("node ran");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "{} failed ({}):\n{stdout}\n{stderr}",
        script.display(),
        out.status
    );
    (stdout, stderr)
}

pub async fn run_console(backend: Backend) {
    // Fails at once, naming the missing browser, before anything starts.
    chromium();
    node_ok();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let browser_dir = root.join("tests/browser");
    npm_ci(&browser_dir);

    let config = ServerConfig {
        credentials: Some(Credentials::new(USER, PASS)),
        topics: vec![TopicSpec::new("sensor", 3), TopicSpec::new("greetings", 1)],
        ..ServerConfig::default()
    };
    let server = TestServer::start_on(backend, config).await;
    let url = server.url.clone();

    // Without credentials the console asks for them, as the API does.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let resp = http.get(format!("{url}/ui")).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    assert!(
        resp.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    let js = http
        .get(format!("{url}/ui/app.js"))
        .basic_auth(USER, Some(PASS))
        .send()
        .await
        .unwrap();
    assert_eq!(js.status(), 200);
    assert!(
        js.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );

    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("console-screenshots-{backend:?}").to_lowercase());
    let shots_dir = shots.display().to_string();
    let (_stdout, _stderr) = run_browser_script(
        &browser_dir.join("console.mjs"),
        &[
            ("UPKAFKA_URL", url.as_str()),
            ("UPKAFKA_USER", USER),
            ("UPKAFKA_PASS", PASS),
            ("SCREENSHOT_DIR", &shots_dir),
        ],
    )
    .await;
    for page in ["overview", "groups", "browse", "produce"] {
        let png = shots.join(format!("{page}.png"));
        assert!(png.is_file(), "missing screenshot {}", png.display());
        if backend == Backend::Embedded && std::env::var_os("UPKAFKA_UPDATE_SCREENSHOTS").is_some()
        {
            let docs = root.join("docs/screenshots");
            std::fs::create_dir_all(&docs).unwrap();
            std::fs::copy(&png, docs.join(format!("{page}.png"))).unwrap();
        }
    }
    server.stop().await;
}
