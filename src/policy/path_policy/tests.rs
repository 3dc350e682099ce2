use proptest::prelude::*;

use super::*;
use crate::policy::detect::{Rule, RuleSet};

/// The common first and last names of the detectors' test data.
fn names() -> Vec<&'static str> {
    include_str!("../detect/testdata/names.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

fn allow(raw: &str) -> String {
    with(
        PathPolicy::Allowlist,
        &CompiledRules::empty(),
        &LearnedLiterals::new(),
        raw,
    )
}

fn with(policy: PathPolicy, rules: &CompiledRules, learned: &LearnedLiterals, raw: &str) -> String {
    let mut out = String::new();
    write_safe_path(raw, policy, rules, learned, &mut out);
    out
}

#[test]
fn utility_paths_keep_their_words_under_the_allowlist() {
    for (raw, want) in [
        ("/", "/"),
        ("", "/"),
        ("/assets/app.js", "/assets/app.js"),
        ("/static/app.min.js", "/static/app.min.js"),
        ("/docs/getting-started", "/docs/getting-started"),
        ("/api/v2/settings", "/api/v2/settings"),
        ("/robots.txt", "/robots.txt"),
        ("/favicon.ico", "/favicon.ico"),
        ("/health", "/health"),
        ("/rest/api/2/issue/10042", "/rest/api/2/issue/{id}"),
        ("/wiki/spaces/ENG/pages/123", "/wiki/spaces/{text}/pages/{id}"),
        (
            "/wiki/spaces/ENG/pages/123/Meeting+Notes",
            "/wiki/spaces/{text}/pages/{id}/{text}",
        ),
        (
            "/plugins/servlet/atlassian-connect/lifecycle/installed",
            "/plugins/servlet/atlassian-connect/lifecycle/installed",
        ),
        ("/confluence/pages/viewpage.action", "/confluence/pages/viewpage.action"),
        ("/jira/secure/ViewProfile.jspa", "/jira/secure/ViewProfile.jspa"),
        ("/API/V2//Settings/", "/API/V2//Settings/"),
        ("/%61pi/v2", "/api/v2"),
        ("/images/logo.png", "/images/logo.png"),
        ("/images/team-photo.jpg", "/images/{text}.jpg"),
    ] {
        assert_eq!(allow(raw), want, "{raw}");
    }
}

#[test]
fn personal_data_in_paths_never_survives_the_allowlist() {
    for (raw, want) in [
        ("/display/~jane.doe", "/display/{handle}"),
        ("/u/jane-doe", "/u/{text}"),
        ("/people/jane/doe", "/people/{text}/{text}"),
        ("/jira/secure/ViewProfile.jspa?name=jdoe", "/jira/secure/{text}"),
        ("/display/~5b10ac8d82e05b22cc7d4ef5", "/display/{account_id}"),
        (
            "/display/~557058:3f2a1b9c-0d4e-4f5a-8b6c-7d8e9f0a1b2c/overview",
            "/display/{account_id}/overview",
        ),
        (
            "/secure/ViewProfile.jspa/JIRAUSER10100",
            "/secure/ViewProfile.jspa/{user_key}",
        ),
        ("/billing/4111-1111-1111-1111", "/billing/{card}"),
        ("/users/078-05-1120", "/users/{national_id}"),
        ("/sites/acme.atlassian.net/settings", "/{text}/{host}/settings"),
        ("/profile/+44%2020%207946%200958", "/profile/{phone}"),
        ("/profile/+44 20 7946 0958", "/profile/{phone}"),
        ("/billing/GB82%20WEST%201234%205698%207654%2032", "/billing/{iban}"),
        ("/u/jane.png", "/u/{text}.png"),
        ("/u/jane@example.com", "/u/{email}"),
        ("/client/10.1.2.3:8080", "/client/{ip}"),
        ("/client/%5B2001:db8::1%5D:443", "/client/{ip}"),
        ("/client/::ffff:203.0.113.9", "/client/{ip}"),
        ("/users/@jdoe", "/users/{handle}"),
        ("/files/4111111111111111.pdf", "/files/{token}"),
        ("/files/4111-1111-1111-1111.pdf", "/files/{card}.pdf"),
        ("/wiki/Caf%C3%A9", "/wiki/{text}"),
        ("/x/%FF%FE", "/x/{text}"),
    ] {
        let got = allow(raw);
        assert_eq!(got, want, "{raw}");
    }
    for leak in [
        "jane", "doe", "jdoe", "5b10ac8d", "557058", "JIRAUSER", "4111", "078", "acme", "7946", "WEST", "Caf",
    ] {
        for raw in [
            "/display/~jane.doe",
            "/u/jane-doe",
            "/people/jane/doe",
            "/jira/secure/ViewProfile.jspa?name=jdoe",
        ] {
            assert!(!allow(raw).contains(leak), "{raw}");
        }
    }
}

#[test]
fn learned_literals_and_operator_words_are_kept() {
    let mut learned = LearnedLiterals::new();
    assert_eq!(learned.insert_template("/wiki/spaces/ENG/pages/{id}"), 4);
    assert_eq!(
        learned.insert_template("/wiki/spaces/eng/:page/*rest/{*tail}/v{n}/x.{ext}"),
        0
    );
    assert!(learned.contains("eng") && learned.contains("ENG") && !learned.contains("{id}"));
    let rules = RuleSet {
        rules: vec![Rule::new("issue key", "^[A-Z][A-Z0-9]+-[0-9]+$", "{issue}")],
        safe_words: vec!["Backstage".into()],
    }
    .compile()
    .expect("valid rules");
    let got = with(
        PathPolicy::Allowlist,
        &rules,
        &learned,
        "/wiki/spaces/ENG/pages/123/backstage/PROJ-42/jane",
    );
    assert_eq!(got, "/wiki/spaces/ENG/pages/{id}/backstage/{issue}/{text}");
    // Without them, the same path keeps only the vocabulary.
    let got = with(
        PathPolicy::Allowlist,
        &CompiledRules::empty(),
        &LearnedLiterals::new(),
        "/wiki/spaces/ENG/backstage/PROJ-42",
    );
    assert_eq!(got, "/wiki/spaces/{text}/{text}/{text}");
}

#[test]
fn learned_literals_are_bounded_and_plain() {
    let mut learned = LearnedLiterals::new();
    // Numbers, hosts, long and non-word segments are not learned.
    assert_eq!(learned.insert_template("/2024/acme.atlassian.net/a%20b/~x/@y"), 0);
    assert_eq!(
        learned.insert_template(&format!("/{}", "a".repeat(MAX_SEGMENT_LEN + 1))),
        0
    );
    for i in 0..MAX_LEARNED_LITERALS + 10 {
        learned.insert_template(&format!("/w{i}x"));
    }
    assert_eq!(learned.len(), MAX_LEARNED_LITERALS);
    assert_eq!(learned.insert_template("/brand-new"), 0);
    assert!(!learned.contains("brand-new"));
}

#[test]
fn template_only_keeps_nothing_of_the_raw_path() {
    let rules = CompiledRules::empty();
    let learned = LearnedLiterals::new();
    for (raw, want) in [
        ("/api/v2/settings", "/{text}/{text}/{text}"),
        (
            "/display/~jane.doe/4111-1111-1111-1111/123/",
            "/{text}/{handle}/{card}/{id}/",
        ),
        ("/robots.txt", "/{text}"),
        ("/", "/"),
    ] {
        assert_eq!(with(PathPolicy::TemplateOnly, &rules, &learned, raw), want, "{raw}");
    }
}

#[test]
fn scrub_is_the_earlier_denylist() {
    let (rules, learned) = (CompiledRules::empty(), LearnedLiterals::new());
    for raw in [
        "/u/jane-doe",
        "/users/jane%40example.com/pages/12345",
        "/a/557058:f0e1d2c3-b4a5-4697-8899-aabbccddeeff",
    ] {
        let mut out = String::new();
        let id = write_safe_path(raw, PathPolicy::Scrub, &rules, &learned, &mut out);
        let want = crate::policy::scrub_path(raw);
        assert_eq!(out, want.path);
        assert_eq!(id, want.account_id);
    }
}

#[test]
fn the_first_account_id_is_returned_decoded() {
    let (rules, learned) = (CompiledRules::empty(), LearnedLiterals::new());
    for (raw, want) in [
        (
            "/a/557058%3Af0e1d2c3-b4a5-4697-8899-aabbccddeeff/x/5b10ac8d82e05b22cc7d4ef5",
            "557058:f0e1d2c3-b4a5-4697-8899-aabbccddeeff",
        ),
        ("/display/~5b10ac8d82e05b22cc7d4ef5", "5b10ac8d82e05b22cc7d4ef5"),
        ("/display/%7E5b10ac8d82e05b22cc7d4ef5", "5b10ac8d82e05b22cc7d4ef5"),
    ] {
        for policy in [PathPolicy::Allowlist, PathPolicy::TemplateOnly] {
            let mut out = String::new();
            let id = write_safe_path(raw, policy, &rules, &learned, &mut out);
            assert_eq!(id.as_deref(), Some(want), "{raw}");
        }
    }
    let mut out = String::new();
    assert_eq!(
        write_safe_path("/api/v2", PathPolicy::Allowlist, &rules, &learned, &mut out),
        None
    );
}

#[test]
fn many_segments_are_capped() {
    let raw = "/api".repeat(10_000);
    let got = allow(&raw);
    assert_eq!(got.matches('/').count(), MAX_SEGMENTS + 1);
    assert!(got.ends_with("/…"));
    let long = format!("/{}", "getting-started-".repeat(8));
    assert_eq!(allow(&long), "/{text}");
}

#[test]
fn path_policies_read_their_lowercase_names() {
    #[derive(Deserialize)]
    struct P {
        p: PathPolicy,
    }
    for (name, want) in [
        ("allowlist", PathPolicy::Allowlist),
        ("template-only", PathPolicy::TemplateOnly),
        ("scrub", PathPolicy::Scrub),
    ] {
        let got: P = serde_json::from_str(&format!("{{\"p\":\"{name}\"}}")).expect("parses");
        assert_eq!(got.p, want);
    }
    assert!(serde_json::from_str::<P>(r#"{"p":"Allowlist"}"#).is_err());
    assert_eq!(PathPolicy::default(), PathPolicy::Allowlist);
}

#[test]
fn a_warm_call_allocates_nothing() {
    let rules = RuleSet {
        rules: vec![Rule::new("issue key", "^[A-Z][A-Z0-9]+-[0-9]+$", "{issue}")],
        safe_words: vec!["backstage".into()],
    }
    .compile()
    .expect("valid rules");
    let mut learned = LearnedLiterals::new();
    learned.insert_template("/wiki/spaces/ENG/pages/{id}");
    let raw = "/wiki/spaces/ENG/pages/123/PROJ-42/~jane.doe/%7Ejane/u/jane.png/4111-1111-1111-1111/acme.atlassian.net/\
               +44%2020%207946%200958/assets/app.min.js/docs/getting-started/a/557058:f0e1d2c3-b4a5-4697-8899-aabbccddeeff";
    let mut out = String::with_capacity(1024);
    for _ in 0..3 {
        out.clear();
        write_safe_path(raw, PathPolicy::Allowlist, &rules, &learned, &mut out);
    }
    let allocations = allocation_counter::measure(|| {
        out.clear();
        let id = write_safe_path(raw, PathPolicy::Allowlist, &rules, &learned, &mut out);
        assert!(id.is_some());
        out.clear();
        write_safe_path(raw, PathPolicy::TemplateOnly, &rules, &learned, &mut out);
    })
    .count_total;
    assert_eq!(allocations, 0);
    assert!(
        out.starts_with("/{text}/{text}/{text}/{text}/{id}/{issue}/{handle}"),
        "{out}"
    );
}

#[test]
fn the_allocation_counter_counts_this_thread() {
    let n = allocation_counter::measure(|| drop(std::hint::black_box(Box::new(1u64)))).count_total;
    assert_eq!(n, 1);
}

/// A path segment from the safe vocabulary, a name, or a mix.
fn segment(names: &'static [&'static str]) -> impl Strategy<Value = String> {
    let name = prop::sample::select(names).prop_map(str::to_owned);
    let word = prop::sample::select(crate::policy::detect::vocabulary_words()).prop_map(str::to_owned);
    prop_oneof![
        2 => word.clone(),
        2 => name.clone(),
        1 => (name.clone(), name.clone(), prop::sample::select(&[".", "-", "_", "%20", "+", "%2E"][..])).prop_map(|(a, b, s)| format!("{a}{s}{b}")),
        1 => (word.clone(), name.clone(), prop::sample::select(&[".", "-", "_"][..])).prop_map(|(a, b, s)| format!("{a}{s}{b}")),
        1 => (name.clone(), prop::sample::select(&["png", "js", "json", "pdf", "html"][..])).prop_map(|(a, e)| format!("{a}.{e}")),
        1 => (prop::sample::select(&["~", "@", "%7E", "%40"][..]), name.clone()).prop_map(|(p, a)| format!("{p}{a}")),
        1 => (name.clone(), any::<bool>()).prop_map(|(a, up)| if up { a.to_ascii_uppercase() } else { capitalize(&a) }),
        1 => name.prop_map(|a| a.bytes().map(|b| format!("%{b:02X}")).collect()),
    ]
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// Whether `word` (a name, lower case) appears in `out` as a whole word,
/// ignoring case: between non-letters.
fn contains_word(out: &str, word: &str) -> bool {
    let lower = out.to_ascii_lowercase();
    lower.split(|c: char| !c.is_ascii_alphabetic()).any(|w| w == word)
}

proptest! {
    #[test]
    fn no_name_survives_the_allowlist(segs in prop::collection::vec(segment(Box::leak(names().into_boxed_slice())), 1..12)) {
        let raw = format!("/{}", segs.join("/"));
        for policy in [PathPolicy::Allowlist, PathPolicy::TemplateOnly] {
            let out = with(policy, &CompiledRules::empty(), &LearnedLiterals::new(), &raw);
            for name in names() {
                prop_assert!(!contains_word(&out, name), "{} -> {} holds {}", raw, out, name);
            }
        }
    }

    #[test]
    fn the_output_holds_only_safe_words_and_placeholders(raw in "(/[a-zA-Z0-9._~%:@+-]{0,20}){0,12}") {
        let out = allow(&raw);
        prop_assert!(out.starts_with('/'));
        prop_assert!(out.matches('/').count() == raw.matches('/').count().max(1));
        let judge = Judge { rules: &CompiledRules::empty(), learned: &LearnedLiterals::new(), bare: Cell::new(MAX_BARE_CHARACTERS) };
        for seg in out.split('/') {
            let mut rest = seg.to_owned();
            for k in Kind::ALL {
                rest = rest.replace(k.placeholder(), "");
            }
            for part in rest.split(['.', '-', '_']) {
                let ok = part.is_empty()
                    || judge.is_safe_word(part)
                    || is_file_extension(part)
                    || part.eq_ignore_ascii_case("min")
                    || (part.len() == 1 && part.bytes().all(|b| b.is_ascii_alphanumeric()));
                prop_assert!(ok, "{} -> {}: {:?}", raw, out, part);
            }
        }
    }

    #[test]
    fn template_only_output_is_placeholders_only(raw in "(/[a-zA-Z0-9._~%:@+-]{0,20}){0,12}") {
        let mut out = with(PathPolicy::TemplateOnly, &CompiledRules::empty(), &LearnedLiterals::new(), &raw);
        for k in Kind::ALL {
            out = out.replace(k.placeholder(), "");
        }
        prop_assert!(out.bytes().all(|b| b == b'/'), "{}", out);
    }
}

#[test]
fn path_words_that_are_also_names_are_not_kept_alone() {
    for name in [
        "page", "Post", "root", "field", "link", "hook", "dev", "min", "ping", "ko",
    ] {
        assert_eq!(allow(&format!("/u/{name}")), "/u/{text}", "{name}");
        assert_eq!(allow(&format!("/u/{name}.png")), "/u/{text}.png", "{name}");
    }
    assert_eq!(allow("/static/app.min.js"), "/static/app.min.js");
    assert_eq!(allow("/static/jane.min.js"), "/static/{text}.min.js");
    assert_eq!(allow("/static/min.js"), "/static/{text}.js");
}

#[test]
fn a_number_spelled_one_digit_at_a_time_is_not_kept() {
    for (raw, want) in [
        ("/pay/4-1-1-1-1-1-1-1-1-1-1-1-1-1-1-1", "/pay/{text}"),
        ("/pay/4.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1", "/pay/{text}"),
        (
            "/pay/4_1_1_1/1_1_1_1/1_1_1_1/1_1_1_1",
            "/pay/4_1_1_1/{text}/{text}/{text}",
        ),
        ("/pay/4/1/1/1/1/1/1/1", "/pay/4/1/1/1/{id}/{id}/{id}/{id}"),
        ("/u/j/o/h/n/d/o/e", "/u/j/o/h/{text}/{text}/{text}/{text}"),
        ("/docs/1.2.3/a", "/docs/1.2.3/a"),
        ("/v/v1-2/app-1-2", "/v/v1-2/app-1-2"),
    ] {
        assert_eq!(allow(raw), want, "{raw}");
    }
}
