//! `upkafka profile add|list|use|remove`: named connection profiles (URL, username and where
//! the password comes from), like kaf's and rpk's contexts, in one TOML file in the platform's
//! config directory (`UPKAFKA_CONFIG_DIR` overrides it).
//!
//! The subcommands that talk to a server pick a profile with `--profile NAME` /
//! `UPKAFKA_PROFILE`, or the one chosen with `profile use` (see [`select`]); explicit flags and
//! the `UPSTASH_KAFKA_REST_*` variables still win over what the profile says.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};

use clap::{Args, Subcommand};
use serde::{Deserialize, Serialize};

use super::args::OutputFormat;
use super::output::{Output, Table};
use super::{CliError, stdout_err};
use upkafka_client::Password;

/// Variable naming the directory that holds the profiles file (instead of the platform's
/// config directory).
pub const ENV_CONFIG_DIR: &str = "UPKAFKA_CONFIG_DIR";
/// Variable naming the profile to use (same as `--profile`).
pub const ENV_PROFILE: &str = "UPKAFKA_PROFILE";
/// The profiles file's name inside the config directory.
const FILE_NAME: &str = "profiles.toml";

/// `upkafka profile ...`.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  upkafka profile add prod --url https://example-kafka.upstash.io --username me \\
      --password-command 'pass show upkafka/prod' --default
  upkafka profile list
  upkafka inspect topics --profile prod     # or: UPKAFKA_PROFILE=prod upkafka inspect topics
  upkafka profile use prod
  upkafka profile remove prod

Profiles live in profiles.toml in the platform's config directory (on Linux
~/.config/upkafka/), or in $UPKAFKA_CONFIG_DIR; the file is readable by its owner only (0600).

Which profile a server subcommand uses: --profile NAME (or UPKAFKA_PROFILE), else the default
set with `profile use`, but the default only when no URL is given by --url or
UPSTASH_KAFKA_REST_URL (so that exported variables keep working, and a profile's password
never goes to a server named elsewhere). Within a profile, each of --url, --username,
--password, --password-file and their UPSTASH_KAFKA_REST_* variables still wins over what the
profile says.")]
pub struct ProfileArgs {
    /// What to do with the profiles.
    #[command(subcommand)]
    pub command: ProfileCommand,
}

/// `upkafka profile ...`.
#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// Add (or with --force replace) a named connection profile.
    #[command(after_help = "\
Examples:
  upkafka profile add prod --url https://example-kafka.upstash.io --username me \\
      --password-command 'pass show upkafka/prod'
  upkafka profile add dev --url http://127.0.0.1:8080 --username dev --password-file ~/.dev-pw
  pass show upkafka/ci | upkafka profile add ci --url https://ci-kafka.upstash.io \\
      --username ci --password-plain

The password is not stored unless you ask: --password-command runs a command (through the
shell) each time a password is needed and takes the first line it prints; --password-file
reads a file. --password-plain reads the password from stdin and stores it in the profiles
file in clear (the file is always readable by its owner only, mode 0600).")]
    Add(AddArgs),
    /// List the profiles (never their passwords); `*` marks the default.
    #[command(after_help = "\
Examples:
  upkafka profile list
  upkafka profile list --output json

The PASSWORD column says where the password comes from (command, file, stored, or - for
none), never the password itself.")]
    List,
    /// Make a profile the default, used when neither --profile nor a URL is given.
    #[command(after_help = "\
Examples:
  upkafka profile use prod
  upkafka inspect topics          # now talks to prod")]
    Use {
        /// The profile's name.
        #[arg(value_name = "NAME")]
        name: String,
    },
    /// Remove a profile (and the default, if it was the default).
    #[command(after_help = "\
Examples:
  upkafka profile remove dev")]
    Remove {
        /// The profile's name.
        #[arg(value_name = "NAME")]
        name: String,
    },
}

