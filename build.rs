//! Build-time switches for the test suites that need programs cargo does not provide. Rust's
//! test harness has no runtime "ignored", so each suite is compiled in, or replaced by one test
//! that reports itself ignored with the reason and the command that runs it:
//!
//! - `upkafka_test_broker`: the gateway suite (`tests/gateway`), on when `UPKAFKA_TEST_TANSU`
//!   names a Tansu broker binary;
//! - `upkafka_test_node`: the official-client tests, on when `UPKAFKA_TEST_NODE` names a
//!   Node.js binary, or, when it is unset, `node` and `npm` are on `PATH`;
//! - `upkafka_test_chromium`: the console tests in headless Chromium (they need Node.js too),
//!   on when `UPKAFKA_TEST_CHROMIUM` names a Chromium binary, or, when it is unset, `chromium`
//!   is on `PATH`;
//! - `upkafka_test_schemathesis`: the schema fuzzing (`tests/fuzz.rs`), on when
//!   `UPKAFKA_TEST_SCHEMATHESIS` names a `schemathesis` program.
//!
//! `cargo xtask test` installs all four and sets the variables.
//!
//! It also records the commit the binary is built from (`UPKAFKA_COMMIT`, shown by
//! `upkafka --version`): `git rev-parse` when the source is a git checkout (a clone,
//! `cargo install --path`, `cargo install --git`), else `unknown commit`.

use std::env;
use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=PATH");
    for cfg in [
        "upkafka_test_broker",
        "upkafka_test_node",
        "upkafka_test_chromium",
        "upkafka_test_schemathesis",
    ] {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
    }
    if given("UPKAFKA_TEST_TANSU").unwrap_or(false) {
        println!("cargo::rustc-cfg=upkafka_test_broker");
    }
    if given("UPKAFKA_TEST_NODE").unwrap_or_else(|| on_path("node") && on_path("npm")) {
        println!("cargo::rustc-cfg=upkafka_test_node");
    }
    if given("UPKAFKA_TEST_CHROMIUM").unwrap_or_else(|| on_path("chromium")) {
        println!("cargo::rustc-cfg=upkafka_test_chromium");
    }
    if given("UPKAFKA_TEST_SCHEMATHESIS").unwrap_or(false) {
        println!("cargo::rustc-cfg=upkafka_test_schemathesis");
    }
    println!("cargo::rustc-env=UPKAFKA_COMMIT={}", commit());
}

/// The short hash of `HEAD`, or `unknown commit` outside a git checkout. Reruns when `HEAD`
/// moves (a commit, a checkout).
fn commit() -> String {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
    };
    // Only paths that exist: cargo reruns a build script on every build for a missing one.
    let watch = |p: String| {
        if Path::new(&p).exists() {
            println!("cargo::rerun-if-changed={p}");
        }
    };
    for path in ["HEAD", "packed-refs"] {
        git(&["rev-parse", "--git-path", path]).map(watch);
    }
    if let Some(head_ref) = git(&["symbolic-ref", "-q", "HEAD"]) {
        git(&["rev-parse", "--git-path", &head_ref]).map(watch);
    }
    git(&["rev-parse", "--short=12", "HEAD"])
        .map_or_else(|| "unknown commit".to_owned(), |h| format!("commit {h}"))
}

/// Whether `var` names a program: `None` when unset, so the caller may look on `PATH`.
fn given(var: &str) -> Option<bool> {
    println!("cargo::rerun-if-env-changed={var}");
    env::var_os(var).map(|v| !v.is_empty())
}

fn on_path(program: &str) -> bool {
    env::var_os("PATH").is_some_and(|path| {
        env::split_paths(&path).any(|dir| Path::new(&dir).join(program).is_file())
    })
}
