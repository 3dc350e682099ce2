//! Operator rules: extra detectors written as regular expressions and extra
//! safe path words, given as data ([`RuleSet`]) and compiled once
//! ([`CompiledRules`]) before any record is sanitized.

use std::fmt;

use regex::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};
use serde::Deserialize;

use super::vocabulary::cmp_ci;

/// The most rules a rule set may hold.
pub const MAX_RULES: usize = 256;
/// The longest rule pattern, in bytes.
pub const MAX_PATTERN_LEN: usize = 1024;
/// The most operator safe words.
pub const MAX_SAFE_WORDS: usize = 4096;
/// The longest safe word (and rule name), in bytes.
pub const MAX_WORD_LEN: usize = 64;
/// The longest placeholder, braces included.
pub const MAX_PLACEHOLDER_LEN: usize = 34;
/// The most memory one compiled pattern may take (the regex crate's size
/// limit), so a pathological pattern fails to compile instead of growing.
const PATTERN_SIZE_LIMIT: usize = 1 << 20;

/// One operator rule: a value matching `pattern` anywhere (anchor it with
/// `^…$` to match whole values) is replaced by `placeholder`.
///
/// ```
/// use privlog::policy::{Rule, RuleSet};
/// let rules = RuleSet {
///     rules: vec![Rule::new("issue key", r"^[A-Z][A-Z0-9]+-[0-9]+$", "{issue}")],
///     safe_words: vec!["reports".into()],
/// }
/// .compile()?;
/// assert_eq!(rules.placeholder_for("ENG-42"), Some("{issue}"));
/// # Ok::<(), privlog::policy::RuleError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// The rule's name, shown in errors (1 to 64 bytes, no control characters).
    pub name: String,
    /// A regular expression (the `regex` crate's syntax) that must not match
    /// the empty string.
    pub pattern: String,
    /// What a match becomes: `{` lower-case letters, digits, `_` `}`,
    /// starting with a letter (`{issue}`).
    pub placeholder: String,
}

impl Rule {
    /// A rule from its three parts.
    pub fn new(name: impl Into<String>, pattern: impl Into<String>, placeholder: impl Into<String>) -> Self {
        Rule {
            name: name.into(),
            pattern: pattern.into(),
            placeholder: placeholder.into(),
        }
    }
}

/// The operator's rules and safe words, as data (for example a TOML table).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSet {
    /// Extra detectors, tried in order after the built-in ones.
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// Extra path words kept as they are: letters, digits, `.`, `-`, `_`,
    /// compared without regard to ASCII case.
    #[serde(default)]
    pub safe_words: Vec<String>,
}

impl RuleSet {
    /// Validates and compiles the set (see [`CompiledRules::new`]).
    pub fn compile(&self) -> Result<CompiledRules, RuleError> {
        CompiledRules::new(&self.rules, &self.safe_words)
    }
}

