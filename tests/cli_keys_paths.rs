//! `privlog check`, the key-using subcommands and starting from a
//! configuration file, as the real binary and the library over real files,
//! links, owners and sockets:
//!
//! - a key (or token) written where a path belongs is refused and never
//!   printed;
//! - a collector URL is shown only as scheme://host:port as written, and a
//!   password before a `%40` or a port past 65535 is refused;
//! - the checks that others cannot change the key follow links to where the
//!   key really is and refuse keys and directories of other users;
//! - check and build agree on dangling links and on paths the user privlog
//!   runs as may not write;
//! - two sinks writing the same files are refused;
//! - a header named by an environment override is sent with `-`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use privlog::Record;
use privlog::config::{Config, SinkConfig};
use privlog::sink::{Ledger, Sink};
use support::cli::{STDOUT, all_output, check, quoted};
use support::files::TempDir;

/// A temporary directory others may enter (its mode 0755, whatever the umask).
fn tempdir(tag: &str) -> TempDir {
    let d = TempDir::new(tag);
    #[cfg(unix)]
    chmod(&d, 0o755);
    d
}

#[cfg(unix)]
fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

fn privlog() -> Command {
    let mut cmd = Command::new(support::cli::bin());
    cmd.env_clear();
    cmd
}

/// Whether building from `text` (the service starting) fails, and its error.
fn build(text: &str, vars: &[(&str, &str)]) -> Result<(), String> {
    let vars = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned()));
    match Config::from_toml(text, vars).and_then(|c| c.build()) {
        Ok((_layer, guard)) => {
            guard.shutdown();
            Ok(())
        }
        Err(e) => Err(format!("{e} {e:?}")),
    }
}

const KEY: &str = "8348a1f09c2b7e4d5f6a7b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708dd6e";

