//! Keeping secrets out of configuration errors and `Debug` output.
//!
//! Values that can be secrets — the key, environment variable values, header
//! values, URLs with credentials — never appear in an error: a TOML syntax
//! error gives the line and column without the line, a wrong-typed value is
//! named by its field and type, `key.env` holding something that is not a
//! variable name is not echoed, and as a last guard every value an
//! environment override or a header brought in is masked in every error.

use std::fmt;

use super::ConfigError;

/// The shortest value masked: shorter ones are no secret, and masking them
/// would garble messages.
const MIN_MASKED: usize = 4;

/// The shortest run of a value's characters masked wherever it appears,
/// also inside other text: a message that cuts a value short or quotes
/// part of it shows none of it.
const MIN_RUN: usize = 12;

/// Values that must not appear in errors or `Debug` output, each with the
/// label shown instead.
#[derive(Clone, Default)]
pub(super) struct Secrets(Vec<Masked>);

/// One value to mask.
#[derive(Clone)]
struct Masked {
    /// Shown instead of the value.
    label: String,
    value: zeroize::Zeroizing<String>,
    /// Whether runs of its characters are masked inside other text too: not
    /// for TOML text, whose punctuation is not secret (the strings and
    /// numbers in it are masked as values of their own).
    runs: bool,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} values hidden>", self.0.len())
    }
}

impl Secrets {
    /// Adds `value` (and, when it is TOML text, the strings in it), shown as
    /// `label`.
    pub(super) fn add(&mut self, label: &str, value: &str) {
        let value = value.trim();
        if value.chars().count() < MIN_MASKED || is_network(value) {
            return;
        }
        let mut runs = true;
        if let Ok(mut t) = toml::from_str::<toml::Table>(&format!("v = {value}"))
            && let Some(v) = t.remove("v")
        {
            self.add_strings(label, &v);
            runs = false;
        }
        self.push(label, value.to_owned(), runs);
    }

    fn push(&mut self, label: &str, value: String, runs: bool) {
        self.0.push(Masked {
            label: label.to_owned(),
            value: zeroize::Zeroizing::new(value),
            runs,
        });
        // Longest first, so a value inside a longer one leaves none of it.
        self.0.sort_by_key(|m| std::cmp::Reverse(m.value.len()));
    }

    fn add_strings(&mut self, label: &str, v: &toml::Value) {
        match v {
            toml::Value::String(s) if s.trim().chars().count() >= MIN_MASKED && !is_network(s) => {
                self.push(label, s.clone(), true);
            }
            // A number written otherwise (`0x75BCD15`) is shown in decimal.
            toml::Value::Integer(i) if i.to_string().len() >= MIN_MASKED => {
                self.push(label, i.to_string(), true);
            }
            toml::Value::Array(a) => a.iter().for_each(|v| self.add_strings(label, v)),
            toml::Value::Table(t) => t.values().for_each(|v| self.add_strings(label, v)),
            _ => {}
        }
    }

    /// `text` with every value replaced by its label, in every form a
    /// message can show it ([`forms`]), and every run of at least
    /// [`MIN_RUN`] of its characters (in any of those forms) replaced too,
    /// wherever it is: a value cut short or quoted in part is masked.
    pub(super) fn mask(&self, text: &str) -> String {
        let mut out = self.mask_runs(text);
        for m in &self.0 {
            for form in forms(&m.value) {
                out = replace_whole(&out, &form, &m.label);
            }
        }
        out
    }