/// Why a [`RuleSet`] does not compile.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RuleError {
    /// More than [`MAX_RULES`] rules.
    TooManyRules {
        /// How many were given.
        count: usize,
    },
    /// A rule without a name (1-based position).
    EmptyName {
        /// The rule's position in the list, from 1.
        position: usize,
    },
    /// A name over 64 bytes or with control characters.
    BadName {
        /// The rule's position in the list, from 1.
        position: usize,
    },
    /// Two rules with one name.
    DuplicateName {
        /// The name.
        name: String,
    },
    /// A pattern the regex crate does not accept, or over the size limits.
    BadPattern {
        /// The rule's name.
        name: String,
        /// The regex crate's message.
        reason: String,
    },
    /// A pattern that matches the empty string (so every value).
    MatchesEmpty {
        /// The rule's name.
        name: String,
    },
    /// A placeholder not of the form `{lowercase_word}`.
    BadPlaceholder {
        /// The rule's name.
        name: String,
        /// The placeholder given.
        placeholder: String,
    },
    /// More than [`MAX_SAFE_WORDS`] safe words.
    TooManySafeWords {
        /// How many were given.
        count: usize,
    },
    /// A safe word that is empty, too long or has other bytes than letters,
    /// digits, `.`, `-`, `_`.
    BadSafeWord {
        /// The word, unless it may be a secret (then `None`).
        word: Option<String>,
        /// Its position in the list, from 1.
        position: usize,
    },
    /// A safe word that a built-in detector recognises as personal data or
    /// a secret; detectors always win, so it could never be kept.
    DetectedSafeWord {
        /// Its position in the list, from 1.
        position: usize,
        /// What the detector saw.
        kind: super::Kind,
    },
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuleError::TooManyRules { count } => {
                write!(
                    f,
                    "{count} path rules given, at most {MAX_RULES} are allowed; merge rules with `|`"
                )
            }
            RuleError::EmptyName { position } => {
                write!(
                    f,
                    "path rule {position} has no name; give it a short name such as \"issue key\""
                )
            }
            RuleError::BadName { position } => write!(
                f,
                "path rule {position} has a name over {MAX_WORD_LEN} bytes or with control characters; shorten it"
            ),
            RuleError::DuplicateName { name } => {
                write!(f, "two path rules are named {name:?}; give each rule its own name")
            }
            RuleError::BadPattern { name, reason } => {
                write!(
                    f,
                    "path rule {name:?} has a pattern that does not compile: {reason}; fix the regular expression"
                )
            }
            RuleError::MatchesEmpty { name } => write!(
                f,
                "path rule {name:?} has a pattern that matches the empty string, so it would match every value; \
                 make it require at least one character (e.g. `+` instead of `*`)"
            ),
            RuleError::BadPlaceholder { name, placeholder } => write!(
                f,
                "path rule {name:?} has placeholder {placeholder:?}; write it as `{{lowercase_word}}` \
                 (a letter, then letters, digits or `_`, at most {MAX_PLACEHOLDER_LEN} bytes with the braces)"
            ),
            RuleError::TooManySafeWords { count } => {
                write!(
                    f,
                    "{count} safe words given, at most {MAX_SAFE_WORDS} are allowed; keep the list to path words"
                )
            }
            RuleError::BadSafeWord {
                word: Some(word),
                position,
            } => write!(
                f,
                "safe word {position} ({word:?}) is not a path word; use 1 to {MAX_WORD_LEN} letters, digits, `.`, `-` or `_`"
            ),
            RuleError::BadSafeWord { word: None, position } => write!(
                f,
                "safe word {position} is not a path word (not shown: it may be a secret); use 1 to {MAX_WORD_LEN} \
                 letters, digits, `.`, `-` or `_`"
            ),
            RuleError::DetectedSafeWord { position, kind } => write!(
                f,
                "safe word {position} (not shown) looks like {}, which is never kept; remove it from the safe words",
                kind.placeholder()
            ),
        }
    }
}

impl std::error::Error for RuleError {}

/// A [`RuleSet`] validated and compiled once: the patterns in one
/// [`RegexSet`] (one pass tells whether any rule matches) and the safe
/// words sorted for binary search. Matching allocates nothing once the
/// regex caches of the calling thread are warm.
#[derive(Clone, Debug, Default)]
pub struct CompiledRules {
    set: Option<RegexSet>,
    /// The same patterns one by one, to tell which rule matched first.
    each: Vec<Regex>,
    placeholders: Vec<Box<str>>,
    /// Lower case, sorted, without duplicates.
    safe_words: Vec<Box<str>>,
}

impl CompiledRules {
    /// No rules and no safe words.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Validates and compiles `rules` and `safe_words`.
    pub fn new<S: AsRef<str>>(rules: &[Rule], safe_words: &[S]) -> Result<Self, RuleError> {
        if rules.len() > MAX_RULES {
            return Err(RuleError::TooManyRules { count: rules.len() });
        }
        let mut each = Vec::with_capacity(rules.len());
        let mut placeholders = Vec::with_capacity(rules.len());
        for (i, rule) in rules.iter().enumerate() {
            let position = i + 1;
            if rule.name.is_empty() {
                return Err(RuleError::EmptyName { position });
            }
            if rule.name.len() > MAX_WORD_LEN || rule.name.chars().any(char::is_control) {
                return Err(RuleError::BadName { position });
            }
            if rules.iter().take(i).any(|r| r.name == rule.name) {
                return Err(RuleError::DuplicateName {
                    name: rule.name.clone(),
                });
            }
            if !is_placeholder(&rule.placeholder) {
                return Err(RuleError::BadPlaceholder {
                    name: rule.name.clone(),
                    placeholder: rule.placeholder.clone(),
                });
            }
            let re = compile_one(rule)?;
            if matches_empty(&re) {
                return Err(RuleError::MatchesEmpty {
                    name: rule.name.clone(),
                });
            }
            each.push(re);
            placeholders.push(Box::from(rule.placeholder.as_str()));
        }
        let set = if rules.is_empty() {
            None
        } else {
            let set = RegexSetBuilder::new(rules.iter().map(|r| r.pattern.as_str()))
                .size_limit(PATTERN_SIZE_LIMIT.saturating_mul(rules.len()))
                .build()
                .map_err(|e| RuleError::BadPattern {
                    name: rules.first().map(|r| r.name.clone()).unwrap_or_default(),
                    reason: one_line(&e.to_string()),
                })?;
            Some(set)
        };
        Ok(CompiledRules {
            set,
            each,
            placeholders,
            safe_words: compile_safe_words(safe_words)?,
        })
    }