/// `upkafka profile add`.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// The profile's name: letters, digits, `-`, `_` and `.`.
    #[arg(value_name = "NAME")]
    pub name: String,

    /// REST endpoint URL, e.g. `https://example-kafka.upstash.io`.
    #[arg(long, value_name = "URL")]
    pub url: String,

    /// Basic-auth username.
    #[arg(long, value_name = "USER")]
    pub username: Option<String>,

    /// Read the password from FILE whenever it is needed (trailing newline dropped).
    #[arg(long, value_name = "FILE", group = "password_source")]
    pub password_file: Option<PathBuf>,

    /// Run COMMAND through the shell whenever the password is needed and use the first line
    /// it prints, e.g. 'pass show upkafka/prod'.
    #[arg(long, value_name = "COMMAND", group = "password_source")]
    pub password_command: Option<ShellCommand>,

    /// Read the password from stdin and store it in the profiles file in clear (mode 0600).
    #[arg(long, group = "password_source")]
    pub password_plain: bool,

    /// Also make it the default profile (as `upkafka profile use NAME`).
    #[arg(long)]
    pub default: bool,

    /// Replace a profile of the same name.
    #[arg(long)]
    pub force: bool,
}

/// `--password-command`: a shell command, hidden from Debug output (`-v` logs the parsed
/// command line) in case it holds a secret itself.
#[derive(Clone)]
pub struct ShellCommand(String);

impl fmt::Debug for ShellCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ShellCommand(<hidden>)")
    }
}

impl std::str::FromStr for ShellCommand {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim().is_empty() {
            Err("the command is empty".to_owned())
        } else {
            Ok(ShellCommand(s.to_owned()))
        }
    }
}

/// The profiles file.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfilesFile {
    /// The profile used when none is named (set by `profile use`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    default: Option<String>,
    /// The profiles by name.
    #[serde(default)]
    profiles: BTreeMap<String, Profile>,
}

/// One connection profile.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// REST endpoint URL.
    pub url: String,
    /// Basic-auth username.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// A file holding the password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    password_file: Option<PathBuf>,
    /// A shell command printing the password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    password_command: Option<String>,
    /// The password in clear (only with `--password-plain`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    password: Option<String>,
}

impl fmt::Debug for Profile {
    /// Never shows a stored password, nor the password command (it may hold one).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Profile")
            .field("url", &self.url)
            .field("username", &self.username)
            .field("password", &self.password_source())
            .finish()
    }
}

impl Profile {
    /// Where the password comes from, for `list` and logs: never the password itself.
    fn password_source(&self) -> Option<&'static str> {
        if self.password_command.is_some() {
            Some("command")
        } else if self.password_file.is_some() {
            Some("file")
        } else if self.password.is_some() {
            Some("stored")
        } else {
            None
        }
    }

    /// The profile's password, if it has one: stored, read from its file, or printed by its
    /// command.
    ///
    /// # Errors
    /// [`CliError::Usage`] when the file cannot be read or the command cannot run, fails or
    /// prints nothing. The errors name the profile, never show the command's output.
    pub fn password(&self, name: &str) -> Result<Option<Password>, CliError> {
        if let Some(p) = &self.password {
            return Ok(Some(Password::new(p.as_str())));
        }
        if let Some(path) = &self.password_file {
            let text = std::fs::read_to_string(path).map_err(|e| {
                CliError::Usage(format!(
                    "cannot read the password file {} of profile `{name}`: {}",
                    path.display(),
                    e.kind()
                ))
            })?;
            return Ok(Some(Password::new(strip_newline(&text))));
        }
        if let Some(command) = &self.password_command {
            return run_password_command(command, name).map(Some);
        }
        Ok(None)
    }
}

/// `text` without one trailing `\n` or `\r\n`.
fn strip_newline(text: &str) -> &str {
    let t = text.strip_suffix('\n').unwrap_or(text);
    t.strip_suffix('\r').unwrap_or(t)
}

/// Runs a profile's password command through the shell (stdin and stderr are the user's, so
/// that it can ask for a passphrase) and returns the first line it printed.
fn run_password_command(command: &str, name: &str) -> Result<Password, CliError> {
    #[cfg(windows)]
    let mut cmd = {
        let mut c = std::process::Command::new("cmd");
        c.arg("/C").arg(command);
        c
    };
    #[cfg(not(windows))]
    let mut cmd = {
        let mut c = std::process::Command::new("sh");
        c.arg("-c").arg(command);
        c
    };
    cmd.stdin(Stdio::inherit())
        .stderr(Stdio::inherit())
        .stdout(Stdio::piped());
    tracing::debug!(profile = name, "running the password command");
    let out = cmd.output().map_err(|e| {
        CliError::Usage(format!(
            "cannot run the password command of profile `{name}`: {e}"
        ))
    })?;
    if !out.status.success() {
        return Err(CliError::Usage(format!(
            "the password command of profile `{name}` failed ({}); its output is not shown",
            out.status
        )));
    }
    let text = String::from_utf8(out.stdout).map_err(|_| {
        CliError::Usage(format!(
            "the password command of profile `{name}` printed something that is not UTF-8"
        ))
    })?;
    let first = strip_newline(text.lines().next().unwrap_or(""));
    if first.is_empty() {
        return Err(CliError::Usage(format!(
            "the password command of profile `{name}` printed no password"
        )));
    }
    Ok(Password::new(first))
}

