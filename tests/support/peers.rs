//! The real programs some tests talk to, installed by
//! `scripts/install-peers.sh` (see `scripts/peers/`).

/// Python with DuckDB, or a failure that says how to install it.
pub fn require_duckdb() {
    let ok = std::process::Command::new("python3")
        .args(["-c", "import duckdb"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "DuckDB for Python is missing: run scripts/install-peers.sh (or python3 -m pip install duckdb)"
    );
}

/// Runs `sql` (statements separated by `;`) in DuckDB and returns each
/// statement's rows as JSON arrays.
pub fn duckdb(sql: &str) -> Vec<Vec<Vec<serde_json::Value>>> {
    const SCRIPT: &str = r#"
import sys, json, duckdb
con = duckdb.connect()
out = []
for stmt in json.load(sys.stdin):
    rows = con.execute(stmt).fetchall()
    out.append([[v if v is None or isinstance(v, (int, float, str)) else str(v) for v in r] for r in rows])
json.dump(out, sys.stdout)
"#;
    let statements: Vec<&str> = sql
        .split(';')
        .filter(|s| {
            s.lines()
                .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with("--"))
        })
        .collect();
    let mut child = std::process::Command::new("python3")
        .args(["-c", SCRIPT])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start python3");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(serde_json::to_string(&statements).expect("json").as_bytes())
            .expect("write sql");
    }
    let out = child.wait_with_output().expect("python3 runs");
    assert!(
        out.status.success(),
        "duckdb failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: Vec<Vec<Vec<serde_json::Value>>> = serde_json::from_slice(&out.stdout).expect("json result");
    results
}
