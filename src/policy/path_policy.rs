//! The path policy for paths without a route template (404s, fallbacks,
//! static handlers): an allowlist by default, so a segment reaches a record
//! because it is known to be safe, never because it does not look unsafe.

use std::borrow::Cow;
use std::cell::Cell;

use serde::Deserialize;

use super::detect::{self, CompiledRules, Kind, cmp_ci, is_builtin_word, is_file_extension, is_word_shape};
use super::scrub::scrub_path_into;
use super::{MAX_SEGMENT_LEN, MAX_SEGMENTS};

/// How a path without a route template is written into a record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum PathPolicy {
    /// `allowlist` (default): a segment is kept only when it is a known safe
    /// word (the built-in vocabulary, the operator's safe words, literal
    /// segments of the application's route templates) or made of them;
    /// detected values become their placeholder, anything else `{text}`.
    #[default]
    Allowlist,
    /// `template-only`: nothing of the raw path is kept; every segment is a
    /// placeholder (`{text}` when no detector or rule names it).
    TemplateOnly,
    /// `scrub`: the earlier denylist, which keeps every segment that does not
    /// look like personal data or a secret ([`scrub_path`](super::scrub_path)).
    Scrub,
}

/// The most literal segments [`LearnedLiterals`] holds.
pub const MAX_LEARNED_LITERALS: usize = 4096;

/// Literal segments learned from the application's route templates
/// (`/api/v2/space/{key}/page/:id` teaches `api`, `v2`, `space`, `page`):
/// words the application itself uses, so safe to keep in paths that had no
/// template. Bounded: at most [`MAX_LEARNED_LITERALS`] words of at most
/// [`MAX_SEGMENT_LEN`] bytes, kept in lower case.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LearnedLiterals {
    /// Lower case, sorted, without duplicates.
    words: Vec<Box<str>>,
}

impl LearnedLiterals {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Learns the literal segments of a route template and returns how many
    /// were new. Parameters (`{key}`, `{*rest}`, `:id`, `*path`) and segments
    /// mixing a parameter with text are skipped, as are segments that are not
    /// plain words (letters, digits, `.`, `-`, `_`), that a detector
    /// recognises (a number, a host …), and every segment once the set is full.
    pub fn insert_template(&mut self, template: &str) -> usize {
        let mut added = 0;
        for seg in template.split('/') {
            if self.words.len() >= MAX_LEARNED_LITERALS {
                break;
            }
            let parameter = seg.starts_with([':', '*']) || seg.contains(['{', '}']);
            if parameter || !is_word_shape(seg) || seg.len() > MAX_SEGMENT_LEN || detect::detect(seg).is_some() {
                continue;
            }
            if let Err(at) = self.words.binary_search_by(|w| cmp_ci(w, seg)) {
                self.words.insert(at, seg.to_ascii_lowercase().into_boxed_str());
                added += 1;
            }
        }
        added
    }

    /// Whether `word` was learned, in any ASCII case.
    pub fn contains(&self, word: &str) -> bool {
        self.words.binary_search_by(|w| cmp_ci(w, word)).is_ok()
    }

    /// How many words are learned.
    pub fn len(&self) -> usize {
        self.words.len()
    }

    /// Whether no word is learned.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }
}

/// The most single letters or digits (one-character segments, digits joined
/// to others as in `1.2.3`) one path keeps; the rest become placeholders.
pub const MAX_BARE_CHARACTERS: usize = 4;

/// The longest decoded segment judged; a longer percent-encoded segment is
/// `{text}`.
const DECODE_CAP: usize = 256;

