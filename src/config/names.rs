//! Sink names: each `[[sinks]]` table's optional `name`, or its default
//! (`<type>` for the only sink of a type, `<type>-<n>` counting that type's
//! sinks from 1), unique, so environment overrides and messages address a
//! sink by what it is, not where it stands in the list; and where each sink
//! table starts in the file.

use super::ConfigError;

/// The longest sink name.
const MAX_NAME: usize = 64;

/// A name as environment variables write it: ASCII lower case, `-` as `_`
/// (a variable's name holds no `-`).
pub(super) fn normalized(name: &str) -> String {
    name.to_ascii_lowercase().replace('-', "_")
}

/// Removes each sink table's `name` from `root` and returns every sink's
/// name, explicit or default.
///
/// # Errors
/// A name that is not a string, not of letters, digits, `-` and `_`
/// starting with a letter, longer than [`MAX_NAME`], or given to two sinks
/// (however capitalised, `-` and `_` alike).
pub(super) fn take_names(root: &mut toml::Value) -> Result<Vec<String>, ConfigError> {
    let Some(toml::Value::Array(sinks)) = root.get_mut("sinks") else {
        return Ok(Vec::new());
    };
    let kind = |t: &toml::Value| t.get("type").and_then(toml::Value::as_str).unwrap_or("sink").to_owned();
    let kinds: Vec<String> = sinks.iter().map(kind).collect();
    let mut names = Vec::with_capacity(sinks.len());
    for (i, sink) in sinks.iter_mut().enumerate() {
        let explicit = match sink.as_table_mut().and_then(|t| t.remove("name")) {
            None => None,
            Some(toml::Value::String(s)) => Some(s),
            Some(_) => {
                return Err(ConfigError::invalid(
                    format!("sinks[{i}].name"),
                    "a sink's name is a string, e.g. name = \"clickhouse\"",
                ));
            }
        };
        let name = match explicit {
            Some(n) => {
                check_name(&n).map_err(|reason| ConfigError::invalid(format!("sinks[{i}].name"), reason))?;
                n
            }
            None => {
                let k = &kinds[i];
                let same: Vec<usize> = (0..kinds.len()).filter(|j| kinds[*j] == *k).collect();
                match same.iter().position(|j| *j == i) {
                    Some(n) if same.len() > 1 => format!("{k}-{}", n + 1),
                    _ => k.clone(),
                }
            }
        };
        names.push(name);
    }
    for (i, n) in names.iter().enumerate() {
        if let Some(j) = names[..i].iter().position(|o| normalized(o) == normalized(n)) {
            return Err(ConfigError::invalid(
                format!("sinks[{i}].name"),
                format!(
                    "sinks {j} and {i} are both named `{n}` (a sink without `name` is named after its type, \
                     `<type>-<n>` when there are several); give each sink its own name"
                ),
            ));
        }
    }
    Ok(names)
}

/// Why `name` cannot name a sink, if it cannot.
fn check_name(name: &str) -> Result<(), String> {
    let good = name.len() <= MAX_NAME
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if good {
        Ok(())
    } else if crate::secret_shape::secret_shape(name).is_some() {
        Err(
            "this is not a name (the value is not shown); write letters, digits, `-` and `_`, starting with a \
             letter, e.g. name = \"clickhouse\""
                .to_owned(),
        )
    } else {
        Err(format!(
            "{name:?} is not a sink name; write 1 to {MAX_NAME} letters, digits, `-` and `_`, starting with a \
             letter, e.g. name = \"clickhouse\""
        ))
    }
}

/// `e`, about sink `i` named `name` whose table starts at `position`, with
/// the sink's name, index and place in the file added to its reason.
pub(super) fn at_sink(
    e: ConfigError,
    i: usize,
    name: Option<&String>,
    position: Option<(usize, usize)>,
) -> ConfigError {
    let name = name.map_or_else(|| format!("{i}"), |n| format!("`{n}`"));
    let place = match position {
        Some((line, column)) => format!(", [[sinks]] table at line {line}, column {column}"),
        None => String::new(),
    };
    let at = format!("(sink {name}, index {i}{place})");
    match e {
        ConfigError::Invalid { field, reason } => ConfigError::Invalid {
            // A field of the sink's table, as a dotted path from the top.
            field: if field.starts_with("sinks") {
                field
            } else {
                format!("sinks.{field}")
            },
            reason: format!("{reason} {at}"),
        },
        ConfigError::Parse(reason) => ConfigError::Invalid {
            field: "sinks".to_owned(),
            reason: format!("{reason} {at}"),
        },
        other => other,
    }
}

/// Where each `[[sinks]]` table starts in `text`: line and column, from 1.
pub(super) fn sink_positions(text: &str) -> Vec<Option<(usize, usize)>> {
    let Ok(doc) = toml::de::DeTable::parse(text) else {
        return Vec::new();
    };
    let Some(sinks) = doc.get_ref().get("sinks") else {
        return Vec::new();
    };
    let toml::de::DeValue::Array(items) = sinks.get_ref() else {
        return Vec::new();
    };
    items
        .iter()
        .map(|item| Some(position(text, item.span().start)))
        .collect()
}

/// The line and column (from 1, in characters) of byte `offset` in `text`.
fn position(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names_of(text: &str) -> Result<Vec<String>, String> {
        let mut root = toml::Value::Table(toml::from_str(text).map_err(|e| e.to_string())?);
        take_names(&mut root).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_are_the_type_or_the_type_and_its_count() {
        let text = "[[sinks]]\ntype = \"file\"\n[[sinks]]\ntype = \"http\"\n[[sinks]]\ntype = \"file\"\n\
                    [[sinks]]\ntype = \"stdout\"\nname = \"console\"\n";
        assert_eq!(names_of(text).unwrap(), ["file-1", "http", "file-2", "console"]);
    }

    #[test]
    fn a_name_given_twice_or_badly_is_refused_naming_the_sink() {
        let twice =
            "[[sinks]]\ntype = \"file\"\nname = \"Main-Log\"\n[[sinks]]\ntype = \"http\"\nname = \"main_log\"\n";
        let e = names_of(twice).unwrap_err();
        assert!(e.contains("sinks[1].name") && e.contains("both named"), "{e}");
        let bad = "[[sinks]]\ntype = \"file\"\nname = \"1 log\"\n";
        let e = names_of(bad).unwrap_err();
        assert!(e.contains("sinks[0].name") && e.contains("not a sink name"), "{e}");
    }

    #[test]
    fn positions_are_where_each_sink_table_starts() {
        let text = "[key]\nenv = \"K\"\n\n[[sinks]]\ntype = \"file\"\n\n  [[sinks]]\ntype = \"http\"\n";
        assert_eq!(sink_positions(text), [Some((4, 1)), Some((7, 3))]);
    }
}
