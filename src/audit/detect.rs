//! The line scanner: splits a line into tokens (URLs, query strings, free
//! text), a URL into its authority, path segments and query values, free
//! text into words, and hands only the values whose bytes make a finding
//! possible to the shared detectors ([`crate::policy::detect`]).

use crate::policy::detect::{self as shared, Kind as Detected};
use crate::policy::{LearnedLiterals, PathPolicy, write_safe_path};

use super::finding::{Finding, Kind, mask, parse_ip};
use super::rules::AuditRules;

// Character classes of the word splitter.
const WORD: u8 = 1;
const DIGIT: u8 = 2;
const ALPHA: u8 = 4;
const AT: u8 = 8;
const COLON: u8 = 16;
const EQ: u8 = 32;
const PCT: u8 = 64;
const DOT: u8 = 128;

const fn classes() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = if b.is_ascii_digit() {
            WORD | DIGIT
        } else if b.is_ascii_alphabetic() {
            WORD | ALPHA
        } else {
            match b {
                b'@' => WORD | AT,
                b':' => WORD | COLON,
                b'=' => WORD | EQ,
                b'%' => WORD | PCT,
                b'.' => WORD | DOT,
                b'-' | b'_' | b'+' | b'~' | b'$' => WORD,
                _ => 0,
            }
        };
        c += 1;
    }
    t
}

static CLASS: [u8; 256] = classes();

/// Bytes between tokens: white space and quotes.
fn is_token_break(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b'"' | b'\'' | b'<' | b'>' | b'`')
}

/// Query and form keys whose values are secrets.
const SECRET_KEYS: [&str; 16] = [
    "password",
    "passwd",
    "pwd",
    "pass",
    "secret",
    "client_secret",
    "api_key",
    "apikey",
    "api-key",
    "access_token",
    "refresh_token",
    "id_token",
    "token",
    "auth",
    "sessionid",
    "session_id",
];

/// Query keys whose values name a person (`name` only on profile pages).
const NAME_KEYS: [&str; 4] = ["username", "user", "user_name", "login"];

/// Path segments after which the next segment names a person (`user` only
/// outside `/rest/`, where it names a resource: `/rest/api/2/user/picker`).
const PERSON_PREFIXES: [&str; 5] = ["u", "user", "users", "people", "profile"];

/// Extensions of server pages (`viewuserprofile.action`): pages, not names.
const PAGE_EXTENSIONS: [&str; 4] = ["action", "jspa", "jsp", "do"];

/// The longest decoded value judged; longer percent-encoded values are judged
/// as they are.
const DECODE_CAP: usize = 512;

/// How deep URLs inside query values (`?next=%2Fdisplay%2F~jane`) are followed.
const MAX_DEPTH: u8 = 2;

/// The record fields that hold pseudonyms, searched once per record line.
static PSEUDONYM_FIELDS: std::sync::LazyLock<[memchr::memmem::Finder<'static>; 3]> = std::sync::LazyLock::new(|| {
    [
        memchr::memmem::Finder::new(b",\"account\":\""),
        memchr::memmem::Finder::new(b",\"tenant\":\""),
        memchr::memmem::Finder::new(b",\"client\":\""),
    ]
});