    /// `text` with every run of [`MIN_RUN`] or more characters of a value
    /// replaced by the value's label (one label per run).
    fn mask_runs(&self, text: &str) -> String {
        // The value (by index) whose characters each byte of `text` is.
        let mut owner: Vec<Option<usize>> = vec![None; text.len()];
        for (k, m) in self.0.iter().enumerate().filter(|(_, m)| m.runs) {
            for form in forms(&m.value) {
                let bounds: Vec<usize> = form.char_indices().map(|(i, _)| i).chain([form.len()]).collect();
                for w in bounds.windows(MIN_RUN + 1) {
                    let (Some(&start), Some(&end)) = (w.first(), w.last()) else {
                        continue;
                    };
                    let piece = &form[start..end];
                    let mut from = 0;
                    while let Some(found) = text.get(from..).and_then(|rest| rest.find(piece)) {
                        let at = from + found;
                        for o in owner.iter_mut().skip(at).take(piece.len()) {
                            o.get_or_insert(k);
                        }
                        // Overlapping runs too: go on one character further.
                        from = at + text[at..].chars().next().map_or(1, char::len_utf8);
                    }
                }
            }
        }
        let mut out = String::with_capacity(text.len());
        let mut prev = None;
        for (i, c) in text.char_indices() {
            let now = owner.get(i).copied().flatten();
            match now {
                None => out.push(c),
                Some(k) if prev != Some(k) => out.push_str(self.0.get(k).map_or("<hidden>", |m| m.label.as_str())),
                Some(_) => {}
            }
            prev = now;
        }
        out
    }

    /// The error with every value replaced by its label.
    pub(super) fn mask_error(&self, e: ConfigError) -> ConfigError {
        match e {
            ConfigError::Parse(m) => ConfigError::Parse(self.mask(&m)),
            ConfigError::Invalid { field, reason } => ConfigError::Invalid {
                field,
                reason: self.mask(&reason),
            },
            other => other,
        }
    }
}

/// The forms a message can show `value` in: as it is, trimmed, quoted by
/// `{:?}` (without the quotes), and escaped by `escape_debug` and
/// `escape_default`.
fn forms(value: &str) -> Vec<String> {
    let debug = format!("{value:?}");
    let inner = debug
        .strip_prefix('"')
        .and_then(|d| d.strip_suffix('"'))
        .unwrap_or(&debug)
        .to_owned();
    let mut out = vec![
        value.to_owned(),
        value.trim().to_owned(),
        inner,
        value.escape_debug().to_string(),
        value.escape_default().to_string(),
    ];
    out.sort();
    out.dedup();
    // Longest first, so a longer form is replaced before a part of it.
    out.sort_by_key(|f| std::cmp::Reverse(f.len()));
    out
}

/// Whether `value` is an IP address or network: no secret (a proxy's
/// network), and the shape of the examples in hints (`like 10.0.0.0/8`),
/// which masking it would rewrite.
fn is_network(value: &str) -> bool {
    let value = value.trim();
    value.parse::<ipnet::IpNet>().is_ok() || value.parse::<std::net::IpAddr>().is_ok()
}

/// `text` with each occurrence of `what` that is not part of a longer word
/// replaced by `with`.
fn replace_whole(text: &str, what: &str, with: &str) -> String {
    if what.is_empty() || !text.contains(what) {
        return text.to_owned();
    }
    let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    let starts_word = word(what.chars().next());
    let ends_word = word(what.chars().next_back());
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(what) {
        let before = rest[..i].chars().next_back().or_else(|| out.chars().next_back());
        let after = rest[i + what.len()..].chars().next();
        let whole = !(starts_word && word(before) || ends_word && word(after));
        out.push_str(&rest[..i]);
        out.push_str(if whole { with } else { what });
        rest = &rest[i + what.len()..];
    }
    out.push_str(rest);
    out
}

/// A TOML syntax error as its line, column and message, without the text of
/// the line (which may hold a secret, e.g. a header value).
pub(super) fn syntax_error(e: &toml::de::Error, text: &str) -> ConfigError {
    let msg = e.message().trim_end();
    ConfigError::Parse(match e.span() {
        Some(span) => {
            let before = text.get(..span.start).unwrap_or(text);
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
            format!(
                "toml syntax error at line {line}, column {column}: {msg} (the line is not shown, as it may hold a secret)"
            )
        }
        None => format!("toml syntax error: {msg}"),
    })
}

