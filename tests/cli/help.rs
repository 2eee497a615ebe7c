//! `--help` reads well: every subcommand has examples, the top level lists the exit codes,
//! and the clap definition is consistent.

use crate::util::upkafka;

const SUBCOMMANDS: &[&[&str]] = &[
    &["produce"],
    &["consume"],
    &["fetch"],
    &["group", "commit"],
    &["group", "committed"],
    &["group", "delete"],
    &["inspect", "topics"],
    &["inspect", "consumers"],
    &["inspect", "offsets"],
    &["inspect", "lag"],
    &["completions"],
];

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
    for sub in SUBCOMMANDS {
        let mut args: Vec<&str> = sub.to_vec();
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