#[test]
fn a_key_written_where_its_file_belongs_is_never_printed() {
    let dir = tempdir("key-as-path");
    let records = dir.join("r.ndjson");
    std::fs::write(&records, "").expect("records");
    let token = "dG9rLTlYcTItU2VjcmV0VmFsdWU";
    let mut runs: Vec<(String, Output)> = Vec::new();
    for secret in [KEY, &KEY.to_uppercase(), token] {
        let text = format!("[key]\nfile = \"{secret}\"\n{STDOUT}");
        runs.push((format!("check {secret}"), check(&dir, &text, &[])));
        runs.push((
            format!("check with PRIVLOG__KEY__FILE={secret}"),
            check(&dir, STDOUT, &[("PRIVLOG__KEY__FILE", secret)]),
        ));
        for sub in ["export", "erase"] {
            let out = privlog()
                .args(["subject", sub, "--account", "557058:f0e1d2c3", "--key-file", secret])
                .arg(&records)
                .output()
                .expect("run privlog subject");
            runs.push((format!("subject {sub} --key-file {secret}"), out));
        }
        let out = privlog().args(["keygen", "-o", secret]).output().expect("keygen");
        runs.push((format!("keygen -o {secret}"), out));
        let out = privlog().args(["check", secret]).output().expect("check");
        runs.push((format!("check {secret} (as the configuration file)"), out));
        assert!(!Path::new(secret).exists(), "no key file named after the key");
        // The service starting from the same file.
        let e = build(&text, &[]).expect_err("refused");
        assert!(e.contains("key.file") && e.contains("looks like"), "{e}");
        assert!(!e.contains(&secret[..12]), "{e}");
    }
    for (what, out) in &runs {
        let all = all_output(out);
        assert_eq!(out.status.code(), Some(2), "{what}: {all}");
        assert!(all.contains("looks like"), "{what}: {all}");
        for piece in [&KEY[..12], &KEY[52..], &KEY.to_uppercase()[..12], &token[..12]] {
            assert!(!all.contains(piece), "{what} printed {piece}: {all}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn collector_urls_are_shown_as_scheme_host_and_port_and_checked() {
    let dir = tempdir("urls");
    let http = |endpoint: &str| format!("[[sinks]]\ntype = \"http\"\nendpoint = \"{endpoint}\"\n");
    // A password before an `@` written %40: refused, never shown.
    let text = http("http://writer:s3cretPW%40collector.example:8123/");
    let out = check(&dir, &text, &[]);
    let all = all_output(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(
        all.contains("sinks.http.endpoint") && all.contains("credentials"),
        "{all}"
    );
    assert!(!all.contains("s3cretPW") && !all.contains("writer"), "{all}");
    let e = build(&text, &[]).expect_err("refused");
    assert!(!e.contains("s3cretPW") && !e.contains("writer"), "{e}");
    // A token in the path of an endpoint set by an override: check passes
    // and shows the host as written, without the path.
    let sumo = "https://Collectors.Sumologic.COM/receiver/v1/http/ZaVnC4dhaV2Wk3KZ8qO9fJ1b";
    let out = check(
        &dir,
        &http("http://127.0.0.1:9/"),
        &[("PRIVLOG__SINKS__0__ENDPOINT", sumo)],
    );
    let all = all_output(&out);
    assert!(out.status.success(), "{all}");
    assert!(all.contains("to https://Collectors.Sumologic.COM/…"), "{all}");
    assert!(
        !all.contains("ZaVnC4dhaV2Wk3KZ8qO9") && !all.contains("receiver"),
        "{all}"
    );
    // A port past 65535 (which would wrap to another port): refused by both.
    let text = http("http://127.0.0.1:99999/");
    let out = check(&dir, &text, &[]);
    let all = all_output(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(
        all.contains("sinks.http.endpoint") && all.contains("1 to 65535"),
        "{all}"
    );
    let e = build(&text, &[]).expect_err("refused");
    assert!(e.contains("sinks.http.endpoint") && e.contains("1 to 65535"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Writes a new key file with `privlog keygen`.
fn keygen(path: &Path) {
    let out = privlog().args(["keygen", "-o"]).arg(path).output().expect("keygen");
    assert!(out.status.success(), "{}", all_output(&out));
}

/// `privlog check` with `[key] file = path` refuses it under `key.file`,
/// saying `why`; building refuses it too.
#[cfg(unix)]
fn assert_key_refused(dir: &Path, path: &Path, why: &str) {
    let text = format!("[key]\nfile = {}\n{STDOUT}", quoted(path));
    let out = check(dir, &text, &[]);
    let all = all_output(&out);
    assert_eq!(out.status.code(), Some(2), "{}: {all}", path.display());
    assert!(
        all.contains("invalid config field `key.file`"),
        "{}: {all}",
        path.display()
    );
    assert!(all.contains(why), "{}: {all}", path.display());
    let e = build(&text, &[]).expect_err("build refuses it too");
    assert!(e.contains("key.file") && e.contains(why), "{}: {e}", path.display());
}

#[cfg(unix)]
#[test]
fn keys_others_could_change_are_refused_through_links_and_by_owner() {
    use std::os::unix::fs::symlink;
    let dir = tempdir("keys");
    let private = dir.join("private");
    std::fs::create_dir(&private).expect("dir");
    chmod(&private, 0o700);
    // A key file that is a link into a directory anyone can write.
    let open = dir.join("open");
    std::fs::create_dir(&open).expect("dir");
    keygen(&open.join("real.key"));
    chmod(&open, 0o777);
    symlink(open.join("real.key"), private.join("privlog.key")).expect("link");
    assert_key_refused(
        &dir,
        &private.join("privlog.key"),
        &format!("chmod go-w {}", open.display()),
    );
    // A private ring holding a `*.key` link into a subdirectory anyone can write.
    let ring = dir.join("ring");
    let incoming = ring.join("incoming");
    std::fs::create_dir_all(&incoming).expect("dirs");
    chmod(&ring, 0o700);
    keygen(&ring.join("2026-11.key"));
    keygen(&incoming.join("k"));
    symlink("incoming/k", ring.join("2026-12.key")).expect("link");
    chmod(&incoming, 0o777);
    assert_key_refused(&dir, &ring, &format!("chmod go-w {}", incoming.display()));
    chmod(&incoming, 0o700);
    chmod(&open, 0o700);
    for ok in [private.join("privlog.key"), ring.clone()] {
        let out = check(&dir, &format!("[key]\nfile = {}\n{STDOUT}", quoted(&ok)), &[]);
        assert!(out.status.success(), "{}: {}", ok.display(), all_output(&out));
    }
    if !rustix::process::geteuid().is_root() {
        // Giving files to another user needs root (as the tests run in CI).
        let _ = std::fs::remove_dir_all(&dir);
        return;
    }
    let nobody = |p: &Path| std::os::unix::fs::lchown(p, Some(65_534), Some(65_534)).expect("chown");
    let root = |p: &Path| std::os::unix::fs::lchown(p, Some(0), Some(0)).expect("chown");
    // A 0600 key file of another user.
    let theirs = private.join("theirs.key");
    keygen(&theirs);
    nobody(&theirs);
    assert_key_refused(&dir, &theirs, "belongs to user 65534");
    // A 0700 key directory of another user.
    nobody(&ring);
    assert_key_refused(&dir, &ring, "belongs to user 65534");
    root(&ring);
    // A 0755 directory of another user on the way to the key.
    nobody(&private);
    chmod(&private, 0o755);
    assert_key_refused(&dir, &private.join("privlog.key"), "belongs to user 65534");
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(unix)]
#[test]
fn check_and_build_agree_on_dangling_links() {
    use std::os::unix::fs::symlink;
    let dir = tempdir("dangling");
    let link = dir.join("dangling");
    symlink(dir.join("missing/nowhere"), &link).expect("link");
    let http = |extra: String| format!("[[sinks]]\ntype = \"http\"\nendpoint = \"http://127.0.0.1:9/\"\n{extra}");
    for (text, field) in [
        (
            format!("[[sinks]]\ntype = \"file\"\npath = {}\n", quoted(&link)),
            "sinks.file.path",
        ),
        (
            format!("[[sinks]]\ntype = \"rolling\"\ndir = {}\n", quoted(&link)),
            "sinks.rolling.dir",
        ),
        (
            format!("[[sinks]]\ntype = \"rolling\"\ndir = {}\n", quoted(&link.join("sub"))),
            "sinks.rolling.dir",
        ),
        (http(format!("spool_dir = {}\n", quoted(&link))), "sinks.http.spool_dir"),
        (
            http(format!("dead_letter = {}\n", quoted(&link))),
            "sinks.http.dead_letter",
        ),
    ] {
        let out = check(&dir, &text, &[]);
        let all = all_output(&out);
        assert_eq!(out.status.code(), Some(2), "{text}: {all}");
        assert!(
            all.contains(&format!("invalid config field `{field}`")),
            "{text}: {all}"
        );
        assert!(all.contains("symbolic link"), "{text}: {all}");
        let e = build(&text, &[]).expect_err("build refuses it too");
        assert!(e.contains(&format!("invalid config field `{field}`")), "{text}: {e}");
    }
    assert!(!dir.join("missing").exists(), "nothing was created");
    // A link to a file that can be created is what opening creates.
    symlink(dir.join("later.ndjson"), dir.join("to-later")).expect("link");
    let text = format!("[[sinks]]\ntype = \"file\"\npath = {}\n", quoted(&dir.join("to-later")));
    let out = check(&dir, &text, &[]);
    assert!(out.status.success(), "{}", all_output(&out));
    build(&text, &[]).expect("builds");
    assert!(dir.join("later.ndjson").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Set in the child process that builds as another user: the configuration file.
const BUILD_AS_CHILD: &str = "PRIVLOG_TEST_BUILD_CONFIG";

#[cfg(unix)]
#[test]
fn check_and_build_agree_on_paths_the_user_may_not_write() {
    use std::os::unix::process::CommandExt as _;
    if let Ok(file) = std::env::var(BUILD_AS_CHILD) {
        // The child: start privlog from the file as this user, say what happened.
        let text = std::fs::read_to_string(&file).expect("config");
        match build(&text, &[]) {
            Ok(()) => println!("build: ok"),
            Err(e) => println!("build: refused: {e}"),
        }
        return;
    }
    let dir = tempdir("may-not-write");
    // As root, the files are another user's to write to: nobody's. As
    // another user, a directory without write permission stands for one.
    let root = rustix::process::geteuid().is_root();
    let sealed = dir.join("sealed");
    std::fs::create_dir(&sealed).expect("dir");
    std::fs::write(sealed.join("existing.ndjson"), "").expect("file");
    std::fs::create_dir(sealed.join("logs")).expect("dir");
    chmod(&sealed.join("logs"), if root { 0o755 } else { 0o555 });
    chmod(&sealed.join("existing.ndjson"), if root { 0o644 } else { 0o444 });
    chmod(&sealed, if root { 0o755 } else { 0o555 });
    let as_user = |cmd: &mut Command| {
        if root {
            cmd.uid(65_534).gid(65_534);
        }
    };
    let http = |extra: String| format!("[[sinks]]\ntype = \"http\"\nendpoint = \"http://127.0.0.1:9/\"\n{extra}");
    let cases = [
        (
            format!(
                "[[sinks]]\ntype = \"file\"\npath = {}\n",
                quoted(&sealed.join("x.ndjson"))
            ),
            "sinks.file.path",
        ),
        (
            format!(
                "[[sinks]]\ntype = \"file\"\npath = {}\n",
                quoted(&sealed.join("existing.ndjson"))
            ),
            "sinks.file.path",
        ),
        (
            format!(
                "[[sinks]]\ntype = \"rolling\"\ndir = {}\n",
                quoted(&sealed.join("new-logs"))
            ),
            "sinks.rolling.dir",
        ),
        (
            format!(
                "[[sinks]]\ntype = \"rolling\"\ndir = {}\n",
                quoted(&sealed.join("logs"))
            ),
            "sinks.rolling.dir",
        ),
        (
            http(format!("spool_dir = {}\n", quoted(&sealed.join("spool")))),
            "sinks.http.spool_dir",
        ),
    ];
    for (i, (text, field)) in cases.iter().enumerate() {
        let file = dir.join(format!("case-{i}.toml"));
        std::fs::write(&file, text).expect("config");
        let mut cmd = privlog();
        cmd.arg("check").arg(&file);
        as_user(&mut cmd);
        let out = cmd.output().expect("run privlog check");
        let all = all_output(&out);
        assert_eq!(out.status.code(), Some(2), "{text}: {all}");
        assert!(
            all.contains(&format!("invalid config field `{field}`")),
            "{text}: {all}"
        );
        assert!(all.contains("may not"), "{text}: {all}");
        let mut cmd = Command::new(std::env::current_exe().expect("test binary"));
        cmd.args([
            "--exact",
            "check_and_build_agree_on_paths_the_user_may_not_write",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(BUILD_AS_CHILD, &file);
        as_user(&mut cmd);
        let out = cmd.output().expect("run the build as the user");
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{}", all_output(&out));
        assert!(
            said.contains(&format!("build: refused: invalid config field `{field}`")),
            "{text}: {said}"
        );
    }
    assert!(
        !sealed.join("new-logs").exists() && !sealed.join("spool").exists() && !sealed.join("x.ndjson").exists(),
        "nothing was created"
    );
    chmod(&sealed, 0o755);
    chmod(&sealed.join("logs"), 0o755);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn two_sinks_on_the_same_directory_and_prefix_are_refused_by_check_and_build() {
    let dir = tempdir("dup");
    let dup = dir.join("dup");
    let rolling = |d: String| format!("[[sinks]]\ntype = \"rolling\"\ndir = \"{d}\"\n");
    let mut texts = vec![
        rolling(dup.display().to_string()) + &rolling(format!("{}/", dup.display())),
        rolling(dup.display().to_string()) + &rolling(format!("{}/./", dup.display())),
        format!(
            "[[sinks]]\ntype = \"file\"\npath = {}\n[[sinks]]\ntype = \"http\"\nendpoint = \"http://127.0.0.1:9/\"\n\
             dead_letter = {}\n",
            quoted(&dir.join("out.ndjson")),
            quoted(&dir.join("out.ndjson"))
        ),
    ];
    #[cfg(unix)]
    {
        std::fs::create_dir(&dup).expect("dir");
        std::os::unix::fs::symlink(&dup, dir.join("alias")).expect("link");
        texts.push(rolling(dup.display().to_string()) + &rolling(dir.join("alias").display().to_string()));
    }
    for text in &texts {
        let out = check(&dir, text, &[]);
        let all = all_output(&out);
        assert_eq!(out.status.code(), Some(2), "{text}: {all}");
        assert!(all.contains("sinks 0 and 1 both write"), "{text}: {all}");
        let e = build(text, &[]).expect_err("build refuses it too");
        assert!(e.contains("sinks 0 and 1 both write"), "{text}: {e}");
    }
    let ok = rolling(dup.display().to_string()) + &rolling(dir.join("other").display().to_string());
    assert!(check(&dir, &ok, &[]).status.success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_header_named_by_an_override_is_sent_with_dashes() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let collector = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut head = Vec::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line.trim().is_empty() {
                break;
            }
            head.push(line.trim_end().to_owned());
        }
        let mut stream = stream;
        stream
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            .unwrap();
        head
    });
    let text = format!(
        "[[sinks]]\ntype = \"http\"\nendpoint = \"http://127.0.0.1:{port}/\"\nbatch_max_records = 1\n\
         headers = {{ \"X-ClickHouse-Key\" = \"from-the-file\" }}\n"
    );
    let vars = [
        (
            "PRIVLOG__SINKS__0__HEADERS__X_CLICKHOUSE_KEY".to_owned(),
            "pw-from-env".to_owned(),
        ),
        (
            "PRIVLOG__SINKS__0__HEADERS__X_CLICKHOUSE_USER".to_owned(),
            "writer".to_owned(),
        ),
    ];
    let cfg = Config::from_toml(&text, vars).expect("valid");
    let SinkConfig::Http(settings) = &cfg.sinks[0] else {
        panic!("an http sink")
    };
    let mut sink = settings.build().expect("builds");
    sink.attach(Ledger::detached("test"));
    let ts = time::OffsetDateTime::from_unix_timestamp(1_795_000_000).unwrap();
    sink.write(&[Record::new(ts, "GET", "/a")]).unwrap();
    let limit = Instant::now() + Duration::from_secs(30);
    while !collector.is_finished() {
        assert!(Instant::now() < limit, "no request reached the collector");
        sink.tick().unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
    let head: Vec<String> = collector
        .join()
        .unwrap()
        .iter()
        .map(|l| l.to_ascii_lowercase())
        .collect();
    assert!(head.contains(&"x-clickhouse-key: pw-from-env".to_owned()), "{head:?}");
    assert!(head.contains(&"x-clickhouse-user: writer".to_owned()), "{head:?}");
    assert!(
        !head
            .iter()
            .any(|l| l.contains("from-the-file") || l.split(':').next().is_some_and(|name| name.contains('_'))),
        "{head:?}"
    );
}
