//! [`KafkaSettings`]: where the Kafka cluster is and how to talk to it, as given on the
//! command line (`--kafka`, `--kafka-config key=value`, `--kafka-config key=@FILE`,
//! `--kafka-config-file FILE`). Plain data, compiled with or without the `kafka` feature, so
//! the CLI can parse and check it either way.
//!
//! Secrets need not be on the command line, where other users of the machine can read them
//! (`ps`, `/proc/PID/cmdline`): `--kafka-config sasl.password=@/run/secrets/kafka` reads the
//! value from a file ([`KafkaSetting::resolve_file`]), and `--kafka-config-file FILE` reads a
//! whole properties file ([`read_properties`]).

use std::fmt;
use std::path::Path;
use std::str::FromStr;

/// One `--kafka-config key=value` setting: a librdkafka / Java-client property passed through
/// unchanged (`security.protocol`, `sasl.mechanism`, `sasl.username`, `ssl.ca.location`, …).
#[derive(Clone, PartialEq, Eq)]
pub struct KafkaSetting {
    /// Property name, e.g. `security.protocol`.
    pub key: String,
    /// Its value; shown as `<redacted>` by `Debug` when [`is_secret_key`] says so.
    pub value: String,
}

impl fmt::Debug for KafkaSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if is_secret_key(&self.key) {
            write!(f, "{}=<redacted>", self.key)
        } else {
            write!(f, "{}={}", self.key, self.value)
        }
    }
}

impl FromStr for KafkaSetting {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // Never echo the value: it may be a password.
        let Some((key, value)) = s.split_once('=') else {
            let shown = if is_secret_key(s) { "<redacted>" } else { s };
            return Err(format!("`{shown}` is not KEY=VALUE"));
        };
        let key = key.trim();
        if key.is_empty() {
            return Err("a Kafka setting has an empty key (KEY=VALUE)".to_owned());
        }
        if MANAGED_KEYS.contains(&key) {
            return Err(format!(
                "`{key}` is set by upkafka itself and cannot be overridden (see `upkafka serve --help`)"
            ));
        }
        Ok(Self {
            key: key.to_owned(),
            value: value.to_owned(),
        })
    }
}

impl KafkaSetting {
    /// The setting with its value read from a file when it is `@FILE`: the file's contents,
    /// one trailing line break (`\n` or `\r\n`) removed. `@@…` stands for a value that
    /// itself starts with `@` (one `@` removed); every other value is kept as it is.
    ///
    /// # Errors
    /// A sentence naming the key and the file, never the value.
    pub fn resolve_file(self) -> Result<Self, String> {
        let Some(rest) = self.value.strip_prefix('@') else {
            return Ok(self);
        };
        if let Some(literal) = rest.strip_prefix('@') {
            return Ok(Self {
                value: format!("@{literal}"),
                ..self
            });
        }
        if rest.is_empty() {
            return Err(format!(
                "--kafka-config {}=@FILE names no file after `@` (write `@@` for a value that \
                 starts with `@`)",
                self.key
            ));
        }
        let text = std::fs::read_to_string(rest).map_err(|e| {
            format!(
                "--kafka-config {}=@{rest}: cannot read {rest}: {}",
                self.key,
                e.kind()
            )
        })?;
        let value = text.strip_suffix('\n').unwrap_or(&text);
        let value = value.strip_suffix('\r').unwrap_or(value);
        Ok(Self {
            value: value.to_owned(),
            ..self
        })
    }
}

/// Reads a properties file for `--kafka-config-file`: `key=value` lines, as Java clients'
/// `.properties` files write them. Blank lines and lines starting with `#` or `!` are
/// skipped; whitespace around the key and the value is trimmed; the value is everything after
/// the first `=` (it may contain `=`), taken literally (no `@FILE`, no escapes, no
/// continuation lines). The keys `upkafka` manages itself are refused as on the command line.
///
/// # Errors
/// A sentence naming the file and the line number, never a value.
pub fn read_properties(path: &Path) -> Result<Vec<KafkaSetting>, String> {
    let shown = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("--kafka-config-file {shown}: cannot read it: {}", e.kind()))?;
    parse_properties(&text)
        .map_err(|(line, why)| format!("--kafka-config-file {shown} line {line}: {why}"))
}