/// An error from matching the document against the schema, naming the field
/// and the type expected but never a value of the wrong type.
pub(super) fn schema_error(e: &toml::de::Error) -> ConfigError {
    let reason = without_value(e.message().trim_end());
    // The field's path is the last line of the full text, `in `a.b``.
    let full = e.to_string();
    let field = full
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("in `").and_then(|l| l.strip_suffix('`')));
    match field {
        Some(field) => {
            let hint = if field == "key" {
                "; `key` is a table: write [key] with env = \"VARIABLE_NAME\" or file = \"/path/to/key\" \
                 (as an override: PRIVLOG__KEY__ENV=VARIABLE_NAME)"
            } else {
                ""
            };
            ConfigError::invalid(field, format!("{reason}{hint}"))
        }
        None => ConfigError::Parse(reason),
    }
}

/// What serde says of a value of the wrong type, without the value:
/// `invalid type: string "…", expected usize` becomes `invalid type:
/// string, expected usize`.
fn without_value(msg: &str) -> String {
    const KINDS: [&str; 17] = [
        "boolean",
        "integer",
        "floating point",
        "character",
        "string",
        "byte array",
        "unit value",
        "Option value",
        "newtype struct",
        "sequence",
        "map",
        "enum",
        "unit variant",
        "newtype variant",
        "tuple variant",
        "struct variant",
        "datetime",
    ];
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = msg.strip_prefix(prefix) {
            let (unexpected, expected) = match rest.rfind(", expected ") {
                Some(i) => (&rest[..i], &rest[i..]),
                None => (rest, ""),
            };
            let kind = unexpected.split(['"', '`']).next().unwrap_or("").trim();
            let kind = if KINDS.contains(&kind) { kind } else { "a value" };
            return format!("{prefix}{kind}{expected} (the value is not shown)");
        }
    }
    msg.to_owned()
}

/// Checks that `key.env` is the name of a variable, not a value; the error
/// never contains it.
pub(super) fn check_var_name(name: &str) -> Result<(), &'static str> {
    if crate::secret_shape::is_key_like(name) {
        return Err(
            "this looks like a key (hex digits), not the name of an environment variable; put the key \
                    in a variable and write its name, e.g. env = \"PRIVLOG_KEY\" (the value is not shown)",
        );
    }
    let is_name = !name.is_empty()
        && name.len() <= 128
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !is_name {
        return Err(
            "this is not the name of an environment variable (letters, digits and _); write the \
                    variable's name, e.g. env = \"PRIVLOG_KEY\" (the value is not shown, as it may be a secret)",
        );
    }
    let has = |f: fn(&u8) -> bool| name.as_bytes().iter().any(f);
    let mixed = has(u8::is_ascii_uppercase) && has(u8::is_ascii_lowercase) && has(u8::is_ascii_digit);
    if name.len() >= 20 && (!name.contains('_') || mixed) {
        return Err(
            "this looks like a secret, not the name of an environment variable; write the variable's \
                    name, e.g. env = \"PRIVLOG_KEY\" (the value is not shown)",
        );
    }
    Ok(())
}

/// The reason given when a path field holds a key or another secret: what it
/// looks like and how to write a path instead. The value is never part of it.
pub(super) fn path_refusal(shape: crate::secret_shape::SecretShape, example: &str) -> String {
    format!(
        "this looks like {}, not a path; write the path of the file instead, e.g. {example} \
         (the value is not shown; a path that only looks like this can be written starting with ./ or /)",
        shape.describe()
    )
}

