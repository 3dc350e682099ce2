//! Realistic Confluence and Jira add-on traffic with personal data planted in
//! it: the URL shapes real add-ons receive (personal spaces, profiles, page
//! titles, attachments, REST APIs, Connect lifecycle and macro calls), with
//! people's names from `src/policy/detect/testdata/names.txt`, account IDs,
//! user keys, e-mail addresses, customer sites, payment cards (Luhn-valid),
//! IBANs (mod-97-valid), social security numbers, phone numbers and IP
//! addresses with ports, in paths, query values, headers and bodies.
//!
//! Everything comes from one seed ([`Rng`]), so a proptest strategy is
//! `any::<u64>().prop_map(|seed| batch(seed, 12))` and a failure is
//! reproduced from its seed. Each [`GenRequest`] lists the values planted in
//! it ([`Planted`]): what no output may hold, in any form.

use std::sync::OnceLock;

use percent_encoding::{AsciiSet, CONTROLS, NON_ALPHANUMERIC, utf8_percent_encode};

use super::jwt::signed_jwt;

/// A small seeded generator (SplitMix64): the same seed gives the same traffic.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// `true` with probability `1 / n`.
    pub fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// `n` decimal digits, the first one of `first`.
    pub fn digits(&mut self, n: usize, first: &str) -> String {
        let mut s = String::with_capacity(n);
        for i in 0..n {
            let c = if i == 0 {
                *self.pick(first.as_bytes()) as char
            } else {
                char::from(b'0' + self.below(10) as u8)
            };
            s.push(c);
        }
        s
    }

    /// `n` lower-case hex digits.
    pub fn hex(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from_digit(self.below(16) as u32, 16).unwrap_or('0'))
            .collect()
    }

    /// A version-4 UUID.
    pub fn uuid(&mut self) -> String {
        let variant = *self.pick(b"89ab") as char;
        format!(
            "{}-{}-4{}-{variant}{}-{}",
            self.hex(8),
            self.hex(4),
            self.hex(3),
            self.hex(3),
            self.hex(12)
        )
    }

    /// `n` characters of the base64url alphabet: a session ID or API token.
    pub fn token(&mut self, n: usize) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        // Letters of both cases and digits, as the token detector expects.
        let mut s: String = (0..n).map(|_| *self.pick(ALPHABET) as char).collect();
        s.replace_range(0..3, &format!("T{}x", self.below(10)));
        s
    }
}

/// The common first and last names of the detectors' test data.
pub fn names() -> &'static [&'static str] {
    static NAMES: OnceLock<Vec<&'static str>> = OnceLock::new();
    NAMES.get_or_init(|| {
        include_str!("../../src/policy/detect/testdata/names.txt")
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect()
    })
}

/// How a planted value must be looked for in an output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Match {
    /// Anywhere, ignoring ASCII case; also percent-encoded and in base64.
    Substring,
    /// A person's name or user name: as a whole word (between characters
    /// that are not letters or digits), ignoring case, since a short one is
    /// part of many words; also in base64 when it is long enough for base64
    /// to mean anything.
    Word,
}

/// A value planted in a request that no output may hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Planted {
    /// What it is (`email`, `card`, `first name` …), for failure messages.
    pub what: &'static str,
    pub value: String,
    pub how: Match,
    /// Another form of a value sent (a card's digits without its
    /// separators): not in the request as such, but no output may hold it
    /// either.
    pub derived: bool,
}

/// One generated request and what was planted in it.
#[derive(Clone, Debug)]
pub struct GenRequest {
    /// The URL shape it was made from (`personal space`, `attachment` …).
    pub shape: &'static str,
    pub method: &'static str,
    /// Path and query, as sent (percent-encoded where HTTP requires it).
    pub uri: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
    pub planted: Vec<Planted>,
}

/// A person with the identifiers Atlassian products give them.
#[derive(Clone, Debug)]
pub struct Person {
    pub first: &'static str,
    pub last: &'static str,
    pub account_id: String,
    pub user_key: String,
    pub email: String,
}

/// A customer site (`acme417.atlassian.net`) and its installation.
#[derive(Clone, Debug)]
pub struct Site {
    pub label: String,
    pub host: String,
    pub client_key: String,
    pub shared_secret: String,
}