/// The profiles file: `$UPKAFKA_CONFIG_DIR/profiles.toml`, else `profiles.toml` in the
/// platform's config directory.
///
/// # Errors
/// [`CliError::Usage`] when there is no home directory to find a config directory in.
fn file_path() -> Result<PathBuf, CliError> {
    if let Some(dir) = std::env::var_os(ENV_CONFIG_DIR).filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir).join(FILE_NAME));
    }
    directories::ProjectDirs::from("", "", "upkafka")
        .map(|d| d.config_dir().join(FILE_NAME))
        .ok_or_else(|| {
            CliError::Usage(format!(
                "cannot find a config directory for the profiles (no home directory); \
                 set {ENV_CONFIG_DIR}"
            ))
        })
}

impl ProfilesFile {
    /// Reads `path`; a missing file is an empty one.
    fn load(path: &Path) -> Result<Self, CliError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => {
                return Err(CliError::Usage(format!(
                    "cannot read the profiles file {}: {}",
                    path.display(),
                    e.kind()
                )));
            }
        };
        let file: Self = toml::from_str(&text).map_err(|e| {
            CliError::Usage(format!(
                "the profiles file {} is not valid: {}",
                path.display(),
                super::toml_error::describe(&text, &e)
            ))
        })?;
        for (name, p) in &file.profiles {
            let sources = [
                p.password.is_some(),
                p.password_file.is_some(),
                p.password_command.is_some(),
            ];
            if sources.iter().filter(|s| **s).count() > 1 {
                return Err(CliError::Usage(format!(
                    "profile `{name}` in {} has more than one of password, password_file and \
                     password_command; keep one",
                    path.display()
                )));
            }
        }
        Ok(file)
    }

    /// Writes the file (and its directory), readable by its owner only, replacing it whole.
    fn save(&self, path: &Path) -> Result<(), CliError> {
        let fail = |what: &str, e: std::io::Error| {
            CliError::Usage(format!(
                "cannot {what} the profiles file {}: {}",
                path.display(),
                e.kind()
            ))
        };
        let text = toml::to_string_pretty(self)
            .map_err(|e| CliError::Runtime(format!("cannot encode the profiles: {e}")))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| fail("create the directory of", e))?;
        let tmp = dir.join(format!(".{FILE_NAME}.tmp-{}", std::process::id()));
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let write = || -> std::io::Result<()> {
            let mut f = opts.open(&tmp)?;
            // A leftover temporary file keeps its old mode: set it again.
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
            }
            f.write_all(b"# upkafka connection profiles: see `upkafka profile --help`.\n\n")?;
            f.write_all(text.as_bytes())?;
            f.sync_all()
        };
        if let Err(e) = write() {
            let _ = std::fs::remove_file(&tmp);
            return Err(fail("write", e));
        }
        std::fs::rename(&tmp, path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            fail("replace", e)
        })
    }

    /// The profile called `name`, or an error naming the known ones.
    fn get(&self, name: &str, path: &Path) -> Result<&Profile, CliError> {
        self.profiles
            .get(name)
            .ok_or_else(|| unknown_profile(name, self, path))
    }
}

fn unknown_profile(name: &str, file: &ProfilesFile, path: &Path) -> CliError {
    if file.profiles.is_empty() {
        CliError::Usage(format!(
            "unknown profile `{name}`: there are no profiles in {} (add one with `upkafka \
             profile add`)",
            path.display()
        ))
    } else {
        let known: Vec<&str> = file.profiles.keys().map(String::as_str).collect();
        CliError::Usage(format!(
            "unknown profile `{name}`; known profiles: {}",
            known.join(", ")
        ))
    }
}