/// `key.env` for `Debug` and messages: the name, or a placeholder when it is
/// not a variable name (it may be a secret).
pub(super) fn shown_var_name(name: &str) -> &str {
    if check_var_name(name).is_ok() {
        name
    } else {
        "<not a variable name, hidden>"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_type_messages_keep_the_type_and_lose_the_value() {
        assert_eq!(
            without_value("invalid type: string \"s3cr3t, expected x\", expected usize"),
            "invalid type: string, expected usize (the value is not shown)"
        );
        assert_eq!(
            without_value("invalid value: integer `300`, expected u8"),
            "invalid value: integer, expected u8 (the value is not shown)"
        );
        assert_eq!(
            without_value("invalid type: sequence, expected a string"),
            "invalid type: sequence, expected a string (the value is not shown)"
        );
        assert_eq!(
            without_value("invalid value: hunter2 is bad"),
            "invalid value: a value (the value is not shown)"
        );
        assert_eq!(without_value("unknown field `colour`"), "unknown field `colour`");
    }

    #[test]
    fn masking_replaces_whole_values_only() {
        let mut s = Secrets::default();
        s.add("<value of PRIVLOG__A>", "daily");
        s.add("<value of PRIVLOG__B>", "\"quoted \\\"pw\\\"\"");
        s.add("<short>", "abc");
        assert_eq!(
            s.mask("unknown rotation \"daily\"; not dailyish"),
            "unknown rotation \"<value of PRIVLOG__A>\"; not dailyish"
        );
        // The value as written (a TOML string), and the string it holds.
        // (here as the string it holds, quoted: a run of 12 of its escaped characters)
        assert_eq!(s.mask("got \"quoted \\\"pw\\\"\""), "got \"<value of PRIVLOG__B>\"");
        assert_eq!(s.mask("got quoted \"pw\""), "got <value of PRIVLOG__B>");
        assert_eq!(s.mask("abc"), "abc");
        assert_eq!(format!("{s:?}"), "<3 values hidden>");
    }

    #[test]
    fn a_value_with_both_quotes_or_cut_short_is_masked() {
        let mut s = Secrets::default();
        s.add("<value of PRIVLOG__A>", "pa'ss\"w0rd-Secret");
        let long = "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2Q".repeat(4);
        s.add("<value of PRIVLOG__B>", &format!("[\"  {long} \"]"));
        let quoted = format!("unknown rotation {:?}", "pa'ss\"w0rd-Secret");
        assert_eq!(s.mask(&quoted), "unknown rotation \"<value of PRIVLOG__A>\"");
        let cut: String = long.chars().take(100).collect();
        assert_eq!(
            s.mask(&format!("entry {cut:?} is bad")),
            "entry \"<value of PRIVLOG__B>\" is bad"
        );
    }

    #[test]
    fn networks_are_not_masked_and_numbers_are_masked_as_shown() {
        let mut s = Secrets::default();
        s.add("<value of PRIVLOG__A>", "[\"10.0.0.0/8\", \"not-a-net\"]");
        s.add("<value of PRIVLOG__B>", "0x75BCD15");
        s.add("<value of PRIVLOG__C>", "fd00::/8");
        assert_eq!(
            s.mask("invalid trusted proxy \"not-a-net\": expected an address or a network like 10.0.0.0/8 or fd00::/8"),
            "invalid trusted proxy \"<value of PRIVLOG__A>\": expected an address or a network like 10.0.0.0/8 or \
             fd00::/8"
        );
        assert_eq!(
            s.mask("batch_size = 123456789 is out of range"),
            "batch_size = <value of PRIVLOG__B> is out of range"
        );
    }

    #[test]
    fn variable_names_pass_and_values_do_not() {
        for ok in ["PRIVLOG_KEY", "my_key", "MY_APP_PRIVLOG_MASTER_KEY_2026", "DEADBEEF"] {
            assert_eq!(check_var_name(ok), Ok(()), "{ok}");
        }
        for bad in [
            "ab".repeat(32).as_str(),
            "AB01".repeat(16).as_str(),
            "",
            "1KEY",
            "has space",
            "dGhpcyBpcyBhIHNlY3JldCB0b2tlbg==",
            "aB3dE5gH7jK9mN1pQ3sT5vX7",
            "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2Q",
        ] {
            assert!(check_var_name(bad).is_err(), "{bad}");
        }
    }
}