/// The settings of a properties file's text; the error is the line number and why.
fn parse_properties(text: &str) -> Result<Vec<KafkaSetting>, (usize, String)> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let mut setting: KafkaSetting = line.parse().map_err(|e| (n + 1, e))?;
        setting.value = setting.value.trim().to_owned();
        out.push(setting);
    }
    Ok(out)
}

/// Properties the gateway sets itself because its guarantees depend on them: the bootstrap
/// servers come from `--kafka`; the group, instance and commit settings come from each REST
/// consumer instance; the producer is always idempotent with `acks=all`, and gives up on a
/// record after the gateway's request timeout (`message.timeout.ms`), so that a REST
/// produce is answered (503 when the cluster is down) instead of waiting librdkafka's five
/// minutes.
pub const MANAGED_KEYS: &[&str] = &[
    "bootstrap.servers",
    "metadata.broker.list",
    "group.id",
    "group.instance.id",
    "enable.auto.commit",
    "auto.commit.interval.ms",
    "auto.offset.reset",
    "session.timeout.ms",
    "enable.idempotence",
    "acks",
    "request.required.acks",
    "message.timeout.ms",
    "delivery.timeout.ms",
];

/// True for property names whose values are credentials (`sasl.password`,
/// `ssl.key.password`, `sasl.oauthbearer.client.secret`, `sasl.jaas.config`, PEM keys…): such
/// values never appear in `Debug` output, logs or error messages.
pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    [
        "password",
        "secret",
        "jaas",
        "ssl.key.pem",
        "keystore",
        "token",
        "credential",
    ]
    .iter()
    .any(|s| k.contains(s))
}

/// Where the Kafka cluster is and the extra client properties for it. `Debug` redacts secrets.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KafkaSettings {
    /// Bootstrap servers, `host:port[,host:port…]`.
    pub bootstrap: String,
    /// Extra properties for every Kafka client the gateway creates, in command-line order.
    pub config: Vec<KafkaSetting>,
}

impl KafkaSettings {
    /// Settings for `bootstrap` with no extra properties.
    pub fn new(bootstrap: impl Into<String>) -> Self {
        Self {
            bootstrap: bootstrap.into(),
            config: Vec::new(),
        }
    }

    /// Adds one property (builder style).
    #[must_use]
    pub fn with(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.config.push(KafkaSetting {
            key: key.into(),
            value: value.into(),
        });
        self
    }

