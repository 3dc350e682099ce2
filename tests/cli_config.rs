//! The operator's configuration as the real `privlog` binary reads it: the
//! `cli` feature builds every sink type, so the README's own example checks
//! as written (its directories moved to a temporary one).

mod support;

use support::cli::{all_output, check};
use support::files::TempDir;

/// The README's configuration example: the first `toml` block after
/// "## Operator configuration".
fn readme_config() -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("read README");
    let section = readme
        .split("## Operator configuration")
        .nth(1)
        .expect("the README has an operator configuration section");
    let block = section.split("```toml\n").nth(1).expect("a toml block");
    block.split("```").next().expect("closed block").to_owned()
}

/// The Cargo features `feature` turns on, itself included, followed
/// through the manifest's `[features]` table.
fn features_of(feature: &str) -> Vec<String> {
    let manifest: toml::Table = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
        .expect("read Cargo.toml")
        .parse()
        .expect("Cargo.toml parses");
    let table = manifest["features"].as_table().expect("[features]");
    let mut out = vec![feature.to_owned()];
    let mut i = 0;
    while i < out.len() {
        let enables = table
            .get(&out[i])
            .and_then(|v| v.as_array())
            .cloned()
            .unwrap_or_default();
        for f in enables.iter().filter_map(|v| v.as_str()) {
            if !f.starts_with("dep:") && !out.iter().any(|o| o == f) {
                out.push(f.to_owned());
            }
        }
        i += 1;
    }
    out
}

#[test]
fn the_cli_feature_builds_every_sink_type() {
    let cli = features_of("cli");
    for sink_feature in ["http", "syslog-tls"] {
        assert!(
            cli.iter().any(|f| f == sink_feature),
            "`cli` must enable `{sink_feature}` so the command line understands every sink type: {cli:?}"
        );
    }
}

#[test]
fn privlog_check_accepts_the_readme_example() {
    let dir = TempDir::new("readme-config");
    let root = dir.display().to_string();
    // The directories an operator creates for the service.
    for d in ["log", "lib"] {
        std::fs::create_dir(dir.join(d)).expect("create dir");
    }
    let text = readme_config()
        .replace("/var/log/myapp", &format!("{root}/log"))
        .replace("/var/lib/myapp", &format!("{root}/lib"));
    assert!(text.contains("type = \"http\""), "the example has an http sink: {text}");
    let key = "ab".repeat(32);
    let out = check(&dir, &text, &[("PRIVLOG_KEY", &key)]);
    let shown = all_output(&out);
    assert!(out.status.success(), "check failed: {shown}");
    assert!(!shown.contains("unknown variant"), "{shown}");
    assert!(shown.contains("http"), "the http sink is described: {shown}");
}
