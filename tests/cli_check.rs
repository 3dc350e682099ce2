//! `privlog check` as the real binary over real files: every size, count
//! and duration is accepted at its bound and refused one past it, naming the
//! field, the value and the range; what `build` refuses, `check` refuses
//! under the same field, creating nothing; and no secret — the key, an
//! override's value, a header value, a URL's password — is ever printed.

mod support;

use std::path::Path;
use std::process::{Command, Output};

use privlog::config::Config;
use support::cli::{STDOUT, all_output, check, quoted};
use support::files::TempDir;

/// A configuration, its environment, and what the error must name.
type Case<'a> = (String, Vec<(&'a str, &'a str)>, &'a str);

#[test]
fn every_size_and_duration_passes_at_its_bound_and_is_refused_past_it() {
    let dir = TempDir::new("bounds");
    let spool = quoted(&dir.join("spool"));
    let logs = quoted(&dir.join("logs"));
    let http = format!("[[sinks]]\ntype = \"http\"\nendpoint = \"http://127.0.0.1:9/\"\nspool_dir = {spool}\n");
    let rolling = format!("[[sinks]]\ntype = \"rolling\"\ndir = {logs}\n");
    // (the table, its line with `{}` for the value, the value at the bound, one past it, the field)
    let cases = [
        (
            "pipeline",
            "queue_capacity = {}",
            "262144",
            "262145",
            "pipeline.queue_capacity",
        ),
        ("pipeline", "queue_capacity = {}", "1", "0", "pipeline.queue_capacity"),
        ("pipeline", "batch_size = {}", "16384", "16385", "pipeline.batch_size"),
        ("pipeline", "batch_size = {}", "1", "0", "pipeline.batch_size"),
        (
            "pipeline",
            "batch_size = 256\nsink_queue_batches = {}",
            "4096",
            "4097",
            "pipeline.sink_queue_batches",
        ),
        (
            "pipeline",
            "batch_size = 512\nsink_queue_batches = {}",
            "2048",
            "2049",
            "pipeline.sink_queue_batches",
        ),
        (
            "pipeline",
            "shutdown_timeout = \"{}\"",
            "1h",
            "3601s",
            "pipeline.shutdown_timeout",
        ),
        ("http", "timeout = \"{}\"", "1h", "3601s", "sinks.http.timeout"),
        ("http", "timeout = \"{}\"", "1ms", "0s", "sinks.http.timeout"),
        ("http", "max_in_flight = {}", "64", "65", "sinks.http.max_in_flight"),
        ("http", "max_in_flight = {}", "1", "0", "sinks.http.max_in_flight"),
        (
            "http",
            "max_buffered_records = {}",
            "262144",
            "262145",
            "sinks.http.max_buffered_records",
        ),
        (
            "http",
            "batch_max_records = {}",
            "65536",
            "65537",
            "sinks.http.batch_max_records",
        ),
        (
            "http",
            "batch_max_records = {}",
            "1",
            "0",
            "sinks.http.batch_max_records",
        ),
        (
            "http",
            "batch_max_bytes = {}",
            "67108864",
            "67108865",
            "sinks.http.batch_max_bytes",
        ),
        (
            "http",
            "batch_linger = \"{}\"",
            "1h",
            "3601s",
            "sinks.http.batch_linger",
        ),
        (
            "http",
            "retry_initial = \"{}\"",
            "1h",
            "3601s",
            "sinks.http.retry_initial",
        ),
        ("http", "retry_max = \"{}\"", "1h", "3601s", "sinks.http.retry_max"),
        (
            "http",
            "retry_after_max = \"{}\"",
            "24h",
            "86401s",
            "sinks.http.retry_after_max",
        ),
        (
            "http",
            "spool_max_bytes = {}",
            "1099511627776",
            "1099511627777",
            "sinks.http.spool_max_bytes",
        ),
        (
            "http",
            "spool_segment_bytes = {}",
            "67108864",
            "67108865",
            "sinks.http.spool_segment_bytes",
        ),
        (
            "http",
            "spool_segment_bytes = {}",
            "1024",
            "1023",
            "sinks.http.spool_segment_bytes",
        ),
        ("http", "spool_fsync = \"{}\"", "1h", "3601s", "sinks.http.spool_fsync"),
        (
            "rolling",
            "max_file_bytes = {}",
            "1099511627776",
            "1099511627777",
            "sinks.rolling.max_file_bytes",
        ),
        (
            "rolling",
            "max_files = {}",
            "100000",
            "100001",
            "sinks.rolling.max_files",
        ),
        ("rolling", "max_files = {}", "1", "0", "sinks.rolling.max_files"),
        (
            "rolling",
            "schedule = [{}, 0, 0]",
            "10000",
            "10001",
            "sinks.rolling.schedule",
        ),
        (
            "rolling",
            "max_age = \"{}\"",
            "36500d",
            "36501d",
            "sinks.rolling.max_age",
        ),
        ("rolling", "fsync = \"{}\"", "1h", "3601s", "sinks.rolling.fsync"),
    ];
    let config = |table: &str, line: &str, value: &str| {
        let line = line.replace("{}", value);
        match table {
            "pipeline" => format!("[pipeline]\n{line}\n{STDOUT}"),
            "http" => format!("{http}{line}\n"),
            _ => format!("{rolling}{line}\n"),
        }
    };
    for (table, line, at, past, field) in cases {
        let ok = check(&dir, &config(table, line, at), &[]);
        assert!(ok.status.success(), "{field} = {at}: {}", all_output(&ok));
        let bad = check(&dir, &config(table, line, past), &[]);
        assert_eq!(bad.status.code(), Some(2), "{field} = {past}: {}", all_output(&bad));
        let err = String::from_utf8_lossy(&bad.stderr);
        assert!(
            err.contains(&format!("invalid config field `{field}`"))
                && err.contains("is out of range; use a value from"),
            "{field} = {past}: {err}"
        );
        // The value is shown as written, or as the number of seconds.
        let shown = past.trim_end_matches(|c: char| c.is_ascii_alphabetic());
        assert!(err.contains(&format!(" = {shown}")), "{field} = {past}: {err}");
    }
    assert!(
        !dir.join("spool").exists() && !dir.join("logs").exists(),
        "check created nothing"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn check_refuses_under_the_same_field_what_build_refuses_and_creates_nothing() {
    let dir = TempDir::new("same");
    let a_file = dir.join("a-file");
    std::fs::write(&a_file, "not a directory").expect("write");
    let keys = dir.join("keys");
    std::fs::create_dir(&keys).expect("keys dir");
    let out = Command::new(support::cli::bin())
        .args(["keygen", "-o"])
        .arg(keys.join("2026-11.key"))
        .output()
        .expect("keygen");
    assert!(out.status.success(), "{}", all_output(&out));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    }
    let http = |extra: &str| format!("[[sinks]]\ntype = \"http\"\nendpoint = \"http://127.0.0.1:9/\"\n{extra}");
    let spool = dir.join("spool");
    let mut cases = vec![
        (
            format!(
                "[[sinks]]\ntype = \"rolling\"\ndir = {}\nprefix = \"../x\"\n",
                quoted(&dir.join("logs"))
            ),
            "sinks.rolling.prefix",
            "no path separators",
        ),
        (
            http("").replace("http://127.0.0.1:9/", "http://ops:hun#ter2@127.0.0.1:9/"),
            "sinks.http.endpoint",
            "credentials",
        ),
        (
            http(&format!("spool_dir = {}\n", quoted(&a_file))),
            "sinks.http.spool_dir",
            "is not a directory",
        ),
        (
            http(&format!("spool_dir = {}\n", quoted(&spool))).repeat(2),
            "sinks.http.spool_dir",
            "share the spool directory",
        ),
        (
            http(&format!("ca_file = {}\n", quoted(&a_file))),
            "sinks.http.ca_file",
            "no certificate",
        ),
        (
            format!(
                "[[sinks]]\ntype = \"file\"\npath = {}\n",
                quoted(&dir.join("missing/r.ndjson"))
            ),
            "sinks.file.path",
            "does not exist",
        ),
        (
            "[[sinks]]\ntype = \"syslog\"\ntransport = \"tcp\"\naddress = \"no-port\"\n".to_owned(),
            "sinks.syslog.address",
            "host:port",
        ),
    ];
    #[cfg(unix)]
    cases.push((
        format!("[key]\nfile = {}\n{STDOUT}", quoted(&keys)),
        "key.file",
        "(mode 0777)",
    ));
    for (text, field, why) in &cases {
        let out = check(&dir, text, &[]);
        assert_eq!(out.status.code(), Some(2), "{text}: {}", all_output(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("invalid config field `{field}`")),
            "{text}: {err}"
        );
        assert!(err.contains(why), "{text}: {err}");
        // Building from the same file fails on the same field.
        let built = Config::from_toml(text, Vec::<(String, String)>::new())
            .and_then(|c| c.build().map(drop))
            .expect_err("build refuses it too");
        assert!(
            built.to_string().contains(&format!("invalid config field `{field}`")),
            "{text}: {built}"
        );
    }
    #[cfg(unix)]
    {
        let out = check(&dir, &format!("[key]\nfile = {}\n{STDOUT}", quoted(&keys)), &[]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&format!("chmod go-w {}", keys.display())), "{err}");
    }
    assert!(!dir.join("logs").exists() && !spool.exists(), "check created nothing");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn check_never_prints_the_key_an_override_a_header_value_or_a_password() {
    let dir = TempDir::new("secrets");
    let key = "5f1e9c0b7a3d4e2f8a6b1c9d0e7f3a2b4c5d6e7f8091a2b3c4d5e6f708192a3b";
    let token = "dG9rLTlYcTItU2VjcmV0VmFsdWU";
    let http = "[[sinks]]\ntype = \"http\"\nendpoint = \"http://127.0.0.1:9/\"\n";
    let cases: Vec<Case> = vec![
        // The key where the variable's name belongs.
        (format!("[key]\nenv = \"{key}\"\n{STDOUT}"), vec![], "key.env"),
        // A one-character typo of PRIVLOG_KEY makes an override of `key`.
        (STDOUT.to_owned(), vec![("PRIVLOG__KEY", key)], "`key`"),
        // An override of the wrong type.
        (
            STDOUT.to_owned(),
            vec![("PRIVLOG__PIPELINE__BATCH_SIZE", token)],
            "pipeline.batch_size",
        ),
        (
            STDOUT.to_owned(),
            vec![("PRIVLOG__PIPELINE__SHUTDOWN_TIMEOUT", token)],
            "pipeline.shutdown_timeout",
        ),
        // A TOML syntax error on the line of a header value.
        (
            format!("{http}headers = {{ Authorization = \"Bearer {token}\" \n"),
            vec![],
            "line 4, column",
        ),
        // A password with `#` in the collector URL.
        (
            format!("[[sinks]]\ntype = \"http\"\nendpoint = \"http://ops:{token}#x@127.0.0.1:9/\"\n"),
            vec![],
            "sinks.http.endpoint",
        ),
        // The key variable holding something that is not a key.
        (
            format!("[key]\nenv = \"PRIVLOG_KEY\"\n{STDOUT}"),
            vec![("PRIVLOG_KEY", token)],
            "key.env",
        ),
    ];
    for (text, vars, names) in &cases {
        let out = check(&dir, text, vars);
        let all = all_output(&out);
        assert_eq!(out.status.code(), Some(2), "{all}");
        assert!(all.contains(names), "{all}");
        for secret in [key, token, &key[..16], &token[..12]] {
            assert!(!all.contains(secret), "{secret} printed: {all}");
        }
    }
    // A valid file with a header secret: the description shows neither it
    // nor the key.
    let ok = check(
        &dir,
        &format!("[key]\nenv = \"PRIVLOG_KEY\"\n{http}headers = {{ Authorization = \"Bearer {token}\" }}\n"),
        &[("PRIVLOG_KEY", key)],
    );
    let all = all_output(&ok);
    assert!(ok.status.success(), "{all}");
    assert!(!all.contains(token) && !all.contains(&key[..16]), "{all}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs `privlog check` on `text` with only `vars` (any bytes) in the environment.
#[cfg(unix)]
fn check_os(dir: &Path, text: &str, vars: &[(&[u8], &[u8])]) -> Output {
    use std::os::unix::ffi::OsStrExt as _;
    let file = dir.join("privlog.toml");
    std::fs::write(&file, text).expect("write config");
    Command::new(support::cli::bin())
        .arg("check")
        .arg(&file)
        .env_clear()
        .envs(
            vars.iter()
                .map(|(n, v)| (std::ffi::OsStr::from_bytes(n), std::ffi::OsStr::from_bytes(v))),
        )
        .output()
        .expect("run privlog check")
}

#[cfg(unix)]
#[test]
fn a_variable_that_is_not_utf8_is_ignored_or_refused_by_name_never_crashes_or_shows_its_value() {
    let dir = TempDir::new("not-utf8");
    let value: &[u8] = b"hunter2-S3cret-\xe9t\xe9";
    let shown = "hunter2-S3cret";
    // Not privlog's: left out, the check passes.
    let o = check_os(&dir, STDOUT, &[(b"DB_PASSWORD", value), (b"\xffODD_NAME", b"x")]);
    let out = all_output(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(!out.contains(shown), "{out}");
    // An override, the default key variable, a name that is not UTF-8
    // starting with PRIVLOG_, and the variable `key.env` names: refused,
    // naming the variable (when it can be shown), never the value.
    let keyed = format!("[key]\nenv = \"MY_KEY\"\n{STDOUT}");
    let cases: [(&str, &[u8], &str); 4] = [
        (STDOUT, b"PRIVLOG__POLICY__ROTATION", "PRIVLOG__POLICY__ROTATION"),
        (STDOUT, b"PRIVLOG_KEY", "PRIVLOG_KEY"),
        (STDOUT, b"PRIVLOG__\xff", "the name is not shown"),
        (&keyed, b"MY_KEY", "MY_KEY"),
    ];
    for (text, name, named) in cases {
        let o = check_os(&dir, text, &[(name, value)]);
        let out = all_output(&o);
        assert_eq!(o.status.code(), Some(2), "{named}: {out}");
        assert!(out.contains(named) && out.contains("not valid UTF-8"), "{named}: {out}");
        assert!(!out.contains(shown) && !out.contains("panicked"), "{named}: {out}");
    }
}

#[test]
fn a_key_where_a_syslog_path_or_a_sink_name_belongs_is_refused_without_being_shown() {
    let dir = TempDir::new("key-shaped-names");
    let key = "8348a1f0".repeat(8);
    let token = "s3cret-Token_9xQ2wE4rT6yU8iO";
    let logs = quoted(&dir.join("logs"));
    for secret in [key.as_str(), token] {
        let cases = [
            (
                format!(
                    "[[sinks]]\ntype = \"syslog\"\ntransport = \"tls\"\naddress = \"127.0.0.1:6514\"\nca_file = \"{secret}\"\n"
                ),
                "sinks.syslog.ca_file",
            ),
            (
                format!("[[sinks]]\ntype = \"syslog\"\ntransport = \"unix\"\naddress = \"{secret}\"\n"),
                "sinks.syslog.address",
            ),
            (
                format!("[[sinks]]\ntype = \"rolling\"\ndir = {logs}\nprefix = \"{secret}\"\n"),
                "sinks.rolling.prefix",
            ),
        ];
        for (text, field) in cases {
            let o = check(&dir, &text, &[]);
            let out = all_output(&o);
            assert_eq!(o.status.code(), Some(2), "{field}: {out}");
            assert!(
                out.contains(&format!("`{field}`")) && out.contains("not shown"),
                "{field}: {out}"
            );
            assert!(!out.contains(secret), "{field}: {out}");
        }
    }
    assert!(!dir.join("logs").exists(), "check creates nothing");
}

#[test]
fn a_file_path_ending_in_a_slash_is_refused_by_check_and_build_alike() {
    let dir = TempDir::new("trailing-slash");
    let file = format!("{}/", dir.join("x.ndjson").display());
    let mut cases = vec![(
        format!("[[sinks]]\ntype = \"file\"\npath = \"{file}\"\n"),
        "sinks.file.path",
    )];
    if cfg!(feature = "http") {
        cases.push((
            format!("[[sinks]]\ntype = \"http\"\nendpoint = \"http://127.0.0.1:9/\"\ndead_letter = \"{file}\"\n"),
            "sinks.http.dead_letter",
        ));
    }
    for (text, field) in cases {
        let o = check(&dir, &text, &[]);
        let out = all_output(&o);
        assert_eq!(o.status.code(), Some(2), "{field}: {out}");
        assert!(
            out.contains(&format!("`{field}`")) && out.contains("names a directory, not a file"),
            "{field}: {out}"
        );
        let built = Config::from_toml(&text, Vec::<(String, String)>::new()).and_then(|c| c.build().map(drop));
        let e = built.expect_err("build refuses it too").to_string();
        assert!(
            e.contains(&format!("`{field}`")) && e.contains("names a directory, not a file"),
            "{field}: {e}"
        );
        assert!(!dir.join("x.ndjson").exists(), "nothing is created");
    }
}

#[test]
fn check_shows_the_path_policy_and_its_warnings_and_names_a_bad_rule() {
    let dir = TempDir::new("paths");
    let rule = "[[policy.rules]]\nname = \"employee-id\"\npattern = '^E[0-9]{6}$'\nplaceholder = \"{employee}\"\n";
    let out = check(
        &dir,
        &format!("[policy]\npath = \"scrub\"\nsafe_words = [\"reports\"]\n{rule}{STDOUT}"),
        &[],
    );
    let all = all_output(&out);
    assert!(out.status.success(), "{all}");
    for shown in [
        "path policy:      scrub",
        "path rules:       employee-id -> {employee}",
        "safe words:       1",
        "privacy warning:  path policy `scrub`",
    ] {
        assert!(all.contains(shown), "{shown}: {all}");
    }
    let out = check(&dir, STDOUT, &[]);
    let all = all_output(&out);
    assert!(
        out.status.success() && all.contains("path policy:      allowlist"),
        "{all}"
    );
    assert!(!all.contains("privacy warning"), "{all}");
    let bad = "[[policy.rules]]\nname = \"a\"\npattern = '^a$'\nplaceholder = \"{a}\"\n\
               [[policy.rules]]\nname = \"employee-id\"\npattern = 'E[0-9'\nplaceholder = \"{employee}\"\n";
    let out = check(&dir, &format!("{bad}{STDOUT}"), &[]);
    let all = all_output(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(
        all.contains("policy.rules[1] (employee-id)") && all.contains("fix the regular expression"),
        "{all}"
    );
}