const COMPANIES: &[&str] = &[
    "acmecorp",
    "globex",
    "initech",
    "umbrellaco",
    "hooli",
    "vandelay",
    "wonka",
    "stark",
    "tyrell",
    "soylent",
];
const MAIL_DOMAINS: &[&str] = &[
    "gmail.com",
    "outlook.com",
    "example.org",
    "firma.de",
    "societe.fr",
    "empresa.es",
];
const TITLE_WORDS: &[&str] = &[
    "Performance+Review",
    "1%3A1+Notes",
    "Salary+Review+2026",
    "Medical+Leave",
    "Onboarding+Plan",
    "Disciplinary+Meeting",
    "Exit+Interview",
];
const SPACE_KEYS: &[&str] = &["ENG", "HR", "SALES", "OPS", "DOCS", "MKT"];
const ISSUE_KEYS: &[&str] = &["PROJ", "HR", "SUP", "ENG", "OPS"];

/// What a path segment must have encoded: what HTTP does not allow raw, and
/// `%` and `/` so a value stays one segment.
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// `s` as one path segment: encoded only where needed, or (one time in
/// four) every byte but letters and digits, as some clients do.
fn seg(rng: &mut Rng, s: &str) -> String {
    if rng.one_in(4) {
        utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
    } else {
        utf8_percent_encode(s, SEGMENT).to_string()
    }
}

/// `s` as a query value (form encoding for spaces, everything else escaped).
pub fn qv(s: &str) -> String {
    utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// A name as people write it: lower case, Capitalized or UPPER.
fn cased(rng: &mut Rng, s: &str) -> String {
    match rng.below(3) {
        0 => s.to_owned(),
        1 => capitalize(s),
        _ => s.to_ascii_uppercase(),
    }
}

/// The Luhn check digit that completes `digits`.
pub fn luhn_digit(digits: &str) -> char {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 0 {
                let dd = d * 2;
                if dd > 9 { dd - 9 } else { dd }
            } else {
                d
            }
        })
        .sum();
    char::from(b'0' + ((10 - sum % 10) % 10) as u8)
}

/// A payment card number with a valid Luhn digit, written as people write
/// it: grouped by spaces or dashes, or not at all. Returns the written
/// form and the digits.
pub fn card(rng: &mut Rng) -> (String, String) {
    let (prefix, len, groups): (String, usize, &[usize]) = match rng.below(3) {
        0 => ("4".to_owned(), 16, &[4, 4, 4, 4]),
        1 => (format!("5{}", rng.range(1, 5)), 16, &[4, 4, 4, 4]),
        _ => (format!("3{}", rng.pick(&["4", "7"])), 15, &[4, 6, 5]),
    };
    let mut digits = prefix;
    while digits.len() < len - 1 {
        digits.push(char::from(b'0' + rng.below(10) as u8));
    }
    digits.push(luhn_digit(&digits));
    let sep = *rng.pick(&[" ", "-", ""]);
    let mut written = String::new();
    let mut at = 0;
    for (i, g) in groups.iter().enumerate() {
        if i > 0 {
            written.push_str(sep);
        }
        written.push_str(&digits[at..at + g]);
        at += g;
    }
    (written, digits)
}

