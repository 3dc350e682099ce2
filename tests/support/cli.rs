//! The `privlog` binary run as a child process.

use std::path::Path;
use std::process::{Command, Output};

/// A `[[sinks]]` table for the stdout sink, to complete a configuration.
pub const STDOUT: &str = "[[sinks]]\ntype = \"stdout\"\n";

/// The path of the `privlog` binary Cargo built for this test (it is built
/// only with the `cli` feature).
pub fn bin() -> &'static str {
    match option_env!("CARGO_BIN_EXE_privlog") {
        Some(bin) => bin,
        None => panic!("the privlog binary is built only with the `cli` feature: run with --features cli"),
    }
}

/// Runs the `privlog` binary with `args`; returns stdout, stderr.
pub fn privlog(args: &[&str]) -> (String, String) {
    let out = Command::new(bin()).args(args).output().expect("run privlog");
    assert!(
        out.status.success(),
        "privlog {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8(out.stdout).expect("utf-8 stdout"),
        String::from_utf8(out.stderr).expect("utf-8 stderr"),
    )
}

/// Runs `privlog check` on `text`, written to `dir/privlog.toml`, with only
/// `vars` in the environment.
pub fn check(dir: &Path, text: &str, vars: &[(&str, &str)]) -> Output {
    let file = dir.join("privlog.toml");
    std::fs::write(&file, text).expect("write config");
    Command::new(bin())
        .arg("check")
        .arg(&file)
        .env_clear()
        .envs(vars.iter().copied())
        .output()
        .expect("run privlog check")
}

/// A TOML basic string holding `p`.
pub fn quoted(p: &Path) -> String {
    format!(
        "\"{}\"",
        p.display().to_string().replace('\\', "\\\\").replace('"', "\\\"")
    )
}

/// `bytes` as text, invalid UTF-8 replaced.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A process's standard output and then its standard error, as text.
pub fn all_output(o: &Output) -> String {
    format!("{}{}", text(&o.stdout), text(&o.stderr))
}