/// The profile a server subcommand uses: `named` (from `--profile` / `UPKAFKA_PROFILE`), else
/// the default one, but only when `url_given` is false (no `--url` / `UPSTASH_KAFKA_REST_URL`).
///
/// # Errors
/// [`CliError::Usage`] for an unknown name (naming the known ones) or an unreadable file.
pub fn select(named: Option<&str>, url_given: bool) -> Result<Option<(String, Profile)>, CliError> {
    if let Some(name) = named.map(str::trim).filter(|n| !n.is_empty()) {
        let path = file_path()?;
        let file = ProfilesFile::load(&path)?;
        let profile = file.get(name, &path)?.clone();
        return Ok(Some((name.to_owned(), profile)));
    }
    if url_given {
        return Ok(None);
    }
    // No home directory and no UPKAFKA_CONFIG_DIR: then there is no default profile either.
    let Ok(path) = file_path() else {
        return Ok(None);
    };
    let file = ProfilesFile::load(&path)?;
    let Some(name) = file.default.clone() else {
        return Ok(None);
    };
    let profile = file.profiles.get(&name).cloned().ok_or_else(|| {
        match unknown_profile(&name, &file, &path) {
            CliError::Usage(m) => CliError::Usage(format!(
                "the default profile in {} does not exist: {m}",
                path.display()
            )),
            other => other,
        }
    })?;
    Ok(Some((name, profile)))
}

/// A row of `profile list`.
#[derive(Debug, Serialize)]
struct ProfileRow {
    name: String,
    default: bool,
    url: String,
    username: Option<String>,
    /// Where the password comes from: `command`, `file`, `stored`, or none.
    password: Option<&'static str>,
}

impl Table for ProfileRow {
    const HEADERS: &'static [&'static str] = &["DEFAULT", "NAME", "URL", "USERNAME", "PASSWORD"];

    fn cells(&self) -> Vec<String> {
        vec![
            if self.default { "*" } else { "" }.to_owned(),
            self.name.clone(),
            self.url.clone(),
            self.username.clone().unwrap_or_else(|| "-".to_owned()),
            self.password.unwrap_or("-").to_owned(),
        ]
    }
}

/// What `add`, `use` and `remove` did, for `--output json`.
#[derive(Debug, Serialize)]
struct Done<'a> {
    profile: &'a str,
    action: &'a str,
    default: Option<&'a str>,
}

/// Runs `upkafka profile ...`.
///
/// # Errors
/// [`CliError::Usage`] for a bad name or URL, an unknown profile, or a profiles file that
/// cannot be read or written.
pub fn run(args: ProfileArgs, out: &mut Output) -> Result<ExitCode, CliError> {
    let path = file_path()?;
    let mut file = ProfilesFile::load(&path)?;
    match args.command {
        ProfileCommand::Add(a) => {
            check_name(&a.name)?;
            let url = a.url.trim();
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(CliError::Usage(format!(
                    "--url `{url}` is not an http:// or https:// URL"
                )));
            }
            if file.profiles.contains_key(&a.name) && !a.force {
                return Err(CliError::Usage(format!(
                    "profile `{}` already exists in {}; pass --force to replace it",
                    a.name,
                    path.display()
                )));
            }
            let password_file = match a.password_file {
                Some(p) => Some(std::path::absolute(&p).map_err(|e| {
                    CliError::Usage(format!("--password-file {}: {e}", p.display()))
                })?),
                None => None,
            };
            let password = if a.password_plain {
                Some(read_plain_password()?)
            } else {
                None
            };
            file.profiles.insert(
                a.name.clone(),
                Profile {
                    url: url.to_owned(),
                    username: a.username.filter(|u| !u.is_empty()),
                    password_file,
                    password_command: a.password_command.map(|c| c.0),
                    password,
                },
            );
            if a.default {
                file.default = Some(a.name.clone());
            }
            file.save(&path)?;
            let text = format!(
                "added profile {} to {}{}",
                a.name,
                path.display(),
                if a.default { " (the default)" } else { "" }
            );
            done(out, "add", &a.name, &file, &text)
        }
        ProfileCommand::List => {
            let rows: Vec<ProfileRow> = file
                .profiles
                .iter()
                .map(|(name, p)| ProfileRow {
                    name: name.clone(),
                    default: file.default.as_deref() == Some(name),
                    url: p.url.clone(),
                    username: p.username.clone(),
                    password: p.password_source(),
                })
                .collect();
            if rows.is_empty() {
                out.note(&format!(
                    "no profiles in {} (add one with `upkafka profile add`)",
                    path.display()
                ));
            }
            out.table(&rows).map_err(stdout_err)?;
            Ok(ExitCode::SUCCESS)
        }
        ProfileCommand::Use { name } => {
            file.get(&name, &path)?;
            file.default = Some(name.clone());
            file.save(&path)?;
            done(
                out,
                "use",
                &name,
                &file,
                &format!("default profile: {name}"),
            )
        }
        ProfileCommand::Remove { name } => {
            file.get(&name, &path)?;
            file.profiles.remove(&name);
            let was_default = file.default.as_deref() == Some(name.as_str());
            if was_default {
                file.default = None;
            }
            file.save(&path)?;
            let text = if was_default {
                format!("removed profile {name} (it was the default; now there is none)")
            } else {
                format!("removed profile {name}")
            };
            done(out, "remove", &name, &file, &text)
        }
    }
}

