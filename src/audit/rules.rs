//! Operator rules for the audit: the `[policy]` rules and safe words of the
//! configuration file, compiled once.

use std::fmt;

use crate::policy::{CompiledRules, RuleError, RuleSet};

use super::Kind;

/// Operator rules and safe words, compiled once ([`CompiledRules`]), with
/// the rules' names for reports: a value a rule matches is a finding of kind
/// [`Kind::Rule`], named `rule:<name>`; a safe word is never a
/// [`Kind::Name`].
///
/// ```
/// use privlog::audit::{AuditRules, Kind, scan_line_with};
/// use privlog::policy::{Rule, RuleSet};
/// let rules = AuditRules::new(&RuleSet {
///     rules: vec![Rule::new("employee", r"^E[0-9]{6}$", "{employee}")],
///     safe_words: vec!["picker".into()],
/// })?;
/// let mut found = Vec::new();
/// scan_line_with(b"GET /staff/E123456 /users/picker", &rules, &mut |f| found.push(f.kind()));
/// assert_eq!(found, [Kind::Rule(0)]);
/// assert_eq!(rules.kind_name(Kind::Rule(0)), "rule:employee");
/// # Ok::<(), privlog::policy::RuleError>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct AuditRules {
    pub(super) compiled: CompiledRules,
    names: Vec<String>,
}

impl AuditRules {
    /// No rules and no safe words: only the built-in detectors.
    pub fn none() -> Self {
        Self::default()
    }

    /// Validates and compiles `set`.
    ///
    /// # Errors
    /// The [`RuleError`] naming the first bad rule or safe word and the fix.
    pub fn new(set: &RuleSet) -> Result<Self, RuleError> {
        Ok(AuditRules {
            compiled: set.compile()?,
            names: set.rules.iter().map(|r| r.name.clone()).collect(),
        })
    }

    /// Reads the `[policy]` table of a TOML document: `[[policy.rules]]`
    /// (`name`, `pattern`, `placeholder`) and `policy.safe_words`, the keys
    /// and spelling of [`RuleSet`]. The document may be a whole
    /// configuration file: other tables, and other keys of `[policy]`, are
    /// left to the configuration's own check.
    ///
    /// # Errors
    /// [`AuditRulesError`]: not TOML, no `[policy]` rules or safe words, a
    /// key spelled like but not as `rules` / `safe_words`, or a bad rule.
    #[cfg(feature = "config")]
    pub fn from_toml(text: &str) -> Result<Self, AuditRulesError> {
        let doc: toml::Table = toml::from_str(text).map_err(|e| AuditRulesError::Syntax {
            reason: e.message().to_owned(),
        })?;
        let Some(policy) = doc.get("policy") else {
            return Err(AuditRulesError::NoRules);
        };
        let Some(policy) = policy.as_table() else {
            return Err(AuditRulesError::Syntax {
                reason: "`policy` is not a table".to_owned(),
            });
        };
        let mut picked = toml::Table::new();
        for (key, value) in policy {
            if key == "rules" || key == "safe_words" {
                picked.insert(key.clone(), value.clone());
            } else if is_near_miss(key) {
                return Err(AuditRulesError::UnknownKey { key: key.clone() });
            }
        }
        if picked.is_empty() {
            return Err(AuditRulesError::NoRules);
        }
        let set: RuleSet = picked
            .try_into()
            .map_err(|e: toml::de::Error| AuditRulesError::Syntax {
                reason: e.message().to_owned(),
            })?;
        Self::new(&set).map_err(AuditRulesError::Rule)
    }

    /// The names of the rules, in order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// How a kind is named in reports: `rule:<name>` for a rule, the kind's
    /// own name ([`Kind::as_str`]) otherwise.
    pub fn kind_name(&self, kind: Kind) -> String {
        match kind {
            Kind::Rule(n) => match self.names.get(usize::from(n)) {
                Some(name) => format!("rule:{name}"),
                None => kind.to_string(),
            },
            k => k.as_str().to_owned(),
        }
    }
}

/// A `[policy]` key that was likely meant as `rules` or `safe_words`.
#[cfg(feature = "config")]
fn is_near_miss(key: &str) -> bool {
    let k = key.to_ascii_lowercase().replace('-', "_");
    k.starts_with("rule") || k.starts_with("safe") || k == "safewords"
}

/// Why a rules file was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuditRulesError {
    /// Not TOML, or a value of the wrong type.
    Syntax {
        /// The TOML parser's message.
        reason: String,
    },
    /// The document has neither `[[policy.rules]]` nor `policy.safe_words`.
    NoRules,
    /// A `[policy]` key spelled like `rules` or `safe_words` but not as them.
    UnknownKey {
        /// The key.
        key: String,
    },
    /// A rule or safe word that does not compile.
    Rule(RuleError),
}

impl fmt::Display for AuditRulesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuditRulesError::Syntax { reason } => {
                write!(f, "the rules file is not valid: {reason}; fix the TOML")
            }
            AuditRulesError::NoRules => f.write_str(
                "the rules file has no `[[policy.rules]]` and no `policy.safe_words`; \
                 add them under a `[policy]` table",
            ),
            AuditRulesError::UnknownKey { key } => write!(
                f,
                "the rules file's `[policy]` table has the key {key:?}; write `rules` or `safe_words`"
            ),
            AuditRulesError::Rule(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for AuditRulesError {}

#[cfg(all(test, feature = "config"))]
mod tests {
    use super::*;

    #[test]
    fn the_policy_table_of_a_whole_configuration_file_is_read() {
        let rules = AuditRules::from_toml(
            r#"
            [key]
            env = "PRIVLOG_KEY"
            [policy]
            preset = "atlassian-connect"
            safe_words = ["picker"]
            [[policy.rules]]
            name = "employee"
            pattern = '^E[0-9]{6}$'
            placeholder = "{employee}"
            [[sinks]]
            type = "stdout"
            "#,
        )
        .expect("rules");
        assert_eq!(rules.names(), ["employee"]);
        assert_eq!(rules.compiled.matching_rule("E123456"), Some(0));
        assert!(rules.compiled.is_safe_word("PICKER"));
    }

    #[test]
    fn bad_rules_files_are_errors_naming_the_fix() {
        let bad = AuditRules::from_toml(
            "[[policy.rules]]\nname = \"broken\"\npattern = \"(unclosed\"\nplaceholder = \"{x}\"\n",
        )
        .expect_err("bad pattern");
        assert!(matches!(bad, AuditRulesError::Rule(RuleError::BadPattern { .. })));
        let msg = bad.to_string();
        assert!(
            msg.contains("\"broken\"") && msg.contains("fix the regular expression"),
            "{msg}"
        );
        let none = AuditRules::from_toml("[pipeline]\nbatch_size = 1\n").expect_err("no rules");
        assert_eq!(none, AuditRulesError::NoRules);
        let typo = AuditRules::from_toml("[policy]\nsafe_word = [\"a\"]\n").expect_err("typo");
        assert!(typo.to_string().contains("\"safe_word\""), "{typo}");
        let syntax = AuditRules::from_toml("[policy\n").expect_err("syntax");
        assert!(matches!(syntax, AuditRulesError::Syntax { .. }));
        let unknown = AuditRules::from_toml("[[policy.rules]]\nname = \"a\"\npattern = \"b\"\n").expect_err("missing");
        assert!(unknown.to_string().contains("placeholder"), "{unknown}");
    }
}
