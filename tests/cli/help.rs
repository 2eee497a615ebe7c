//! `--help` reads well: every subcommand has examples, the top level lists the exit codes,
//! and the clap definition is consistent.

use crate::util::upkafka;

/// The subcommands listed under `Commands:` in a help text (clap's own `help` left out).
fn listed_subcommands(help: &str) -> Vec<String> {
    help.split("Commands:\n")
        .nth(1)
        .unwrap_or("")
        .lines()
        .take_while(|l| l.starts_with("  "))
        // A name starts in column 3; deeper lines continue a wrapped description.
        .filter(|l| !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect()
}

/// Every subcommand path, nested ones included, as `upkafka ... --help` lists them.
async fn all_subcommands() -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let mut todo: Vec<Vec<String>> = vec![Vec::new()];
    while let Some(path) = todo.pop() {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let out = upkafka().args(&args).run().await.success();
        for sub in listed_subcommands(&out.stdout) {
            let mut p = path.clone();
            p.push(sub);
            todo.push(p.clone());
            found.push(p);
        }
    }
    found
}

#[tokio::test]
async fn top_level_help_lists_exit_codes_and_examples() {
    upkafka().args(&["--help"]).run().await.success();
    let out = upkafka().args(&["--help"]).run().await.success();
    for part in [
        "Examples:",
        "Exit codes:",
        "3  authentication failed",
        "UPSTASH_KAFKA_REST_URL",
    ] {
        assert!(
            out.stdout.contains(part),
            "missing {part:?} in\n{}",
            out.stdout
        );
    }
}

#[tokio::test]
async fn every_subcommand_help_has_an_example() {
    let subs = all_subcommands().await;
    for expected in [
        &["produce"][..],
        &["group", "commit"],
        &["sensor", "monitor"],
        &["serve"],
    ] {
        assert!(
            subs.iter().any(|s| s == expected),
            "`upkafka --help` does not lead to `{}`: found {subs:?}",
            expected.join(" ")
        );
    }
    for sub in &subs {
        let mut args: Vec<&str> = sub.iter().map(String::as_str).collect();
        args.push("--help");
        let out = upkafka().args(&args).run().await.success();
        let examples = out.stdout.split("Examples:\n").nth(1).unwrap_or("");
        assert!(
            examples.contains(&format!("upkafka {}", sub.join(" "))),
            "`upkafka {}` has no example:\n{}",
            args.join(" "),
            out.stdout
        );
    }
}

#[tokio::test]
async fn help_never_shows_the_password_from_the_environment() {
    let out = upkafka()
        .env("UPSTASH_KAFKA_REST_PASSWORD", crate::util::PASSWORD)
        .args(&["--help"])
        .run()
        .await
        .success();
    assert!(!out.stdout.contains(crate::util::PASSWORD));
}

#[tokio::test]
async fn completions_for_each_shell() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef upkafka"),
        ("fish", "complete -c upkafka"),
    ] {
        let out = upkafka()
            .args(&["completions", shell])
            .run()
            .await
            .success();
        assert!(out.stdout.contains(marker), "{shell}: {}", out.stdout);
    }
}

/// `upkafka --version` names the version and the commit the binary was built from (what
/// `git` says of this checkout; `unknown commit` when it is not one).
#[tokio::test]
async fn version_names_the_commit() {
    let out = upkafka().args(&["--version"]).run().await.success();
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    let commit = head.map_or_else(|| "unknown commit".to_owned(), |h| format!("commit {h}"));
    assert_eq!(
        out.stdout.trim(),
        format!("upkafka {} ({commit})", env!("CARGO_PKG_VERSION"))
    );
}
