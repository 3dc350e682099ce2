use proptest::prelude::*;

use super::*;

/// The common first and last names of `testdata/names.txt`.
pub(crate) fn names() -> Vec<&'static str> {
    include_str!("testdata/names.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

#[test]
fn detect_table_true_positives() {
    let cases = [
        ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln", Kind::Jwt),
        ("jane.doe@example.com", Kind::Email),
        ("557058:f0e1d2c3-b4a5-4697-8899-aabbccddeeff", Kind::AccountId),
        ("5b10ac8d82e05b22cc7d4ef5", Kind::AccountId),
        ("~557058:3f2a1b9c-0d4e-4f5a-8b6c-7d8e9f0a1b2c", Kind::AccountId),
        ("~5b10ac8d82e05b22cc7d4ef5", Kind::AccountId),
        ("f0e1d2c3-b4a5-4697-8899-aabbccddeeff", Kind::Uuid),
        ("203.0.113.9", Kind::Ip),
        ("10.1.2.3:8080", Kind::Ip),
        ("2001:db8::1", Kind::Ip),
        ("[2001:db8::1]:443", Kind::Ip),
        ("[2001:db8::1]", Kind::Ip),
        ("::ffff:203.0.113.9", Kind::Ip),
        ("fe80::1%eth0", Kind::Ip),
        ("4111111111111111", Kind::Card),
        ("4111-1111-1111-1111", Kind::Card),
        ("4111 1111 1111 1111", Kind::Card),
        ("3782 822463 10005", Kind::Card),
        ("GB82 WEST 1234 5698 7654 32", Kind::Iban),
        ("GB82WEST12345698765432", Kind::Iban),
        ("DE89370400440532013000", Kind::Iban),
        ("de89 3704 0044 0532 0130 00", Kind::Iban),
        ("078-05-1120", Kind::NationalId),
        ("+44 20 7946 0958", Kind::Phone),
        ("+442079460958", Kind::Phone),
        ("+1 (555) 010-4477", Kind::Phone),
        ("+49-30-1234567", Kind::Phone),
        ("(555) 010-4477", Kind::Phone),
        ("555-010-4477", Kind::Phone),
        ("555.010.4477", Kind::Phone),
        ("1-555-010-4477", Kind::Phone),
        ("020 7946 0958", Kind::Phone),
        ("0044 20 7946 0958", Kind::Phone),
        ("JIRAUSER10100", Kind::UserKey),
        ("jirauser10100", Kind::UserKey),
        ("~JIRAUSER10100", Kind::UserKey),
        ("~jane.doe", Kind::Handle),
        ("@jdoe", Kind::Handle),
        ("~Jürgen", Kind::Handle),
        ("acme.atlassian.net", Kind::Host),
        ("ACME.Atlassian.NET:443", Kind::Host),
        ("acme.jira.com", Kind::Host),
        ("wiki.acme.atlassian.com", Kind::Host),
        ("example.com", Kind::Host),
        ("intranet.acme.corp", Kind::Host),
        ("sk_live_51HxTzQ2eZvKYlo2C8nR4u7Wq", Kind::Token),
        ("9f86d081884c7d659a2feaa0c55ad015", Kind::Token),
        ("10042", Kind::Number),
    ];
    for (value, kind) in cases {
        assert_eq!(detect(value), Some(kind), "{value}");
        assert_eq!(detect_bytes(value.as_bytes()), Some(kind), "{value}");
    }
}

#[test]
fn detect_table_false_positives() {
    for value in [
        "",
        "~",
        "@",
        "api",
        "getting-started",
        "2",
        "v2",
        "release-notes-2026",
        "app.min.js",
        "jquery.ui.min.js",
        "readme.md",
        "robots.txt",
        "favicon.ico",
        "viewpage.action",
        "ViewProfile.jspa",
        "1.2.3",
        "1.2.3.4.5",
        "256.1.1.1",
        "2026-11-22",
        "22.11.2026",
        "2026-11-22T09:30:00",
        "09:30:00",
        "4111-1111-1111-1112",
        "4111 1111-1111 1111",
        "GB83 WEST 1234 5698 7654 32",
        "GB82 WEST 1234 5698 7654 3",
        "000-12-3456",
        "666-12-3456",
        "912-34-5678",
        "123-00-4567",
        "123-45-0000",
        "123-456-78",
        "+0 20 7946 0958",
        "+44",
        "00 20 7946 0958",
        "JIRAUSER",
        "JIRAUSERx1",
        "JIRAUSER10100x",
        "www.example",
        "a.b",
        "-acme.atlassian.net",
        "ENG",
        "jane-doe",
        "jane",
        "Smith",
        "hello world",
    ] {
        assert_eq!(detect(value), None, "{value}");
    }
    assert_eq!(detect_bytes(b"\xff\xfe"), None);
    // No IBAN country (a token, though).
    assert!(!is_iban("XX82WEST12345698765432"));
    // Luhn-valid, but no card starts with 0.
    assert!(!is_card("0000000000000") && !is_card("0000 0000 0000 0000"));
}

#[test]
fn kinds_have_stable_placeholders() {
    let all: Vec<&str> = Kind::ALL.iter().map(|k| k.placeholder()).collect();
    assert_eq!(
        all,
        [
            "{jwt}",
            "{email}",
            "{account_id}",
            "{uuid}",
            "{ip}",
            "{card}",
            "{iban}",
            "{national_id}",
            "{phone}",
            "{user_key}",
            "{handle}",
            "{host}",
            "{token}",
            "{id}",
            "{text}"
        ]
    );
    assert_eq!(Kind::AccountId.name(), "account_id");
    assert_eq!(Kind::Number.to_string(), "{id}");
}

#[test]
fn vocabulary_and_extensions_are_sorted_lowercase_words() {
    for list in [&vocabulary::WORDS[..], &vocabulary::FILE_EXTENSIONS[..]] {
        assert!(list.windows(2).all(|w| w[0] < w[1]), "sorted, no duplicates");
        for w in list {
            assert!(is_word_shape(w) && !w.bytes().any(|b| b.is_ascii_uppercase()), "{w}");
            assert_eq!(detect(w), None, "a detector recognises the built-in word {w}");
        }
    }
    assert!(is_builtin_word("API") && is_builtin_word("getting-started") && !is_builtin_word("jane"));
    assert!(is_file_extension("PNG") && !is_file_extension("do"));
}

#[test]
fn no_common_name_is_a_builtin_word_or_extension() {
    let names = names();
    assert!(names.len() >= 200, "{} names", names.len());
    for name in names {
        assert!(!is_builtin_word(name), "{name} is in the vocabulary");
        assert!(!is_file_extension(name), "{name} is a file extension");
    }
}

#[test]
fn iban_and_tld_tables_are_sorted_for_binary_search() {
    assert!(numbers::IBAN_LENGTHS.windows(2).all(|w| w[0].0 < w[1].0));
    assert!(net::TLDS.windows(2).all(|w| w[0] < w[1]));
    // Registry examples of several lengths.
    for iban in [
        "NO9386011117947",
        "BE68539007547034",
        "FR1420041010050500013M02606",
        "MT84MALT011000012345MTLCAST001S",
    ] {
        assert!(is_iban(iban), "{iban}");
    }
}

#[test]
fn rules_compile_and_name_the_first_matching_rule() {
    let rules = RuleSet {
        rules: vec![
            Rule::new("issue key", r"^[A-Z][A-Z0-9]+-[0-9]+$", "{issue}"),
            Rule::new("order", r"(?i)^ord[0-9]{4,}$", "{order}"),
            Rule::new("any key", r"-[0-9]+$", "{key}"),
        ],
        safe_words: vec!["Reports".into(), "my-app".into(), "reports".into()],
    }
    .compile()
    .expect("valid rules");
    assert_eq!(rules.rule_count(), 3);
    assert_eq!(rules.placeholder_for("ENG-42"), Some("{issue}"));
    assert_eq!(rules.placeholder_for("ord12345"), Some("{order}"));
    assert_eq!(rules.placeholder_for("x-1"), Some("{key}"));
    assert_eq!(rules.placeholder_for("eng"), None);
    assert!(rules.is_safe_word("REPORTS") && rules.is_safe_word("my-app") && !rules.is_safe_word("my"));
    let empty = CompiledRules::empty();
    assert_eq!(empty.placeholder_for("ENG-42"), None);
    assert!(!empty.is_safe_word("reports"));
}

#[test]
fn matching_rule_gives_the_position_of_the_first_rule_that_matches() {
    let rules = RuleSet {
        rules: vec![
            Rule::new("issue key", r"^[A-Z][A-Z0-9]+-[0-9]+$", "{issue}"),
            Rule::new("any key", r"-[0-9]+$", "{key}"),
        ],
        safe_words: vec![],
    }
    .compile()
    .expect("valid rules");
    assert_eq!(rules.matching_rule("ENG-42"), Some(0));
    assert_eq!(rules.matching_rule("x-1"), Some(1));
    assert_eq!(rules.matching_rule("eng"), None);
    assert_eq!(CompiledRules::empty().matching_rule("ENG-42"), None);
}

#[test]
fn known_top_level_domains_and_customer_sites() {
    for host in [
        "example.com",
        "acme.atlassian.net",
        "intranet.corp.DE",
        "shop.example.io:8443",
        "a.b.org.",
    ] {
        assert!(has_known_tld(host), "{host}");
    }
    for host in [
        "backup.tar.gz",
        "q3.report.xlsx",
        "jane.doe",
        "localhost",
        "app.min.js",
        "com",
    ] {
        assert!(!has_known_tld(host), "{host}");
    }
    for host in [
        "acme.atlassian.net",
        "ACME.Atlassian.NET",
        "x.jira.com",
        "a.b.atlassian.com",
    ] {
        assert!(is_customer_site(host), "{host}");
    }
    for host in [
        "atlassian.net",
        "notatlassian.net",
        "acme.atlassian.net.evil.io",
        "example.com",
    ] {
        assert!(!is_customer_site(host), "{host}");
    }
}

#[test]
fn bad_rules_are_refused_with_the_rule_and_the_fix() {
    let compile = |rule: Rule| {
        RuleSet {
            rules: vec![rule],
            safe_words: vec![],
        }
        .compile()
        .map(|_| ())
        .unwrap_err()
    };
    let e = compile(Rule::new("", "x", "{x}"));
    assert_eq!(e, RuleError::EmptyName { position: 1 });
    assert!(e.to_string().contains("has no name; give it"), "{e}");
    let e = compile(Rule::new("ticket", "(unclosed", "{ticket}"));
    assert!(matches!(e, RuleError::BadPattern { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.starts_with("path rule \"ticket\" has a pattern that does not compile")
            && msg.contains("fix the regular expression")
            && !msg.contains('\n'),
        "{msg}"
    );
    for pattern in ["a*", "^", "x?", "\\b", "(?m)$", "a|"] {
        let e = compile(Rule::new("loose", pattern, "{loose}"));
        assert_eq!(e, RuleError::MatchesEmpty { name: "loose".into() }, "{pattern}");
        assert!(e.to_string().contains("matches the empty string"), "{e}");
    }
    for placeholder in [
        "issue",
        "{Issue}",
        "{}",
        "{1x}",
        "{a-b}",
        "{is sue}",
        "{aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa}",
    ] {
        let e = compile(Rule::new("issue", "x+", placeholder));
        assert_eq!(
            e,
            RuleError::BadPlaceholder {
                name: "issue".into(),
                placeholder: placeholder.into()
            },
            "{placeholder}"
        );
        assert!(e.to_string().contains("write it as `{lowercase_word}`"), "{e}");
    }
    let e = RuleSet {
        rules: vec![Rule::new("a", "x", "{x}"), Rule::new("a", "y", "{y}")],
        safe_words: vec![],
    }
    .compile()
    .map(|_| ())
    .unwrap_err();
    assert_eq!(e, RuleError::DuplicateName { name: "a".into() });
    let e = compile(Rule::new("long", "x".repeat(MAX_PATTERN_LEN + 1), "{x}"));
    assert!(matches!(e, RuleError::BadPattern { .. }), "{e:?}");
    let e = compile(Rule::new("huge", "\\w{1000}\\w{1000}\\w{1000}", "{x}"));
    assert!(matches!(e, RuleError::BadPattern { .. }), "{e:?}");
}

#[test]
fn bad_safe_words_are_refused_without_showing_secrets() {
    let compile = |w: &str| {
        RuleSet {
            rules: vec![],
            safe_words: vec![w.to_owned()],
        }
        .compile()
        .map(|_| ())
        .unwrap_err()
    };
    let e = compile("a/b");
    assert_eq!(
        e,
        RuleError::BadSafeWord {
            word: Some("a/b".into()),
            position: 1
        }
    );
    assert!(e.to_string().contains("use 1 to 64 letters"), "{e}");
    assert_eq!(
        compile(""),
        RuleError::BadSafeWord {
            word: Some(String::new()),
            position: 1
        }
    );
    let secret = "sk_live/51HxTzQ2eZvKYlo2C8nR4u7Wq";
    let e = compile(secret);
    assert_eq!(
        e,
        RuleError::BadSafeWord {
            word: None,
            position: 1
        }
    );
    assert!(!e.to_string().contains("51HxTz"), "{e}");
    let e = compile("jane.doe@example.com");
    assert!(!e.to_string().contains("jane"), "{e}");
    let e = compile("4111-1111-1111-1111");
    assert_eq!(
        e,
        RuleError::DetectedSafeWord {
            position: 1,
            kind: Kind::Card
        }
    );
    assert!(
        !e.to_string().contains("4111") && e.to_string().contains("{card}"),
        "{e}"
    );
}

#[test]
fn rule_sets_read_from_toml_shaped_data() {
    let set: RuleSet = serde_json::from_str(
        r#"{"rules":[{"name":"issue","pattern":"^[A-Z]+-[0-9]+$","placeholder":"{issue}"}],"safe_words":["reports"]}"#,
    )
    .expect("parses");
    assert_eq!(set.rules[0], Rule::new("issue", "^[A-Z]+-[0-9]+$", "{issue}"));
    assert!(serde_json::from_str::<RuleSet>(r#"{"rulez":[]}"#).is_err());
}

/// A digit string with its Luhn check digit appended.
fn with_luhn(body: &[u8]) -> Vec<u8> {
    let mut sum = 0;
    for (i, d) in body.iter().rev().enumerate() {
        let d = u32::from(*d);
        sum += if i % 2 == 0 {
            let t = d * 2;
            if t > 9 { t - 9 } else { t }
        } else {
            d
        };
    }
    let mut v = body.to_vec();
    v.push(u8::try_from((10 - sum % 10) % 10).unwrap());
    v
}

fn group(digits: &[u8], sep: Option<char>, size: usize) -> String {
    let s: Vec<String> = digits
        .chunks(size)
        .map(|c| c.iter().map(|d| char::from(b'0' + d)).collect())
        .collect();
    match sep {
        Some(c) => s.join(&c.to_string()),
        None => s.concat(),
    }
}

fn card_body() -> impl Strategy<Value = Vec<u8>> {
    (1u8..=9, prop::collection::vec(0u8..=9, 11..=17)).prop_map(|(first, rest)| {
        let mut v = vec![first];
        v.extend(rest);
        v
    })
}

fn separator() -> impl Strategy<Value = Option<char>> {
    prop_oneof![Just(None), Just(Some(' ')), Just(Some('-'))]
}

/// An IBAN of a registry country, with its check digits, and those digits.
fn iban() -> impl Strategy<Value = (String, u32)> {
    const COUNTRIES: [(&str, usize); 8] = [
        ("GB", 22usize),
        ("DE", 22),
        ("FR", 27),
        ("NL", 18),
        ("NO", 15),
        ("MT", 31),
        ("BE", 16),
        ("ES", 24),
    ];
    (
        prop::sample::select(&COUNTRIES[..]),
        prop::collection::vec(prop_oneof![3 => 0u8..=9, 1 => 10u8..=35], 30),
    )
        .prop_map(|((cc, len), chars)| {
            let bban: String = chars[..len - 4]
                .iter()
                .map(|&c| {
                    if c < 10 {
                        char::from(b'0' + c)
                    } else {
                        char::from(b'A' + c - 10)
                    }
                })
                .collect();
            let digits: String = format!("{bban}{cc}00")
                .chars()
                .map(|c| {
                    if c.is_ascii_digit() {
                        c.to_string()
                    } else {
                        (u32::from(c) - u32::from('A') + 10).to_string()
                    }
                })
                .collect();
            let rem = digits.bytes().fold(0u32, |r, b| (r * 10 + u32::from(b - b'0')) % 97);
            let check = 98 - rem;
            (format!("{cc}{check:02}{bban}"), check)
        })
}

fn spaced(s: &str) -> String {
    s.as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join(" ")
}

proptest! {
    #[test]
    fn valid_cards_are_detected(body in card_body(), sep in separator(), size in 4usize..=6) {
        let digits = with_luhn(&body);
        let s = group(&digits, sep, size);
        prop_assert!(is_card(&s), "{}", s);
        prop_assert_eq!(detect(&s), Some(Kind::Card), "{}", s);
    }

    #[test]
    fn cards_with_a_wrong_check_digit_are_not(body in card_body(), sep in separator(), off in 1u8..=9) {
        let mut digits = with_luhn(&body);
        let last = digits.len() - 1;
        digits[last] = (digits[last] + off) % 10;
        let s = group(&digits, sep, 4);
        prop_assert!(!is_card(&s), "{}", s);
        prop_assert_ne!(detect(&s), Some(Kind::Card), "{}", s);
    }

    #[test]
    fn valid_ibans_are_detected((iban, _) in iban(), spaces in any::<bool>(), lower in any::<bool>()) {
        let mut s = if spaces { spaced(&iban) } else { iban };
        if lower { s = s.to_ascii_lowercase(); }
        prop_assert!(is_iban(&s), "{}", s);
        prop_assert_eq!(detect(&s), Some(Kind::Iban), "{}", s);
    }

    #[test]
    fn ibans_with_wrong_check_digits_are_not((iban, check) in iban(), k in 1u32..97) {
        let wrong = 2 + (check - 2 + k) % 97;
        let s = format!("{}{wrong:02}{}", &iban[..2], &iban[4..]);
        prop_assert!(!is_iban(&s), "{}", s);
        prop_assert_ne!(detect(&s), Some(Kind::Iban), "{}", s);
    }

    #[test]
    fn issuable_ssns_are_detected(area in prop_oneof![1u32..=665, 667u32..=899], group in 1u32..=99, serial in 1u32..=9999) {
        let s = format!("{area:03}-{group:02}-{serial:04}");
        prop_assert_eq!(detect(&s), Some(Kind::NationalId), "{}", s);
    }

    #[test]
    fn unissuable_ssns_are_not(
        (area, group, serial) in prop_oneof![
            (prop_oneof![Just(0u32), Just(666), 900u32..=999], 1u32..=99, 1u32..=9999),
            (1u32..=665, Just(0u32), 1u32..=9999),
            (1u32..=665, 1u32..=99, Just(0u32)),
        ]
    ) {
        let s = format!("{area:03}-{group:02}-{serial:04}");
        prop_assert!(!is_ssn(&s), "{}", s);
        prop_assert_ne!(detect(&s), Some(Kind::NationalId), "{}", s);
    }

    #[test]
    fn written_phone_numbers_are_detected(
        phone in prop_oneof![
            ("[1-9][0-9]{0,2}", "[0-9]{2,4}", "[0-9]{3,4}", "[0-9]{3,4}", "[ .-]").prop_map(|(cc, a, b, c, s)| format!("+{cc} {a}{s}{b}{s}{c}")),
            "\\+[1-9][0-9]{7,14}",
            ("[2-9][0-9]{2}", "[0-9]{3}", "[0-9]{4}").prop_map(|(a, b, c)| format!("({a}) {b}-{c}")),
            ("[2-9][0-9]{2}", "[0-9]{3}", "[0-9]{4}", "[ .-]").prop_map(|(a, b, c, s)| format!("{a}{s}{b}{s}{c}")),
            ("[1-9][0-9]{1,2}", "[0-9]{3}", "[0-9]{4}").prop_map(|(a, b, c)| format!("0{a} {b} {c}")),
        ]
    ) {
        prop_assert!(is_phone(&phone), "{}", phone);
        prop_assert!(matches!(detect(&phone), Some(Kind::Phone | Kind::NationalId | Kind::Card)), "{}", phone);
    }

    #[test]
    fn dates_times_and_versions_are_not_phone_numbers(
        s in prop_oneof![
            (1900u32..2100, 1u32..=12, 1u32..=31).prop_map(|(y, m, d)| format!("{y}-{m:02}-{d:02}")),
            (1900u32..2100, 1u32..=12, 1u32..=31).prop_map(|(y, m, d)| format!("{d:02}.{m:02}.{y}")),
            (1900u32..2100, 1u32..=12, 1u32..=31).prop_map(|(y, m, d)| format!("{m:02}/{d:02}/{y}")),
            (0u32..24, 0u32..60, 0u32..60).prop_map(|(h, m, s)| format!("{h:02}:{m:02}:{s:02}")),
            (0u32..100, 0u32..100, 0u32..1000).prop_map(|(a, b, c)| format!("{a}.{b}.{c}")),
            (0u32..100, 0u32..100, 0u32..100, 0u32..100).prop_map(|(a, b, c, d)| format!("v{a}.{b}.{c}-{d}")),
        ]
    ) {
        prop_assert!(!is_phone(&s), "{}", s);
        prop_assert_ne!(detect(&s), Some(Kind::Phone), "{}", s);
    }

    #[test]
    fn ip_addresses_are_detected(ip in any::<std::net::IpAddr>(), port in proptest::option::of(any::<u16>()), mapped in any::<std::net::Ipv4Addr>()) {
        let s = match (ip, port) {
            (std::net::IpAddr::V4(v4), Some(p)) => format!("{v4}:{p}"),
            (std::net::IpAddr::V6(v6), Some(p)) => format!("[{v6}]:{p}"),
            (ip, None) => ip.to_string(),
        };
        prop_assert!(is_ip(&s), "{}", s);
        prop_assert_eq!(detect(&s), Some(Kind::Ip), "{}", s);
        let m = format!("::ffff:{mapped}");
        prop_assert_eq!(detect(&m), Some(Kind::Ip), "{}", m);
    }

    #[test]
    fn near_ip_addresses_are_not(octets in prop::array::uniform4(0u16..=255), extra in 0u16..=255, big in 256u16..=999) {
        let [a, b, c, d] = octets;
        for s in [format!("{a}.{b}.{c}.{d}.{extra}"), format!("{a}.{b}.{c}.{big}"), format!("{a}.{b}.{c}.{d}:70000")] {
            prop_assert!(!is_ip(&s), "{}", s);
            prop_assert_ne!(detect(&s), Some(Kind::Ip), "{}", s);
        }
    }

    #[test]
    fn host_names_are_detected(
        labels in prop::collection::vec("[a-z][a-z0-9-]{0,10}[a-z0-9]", 1..4),
        site in prop::sample::select(&CUSTOMER_SITE_DOMAINS[..]),
        tld in prop::sample::select(&["com", "net", "org", "io", "de", "co.uk"][..]),
        upper in any::<bool>(),
    ) {
        let sub = labels.join(".");
        for mut s in [format!("{sub}.{site}"), format!("{sub}.{tld}")] {
            if upper { s = s.to_ascii_uppercase(); }
            prop_assert!(is_host(&s), "{}", s);
            prop_assert_eq!(detect(&s), Some(Kind::Host), "{}", s);
        }
    }

    #[test]
    fn file_names_and_versions_are_not_hosts(
        stem in prop::collection::vec("[a-z][a-z0-9]{0,8}", 1..4),
        ext in prop::sample::select(&vocabulary::FILE_EXTENSIONS[..]),
        version in prop::collection::vec(0u32..100, 2..5),
    ) {
        let file = format!("{}.{ext}", stem.join("."));
        prop_assert!(!is_host(&file), "{}", file);
        let v = version.iter().map(u32::to_string).collect::<Vec<_>>().join(".");
        prop_assert!(!is_host(&v), "{}", v);
    }

    #[test]
    fn handles_and_user_keys_are_detected(name in "[a-zA-Z][a-zA-Z0-9._-]{0,20}", digits in "[0-9]{1,8}", prefix in prop::sample::select(&["~", "@"][..]), key_case in "[jJ][iI][rR][aA][uU][sS][eE][rR]") {
        let handle = format!("{prefix}{name}");
        prop_assert_eq!(detect(&handle), Some(Kind::Handle), "{}", handle);
        let key = format!("{key_case}{digits}");
        prop_assert_eq!(detect(&key), Some(Kind::UserKey), "{}", key);
        let personal = format!("~{key}");
        prop_assert_eq!(detect(&personal), Some(Kind::UserKey), "{}", personal);
        let near = format!("{key_case}{digits}x");
        prop_assert_ne!(detect(&near), Some(Kind::UserKey), "{}", near);
    }

    #[test]
    fn account_ids_and_uuids_are_detected(prefix in 1u32..=999_999, id in "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", hex in "[0-9a-f]{24}") {
        let account = format!("{prefix}:{id}");
        prop_assert_eq!(detect(&account), Some(Kind::AccountId));
        prop_assert_eq!(detect(&format!("~{account}")), Some(Kind::AccountId));
        prop_assert_eq!(detect(&hex), Some(Kind::AccountId));
        prop_assert_eq!(detect(&format!("~{hex}")), Some(Kind::AccountId));
        prop_assert_eq!(detect(&id), Some(Kind::Uuid));
        prop_assert_ne!(detect(&id[1..]), Some(Kind::Uuid));
    }

    #[test]
    fn emails_are_detected(local in "[a-z][a-z0-9._+-]{0,12}", domain in "[a-z][a-z0-9-]{0,10}\\.[a-z]{2,6}") {
        prop_assert_eq!(detect(&format!("{local}@{domain}")), Some(Kind::Email));
        let near = format!("{local}@{}", domain.replace('.', ""));
        prop_assert_ne!(detect(&near), Some(Kind::Email), "{}", near);
    }

    #[test]
    fn plain_words_are_passed_over_only_where_no_detector_finds_anything(s in "[a-zA-Z_-]{0,24}") {
        prop_assert_eq!(detect(&s), crate::policy::detect::detect_each(&s), "{}", s);
    }

    #[test]
    fn detectors_never_panic(s in "\\PC{0,80}", b in prop::collection::vec(any::<u8>(), 0..80)) {
        let _ = detect(&s);
        let _ = detect_bytes(&b);
    }
}