/// Appends the safe form of the raw (percent-encoded) path `raw` to `out`
/// under `policy`, and returns the first Atlassian account ID seen in it,
/// decoded.
///
/// Under [`PathPolicy::Allowlist`] each segment is percent-decoded, then:
///
/// 1. a value a detector recognises ([`detect::detect`], numbers aside)
///    becomes its placeholder;
/// 2. a value an operator rule matches becomes the rule's placeholder;
/// 3. a number of 2 to 20 digits becomes `{id}`;
/// 4. a segment over [`MAX_SEGMENT_LEN`] bytes becomes `{text}`;
/// 5. a safe word (built-in vocabulary, operator safe word, learned literal;
///    ASCII case ignored), a single letter or digit, or safe words and single
///    digits joined by `-`, `_` or `.` (`getting-started`, `1.2.3`) is kept;
///    single letters and digits (a segment of one, or a digit joined to
///    others) are kept [`MAX_BARE_CHARACTERS`] per path at most, so no card,
///    phone or ID number is spelled out one digit at a time
///    (`/4-1-1-1-…`, `/4/1/1/1/…`): beyond, the segment is `{id}` or `{text}`;
/// 6. `stem.ext` with a known file extension keeps the extension and judges
///    the stem the same way (`/u/jane.png` → `/u/{text}.png`), and a
///    minified asset keeps its `.min` (`app.min.js`);
/// 7. anything else becomes `{text}`.
///
/// Empty segments stay empty; each segment gives one placeholder at most, so
/// the shape of the path (its number of segments) is kept. After
/// [`MAX_SEGMENTS`] segments the rest is one `…`. The output holds only
/// placeholders, safe words and `/ . - _ …`.
///
/// ```
/// use privlog::policy::{CompiledRules, LearnedLiterals, PathPolicy, write_safe_path};
/// let (rules, learned) = (CompiledRules::empty(), LearnedLiterals::new());
/// let mut out = String::new();
/// write_safe_path("/display/~jane.doe/u/jane.png", PathPolicy::Allowlist, &rules, &learned, &mut out);
/// assert_eq!(out, "/display/{handle}/u/{text}.png");
/// ```
///
/// Allocates nothing when `out` has room and the regex caches of the
/// calling thread are warm (except to return a percent-encoded account ID).
pub fn write_safe_path<'a>(
    raw: &'a str,
    policy: PathPolicy,
    rules: &CompiledRules,
    learned: &LearnedLiterals,
    out: &mut String,
) -> Option<Cow<'a, str>> {
    if policy == PathPolicy::Scrub {
        return scrub_path_into(raw, out);
    }
    let ctx = Judge {
        rules,
        learned,
        bare: Cell::new(MAX_BARE_CHARACTERS),
    };
    let body = raw.strip_prefix('/').unwrap_or(raw);
    let mut account_id = None;
    let mut decoded = [0u8; DECODE_CAP];
    for (n, seg) in body.split('/').enumerate() {
        out.push('/');
        if n == MAX_SEGMENTS {
            out.push('…');
            break;
        }
        if seg.is_empty() {
            continue;
        }
        let value = if seg.contains('%') {
            match decode_into(seg, &mut decoded) {
                Some(v) => v,
                None => {
                    out.push_str(Kind::Text.placeholder());
                    continue;
                }
            }
        } else {
            seg
        };
        let kind = match policy {
            PathPolicy::TemplateOnly => ctx.placeholder_only(value, out),
            _ => ctx.segment(value, out),
        };
        if kind == Some(Kind::AccountId) && account_id.is_none() {
            account_id = Some(account_id_of(seg));
        }
    }
    account_id
}

/// The account ID in a raw segment that was judged one: decoded, without a
/// handle's `~`.
fn account_id_of(seg: &str) -> Cow<'_, str> {
    let decoded = percent_encoding::percent_decode_str(seg).decode_utf8_lossy();
    match decoded {
        Cow::Borrowed(s) => Cow::Borrowed(s.strip_prefix('~').unwrap_or(s)),
        Cow::Owned(s) => Cow::Owned(s.strip_prefix('~').unwrap_or(&s).to_owned()),
    }
}

/// Percent-decodes `seg` into `buf`; `None` when it does not fit or is not
/// UTF-8.
fn decode_into<'b>(seg: &str, buf: &'b mut [u8; DECODE_CAP]) -> Option<&'b str> {
    let mut n = 0;
    for b in percent_encoding::percent_decode_str(seg) {
        *buf.get_mut(n)? = b;
        n += 1;
    }
    std::str::from_utf8(buf.get(..n)?).ok()
}

