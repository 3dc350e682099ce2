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

/// Runs the `privlog` binary with `args` and an empty environment.
fn run(args: &[&std::ffi::OsStr]) -> std::process::Output {
    std::process::Command::new(support::cli::bin())
        .args(args)
        .env_clear()
        .output()
        .expect("run privlog")
}

#[test]
fn check_format_json_reports_the_sinks_by_name_or_the_problem_with_its_field() {
    let dir = TempDir::new("check-json");
    let log = dir.join("a.ndjson");
    let text = format!(
        "[[sinks]]\nname = \"audit-log\"\ntype = \"file\"\npath = {}\n[[sinks]]\ntype = \"stdout\"\n",
        support::cli::quoted(&log)
    );
    let file = dir.join("privlog.toml");
    std::fs::write(&file, &text).unwrap();
    let out = run(&["check".as_ref(), file.as_os_str(), "--format".as_ref(), "json".as_ref()]);
    assert_eq!(out.status.code(), Some(0), "{}", all_output(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(doc["ok"], true);
    assert_eq!(doc["problems"].as_array().map(Vec::len), Some(0));
    assert_eq!(doc["sinks"][0]["name"], "audit-log");
    assert_eq!(doc["sinks"][0]["type"], "file");
    assert_eq!(doc["sinks"][1]["name"], "stdout");

    std::fs::write(
        &file,
        "[[sinks]]\nname = \"app\"\ntype = \"tracing\"\nlevel = \"loud\"\n",
    )
    .unwrap();
    let out = run(&["check".as_ref(), file.as_os_str(), "--format".as_ref(), "json".as_ref()]);
    assert_eq!(out.status.code(), Some(2), "{}", all_output(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["problems"][0]["field"], "sinks.tracing.level");
    let reason = doc["problems"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("(sink `app`, index 0, [[sinks]] table at line 1, column 1)"),
        "{reason}"
    );
}

#[test]
fn exit_codes_tell_usage_errors_from_errors_and_findings_and_help_lists_them() {
    let dir = TempDir::new("exit-codes");
    // Usage error: an unknown option, a missing argument.
    for args in [&["check", "--no-such-option"][..], &["audit"][..], &[][..]] {
        let args: Vec<&std::ffi::OsStr> = args.iter().map(std::ffi::OsStr::new).collect();
        let out = run(&args);
        assert_eq!(out.status.code(), Some(64), "{args:?}: {}", all_output(&out));
    }
    // Error: the command could not do its work.
    let missing = dir.join("missing.toml");
    let out = run(&["check".as_ref(), missing.as_os_str()]);
    assert_eq!(out.status.code(), Some(2), "{}", all_output(&out));
    // Findings, and none.
    let clean = dir.join("clean.log");
    std::fs::write(&clean, "GET /health 200\n").unwrap();
    let leaky = dir.join("leaky.log");
    std::fs::write(&leaky, "GET /invite?to=alice.smith@example.com 200\n").unwrap();
    assert_eq!(run(&["audit".as_ref(), clean.as_os_str()]).status.code(), Some(0));
    assert_eq!(run(&["audit".as_ref(), leaky.as_os_str()]).status.code(), Some(1));
    // Every command's --help lists the statuses, and succeeds.
    for cmd in [&["--help"][..], &["check", "--help"][..], &["audit", "--help"][..]] {
        let args: Vec<&std::ffi::OsStr> = cmd.iter().map(std::ffi::OsStr::new).collect();
        let out = run(&args);
        assert_eq!(out.status.code(), Some(0), "{cmd:?}");
        let help = String::from_utf8_lossy(&out.stdout);
        for line in ["0   done", "1   findings", "2   error", "64  usage error"] {
            assert!(help.contains(line), "{cmd:?} --help lacks {line:?}: {help}");
        }
    }
}