    /// The placeholder of the first rule whose pattern matches `value`.
    pub fn placeholder_for(&self, value: &str) -> Option<&str> {
        let i = self.matching_rule(value)?;
        self.placeholders.get(i).map(|p| &**p)
    }

    /// The position (from 0, in the order given) of the first rule whose
    /// pattern matches `value`, for callers that report the rule by name.
    pub fn matching_rule(&self, value: &str) -> Option<usize> {
        let set = self.set.as_ref()?;
        if !set.is_match(value) {
            return None;
        }
        self.each.iter().position(|re| re.is_match(value))
    }

    /// Whether `word` is one of the operator's safe words, in any ASCII case.
    pub fn is_safe_word(&self, word: &str) -> bool {
        self.safe_words.binary_search_by(|w| cmp_ci(w, word)).is_ok()
    }

    /// How many rules there are.
    pub fn rule_count(&self) -> usize {
        self.each.len()
    }
}

fn compile_one(rule: &Rule) -> Result<Regex, RuleError> {
    if rule.pattern.len() > MAX_PATTERN_LEN {
        return Err(RuleError::BadPattern {
            name: rule.name.clone(),
            reason: format!(
                "the pattern is {} bytes, over the {MAX_PATTERN_LEN}-byte limit",
                rule.pattern.len()
            ),
        });
    }
    RegexBuilder::new(&rule.pattern)
        .size_limit(PATTERN_SIZE_LIMIT)
        .build()
        .map_err(|e| RuleError::BadPattern {
            name: rule.name.clone(),
            reason: one_line(&e.to_string()),
        })
}

/// A pattern matches the empty string if it matches `""`, or finds an empty
/// match in a short value (`\b`, lookaround-like assertions).
fn matches_empty(re: &Regex) -> bool {
    re.is_match("")
        || ["a", "0", "-", " ", "a-0"]
            .iter()
            .any(|probe| re.find_iter(probe).any(|m| m.is_empty()))
}

/// The regex crate's multi-line messages as one line.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `{` + a lower-case letter + lower-case letters, digits or `_` + `}`.
fn is_placeholder(p: &str) -> bool {
    let Some(inner) = p.strip_prefix('{').and_then(|p| p.strip_suffix('}')) else {
        return false;
    };
    p.len() <= MAX_PLACEHOLDER_LEN
        && inner.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && inner
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Whether `w` is made of path-word bytes: 1 to 64 letters, digits, `.`,
/// `-`, `_`.
pub(crate) fn is_word_shape(w: &str) -> bool {
    (1..=MAX_WORD_LEN).contains(&w.len())
        && w.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

fn compile_safe_words<S: AsRef<str>>(words: &[S]) -> Result<Vec<Box<str>>, RuleError> {
    if words.len() > MAX_SAFE_WORDS {
        return Err(RuleError::TooManySafeWords { count: words.len() });
    }
    let mut out: Vec<Box<str>> = Vec::with_capacity(words.len());
    for (i, w) in words.iter().enumerate() {
        let w = w.as_ref();
        let position = i + 1;
        if !is_word_shape(w) {
            // Shown unless it is personal data or a secret, or unprintable.
            let shown = super::detect(w).is_none() && w.len() <= 2 * MAX_WORD_LEN && !w.chars().any(char::is_control);
            return Err(RuleError::BadSafeWord {
                word: shown.then(|| w.to_owned()),
                position,
            });
        }
        if let Some(kind) = super::detect(w) {
            return Err(RuleError::DetectedSafeWord { position, kind });
        }
        out.push(w.to_ascii_lowercase().into_boxed_str());
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}