/// The part of a minified asset's stem kept after its judged base
/// (`app.min.js`); `min` alone is a name.
const MIN_SUFFIX: &str = ".min";

/// What a segment is judged against.
struct Judge<'r> {
    rules: &'r CompiledRules,
    learned: &'r LearnedLiterals,
    /// Single letters and digits the path may still keep.
    bare: Cell<usize>,
}

impl Judge<'_> {
    /// The placeholder of a detector (numbers aside) or rule, written to
    /// `out`; `Err(number)` when none matched, `number` telling whether the
    /// value is a number.
    fn named(&self, value: &str, out: &mut String) -> Result<Option<Kind>, bool> {
        let kind = detect::detect(value);
        if let Some(k) = kind.filter(|k| *k != Kind::Number) {
            out.push_str(k.placeholder());
            return Ok(Some(k));
        }
        if let Some(p) = self.rules.placeholder_for(value) {
            out.push_str(p);
            return Ok(None);
        }
        Err(kind == Some(Kind::Number))
    }

    /// [`PathPolicy::TemplateOnly`]: a placeholder, always.
    fn placeholder_only(&self, value: &str, out: &mut String) -> Option<Kind> {
        match self.named(value, out) {
            Ok(kind) => kind,
            Err(number) => {
                out.push_str(if number { Kind::Number } else { Kind::Text }.placeholder());
                None
            }
        }
    }

    /// [`PathPolicy::Allowlist`] for one decoded, non-empty value.
    fn segment(&self, value: &str, out: &mut String) -> Option<Kind> {
        match self.named(value, out) {
            Ok(kind) => return kind,
            Err(true) => {
                out.push_str(Kind::Number.placeholder());
                return None;
            }
            Err(false) => {}
        }
        if value.len() > MAX_SEGMENT_LEN {
            out.push_str(Kind::Text.placeholder());
        } else if value.len() == 1 && value.bytes().all(|b| b.is_ascii_alphanumeric()) {
            if self.take_bare(1) {
                out.push_str(value);
            } else if value.bytes().all(|b| b.is_ascii_digit()) {
                out.push_str(Kind::Number.placeholder());
            } else {
                out.push_str(Kind::Text.placeholder());
            }
        } else if self.is_safe(value) {
            out.push_str(value);
        } else if let Some((stem, ext)) = value
            .rsplit_once('.')
            .filter(|(s, e)| !s.is_empty() && is_file_extension(e))
        {
            match stem.len().checked_sub(MIN_SUFFIX.len()).and_then(|at| {
                let (base, suffix) = (stem.get(..at)?, stem.get(at..)?);
                (!base.is_empty() && suffix.eq_ignore_ascii_case(MIN_SUFFIX)).then_some((base, suffix))
            }) {
                Some((base, suffix)) => {
                    self.segment(base, out);
                    out.push_str(suffix);
                }
                None => {
                    self.segment(stem, out);
                }
            }
            out.push('.');
            out.push_str(ext);
        } else {
            out.push_str(Kind::Text.placeholder());
        }
        None
    }

    /// A safe word, or safe words (or single digits, while the path may keep
    /// them) joined by `-`, `_`, `.`.
    fn is_safe(&self, value: &str) -> bool {
        if self.is_safe_word(value) {
            return true;
        }
        if !value.contains(['-', '_', '.']) {
            return false;
        }
        let mut digits = 0;
        for part in value.split(['-', '_', '.']) {
            if part.len() == 1 && part.bytes().all(|b| b.is_ascii_digit()) {
                digits += 1;
            } else if !self.is_safe_word(part) {
                return false;
            }
        }
        self.take_bare(digits)
    }

    /// Spends `n` of the path's single letters and digits; `false`, spending
    /// nothing, when fewer are left.
    fn take_bare(&self, n: usize) -> bool {
        let left = self.bare.get();
        if n > left {
            return false;
        }
        self.bare.set(left - n);
        true
    }

    fn is_safe_word(&self, word: &str) -> bool {
        is_builtin_word(word) || self.rules.is_safe_word(word) || self.learned.contains(word)
    }
}

#[cfg(test)]
mod tests;