    /// The value given for `key`, the last one if given several times.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.config
            .iter()
            .rev()
            .find(|s| s.key == key)
            .map(|s| s.value.as_str())
    }

    /// `text` with every value of a secret property (see [`is_secret_key`]) replaced by
    /// `<redacted>`: for messages that may quote configuration (librdkafka's errors do).
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for s in &self.config {
            if is_secret_key(&s.key) && !s.value.is_empty() {
                out = out.replace(&s.value, "<redacted>");
            }
        }
        out
    }

    /// Checks the bootstrap list: non-empty, every entry `host:port`.
    ///
    /// # Errors
    /// A sentence naming the bad entry.
    pub fn validate(&self) -> Result<(), String> {
        if self.bootstrap.trim().is_empty() {
            return Err("--kafka needs at least one bootstrap server, HOST:PORT".to_owned());
        }
        for entry in self.bootstrap.split(',') {
            let entry = entry.trim();
            let port = entry
                .rsplit_once(':')
                .map(|(host, port)| (host, port.parse::<u16>()));
            match port {
                Some((host, Ok(p))) if !host.is_empty() && p != 0 => {}
                _ => {
                    return Err(format!(
                        "--kafka: `{entry}` is not HOST:PORT (e.g. 127.0.0.1:9092)"
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_parse_and_secrets_never_show() {
        let s: KafkaSetting = "security.protocol=SASL_SSL".parse().unwrap();
        assert_eq!(
            (s.key.as_str(), s.value.as_str()),
            ("security.protocol", "SASL_SSL")
        );
        assert_eq!(format!("{s:?}"), "security.protocol=SASL_SSL");
        // `=` inside the value is kept.
        let p: KafkaSetting = "sasl.password=hunter2=x".parse().unwrap();
        assert_eq!(p.value, "hunter2=x");
        let shown = format!(
            "{:?}",
            KafkaSettings::new("b:9092").with("sasl.password", "hunter2")
        );
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("sasl.password=<redacted>"), "{shown}");
        for secret in [
            "sasl.password",
            "ssl.key.password",
            "sasl.oauthbearer.client.secret",
            "sasl.jaas.config",
            "ssl.key.pem",
        ] {
            assert!(is_secret_key(secret), "{secret}");
        }
        assert!(!is_secret_key("sasl.username"));
    }

    #[test]
    fn bad_settings_are_refused_without_echoing_values() {
        let err = "sasl.password".parse::<KafkaSetting>().unwrap_err();
        assert!(
            err.contains("<redacted>") && err.contains("KEY=VALUE"),
            "{err}"
        );
        assert!("=x".parse::<KafkaSetting>().is_err());
        let err = "enable.idempotence=false"
            .parse::<KafkaSetting>()
            .unwrap_err();
        assert!(err.contains("enable.idempotence"), "{err}");
        assert!("acks=1".parse::<KafkaSetting>().is_err());
    }

    #[test]
    fn messages_quoting_a_secret_value_are_masked() {
        let s = KafkaSettings::new("b:9092")
            .with("sasl.password", "hunter2")
            .with("sasl.username", "alice");
        let msg = s.redact(r#"Invalid value "hunter2" for property "sasl.password"; user alice"#);
        assert!(!msg.contains("hunter2"), "{msg}");
        assert!(msg.contains("<redacted>") && msg.contains("alice"), "{msg}");
    }

    #[test]
    fn values_are_read_from_files_and_never_echoed() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("pw");
        std::fs::write(&secret, "hunter2=x\r\n").unwrap();
        let s: KafkaSetting = format!("sasl.password=@{}", secret.display())
            .parse()
            .unwrap();
        let s = s.resolve_file().unwrap();
        assert_eq!(s.value, "hunter2=x", "one trailing line break trimmed");
        assert_eq!(format!("{s:?}"), "sasl.password=<redacted>");
        let literal: KafkaSetting = "client.id=@@edge".parse().unwrap();
        assert_eq!(literal.resolve_file().unwrap().value, "@edge");
        let plain: KafkaSetting = "client.id=edge".parse().unwrap();
        assert_eq!(plain.resolve_file().unwrap().value, "edge");
        let missing = dir.path().join("nope");
        let err = format!("sasl.password=@{}", missing.display())
            .parse::<KafkaSetting>()
            .unwrap()
            .resolve_file()
            .unwrap_err();
        assert!(
            err.contains("sasl.password") && err.contains("nope") && err.contains("not found"),
            "{err}"
        );
        let err = "sasl.password=@"
            .parse::<KafkaSetting>()
            .unwrap()
            .resolve_file()
            .unwrap_err();
        assert!(err.contains("names no file"), "{err}");
    }

    #[test]
    fn properties_files_parse_with_comments_and_name_the_bad_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("client.properties");
        std::fs::write(
            &file,
            "# Confluent Cloud\n\nsecurity.protocol = SASL_SSL\n! also a comment\n\
             sasl.password=s3cr=t  \n  sasl.username=alice\n",
        )
        .unwrap();
        let settings = read_properties(&file).unwrap();
        let pairs: Vec<(&str, &str)> = settings
            .iter()
            .map(|s| (s.key.as_str(), s.value.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("security.protocol", "SASL_SSL"),
                ("sasl.password", "s3cr=t"),
                ("sasl.username", "alice")
            ]
        );
        for (text, line, says) in [
            ("a=b\nsasl.password hunter2\n", 2, "<redacted>"),
            ("\n\n=x\n", 3, "empty key"),
            ("acks=0\n", 1, "acks"),
        ] {
            std::fs::write(&file, text).unwrap();
            let err = read_properties(&file).unwrap_err();
            assert!(
                err.contains("--kafka-config-file")
                    && err.contains("client.properties")
                    && err.contains(&format!("line {line}:"))
                    && err.contains(says)
                    && !err.contains("hunter2"),
                "{text:?}: {err}"
            );
        }
        let err = read_properties(&dir.path().join("none")).unwrap_err();
        assert!(err.contains("none") && err.contains("not found"), "{err}");
    }

    #[test]
    fn bootstrap_lists_are_checked() {
        assert!(KafkaSettings::new("127.0.0.1:9092").validate().is_ok());
        assert!(KafkaSettings::new("a:9092, b:9093").validate().is_ok());
        for bad in ["", "a", "a:", ":9092", "a:x", "a:9092,b"] {
            let err = KafkaSettings::new(bad).validate().unwrap_err();
            assert!(err.contains("--kafka"), "{bad}: {err}");
        }
    }
}
