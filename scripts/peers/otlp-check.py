#!/usr/bin/env python3
"""Reads an OTLP/HTTP JSON logs body on stdin and parses it with the official
OpenTelemetry protobuf schema (unknown fields are errors). Prints one line per
log record: time, severity, and the attributes as key=value, sorted.

Install: scripts/install-peers.sh (PyPI package opentelemetry-proto)."""
import sys

from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

req = json_format.Parse(sys.stdin.read(), ExportLogsServiceRequest())
for rl in req.resource_logs:
    res = {a.key: a.value.string_value for a in rl.resource.attributes}
    for sl in rl.scope_logs:
        for lr in sl.log_records:
            attrs = []
            for a in lr.attributes:
                kind = a.value.WhichOneof("value")
                attrs.append(f"{a.key}={getattr(a.value, kind)}")
            print(res.get("service.name"), sl.scope.name, lr.time_unix_nano, lr.severity_text, lr.body.string_value, " ".join(sorted(attrs)), sep="|")
