"""An OTLP/HTTP (protobuf) receiver for tests: decodes what an exporter sends to /v1/traces
and /v1/metrics with the official protobuf definitions (PyPI `opentelemetry-proto`) and
writes one JSON object per span and per metric to OUT, one per line.

    python otlp_receiver.py OUT

Listens on 127.0.0.1, port chosen by the system, printed as the first line of stdout. Also
appends every raw request body to OUT.raw, so that a test can look for bytes that must never
leave the server (tokens).
"""

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span

OUT = sys.argv[1]
LOCK = threading.Lock()


def value(any_value):
    kind = any_value.WhichOneof("value")
    if kind is None:
        return None
    if kind in ("array_value", "kvlist_value", "bytes_value"):
        return str(getattr(any_value, kind))
    return getattr(any_value, kind)


def attributes(kvs):
    return {kv.key: value(kv.value) for kv in kvs}


def spans(body):
    request = ExportTraceServiceRequest.FromString(body)
    for resource_spans in request.resource_spans:
        resource = attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                yield {
                    "signal": "span",
                    "resource": resource,
                    "scope": scope_spans.scope.name,
                    "name": span.name,
                    "kind": Span.SpanKind.Name(span.kind),
                    "trace_id": span.trace_id.hex(),
                    "span_id": span.span_id.hex(),
                    "parent_span_id": span.parent_span_id.hex(),
                    "status": span.status.code,
                    "attributes": attributes(span.attributes),
                    "links": [
                        {"trace_id": link.trace_id.hex(), "span_id": link.span_id.hex()}
                        for link in span.links
                    ],
                }


def metrics(body):
    request = ExportMetricsServiceRequest.FromString(body)
    for resource_metrics in request.resource_metrics:
        resource = attributes(resource_metrics.resource.attributes)
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                yield {
                    "signal": "metric",
                    "resource": resource,
                    "scope": scope_metrics.scope.name,
                    "name": metric.name,
                    "unit": metric.unit,
                    "type": metric.WhichOneof("data"),
                }


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        if self.path == "/v1/traces":
            records, reply = list(spans(body)), ExportTraceServiceResponse()
        elif self.path == "/v1/metrics":
            records, reply = list(metrics(body)), ExportMetricsServiceResponse()
        else:
            self.send_error(404)
            return
        with LOCK:
            with open(OUT, "a", encoding="utf-8") as out:
                for record in records:
                    out.write(json.dumps(record) + "\n")
            with open(OUT + ".raw", "ab") as raw:
                raw.write(body)
        payload = reply.SerializeToString()
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
