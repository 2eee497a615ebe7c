//! `docs/cli.md`, generated from the clap definition: every command's `--help`, nested
//! subcommands included, so the reference cannot drift from the binary. The `cli_docs` test
//! fails when the checked-in file differs and says how to regenerate it.

use clap::CommandFactory;

use super::args::Cli;

/// The command that rewrites `docs/cli.md` from the clap definition.
pub const REGENERATE: &str = "UPKAFKA_BLESS=1 cargo test -p upkafka --bin upkafka cli_docs";

/// Width the help texts are wrapped at, whatever the terminal.
const WIDTH: usize = 100;

/// The whole of `docs/cli.md`.
pub fn markdown() -> String {
    let mut top = stable(Cli::command());
    // Built as `upkafka ... --help` is: global options propagated, bin names set.
    top.build();
    let mut commands = Vec::new();
    collect(&top, &mut commands);

    let mut md = String::new();
    md.push_str("# The `upkafka` command line\n\n");
    md.push_str(&format!(
        "<!-- Generated from the clap definitions in src/cli; do not edit. Regenerate with:\n     \
         {REGENERATE} -->\n\n"
    ));
    md.push_str(
        "Every command's `--help`, as the binary prints it. Options that take a value show \
         their\ndefault and the variable they fall back to; durations are written like `500ms`, \
         `30s`, `1m`,\nsizes like `65536`, `512KiB`, `1MiB` (every unit a power of 1024).\n\n",
    );
    for cmd in &commands {
        let name = cmd.get_bin_name().unwrap_or(cmd.get_name());
        let anchor = name.replace(' ', "-");
        md.push_str(&format!("- [`{name}`](#{anchor})\n"));
    }
    for cmd in commands {
        let name = cmd.get_bin_name().unwrap_or(cmd.get_name()).to_owned();
        let mut cmd = cmd;
        let help = cmd.render_long_help().to_string();
        md.push_str(&format!("\n## `{name}`\n\n```text\n"));
        for line in help.trim_end().lines() {
            md.push_str(line.trim_end());
            md.push('\n');
        }
        md.push_str("```\n");
    }
    md
}

/// `cmd` with output that depends on nothing but the definition: a fixed width, and no values
/// of the environment variables of whoever generates it.
fn stable(cmd: clap::Command) -> clap::Command {
    cmd.term_width(WIDTH)
        .mut_args(|a| a.hide_env_values(true))
        .mut_subcommands(stable)
}

/// `cmd` and every command below it, depth first, leaving out clap's own `help`.
fn collect(cmd: &clap::Command, out: &mut Vec<clap::Command>) {
    out.push(cmd.clone());
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        collect(sub, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/cli.md");

    #[test]
    fn cli_docs() {
        let generated = markdown();
        if std::env::var_os("UPKAFKA_BLESS").is_some_and(|v| v == "1") {
            std::fs::write(PATH, &generated).unwrap_or_else(|e| panic!("cannot write {PATH}: {e}"));
            return;
        }
        let checked_in = std::fs::read_to_string(PATH).unwrap_or_default();
        if checked_in != generated {
            let line = checked_in
                .lines()
                .zip(generated.lines())
                .position(|(a, b)| a != b)
                .unwrap_or_else(|| checked_in.lines().count().min(generated.lines().count()));
            panic!(
                "docs/cli.md is not what the clap definitions generate (first difference at line \
                 {}:\n  checked in: {:?}\n  generated:  {:?}).\nRegenerate it with:\n  {REGENERATE}",
                line + 1,
                checked_in.lines().nth(line).unwrap_or("<end of file>"),
                generated.lines().nth(line).unwrap_or("<end of file>"),
            );
        }
    }

    #[test]
    fn docs_cover_nested_subcommands_and_hide_environment_values() {
        let md = markdown();
        for heading in [
            "## `upkafka`\n",
            "## `upkafka group commit`\n",
            "## `upkafka sensor monitor`\n",
            "## `upkafka serve`\n",
        ] {
            assert!(md.contains(heading), "no {heading:?}");
        }
        assert!(!md.contains("## `upkafka help`"));
        // The connection section shows the variable, never a value taken from it.
        assert!(md.contains("[env: UPSTASH_KAFKA_REST_URL]"));
    }
}