fn done(
    out: &mut Output,
    action: &str,
    name: &str,
    file: &ProfilesFile,
    text: &str,
) -> Result<ExitCode, CliError> {
    match out.format() {
        OutputFormat::Json => {
            out.json(&Done {
                profile: name,
                action,
                default: file.default.as_deref(),
            })
            .map_err(stdout_err)?;
            out.flush().map_err(stdout_err)?;
        }
        OutputFormat::Text => out.note(text),
    }
    Ok(ExitCode::SUCCESS)
}

fn check_name(name: &str) -> Result<(), CliError> {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(CliError::Usage(format!(
            "`{name}` is not a profile name: use letters, digits, `-`, `_` and `.`"
        )))
    }
}

/// `--password-plain`: the password from a pipe (a terminal would echo it), first line only.
fn read_plain_password() -> Result<String, CliError> {
    let mut stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Err(CliError::Usage(
            "--password-plain reads the password from stdin: pipe it in (e.g. `pass show x | \
             upkafka profile add ... --password-plain`) so that it is neither echoed nor kept \
             in your shell history"
                .to_owned(),
        ));
    }
    let mut text = String::new();
    stdin
        .read_to_string(&mut text)
        .map_err(|e| CliError::io("cannot read the password from stdin", e))?;
    let first = strip_newline(text.lines().next().unwrap_or(""));
    if first.is_empty() {
        return Err(CliError::Usage(
            "--password-plain: stdin held no password".to_owned(),
        ));
    }
    Ok(first.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_a_stored_password_or_the_command() {
        let p = Profile {
            url: "https://x".into(),
            username: Some("me".into()),
            password: Some("hunter2".into()),
            ..Profile::default()
        };
        let shown = format!("{p:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("stored"), "{shown}");
        let p = Profile {
            password_command: Some("echo hunter2".into()),
            ..Profile::default()
        };
        assert!(!format!("{p:?}").contains("hunter2"));
    }

    #[test]
    fn the_parsed_command_line_hides_the_password_command() {
        use clap::Parser;
        let cli = crate::cli::Cli::try_parse_from([
            "upkafka",
            "profile",
            "add",
            "p",
            "--url",
            "http://x",
            "--password-command",
            "echo hunter2",
        ])
        .unwrap();
        // What `-v` logs.
        let shown = format!("{:?}", cli.command);
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("ShellCommand(<hidden>)"), "{shown}");
    }

    #[test]
    fn a_bad_file_is_reported_by_line_without_quoting_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        std::fs::write(
            &path,
            "[profiles.a]\nurl = \"http://x\"\npassword = \"hunter2\"\npasword = 1\n",
        )
        .unwrap();
        let err = ProfilesFile::load(&path).unwrap_err().to_string();
        assert!(err.contains("line 4"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn two_password_sources_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        std::fs::write(
            &path,
            "[profiles.a]\nurl = \"http://x\"\npassword = \"p\"\npassword_command = \"c\"\n",
        )
        .unwrap();
        let err = ProfilesFile::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("profile `a`") && err.contains("more than one"),
            "{err}"
        );
    }
}
