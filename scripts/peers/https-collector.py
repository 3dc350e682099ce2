#!/usr/bin/env python3
"""A minimal HTTPS collector for tests, on loopback only.

    scripts/peers/https-collector.py CERT.pem KEY.pem

Listens on 127.0.0.1 at a free port, prints `port=N`, then for every POST
prints `received N` (N = the body's NDJSON lines, gzip undone) and answers 200.
Stops when its standard input closes."""
import gzip
import http.server
import ssl
import sys
import threading


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        lines = [l for l in body.split(b"\n") if l.strip()]
        print(f"received {len(lines)}", flush=True)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
server.socket = ctx.wrap_socket(server.socket, server_side=True)
print(f"port={server.server_address[1]}", flush=True)
threading.Thread(target=server.serve_forever, daemon=True).start()
sys.stdin.read()