/// Calls `found` with a [`Finding`] for every piece of personal data or secret
/// in `line`, with the built-in detectors only (see [`scan_line_with`]).
pub fn scan_line(line: &[u8], found: &mut dyn FnMut(Finding<'_>)) {
    scan_line_with(line, &AuditRules::none(), found);
}

/// Calls `found` with a [`Finding`] for every piece of personal data or secret
/// in `line`, in the order they appear; operator `rules` add findings
/// ([`Kind::Rule`]) and safe words.
///
/// The line is split into tokens at white space and quotes. A token that is
/// a URL (`/path?query`, `scheme://host/…`) is judged part by part: the
/// authority (credentials, IP addresses, customer sites), each path segment
/// and query value, percent-decoded, with the detectors the path allowlist
/// uses, plus names after person prefixes; other tokens are split into words
/// and judged as free text, where only the kinds that are unambiguous there
/// count (no handles, no host names but customer sites, tokens of 20 random
/// bytes or more).
///
/// Lines that are privlog records (`{"v":…`) have their `account`, `tenant`
/// and `client` values skipped when they hold pseudonyms; every other
/// field, and those fields when they hold anything else, are scanned.
pub fn scan_line_with(line: &[u8], rules: &AuditRules, found: &mut dyn FnMut(Finding<'_>)) {
    let mut skip: [(usize, usize); 3] = [(0, 0); 3];
    if line.starts_with(b"{\"v\":") {
        for (slot, finder) in skip.iter_mut().zip(PSEUDONYM_FIELDS.iter()) {
            if let Some(at) = finder.find(line) {
                let start = at + finder.needle().len();
                if let Some(len) = memchr::memchr(b'"', &line[start..])
                    && is_pseudonym(&line[start..start + len])
                {
                    *slot = (start, start + len);
                }
            }
        }
    }
    let mut scan = Scan {
        rules,
        found,
        auth_word: None,
    };
    let users = log_format_users(line);
    let mut i = 0;
    while i < line.len() {
        if is_token_break(line[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < line.len() && !is_token_break(line[i]) {
            i += 1;
        }
        if skip.iter().any(|&(s, e)| s == start && e == i) {
            scan.auth_word = None;
            continue;
        }
        if users.contains(&(start, i)) {
            let user = &line[start..i];
            if user != b"-" && std::str::from_utf8(user).ok().and_then(shared::detect).is_none() {
                scan.emit(Kind::Name, user);
                continue;
            }
        }
        scan.token(line, start, i, 0);
    }
}

/// The `ident` and `user` fields of a Common or Combined Log Format line
/// (`host ident user [time] "request" …`, what nginx and Apache write): the
/// identd and HTTP-authenticated user names, `-` when there is none), as
/// byte ranges of `line`; empty ranges when the line has another shape.
fn log_format_users(line: &[u8]) -> [(usize, usize); 2] {
    const NONE: [(usize, usize); 2] = [(0, 0); 2];
    let mut fields = line.splitn(5, |b| *b == b' ');
    let (Some(host), Some(ident), Some(user), Some(time)) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return NONE;
    };
    if host.is_empty() || ident.is_empty() || user.is_empty() || !time.starts_with(b"[") {
        return NONE;
    }
    let ident_at = host.len() + 1;
    let user_at = ident_at + ident.len() + 1;
    [(ident_at, ident_at + ident.len()), (user_at, user_at + user.len())]
}

/// A privlog pseudonym: 22 URL-safe base64 characters.
fn is_pseudonym(v: &[u8]) -> bool {
    v.len() == 22 && v.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
}

struct Scan<'r, 'f> {
    rules: &'r AuditRules,
    found: &'f mut dyn FnMut(Finding<'_>),
    /// Where a `Bearer` / `Basic` word of the line is, when it was the last
    /// word seen.
    auth_word: Option<(usize, usize)>,
}

impl Scan<'_, '_> {
    fn emit(&mut self, kind: Kind, value: &[u8]) {
        (self.found)(Finding::new(kind, &|| mask(kind, value)));
    }

    fn emit_masked(&mut self, kind: Kind, masked: &dyn Fn() -> String) {
        (self.found)(Finding::new(kind, masked));
    }

    /// One token of `hay[start..end]`; `depth` 0 is the line itself.
    fn token(&mut self, hay: &[u8], mut start: usize, mut end: usize, depth: u8) {
        while start < end && matches!(hay[start], b'[' | b'(') {
            start += 1;
        }
        while end > start && matches!(hay[end - 1], b',' | b';' | b')' | b']') {
            end -= 1;
        }
        if start == end {
            return;
        }
        let t = &hay[start..end];
        if t[0] == b'/' {
            self.auth_word = None;
            return self.url(hay, start, end, depth);
        }
        if let Some(p) = memchr::memmem::find(t, b"://") {
            let scheme = t[..p]
                .iter()
                .rposition(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')))
                .map_or(0, |q| q + 1);
            if scheme < p {
                self.words(hay, start, start + scheme, depth);
                self.auth_word = None;
                return self.url(hay, start + scheme, end, depth);
            }
        }
        if let Some(p) = memchr::memmem::find(t, b"=/") {
            self.words(hay, start, start + p + 1, depth);
            self.auth_word = None;
            return self.url(hay, start + p + 1, end, depth);
        }
        if t[0] == b'?' {
            self.auth_word = None;
            return self.query(hay, start + 1, end, b"", depth);
        }
        if memchr::memchr(b'&', t).is_some() && memchr::memchr(b'=', t).is_some() {
            self.auth_word = None;
            return self.query(hay, start, end, b"", depth);
        }
        self.words(hay, start, end, depth);
    }

    /// A URL: `scheme://authority/path?query#fragment`, `//authority/…` or
    /// `/path?query`.
    fn url(&mut self, hay: &[u8], start: usize, end: usize, depth: u8) {
        let t = &hay[start..end];
        let mut at = start;
        let authority = match memchr::memmem::find(t, b"://") {
            Some(p) => Some(start + p + 3),
            None if t.starts_with(b"//") => Some(start + 2),
            None => None,
        };
        if let Some(a) = authority {
            let a_end = hay[a..end]
                .iter()
                .position(|b| matches!(b, b'/' | b'?' | b'#'))
                .map_or(end, |p| a + p);
            self.authority(&hay[a..a_end]);
            at = a_end;
        }
        let path_end = hay[at..end]
            .iter()
            .position(|b| matches!(b, b'?' | b'#'))
            .map_or(end, |p| at + p);
        self.path(hay, at, path_end);
        if path_end < end && hay[path_end] == b'?' {
            let q_end = memchr::memchr(b'#', &hay[path_end..end]).map_or(end, |p| path_end + p);
            self.query(hay, path_end + 1, q_end, &hay[at..path_end], depth);
        }
    }

    /// `user:password@host:port`: credentials, an IP address, a customer
    /// site. Other host names here are the site's own or public ones.
    fn authority(&mut self, a: &[u8]) {
        let host = match memchr::memrchr(b'@', a) {
            Some(p) => {
                if memchr::memchr(b':', &a[..p]).is_some() {
                    self.emit_masked(Kind::Credential, &|| "***:***@".to_owned());
                }
                &a[p + 1..]
            }
            None => a,
        };
        let Ok(h) = std::str::from_utf8(host) else {
            return;
        };
        if h.len() >= 2 && (h.starts_with('[') || h.bytes().any(|b| b.is_ascii_digit())) && shared::is_ip(h) {
            if let Some(kind) = ip_kind(h) {
                self.emit(kind, host);
            }
        } else if is_customer_host(h) {
            self.emit(Kind::Host, host);
        }
    }

    /// The path segments of `hay[start..end]`.
    fn path(&mut self, hay: &[u8], start: usize, end: usize) {
        let mut under_rest = false;
        let mut after_prefix = false;
        // Consecutive name segments after a person prefix: one finding.
        let mut name_run: Option<(usize, usize)> = None;
        let mut buf = [0u8; DECODE_CAP];
        let mut i = start;
        while i < end {
            if hay[i] == b'/' {
                i += 1;
                continue;
            }
            let s = i;
            i = memchr::memchr(b'/', &hay[i..end]).map_or(end, |p| i + p);
            let value = decode(&hay[s..i], &mut buf, false);
            if let Some(kind) = self.url_value(value, hay, i) {
                self.flush_name(hay, &mut name_run);
                after_prefix = false;
                if let Kind::Token = kind {
                    let piece = random_token(value).unwrap_or(value);
                    self.emit(kind, piece);
                } else {
                    self.emit(kind, value);
                }
                continue;
            }
            if after_prefix && self.is_name(value) {
                name_run = Some((name_run.map_or(s, |r| r.0), i));
                continue;
            }
            self.flush_name(hay, &mut name_run);
            after_prefix = is_person_prefix(value, under_rest);
            under_rest |= value.eq_ignore_ascii_case(b"rest");
        }
        self.flush_name(hay, &mut name_run);
    }

    fn flush_name(&mut self, hay: &[u8], run: &mut Option<(usize, usize)>) {
        if let Some((s, e)) = run.take() {
            let raw = &hay[s..e];
            self.emit_masked(Kind::Name, &|| {
                mask(
                    Kind::Name,
                    percent_encoding::percent_decode(raw).decode_utf8_lossy().as_bytes(),
                )
            });
        }
    }

    /// The pairs of a query string `hay[start..end]` (split at `&`, `;` and
    /// a stray `?`); `path` tells a profile page (`name=`).
    fn query(&mut self, hay: &[u8], start: usize, end: usize, path: &[u8], depth: u8) {
        let last = path.rsplit(|b| *b == b'/').next().unwrap_or_default();
        let profile_page = last.windows(7).any(|w| w.eq_ignore_ascii_case(b"profile"));
        let mut key_buf = [0u8; 64];
        let mut buf = [0u8; DECODE_CAP];
        for pair in hay[start..end].split(|b| matches!(b, b'&' | b';' | b'?')) {
            if pair.is_empty() {
                continue;
            }
            let (raw_key, raw_value) = match memchr::memchr(b'=', pair) {
                Some(p) => (&pair[..p], &pair[p + 1..]),
                None => (&pair[..0], pair),
            };
            let key = decode(raw_key, &mut key_buf, true);
            let value = decode(raw_value, &mut buf, true);
            if value.is_empty() {
                continue;
            }
            if value.len() >= 4 && SECRET_KEYS.iter().any(|k| key.eq_ignore_ascii_case(k.as_bytes())) {
                self.emit_masked(Kind::Credential, &|| format!("{}=***", String::from_utf8_lossy(key)));
                continue;
            }
            if depth < MAX_DEPTH && (value[0] == b'/' || memchr::memmem::find(value, b"://").is_some()) {
                self.token(value, 0, value.len(), depth + 1);
                continue;
            }
            if let Some(kind) = self.url_value(value, value, value.len()) {
                let shown = if kind == Kind::Token {
                    random_token(value).unwrap_or(value)
                } else {
                    value
                };
                self.emit(kind, shown);
                continue;
            }
            let name_key = NAME_KEYS.iter().any(|k| key.eq_ignore_ascii_case(k.as_bytes()))
                || (profile_page && key.eq_ignore_ascii_case(b"name"));
            if name_key && self.is_name(value) {
                self.emit(Kind::Name, value);
            }
        }
    }

    /// A decoded path segment or query value judged by the shared
    /// detectors, as the path allowlist judges it, then by the operator's
    /// rules. UUIDs and numbers are not findings; a token must be random
    /// ([`shared::is_random_token`]), a host a customer site or have a
    /// well-known top-level domain. `hay[after]` is what follows the value
    /// (`/24` makes an address a network).
    fn url_value(&self, v: &[u8], hay: &[u8], after: usize) -> Option<Kind> {
        let s = std::str::from_utf8(v).ok()?;
        let worth = v.len() >= 16
            || v.iter()
                .any(|c| c.is_ascii_digit() || matches!(c, b'@' | b'~' | b'.' | b':'));
        let kind = if worth {
            match shared::detect(s) {
                Some(Detected::Jwt) => Some(Kind::Jwt),
                Some(Detected::Email) => Some(Kind::Email),
                Some(Detected::AccountId) => Some(Kind::AccountId),
                Some(Detected::Ip) => ip_kind(s).filter(|k| !is_network(hay, after, full_prefix(*k))),
                Some(Detected::Card) => (!is_counter(v)).then_some(Kind::Card),
                Some(Detected::Iban) => Some(Kind::Iban),
                Some(Detected::NationalId) => Some(Kind::NationalId),
                Some(Detected::Phone) => Some(Kind::Phone),
                Some(Detected::UserKey) => Some(Kind::UserKey),
                Some(Detected::Handle) => Some(Kind::Handle),
                Some(Detected::Host) => (is_customer_host(s) || shared::has_known_tld(s)).then_some(Kind::Host),
                Some(Detected::Token) | None => random_token(v).map(|_| Kind::Token),
                _ => None,
            }
        } else {
            None
        };
        kind.or_else(|| self.rule(s))
    }

    fn rule(&self, s: &str) -> Option<Kind> {
        if self.rules.compiled.rule_count() == 0 {
            return None;
        }
        let i = self.rules.compiled.matching_rule(s)?;
        u16::try_from(i).ok().map(Kind::Rule)
    }

    /// A value after a person prefix (or of a name key) that names someone:
    /// it has a letter, is no placeholder, parameter, server page or
    /// detected value, and the path allowlist would not keep it.
    fn is_name(&self, v: &[u8]) -> bool {
        let Ok(s) = std::str::from_utf8(v) else {
            return false;
        };
        if !s.chars().any(char::is_alphabetic)
            || (s.starts_with('{') && s.ends_with('}'))
            || s.starts_with([':', '*'])
            || shared::detect(s).is_some()
        {
            return false;
        }
        if let Some((_, ext)) = s.rsplit_once('.')
            && PAGE_EXTENSIONS.iter().any(|p| p.eq_ignore_ascii_case(ext))
        {
            return false;
        }
        !kept_by_allowlist(s, self.rules)
    }

    /// Free text: the words of `hay[start..end]`.
    fn words(&mut self, hay: &[u8], start: usize, end: usize, depth: u8) {
        let mut i = start;
        while i < end {
            if CLASS[usize::from(hay[i])] & WORD == 0 {
                i += 1;
                continue;
            }
            let s = i;
            let mut flags = 0u8;
            while i < end {
                let c = CLASS[usize::from(hay[i])];
                if c & WORD == 0 {
                    break;
                }
                flags |= c;
                i += 1;
            }
            let scheme = match self.auth_word.take() {
                Some((ws, we)) if depth == 0 && we <= s && hay[we..s].iter().all(|b| *b == b' ' || *b == b'"') => {
                    Some(&hay[ws..we])
                }
                _ => None,
            };
            self.word(hay, s, i, flags, scheme);
            let w = &hay[s..i];
            if depth == 0 && (w.eq_ignore_ascii_case(b"bearer") || w.eq_ignore_ascii_case(b"basic")) {
                self.auth_word = Some((s, i));
            }
        }
    }

    /// One word of free text; `scheme` is the `Bearer` / `Basic` word right
    /// before it, if any.
    fn word(&mut self, hay: &[u8], start: usize, end: usize, flags: u8, scheme: Option<&[u8]>) {
        let w = &hay[start..end];
        let len = w.len();
        // `Authorization: Bearer <credential>` and the like.
        if let Some(scheme) = scheme
            && len >= 8
        {
            self.emit_masked(Kind::Credential, &|| format!("{} ***", String::from_utf8_lossy(scheme)));
            return;
        }
        // The shortest built-in finding is an e-mail address like `a@b.co`.
        if len < 6 {
            if let Some(kind) = std::str::from_utf8(w).ok().and_then(|s| self.rule(s)) {
                self.emit(kind, w);
            }
            return;
        }
        if flags & PCT != 0 {
            let has = |needle: &[u8]| w.windows(needle.len()).any(|x| x.eq_ignore_ascii_case(needle));
            if has(b"bearer%20") || has(b"basic%20") {
                self.emit_masked(Kind::Credential, &|| "Bearer ***".to_owned());
                return;
            }
        }
        if flags & EQ != 0
            && let Some(eq) = memchr::memchr(b'=', w)
        {
            let (key, value) = (&w[..eq], &w[eq + 1..]);
            if value.len() >= 4 && SECRET_KEYS.iter().any(|k| key.eq_ignore_ascii_case(k.as_bytes())) {
                self.emit_masked(Kind::Credential, &|| format!("{}=***", String::from_utf8_lossy(key)));
                return;
            }
        }
        if flags & DOT != 0
            && len >= 16
            && let Some(at) = memchr::memmem::find(w, b"eyJ")
        {
            let run_end = w[at..]
                .iter()
                .position(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')))
                .map_or(len, |p| at + p);
            let candidate = trim_dots(&w[at..run_end]);
            if std::str::from_utf8(candidate).is_ok_and(shared::is_jwt) {
                self.emit(Kind::Jwt, candidate);
                return;
            }
        }
        if flags & (AT | PCT) != 0 {
            self.emails(w);
        }
        let mut ip = false;
        if flags & COLON != 0 && w.iter().filter(|b| **b == b':').nth(1).is_some() {
            ip = self.ipv6(hay, w, end);
        }
        if !ip && flags & (DIGIT | DOT) == DIGIT | DOT {
            ip = self.ipv4(hay, start, end);
        }
        // The value of `key=value`, or the whole word, decoded.
        let value = match if flags & EQ != 0 {
            memchr::memrchr(b'=', w)
        } else {
            None
        } {
            Some(eq) => &w[eq + 1..],
            None => w,
        };
        let value = trim_dots(value);
        let mut buf = [0u8; DECODE_CAP];
        let value = decode(value, &mut buf, false);
        let Ok(s) = std::str::from_utf8(value) else {
            return;
        };
        if flags & DIGIT != 0 && (flags & (COLON | PCT) != 0 || value.len() == 24) && shared::is_account_id(s) {
            self.emit(Kind::AccountId, value);
            return;
        }
        let value_flags = value.iter().fold(0u8, |f, b| f | CLASS[usize::from(*b)]);
        if !ip && let Some(kind) = text_value(s, value_flags) {
            self.emit(kind, value);
            return;
        }
        let mut any = ip;
        if len >= shared::MIN_RANDOM_TOKEN_LEN {
            for seg in value.split(|b| matches!(b, b'.' | b':' | b'=' | b'@' | b'%' | b'~' | b'$')) {
                if shared::is_random_token(seg) {
                    self.emit(Kind::Token, seg);
                    any = true;
                }
            }
        }
        if !any
            && flags & (AT | PCT) == 0
            && let Some(kind) = self.rule(s)
        {
            self.emit(kind, value);
        }
    }

    /// E-mail addresses inside a word (`mailto:jane@example.com`,
    /// `jane%40example.com`): the span around each `@` checked with
    /// [`shared::is_email`], with an alphabetic top-level domain.
    fn emails(&mut self, w: &[u8]) {
        let is_local = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'+' | b'-');
        let is_domain = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-');
        let mut i = 0;
        while i < w.len() {
            let (at, width) = match w[i] {
                b'@' => (i, 1),
                b'%' if w.get(i + 1..i + 3) == Some(b"40") => (i, 3),
                _ => {
                    i += 1;
                    continue;
                }
            };
            let local_start = w[..at].iter().rposition(|b| !is_local(*b)).map_or(0, |p| p + 1);
            let domain_start = at + width;
            let domain_end = w[domain_start..]
                .iter()
                .position(|b| !is_domain(*b))
                .map_or(w.len(), |p| domain_start + p);
            let local = &w[local_start..at];
            let domain = trim_dots(&w[domain_start..domain_end]);
            let tld_ok = memchr::memrchr(b'.', domain).is_some_and(|dot| {
                let tld = &domain[dot + 1..];
                dot > 0 && tld.len() >= 2 && tld.iter().all(u8::is_ascii_alphabetic)
            });
            if !local.is_empty() && tld_ok {
                let text = format!("{}@{}", String::from_utf8_lossy(local), String::from_utf8_lossy(domain));
                if shared::is_email(&text) {
                    self.emit(Kind::Email, text.as_bytes());
                }
            }
            i = domain_end.max(at + width);
        }
    }

    /// An IPv6 address in a word (after `=`, before a `%zone`); an
    /// IPv4-mapped one is reported as IPv4. Returns whether one was found.
    fn ipv6(&mut self, hay: &[u8], w: &[u8], end: usize) -> bool {
        let cand = match memchr::memrchr(b'=', w) {
            Some(eq) => &w[eq + 1..],
            None => w,
        };
        let cand = match memchr::memchr(b'%', cand) {
            Some(p) => &cand[..p],
            None => cand,
        };
        let cand = trim_dots(cand);
        if !cand.iter().all(|b| b.is_ascii_hexdigit() || matches!(b, b':' | b'.')) {
            return false;
        }
        let groups = cand.split(|b| *b == b':').filter(|g| !g.is_empty()).count();
        let colons = cand.iter().filter(|b| **b == b':').count();
        let mapped = memchr::memchr(b'.', cand).is_some();
        // A full address has eight groups (seven colons) or a `::`; times like
        // `2026:09:30:00` have neither.
        if (groups < 3 && !mapped) || (colons != 7 && memchr::memmem::find(cand, b"::").is_none()) {
            return false;
        }
        let Ok(s) = std::str::from_utf8(cand) else {
            return false;
        };
        if !shared::is_ip(s) {
            return false;
        }
        if let Some(kind) = ip_kind(s)
            && !is_network(hay, end, full_prefix(kind))
        {
            self.emit(kind, cand);
        }
        true
    }

    /// IPv4 addresses in a word: a run of digits and dots on a word
    /// boundary checked with [`shared::is_ip`]. `Chrome/120.0.0.0`
    /// versions, `/24` networks, loopback and `0.0.0.0` are not findings.
    /// Returns whether an address was seen.
    fn ipv4(&mut self, hay: &[u8], start: usize, end: usize) -> bool {
        let mut seen = false;
        let mut i = start;
        while i < end {
            // `a_1.2.3.4` is an identifier, not an address.
            let boundary_before = i == 0 || !(hay[i - 1].is_ascii_alphanumeric() || matches!(hay[i - 1], b'.' | b'_'));
            if !hay[i].is_ascii_digit() || !boundary_before {
                i += 1;
                continue;
            }
            let run_end = i + hay[i..end]
                .iter()
                .take_while(|b| b.is_ascii_digit() || **b == b'.')
                .count();
            let mut stop = run_end;
            while stop > i && hay[stop - 1] == b'.' {
                stop -= 1;
            }
            let cand = &hay[i..stop];
            let next = hay.get(stop).copied();
            let next2 = hay.get(stop + 1).copied();
            // `1.2.3.4@example.com` is the local part of an e-mail address
            // (found as one); `1.2.3.4.5` is no address.
            let continues = next.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'@')
                || (next == Some(b'.') && next2.is_some_and(|b| b.is_ascii_digit()));
            if !continues
                && let Ok(s) = std::str::from_utf8(cand)
                && shared::is_ip(s)
            {
                seen = true;
                if let Some(kind) = ip_kind(s)
                    && !is_network(hay, stop, 32)
                    && !is_product_version(hay, i)
                {
                    self.emit(kind, cand);
                }
            }
            i = run_end.max(i + 1);
        }
        seen
    }
}

/// The report kind of an IP address (IPv4-mapped IPv6 as IPv4); `None` for
/// loopback and unspecified addresses.
fn ip_kind(s: &str) -> Option<Kind> {
    match parse_ip(s)? {
        std::net::IpAddr::V4(a) if !a.is_loopback() && !a.is_unspecified() => Some(Kind::Ipv4),
        std::net::IpAddr::V6(a) if !a.is_loopback() && !a.is_unspecified() => Some(Kind::Ipv6),
        _ => None,
    }
}

/// A host name that is a customer site (`acme.atlassian.net`, with or
/// without a port).
fn is_customer_host(s: &str) -> bool {
    let host = match s.rsplit_once(':') {
        Some((h, p)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => s,
    };
    let host = host.strip_suffix('.').unwrap_or(host);
    shared::is_customer_site(host) && shared::is_host(host)
}

/// A 13 to 19 digit run without separators starting with `1`: a counter or
/// an epoch time in milliseconds or finer (`1732267800123`), not a card
/// number (no major card network issues numbers starting with 1).
fn is_counter(v: &[u8]) -> bool {
    v.first() == Some(&b'1') && v.iter().all(u8::is_ascii_digit)
}

/// The kinds that are unambiguous in free text: cards, national IDs and
/// phone numbers (no letters), IBANs, user keys and customer sites.
fn text_value(s: &str, flags: u8) -> Option<Kind> {
    let b = s.as_bytes();
    if flags & ALPHA == 0 && flags & DIGIT != 0 {
        if b.len() >= 13 && shared::is_card(s) && !is_counter(b) {
            return Some(Kind::Card);
        }
        if b.len() == 11 && shared::is_ssn(s) {
            return Some(Kind::NationalId);
        }
        if b.len() >= 9 && shared::is_phone(s) {
            return Some(Kind::Phone);
        }
        return None;
    }
    if flags & DIGIT != 0
        && (15..=34).contains(&b.len())
        && b[..2].iter().all(u8::is_ascii_alphabetic)
        && b[2..4].iter().all(u8::is_ascii_digit)
        && shared::is_iban(s)
    {
        return Some(Kind::Iban);
    }
    if flags & DIGIT != 0 && b.len() >= 9 && matches!(b[0], b'j' | b'J') && shared::is_user_key(s) {
        return Some(Kind::UserKey);
    }
    if flags & (DOT | ALPHA) == DOT | ALPHA && is_customer_host(s) {
        return Some(Kind::Host);
    }
    None
}

/// The first piece of `v` (split at `.`, `:`, `=`, `@`, `%`, `~`, `$`) that
/// is a random token.
fn random_token(v: &[u8]) -> Option<&[u8]> {
    if v.len() < shared::MIN_RANDOM_TOKEN_LEN {
        return None;
    }
    v.split(|b| matches!(b, b'.' | b':' | b'=' | b'@' | b'%' | b'~' | b'$'))
        .find(|seg| shared::is_random_token(seg))
}

/// A segment the path allowlist would be keep as it is (a built-in or
/// operator safe word, or safe words joined by `-`, `_`, `.`).
fn kept_by_allowlist(s: &str, rules: &AuditRules) -> bool {
    if s.contains(['/', '%', ' ', '+']) {
        return false;
    }
    let raw = format!("/{s}");
    let mut out = String::with_capacity(raw.len() + 8);
    write_safe_path(
        &raw,
        PathPolicy::Allowlist,
        &rules.compiled,
        &LearnedLiterals::new(),
        &mut out,
    );
    out == raw
}

fn is_person_prefix(v: &[u8], under_rest: bool) -> bool {
    PERSON_PREFIXES
        .iter()
        .any(|p| v.eq_ignore_ascii_case(p.as_bytes()) && !(under_rest && *p == "user"))
}

/// Percent-decodes `raw` into `buf` (`+` as a space when `plus_space`);
/// `raw` itself when there is nothing to decode or it does not fit.
fn decode<'b, const N: usize>(raw: &'b [u8], buf: &'b mut [u8; N], plus_space: bool) -> &'b [u8] {
    let needs = raw.iter().any(|b| *b == b'%' || (plus_space && *b == b'+'));
    if !needs {
        return raw;
    }
    let hex = |b: u8| char::from(b).to_digit(16).and_then(|d| u8::try_from(d).ok());
    let mut n = 0;
    let mut i = 0;
    while i < raw.len() {
        let byte = match raw[i] {
            b'%' => match (
                raw.get(i + 1).copied().and_then(hex),
                raw.get(i + 2).copied().and_then(hex),
            ) {
                (Some(h), Some(l)) => {
                    i += 2;
                    h * 16 + l
                }
                _ => b'%',
            },
            b'+' if plus_space => b' ',
            b => b,
        };
        let Some(slot) = buf.get_mut(n) else {
            return raw;
        };
        *slot = byte;
        n += 1;
        i += 1;
    }
    &buf[..n]
}

fn trim_dots(mut s: &[u8]) -> &[u8] {
    while let [rest @ .., b'.' | b'-' | b','] = s {
        s = rest;
    }
    s
}

/// `/NN` right after `end`, NN shorter than a full address (`/24` after
/// IPv4, `/48` after IPv6): a network, not an address.
fn is_network(hay: &[u8], end: usize, full: u32) -> bool {
    if hay.get(end) != Some(&b'/') {
        return false;
    }
    let digits = hay[end + 1..].iter().take(3).take_while(|b| b.is_ascii_digit());
    let (n, count) = digits.fold((0u32, 0), |(n, c), b| (n * 10 + u32::from(b - b'0'), c + 1));
    count > 0 && n < full
}

/// The prefix length of a full address of the kind `kind`.
fn full_prefix(kind: Kind) -> u32 {
    if kind == Kind::Ipv6 { 128 } else { 32 }
}

/// `Chrome/120.0.0.0` in a User-Agent: a version, not an address. A path
/// (`/ip/203.0.113.7`) has another `/` before the name.
fn is_product_version(hay: &[u8], at: usize) -> bool {
    if at == 0 || hay[at - 1] != b'/' {
        return false;
    }
    let name_end = at - 1;
    let name_start = hay[..name_end]
        .iter()
        .rposition(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')))
        .map_or(0, |p| p + 1);
    let before = if name_start == 0 {
        None
    } else {
        Some(hay[name_start - 1])
    };
    name_start < name_end && !matches!(before, Some(b'/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(line: &str) -> Vec<(Kind, String)> {
        let mut v = Vec::new();
        scan_line(line.as_bytes(), &mut |f| v.push((f.kind(), f.masked())));
        v
    }

    /// The common first and last names the detectors are tested with.
    fn names() -> Vec<&'static str> {
        include_str!("../policy/detect/testdata/names.txt")
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect()
    }

    fn only(line: &str) -> Vec<Kind> {
        kinds(line).into_iter().map(|(k, _)| k).collect()
    }

    #[test]
    fn the_authenticated_user_of_an_access_log_line_is_a_name() {
        let line = r#"203.0.113.7 - jane [10/Oct/2026:13:55:36 +0000] "GET /static/app.min.js HTTP/1.1" 200 512 "-" "curl/8.5.0""#;
        assert_eq!(only(line), [Kind::Ipv4, Kind::Name]);
        let ident = r#"203.0.113.7 jsmith - [10/Oct/2026:13:55:36 +0000] "GET / HTTP/1.1" 200 512"#;
        assert_eq!(only(ident), [Kind::Ipv4, Kind::Name]);
        let email = r#"- - jane@example.com [10/Oct/2026:13:55:36 +0000] "GET / HTTP/1.1" 200 512"#;
        assert_eq!(only(email), [Kind::Email]);
        let anonymous =
            r#"- - - [10/Oct/2026:13:55:36 +0000] "GET /static/app.min.js HTTP/1.1" 200 512 "-" "curl/8.5.0""#;
        assert_eq!(only(anonymous), []);
    }

    #[test]
    fn finds_each_kind_with_a_masked_example() {
        let cases = [
            ("client 203.0.113.77 said hi", Kind::Ipv4, "203.***.***.***"),
            ("from 2001:db8:85a3::8a2e:370:7334 -", Kind::Ipv6, "2001:***"),
            ("/users/jane.doe@example.com/x", Kind::Email, "j***@e***.com"),
            ("/users/jane%40example.org", Kind::Email, "j***@e***.org"),
            (
                "?jwt=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI1NTcwNTg6ZjAwZCJ9.c2lnbmF0dXJlMTIzNDU",
                Kind::Jwt,
                "eyJ*** (",
            ),
            (
                "/accounts/557058:0c7b7d4e-6a4b-4c6b-9b7e-1f2e3d4c5b6a/h",
                Kind::AccountId,
                "557058:***",
            ),
            ("/accounts/5b10ac8d82e05b22cc7d4ef5", Kind::AccountId, "5b***"),
            ("Authorization: Bearer abcdefghijkl", Kind::Credential, "Bearer ***"),
            (
                "Authorization: basic dXNlcjpwYXNzd29yZA==",
                Kind::Credential,
                "basic ***",
            ),
            ("/login?user=x&password=hunter22", Kind::Credential, "password=***"),
            ("https://admin:s3cret@db.example.com/", Kind::Credential, "***:***@"),
            ("/download?sig=Q2hhbmdlTWVOb3dQbGVhc2U4Nzg5MzQ1", Kind::Token, "Q2h***"),
        ];
        for (line, kind, masked) in cases {
            let got = kinds(line);
            assert_eq!(got.len(), 1, "{line}: {got:?}");
            assert_eq!(got[0].0, kind, "{line}");
            assert!(got[0].1.starts_with(masked), "{line}: {}", got[0].1);
        }
    }

    #[test]
    fn networks_versions_times_and_words_are_not_findings() {
        for line in [
            "203.0.113.0/24 2001:db8:1::/48 127.0.0.1 ::1 0.0.0.0",
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
            "[22/Nov/2026:09:30:00 +0000] \"GET /release-notes-2026/getting-started-guide HTTP/1.1\" 200",
            "/items/123e4567-e89b-12d3-a456-426614174000 1.2.3 v1.2.3.4.5",
            "std::collections::HashMap abc@localhost",
            "build_1.2.3.4 done",
        ] {
            assert_eq!(only(line), vec![], "{line}");
        }
    }

    #[test]
    fn privlog_records_are_clean_but_raw_values_in_their_fields_are_not() {
        let clean = r#"{"v":1,"ts":"2026-11-22T09:30:00.123Z","client":"203.0.113.0/24","method":"GET","route":"/rest/accounts/{account_id}/history","path":"/rest/accounts/{account_id}/history","query":"lic=active&cv=1.0","status":200,"req_bytes":0,"resp_bytes":512,"ttfb_us":840,"duration_us":910,"outcome":"completed","proto":"HTTP/1.1","account":"3q2x9Vd1kQ0bZg7mH4sT1A","tenant":"Jp0cX8aWm3nR5yE2uK9fLw","epoch":"2026-11","kid":"k_5d1f0a9c"}"#;
        assert_eq!(only(clean), vec![]);
        let pseudonymized_ip = clean.replace("203.0.113.0/24", "Xq2x9Vd1kQ0bZg7mH4sT1B");
        assert_eq!(only(&pseudonymized_ip), vec![]);
        let leaked = clean.replace(
            "\"3q2x9Vd1kQ0bZg7mH4sT1A\"",
            "\"557058:0c7b7d4e-6a4b-4c6b-9b7e-1f2e3d4c5b6a\"",
        );
        assert_eq!(only(&leaked), vec![Kind::AccountId]);
        let kept_ip = clean.replace("203.0.113.0/24", "203.0.113.9");
        assert_eq!(only(&kept_ip), vec![Kind::Ipv4]);
    }

    proptest::proptest! {
        #[test]
        fn planted_items_are_found_once_each(
            local in "[a-z][a-z0-9._]{0,12}[a-z0-9]",
            domain in "[a-z][a-z0-9-]{0,10}[a-z0-9]",
            tld in "[a-z]{2,6}",
            octets in proptest::array::uniform4(1u8..=254),
            prefix in 1u32..=999_999,
            id in "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        ) {
            // 127.x.x.x is loopback, not a finding
            let first = if octets[0] == 127 { 128 } else { octets[0] };
            let ip = format!("{first}.{}.{}.{}", octets[1], octets[2], octets[3]);
            let line = format!(
                "{ip} - - [22/Nov/2026:09:30:00 +0000] \"GET /u/{local}@{domain}.{tld}/a/{prefix}:{id} HTTP/1.1\" 200 5 \"-\" \"curl/8.5.0\""
            );
            let mut got = only(&line);
            got.sort();
            proptest::prop_assert_eq!(got, vec![Kind::Ipv4, Kind::Email, Kind::AccountId], "{}", line);
        }

        #[test]
        fn scrubbed_paths_hold_nothing_to_find(
            segments in proptest::collection::vec(proptest::prop_oneof![
                "[a-z]{1,8}[0-9a-z._]{0,8}@[a-z]{2,8}\\.(com|org|io)",
                "[0-9]{6}:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
                "[0-9a-f]{24}",
                "eyJ[A-Za-z0-9_-]{10,40}\\.eyJ[A-Za-z0-9_-]{10,40}\\.[A-Za-z0-9_-]{10,40}",
                "[A-Za-z0-9]{24,48}",
                "[a-z]{1,12}(-[a-z]{1,12}){0,3}",
                "[0-9]{1,8}",
            ], 1..8),
        ) {
            let raw = format!("/{}", segments.join("/"));
            // The scrub policy (a denylist) keeps unknown words, so a word
            // after `/u/` stays a name there; every other kind is removed.
            let scrubbed = crate::policy::scrub_path(&raw).path;
            let found: Vec<_> = kinds(&scrubbed).into_iter().filter(|(k, _)| *k != Kind::Name).collect();
            proptest::prop_assert!(found.is_empty(), "{} -> {} -> {:?}", raw, scrubbed, found);
            // The default allowlist keeps nothing the audit can find, names included.
            let mut allowed = String::new();
            crate::policy::write_safe_path(
                &raw,
                crate::policy::PathPolicy::Allowlist,
                &crate::policy::CompiledRules::empty(),
                &crate::policy::LearnedLiterals::new(),
                &mut allowed,
            );
            let found = kinds(&allowed);
            proptest::prop_assert!(found.is_empty(), "{} -> {} -> {:?}", raw, allowed, found);
        }

        #[test]
        fn names_after_person_prefixes_are_found_unless_the_allowlist_keeps_them(
            prefix in proptest::sample::select(&["/u/", "/user/", "/users/", "/people/", "/profile/", "/wiki/people/"][..]),
            name in proptest::sample::select(names()),
            second in proptest::option::of(proptest::sample::select(names())),
            tail in proptest::sample::select(&["", "/avatar", "/profile", "/edit"][..]),
        ) {
            let path = match second {
                Some(last) => format!("{prefix}{name}/{last}{tail}"),
                None => format!("{prefix}{name}{tail}"),
            };
            let got = kinds(&format!("GET {path} HTTP/1.1"));
            proptest::prop_assert_eq!(got.len(), 1, "{} {:?}", path, got);
            proptest::prop_assert_eq!(got[0].0, Kind::Name);
            proptest::prop_assert!(!got[0].1.contains(&name[1..]), "masked: {}", got[0].1);
        }
    }

    #[test]
    fn each_new_kind_is_found_in_an_access_log_line_with_a_masked_example() {
        let cases = [
            ("GET /pay/4111-1111-1111-1111 HTTP/1.1", Kind::Card, "***1111"),
            ("card=4111111111111111 ok", Kind::Card, "***1111"),
            ("GET /billing?iban=DE89370400440532013000", Kind::Iban, "DE***"),
            ("iban DE89370400440532013000 refused", Kind::Iban, "DE***"),
            ("GET /contact/%2B44%2020%207946%200958", Kind::Phone, "***58"),
            ("callback +442079460958 queued", Kind::Phone, "***58"),
            ("GET /hr/078-05-1120/record", Kind::NationalId, "***-**-****"),
            ("ssn=078-05-1120", Kind::NationalId, "***-**-****"),
            (
                "GET /secure/ViewProfile.jspa?name=JIRAUSER10100",
                Kind::UserKey,
                "JIRAUSER***",
            ),
            ("assignee JIRAUSER10100 changed", Kind::UserKey, "JIRAUSER***"),
            ("GET /display/~jane.doe HTTP/1.1", Kind::Handle, "~j***"),
            ("GET /@jdoe/posts HTTP/1.1", Kind::Handle, "@j***"),
            (
                "GET /wiki/display/~557058:3f2a6b1c-0d4e-4f5a-8b6c-7d8e9f0a1b2c",
                Kind::AccountId,
                "557058:***",
            ),
            (
                r#""https://acme.atlassian.net/wiki/home""#,
                Kind::Host,
                "***.atlassian.net",
            ),
            ("host=ACME.atlassian.net:443", Kind::Host, "***.atlassian.net"),
            (r#""acme.jira.com""#, Kind::Host, "***.jira.com"),
            ("GET /sites/shop.example.com/settings", Kind::Host, "***.com"),
            (
                "GET /x?returnUrl=https%3A%2F%2Facme.atlassian.net%2Fwiki",
                Kind::Host,
                "***.atlassian.net",
            ),
            ("GET /u/jane-doe HTTP/1.1", Kind::Name, "j***"),
            ("GET /people/jane/doe HTTP/1.1", Kind::Name, "j*** d***"),
            ("GET /secure/ViewProfile.jspa?name=jdoe", Kind::Name, "j***"),
            ("GET /rest/api/2/user?username=Jane+Doe", Kind::Name, "J*** D***"),
            ("GET /login?next=%2Fusers%2Fjoanna", Kind::Name, "j***"),
            ("peer 203.0.113.9:443 closed", Kind::Ipv4, "203.***.***.***"),
            ("from ::ffff:203.0.113.9 -", Kind::Ipv4, "203.***.***.***"),
            ("GET /ip/[2001:db8::7]:8443", Kind::Ipv6, "2001:***"),
            (r#""https://[2001:db8::7]:8443/x""#, Kind::Ipv6, "2001:***"),
        ];
        for (line, kind, masked) in cases {
            let got = kinds(line);
            assert_eq!(got.len(), 1, "{line}: {got:?}");
            assert_eq!(got[0], (kind, masked.to_owned()), "{line}");
        }
    }

    #[test]
    fn site_hosts_pages_counters_and_resources_are_not_findings() {
        for line in [
            // The site's own host in a Host column, a referer and free text.
            "\"confluence.example.com\" \"https://app.example.com/dashboard\" connecting to db.example.com",
            // Server pages, REST sub-resources and placeholders after person prefixes.
            "GET /users/viewuserprofile.action /rest/api/2/user/picker /rest/users/{user}/profile /users/:id",
            "GET /wiki/rest/api/user/current /people/search /u/0/settings /users/x/avatar",
            // Attachments and archives are files, not hosts.
            "GET /download/attachments/123/backup.tar.gz /download/attachments/9/Q3.report.xlsx",
            // Epoch times in milliseconds and nanoseconds are not card numbers.
            "ts=1732267800123 t=1732267800123456789 id=12345678901234",
            // Page titles, issue keys, dates.
            "GET /display/ENG/Getting+Started+Guide /browse/PROJ-1234 /wiki/spaces/ENG/blog/2026/11/22/Release+notes",
            // Short query values of name keys are kept by the allowlist.
            "GET /login?user=x&next=%2Fdashboard",
        ] {
            assert_eq!(kinds(line), vec![], "{line}");
        }
    }

    #[test]
    fn operator_rules_find_and_safe_words_keep() {
        let rules = AuditRules::new(&crate::policy::RuleSet {
            rules: vec![
                crate::policy::Rule::new("employee", r"^E[0-9]{6}$", "{employee}"),
                crate::policy::Rule::new("ticket", r"^SR-[0-9]+$", "{ticket}"),
            ],
            safe_words: vec!["picker".into()],
        })
        .expect("rules");
        let mut got = Vec::new();
        scan_line_with(
            b"GET /staff/E123456?ref=SR-42 /users/picker employee E654321 said SR-7",
            &rules,
            &mut |f| got.push((f.kind(), f.masked())),
        );
        let kinds: Vec<Kind> = got.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            kinds,
            [Kind::Rule(0), Kind::Rule(1), Kind::Rule(0), Kind::Rule(1)],
            "{got:?}"
        );
        assert_eq!(got[0].1, "*** (7 chars)");
        // Without the safe word, `picker` after `/users/` is a name.
        assert_eq!(only("GET /users/picker"), vec![Kind::Name]);
    }

    #[test]
    fn scanner_never_panics_on_arbitrary_bytes() {
        proptest::proptest!(|(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512))| {
            scan_line(&bytes, &mut |f| { let _ = f.masked(); });
        });
    }
}
