//! Errors in the TOML files the CLI reads (`serve --config`, the profiles file), said without
//! quoting the file: toml's own rendering shows the offending line, which may hold a password.

/// The message of `e` and the line of `text` it is on, never the line itself.
pub(crate) fn describe(text: &str, e: &toml::de::Error) -> String {
    let line = e.span().map(|s| {
        text.as_bytes()[..s.start.min(text.len())]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1
    });
    let at = line.map(|l| format!("line {l}: ")).unwrap_or_default();
    format!("{at}{}", e.message().trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct File {
        username: Option<String>,
    }

    #[test]
    fn names_the_line_and_never_quotes_it() {
        let text = "username = \"u\"\npassword = \"hunter2-secret\"\n";
        let err = toml::from_str::<File>(text).unwrap_err();
        let said = describe(text, &err);
        assert!(said.starts_with("line 2: "), "{said}");
        assert!(said.contains("password"), "{said}");
        assert!(!said.contains("hunter2-secret"), "{said}");
    }
}
