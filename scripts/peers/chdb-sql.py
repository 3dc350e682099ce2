#!/usr/bin/env python3
"""Runs privlog's ClickHouse SQL in chdb (ClickHouse in process, PyPI `chdb`).

    chdb-sql.py RECORDS SCHEMA QUERY...

Makes the schema (the text of `privlog schema clickhouse`), loads the NDJSON
record file RECORDS with the load command the schema documents, then runs each
QUERY (SQL text) and prints its rows as tab-separated values, each result
after a line `== N` (N counting from 0). Exits non-zero on any SQL error.
"""
import sys
import tempfile

try:
    from chdb import session
except ImportError:
    sys.exit("chdb is missing: run scripts/install-peers.sh (PyPI package chdb)")


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: chdb-sql.py RECORDS SCHEMA QUERY...")
    records, schema, queries = sys.argv[1], sys.argv[2], sys.argv[3:]
    with tempfile.TemporaryDirectory(prefix="privlog-chdb-") as data:
        s = session.Session(data)
        # One statement per query call; whole-line comments go first so a
        # semicolon in them does not split a statement.
        code = "\n".join(l for l in schema.splitlines() if not l.strip().startswith("--"))
        for statement in code.split(";"):
            if statement.strip():
                s.query(statement)
        path = records.replace("\\", "\\\\").replace("'", "\\'")
        s.query(
            f"INSERT INTO privlog_records FROM INFILE '{path}' SETTINGS "
            "date_time_input_format = 'best_effort', input_format_allow_errors_num = 1000, "
            "input_format_skip_unknown_fields = 1 FORMAT JSONEachRow"
        )
        out = sys.stdout
        for i, q in enumerate(queries):
            out.write(f"== {i}\n")
            out.write(s.query(q.strip().rstrip(";"), "TabSeparated").bytes().decode("utf-8"))
        s.close()


if __name__ == "__main__":
    main()