/// The ISO 7064 mod-97 check digits of an IBAN for `country` and `bban`.
pub fn iban_check(country: &str, bban: &str) -> String {
    let rearranged = format!("{bban}{country}00");
    let mut rem: u32 = 0;
    for c in rearranged.chars() {
        let v = c.to_digit(36).unwrap_or(0);
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    format!("{:02}", 98 - rem)
}

/// An IBAN with valid check digits, compact or grouped by four. Returns
/// the written form and the compact one.
pub fn iban(rng: &mut Rng) -> (String, String) {
    let letters =
        |rng: &mut Rng, n: usize| -> String { (0..n).map(|_| char::from(b'A' + rng.below(26) as u8)).collect() };
    let (country, bban) = match rng.below(4) {
        0 => ("DE", rng.digits(18, "123456789")),
        1 => ("GB", format!("{}{}", letters(rng, 4), rng.digits(14, "123456789"))),
        2 => ("NL", format!("{}{}", letters(rng, 4), rng.digits(10, "123456789"))),
        _ => ("FR", rng.digits(23, "123456789")),
    };
    let compact = format!("{country}{}{bban}", iban_check(country, &bban));
    let written = if rng.one_in(2) {
        compact
            .as_bytes()
            .chunks(4)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        compact.clone()
    };
    (written, compact)
}

/// A US social security number that could be issued (`ddd-dd-dddd`).
pub fn ssn(rng: &mut Rng) -> String {
    let area = loop {
        let a = rng.range(1, 899);
        if a != 666 {
            break a;
        }
    };
    format!("{area:03}-{:02}-{:04}", rng.range(1, 99), rng.range(1, 9999))
}

/// A phone number in one of the ways people write them. Returns the
/// written form and its digits.
pub fn phone(rng: &mut Rng) -> (String, String) {
    let written = match rng.below(4) {
        0 => format!("+44 20 7946 {}", rng.digits(4, "0123456789")),
        1 => format!("+1 (555) {}-{}", rng.digits(3, "23456789"), rng.digits(4, "0123456789")),
        2 => format!("+49 30 {}", rng.digits(8, "123456789")),
        _ => format!(
            "+33 1 {} {} {} {}",
            rng.digits(2, "1234"),
            rng.digits(2, "0123456789"),
            rng.digits(2, "0123456789"),
            rng.digits(2, "0123456789")
        ),
    };
    let digits = written.chars().filter(char::is_ascii_digit).collect();
    (written, digits)
}

/// An IP address with or without a port, as it appears in a URL. Returns
/// the written form and the bare address.
pub fn ip(rng: &mut Rng) -> (String, String) {
    match rng.below(4) {
        0 => {
            let a = format!("10.{}.{}.{}", rng.range(1, 254), rng.range(1, 254), rng.range(1, 254));
            (format!("{a}:{}", rng.range(1024, 65535)), a)
        }
        1 => {
            let a = format!("203.0.113.{}", rng.range(10, 254));
            (a.clone(), a)
        }
        2 => {
            let a = format!("2001:db8:{}::{}", rng.hex(4), rng.hex(3));
            (format!("[{a}]:{}", rng.range(1024, 65535)), a)
        }
        _ => {
            let a = format!("::ffff:198.51.100.{}", rng.range(10, 254));
            (a.clone(), a)
        }
    }
}

/// A person with identifiers; two different names from the list.
pub fn person(rng: &mut Rng) -> Person {
    let names = names();
    let first = *rng.pick(names);
    let last = loop {
        let l = *rng.pick(names);
        if l != first {
            break l;
        }
    };
    let account_id = match rng.below(3) {
        0 => format!("557058:{}", rng.uuid()),
        1 => format!("712020:{}", rng.uuid()),
        _ => format!("5{}", rng.hex(23)),
    };
    let user_key = format!("JIRAUSER{}", rng.digits(5, "123456789"));
    let sep = *rng.pick(&[".", "_", ""]);
    let email = format!("{first}{sep}{last}@{}", rng.pick(MAIL_DOMAINS));
    Person {
        first,
        last,
        account_id,
        user_key,
        email,
    }
}

/// A customer site: a company's name with digits, or a person's surname
/// with a trade.
pub fn site(rng: &mut Rng) -> Site {
    let label = if rng.one_in(3) {
        format!(
            "{}-{}",
            rng.pick(names()),
            rng.pick(&["consulting", "law", "dental", "bau"])
        )
    } else {
        format!("{}{}", rng.pick(COMPANIES), rng.range(100, 999))
    };
    Site {
        host: format!("{label}.atlassian.net"),
        label,
        client_key: rng.uuid(),
        shared_secret: rng.token(40),
    }
}

fn exact(what: &'static str, value: impl Into<String>) -> Planted {
    Planted {
        what,
        value: value.into(),
        how: Match::Substring,
        derived: false,
    }
}

fn derived(what: &'static str, value: impl Into<String>) -> Planted {
    Planted {
        derived: true,
        ..exact(what, value)
    }
}

fn word(what: &'static str, value: &str) -> Planted {
    Planted {
        what,
        value: value.to_ascii_lowercase(),
        how: Match::Word,
        derived: false,
    }
}

impl GenRequest {
    /// The request as text: URI, headers and body, and the URI with its
    /// percent escapes (and `+` in the query) decoded.
    pub fn text(&self) -> String {
        let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
        let mut text = format!(
            "{} {}\n{}\n{}\n",
            self.method,
            self.uri,
            decode(&self.uri),
            decode(&self.uri.replace('+', " "))
        );
        for (k, v) in &self.headers {
            text.push_str(&format!("{k}: {v}\n"));
        }
        text.push_str(&self.body);
        text
    }
}

/// Whether `text` holds `p`'s value: anywhere ignoring ASCII case, or, for
/// a name, as a whole word.
pub fn holds(text: &str, p: &Planted) -> bool {
    let lower = text.to_ascii_lowercase();
    match p.how {
        Match::Substring => lower.contains(&p.value.to_ascii_lowercase()),
        Match::Word => lower.split(|c: char| !c.is_ascii_alphanumeric()).any(|w| w == p.value),
    }
}

/// The URL shapes, one per kind of request an add-on sees.
pub const SHAPES: &[&str] = &[
    "personal space",
    "personal space by account",
    "personal space overview",
    "profile slug",
    "people path",
    "jira people",
    "view profile",
    "page title",
    "attachment",
    "user by account",
    "user search",
    "content api",
    "issue api",
    "user key",
    "lifecycle",
    "macro",
    "customer host",
    "card",
    "iban",
    "ssn",
    "phone",
    "ip",
];

/// One request of a random shape.
pub fn request(rng: &mut Rng) -> GenRequest {
    let shape = *rng.pick(SHAPES);
    request_of(rng, shape)
}

/// One request of `shape` (one of [`SHAPES`]).
pub fn request_of(rng: &mut Rng, shape: &'static str) -> GenRequest {
    let p = person(rng);
    let s = site(rng);
    let mut planted = vec![
        word("first name", p.first),
        word("last name", p.last),
        exact("account id", &p.account_id),
        exact("user key", &p.user_key),
        exact("e-mail", &p.email),
        exact("customer host", &s.host),
        exact("client key", &s.client_key),
        exact("shared secret", &s.shared_secret),
        exact("site name", &s.label),
    ];
    let jwt = signed_jwt(&p.account_id, &s.client_key);
    planted.push(exact("jwt", &jwt));
    if let Some(payload) = jwt.split('.').nth(1) {
        planted.push(derived("jwt payload", payload));
    }
    let id_len = rng.range(5, 9) as usize;
    let id = rng.digits(id_len, "123456789");
    let (first, last) = (cased(rng, p.first), cased(rng, p.last));
    let mut method = "GET";
    let mut body = String::new();
    let uri = match shape {
        "personal space" => {
            let user = format!("{first}{}{last}", rng.pick(&[".", "", "_"]));
            planted.push(word("user name", &user));
            format!("{}/display/~{}", rng.pick(&["/wiki", ""]), seg(rng, &user))
        }
        "personal space by account" => format!("/display/~{}", seg(rng, &p.account_id)),
        "personal space overview" => format!("/wiki/spaces/~{}/overview", seg(rng, &p.account_id)),
        "profile slug" => format!("/u/{first}-{last}"),
        "people path" => format!("/people/{first}/{last}"),
        "jira people" => format!("/jira/people/{}", seg(rng, &p.account_id)),
        "view profile" => {
            let user = format!("{}{}", &p.first[..1], p.last);
            planted.push(word("user name", &user));
            format!("/secure/ViewProfile.jspa?name={}", qv(&user))
        }
        "page title" => {
            let words = rng.pick(TITLE_WORDS);
            let title = format!("{first}+{last}+{words}");
            planted.push(exact("page title", title.clone()));
            planted.push(exact("page title", title.replace('+', " ").replace("%3A", ":")));
            format!("/wiki/spaces/{}/pages/{id}/{title}", rng.pick(SPACE_KEYS))
        }
        "attachment" => format!(
            "/download/attachments/{id}/{first}_{last}_{}.{}",
            rng.pick(&["cv", "payslip", "passport", "contract"]),
            rng.pick(&["pdf", "docx", "png"])
        ),
        "user by account" => format!("/rest/api/3/user?accountId={}", qv(&p.account_id)),
        "user search" => format!(
            "/rest/api/3/user/search?query={}&maxResults=50",
            qv(if rng.one_in(2) { &p.email } else { p.first })
        ),
        "content api" => format!(
            "/wiki/rest/api/content/{id}?expand=body.storage&spaceKey=~{}",
            qv(&p.account_id)
        ),
        "issue api" => format!(
            "/rest/api/2/issue/{}-{}?fields=assignee&assignee={}",
            rng.pick(ISSUE_KEYS),
            rng.range(1, 9999),
            qv(&p.user_key)
        ),
        "user key" => format!("/rest/api/2/user/{}/avatar", p.user_key),
        "lifecycle" => {
            method = "POST";
            body = format!(
                r#"{{"key":"privlog-addon","clientKey":"{}","sharedSecret":"{}","baseUrl":"https://{}","displayUrl":"https://{}/wiki","productType":"confluence","eventType":"installed","user":"{}"}}"#,
                s.client_key, s.shared_secret, s.host, s.host, p.email
            );
            format!(
                "/{}?jwt={jwt}&user_key={}",
                rng.pick(&["installed", "uninstalled"]),
                qv(&p.user_key)
            )
        }
        "macro" => format!(
            "/macro/{}?xdm_e={}&xdm_c=channel-{}&cp=%2Fwiki&lic=active&cv=1001.0.0-SNAPSHOT&jwt={jwt}&pageId={id}&user_id={}&outputType=display",
            rng.pick(&["roadmap", "status-report", "team-calendar"]),
            qv(&format!("https://{}", s.host)),
            s.label,
            qv(p.first)
        ),
        "customer host" => {
            if rng.one_in(2) {
                format!("/sites/{}/settings", s.host)
            } else {
                format!(
                    "/proxy?url={}",
                    qv(&format!("https://{}/wiki/display/~{}", s.host, p.first))
                )
            }
        }
        "card" => {
            let (written, digits) = card(rng);
            planted.push(exact("card", written.clone()));
            planted.push(derived("card digits", digits));
            if rng.one_in(2) {
                format!("/billing/cards/{}", seg(rng, &written))
            } else {
                format!(
                    "/checkout/confirm?card={}&holder={}",
                    qv(&written),
                    qv(&format!("{first} {last}"))
                )
            }
        }
        "iban" => {
            let (written, compact) = iban(rng);
            planted.push(exact("iban", written.clone()));
            planted.push(derived("iban compact", compact));
            format!("/billing/iban/{}", seg(rng, &written))
        }
        "ssn" => {
            let n = ssn(rng);
            planted.push(exact("ssn", n.clone()));
            format!("/hr/employees/{}/record", seg(rng, &n))
        }
        "phone" => {
            let (written, digits) = phone(rng);
            planted.push(exact("phone", written.clone()));
            planted.push(derived("phone digits", digits));
            format!("/contacts/{}", seg(rng, &written))
        }
        "ip" => {
            let (written, addr) = ip(rng);
            planted.push(exact("ip", written.clone()));
            planted.push(exact("ip address", addr));
            format!("/admin/sessions/{}", seg(rng, &written))
        }
        other => panic!("no URL shape {other:?}"),
    };
    let session = rng.token(32);
    planted.push(exact("session", session.clone()));
    let mut headers = vec![
        (
            "cookie",
            format!("JSESSIONID={session}; atlassian.xsrf.token={}", rng.token(24)),
        ),
        (
            "referer",
            format!("https://{}/wiki/display/~{}.{}", s.host, p.first, p.last),
        ),
        ("user-agent", format!("Mozilla/5.0 ({} {}'s laptop)", first, last)),
    ];
    if rng.one_in(2) {
        headers.push(("authorization", format!("JWT {jwt}")));
    }
    if rng.one_in(3) {
        let (_, addr) = ip(rng);
        headers.push(("x-forwarded-for", addr));
    }
    if method == "POST" {
        headers.push(("content-type", "application/json".to_owned()));
    }
    let mut g = GenRequest {
        shape,
        method,
        uri,
        headers,
        body,
        planted,
    };
    // Only what the request really carries (and other forms of it).
    let text = g.text();
    g.planted.retain(|p| p.derived || holds(&text, p));
    g
}

/// `n` requests from `seed`.
pub fn batch(seed: u64, n: usize) -> Vec<GenRequest> {
    let mut rng = Rng::new(seed);
    (0..n).map(|_| request(&mut rng)).collect()
}
