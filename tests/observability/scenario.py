"""The traffic of tests/observability/run.sh, and its check through Prometheus's HTTP API.

    traffic   sends known requests to billing with real tokens, in rounds (so that rates show
              on the dashboard), checks every HTTP status, and writes what it sent to a file
    check     waits until Prometheus has scraped billing after the traffic, then queries
              /api/v1/query and compares the counts with what was sent, exactly
    call      one 2026-07-28 call of lookup_invoice, which must succeed
    otlp      what billing --otlp-endpoint sent to otlp_receiver.py: the call's server span,
              the conventions' metric, and never the token

Standard library only: the requests are written out by hand, as a client sends them.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from typing import Any

MODERN = "2026-07-28"
LEGACY = "2025-11-25"
ACCEPT = "application/json, text/event-stream"
TIMEOUT = 10

# What each kind of request is, and what billing must do with it: the token it carries, the
# tool it calls (None: tools/list), the HTTP status, and the refusal reason it must be counted
# under (None: not refused).
KINDS: dict[str, dict[str, Any]] = {
    "lookup": {"token": "read", "tool": "lookup_invoice", "status": 200, "reason": None},
    "list": {"token": "read", "tool": "list_invoices", "status": 200, "reason": None},
    "tools_list": {"token": "read", "tool": None, "status": 200, "reason": None},
    "void_read_only": {
        "token": "read",
        "tool": "void_invoice",
        "status": 403,
        "reason": "insufficient_scope",
    },
    "no_token": {"token": None, "tool": "lookup_invoice", "status": 401, "reason": "missing_token"},
    "malformed": {
        "token": "malformed",
        "tool": "lookup_invoice",
        "status": 401,
        "reason": "malformed_token",
    },
    "bad_signature": {
        "token": "bad_signature",
        "tool": "lookup_invoice",
        "status": 401,
        "reason": "bad_signature",
    },
    # A token of another server's dev issuer (another port): its issuer is checked first.
    "other_issuer": {
        "token": "other_issuer",
        "tool": "lookup_invoice",
        "status": 401,
        "reason": "wrong_issuer",
    },
}

ARGUMENTS = {
    "lookup_invoice": {"invoice_id": "INV-2041"},
    "list_invoices": {},
    "void_invoice": {"invoice_id": "INV-2041"},
}


def plan(round_: int) -> list[str]:
    """The requests of one round: the same kinds each round, in varying numbers, so that the
    dashboard's lines differ."""
    kinds = ["lookup", "lookup", "list", "tools_list", "void_read_only", "no_token"]
    kinds += ["lookup"] * (round_ % 3)
    kinds += ["malformed"] * (round_ % 2)
    if round_ % 3 == 0:
        kinds.append("bad_signature")
    if round_ % 4 == 1:
        kinds.append("other_issuer")
    return kinds


def line(text: str) -> None:
    print(f"[observability] {text}", flush=True)


def http(method: str, url: str, headers: dict[str, str], body: Any = None) -> tuple[int, dict[str, str], str]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, {k.lower(): v for k, v in err.headers.items()}, err.read().decode()


def message_of(text: str) -> Any:
    """The JSON-RPC message of a body: JSON, or the last SSE event with an id."""
    try:
        return json.loads(text)
    except ValueError:
        found = None
        for data in (l[5:].strip() for l in text.splitlines() if l.startswith("data:")):
            try:
                message = json.loads(data)
            except ValueError:
                continue
            if isinstance(message, dict) and "id" in message:
                found = message
        return found


def headers_for(token: str | None, version: str, method: str | None = None, name: str | None = None) -> dict[str, str]:
    headers = {"content-type": "application/json", "accept": ACCEPT, "mcp-protocol-version": version}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    if version == MODERN and method:
        headers["mcp-method"] = method
        if name:
            headers["mcp-name"] = name
    return headers


def modern(url: str, token: str | None, tool: str | None, id_: int) -> tuple[int, Any]:
    """One 2026-07-28 request: tools/call of `tool`, or tools/list."""
    meta = {"io.modelcontextprotocol/protocolVersion": MODERN, "io.modelcontextprotocol/clientCapabilities": {}}
    if tool is None:
        method, params = "tools/list", {"_meta": meta}
    else:
        method, params = "tools/call", {"name": tool, "arguments": ARGUMENTS[tool], "_meta": meta}
    body = {"jsonrpc": "2.0", "id": id_, "method": method, "params": params}
    status, _, text = http("POST", url, headers_for(token, MODERN, method, tool), body)
    return status, message_of(text) if status == 200 else None


def expect(what: str, got: Any, want: Any) -> None:
    if got != want:
        raise SystemExit(f"[observability] FAILED: {what}: got {got!r}, want {want!r}")


def legacy_session(url: str, token: str, tool: str, close: bool) -> int:
    """A 2025-11-25 session: initialize, initialized, one call of `tool`, and DELETE if
    `close`. Returns the number of HTTP requests it sent, each with the token."""
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "observability", "version": "1"}},
    }
    status, headers, _ = http("POST", url, headers_for(token, LEGACY), init)
    expect("initialize status", status, 200)
    session = headers.get("mcp-session-id")
    expect("a session id", session is not None, True)
    with_session = {**headers_for(token, LEGACY), "mcp-session-id": session}
    status, _, _ = http("POST", url, with_session, {"jsonrpc": "2.0", "method": "notifications/initialized"})
    expect("notifications/initialized status", status, 202)
    call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": tool, "arguments": ARGUMENTS[tool]}}
    status, _, text = http("POST", url, with_session, call)
    expect(f"{LEGACY} {tool} status", status, 200)
    reply = message_of(text)
    expect(f"{LEGACY} {tool} is a result", reply is not None and "result" in reply and not reply["result"].get("isError"), True)
    if close:
        status, _, _ = http("DELETE", url, with_session)
        expect("DELETE of the session", status in (200, 202, 204), True)
    line(f"  {LEGACY} session: initialize, initialized, tools/call {tool}{', DELETE' if close else ' (left open)'}")
    return 4 if close else 3


def traffic(args: argparse.Namespace) -> None:
    tokens = {
        "read": args.read_token,
        "other_issuer": args.other_issuer_token,
        "malformed": "not-a-jwt",
        # The read token with its signature's first characters changed: a well-formed JWT
        # whose signature does not verify.
        "bad_signature": tamper(args.read_token),
    }
    sent: Counter[str] = Counter()
    id_ = 100
    line(f"{args.rounds} rounds of {MODERN} requests to {args.url}, {args.pause}s apart")
    for round_ in range(args.rounds):
        kinds = plan(round_)
        for kind in kinds:
            spec = KINDS[kind]
            token = tokens[spec["token"]] if spec["token"] else None
            id_ += 1
            status, reply = modern(args.url, token, spec["tool"], id_)
            expect(f"{kind} status", status, spec["status"])
            if status == 200:
                ok = reply is not None and "result" in reply and not reply["result"].get("isError")
                expect(f"{kind} is a result", ok, True)
            sent[kind] += 1
        line(f"  round {round_ + 1}: {', '.join(f'{k} x{n}' for k, n in sorted(Counter(kinds).items()))}")
        time.sleep(args.pause)
    sent["legacy_requests"] += legacy_session(args.url, tokens["read"], "lookup_invoice", close=True)
    sent["legacy_requests"] += legacy_session(args.url, tokens["read"], "list_invoices", close=False)
    sent["legacy_lookup"] += 1
    sent["legacy_list"] += 1
    with open(args.sent, "w", encoding="utf-8") as f:
        json.dump({"sent": sent, "end": time.time()}, f)
    line(f"sent: {dict(sorted(sent.items()))}")


def tamper(jwt: str) -> str:
    head, payload, signature = jwt.split(".")
    flipped = "".join("B" if c == "A" else "A" for c in signature[:4])
    return f"{head}.{payload}.{flipped}{signature[4:]}"


def query(prometheus: str, promql: str) -> list[dict[str, Any]]:
    url = f"{prometheus}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
    with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
        answer = json.load(response)
    if answer.get("status") != "success":
        raise SystemExit(f"[observability] FAILED: {promql}: {answer}")
    return answer["data"]["result"]


def by(prometheus: str, promql: str, *labels: str) -> dict[tuple[str, ...], int]:
    """`promql`'s instant vector as {label values: integer value}."""
    return {
        tuple(sample["metric"].get(label, "") for label in labels): round(float(sample["value"][1]))
        for sample in query(prometheus, promql)
    }


def check(args: argparse.Namespace) -> None:
    with open(args.sent, encoding="utf-8") as f:
        record = json.load(f)
    sent, end = Counter(record["sent"]), record["end"]
    prometheus, job = args.prometheus, args.job
    # A successful scrape that began after the last request saw all of it. (`timestamp` of
    # the selector itself: applied to an expression such as `up == 1`, it gives the query's
    # time instead of the sample's.)
    deadline = time.time() + args.within
    while True:
        scraped = query(prometheus, f'timestamp(up{{job="{job}"}})')
        up = query(prometheus, f'up{{job="{job}"}}')
        if scraped and float(scraped[0]["value"][1]) > end + 0.5 and up and up[0]["value"][1] == "1":
            break
        if time.time() > deadline:
            raise SystemExit(f"[observability] FAILED: Prometheus did not scrape billing after the traffic within {args.within}s: {scraped}")
        time.sleep(0.5)
    line(f"Prometheus scraped job {job!r} after the traffic")

    failures = []

    def compare(what: str, got: Any, want: Any) -> None:
        verdict = "ok" if got == want else "FAILED"
        line(f"  {verdict}: {what}: {got}" + ("" if got == want else f", want {want}"))
        if got != want:
            failures.append(what)

    # The conventions' histogram: its count, by method and tool.
    # What billing must have counted, from what was sent: every request that reached the
    # dispatcher (served, or refused for scope there) in the histogram; every credential
    # accepted (each HTTP request with the read token, the sessions' included) and every
    # tool reached with its scopes as allowed decisions; each refusal under its reason.
    calls: Counter[tuple[str, str]] = Counter()
    authenticated = sent["legacy_requests"]
    authorized = 0
    reasons: Counter[str] = Counter()
    for kind, n in sent.items():
        if kind in ("legacy_lookup", "legacy_list"):
            calls[("tools/call", "lookup_invoice" if kind == "legacy_lookup" else "list_invoices")] += n
            authorized += n
            continue
        if kind == "legacy_requests":
            continue
        spec = KINDS[kind]
        if spec["token"] == "read":
            authenticated += n
            calls[("tools/call", spec["tool"]) if spec["tool"] else ("tools/list", "")] += n
            if spec["status"] == 200 and spec["tool"]:
                authorized += n
        if spec["reason"]:
            reasons[spec["reason"]] += n
    got = by(
        prometheus,
        f'sum by (mcp_method_name, gen_ai_tool_name) (mcp_server_operation_duration_seconds_count{{job="{job}", mcp_method_name=~"tools/.*"}})',
        "mcp_method_name",
        "gen_ai_tool_name",
    )
    compare("mcp_server_operation_duration_seconds_count by method and tool", got, dict(calls))

    # Decisions: allowed by stage, refused by reason.
    got = {k[0]: v for k, v in by(
        prometheus,
        f'sum by (stage) (mcp_auth_decisions_total{{job="{job}", outcome="allowed"}})',
        "stage",
    ).items()}
    compare(
        "mcp_auth_decisions_total{outcome=\"allowed\"} by stage",
        got,
        {"authentication": authenticated, "authorization": authorized},
    )
    got = {k[0]: v for k, v in by(
        prometheus,
        f'sum by (reason) (mcp_auth_decisions_total{{job="{job}", outcome="refused"}})',
        "reason",
    ).items()}
    compare("mcp_auth_decisions_total{outcome=\"refused\"} by reason", got, dict(reasons))

    # The verified-token cache: the read token misses once, then hits on every later
    # request; a refused token is never cached, so each one misses.
    refused_tokens = sum(n for kind, n in sent.items() if KINDS.get(kind, {}).get("token") not in (None, "read"))
    got = {k[0]: v for k, v in by(
        prometheus,
        f'sum by (result) (mcp_auth_token_cache_lookups_total{{job="{job}", cache="jwt"}})',
        "result",
    ).items()}
    compare(
        'mcp_auth_token_cache_lookups_total{cache="jwt"} by result',
        got,
        {"hit": authenticated - 1, "miss": 1 + refused_tokens},
    )

    # Sessions: two opened, one closed.
    got = by(prometheus, f'mcp_auth_sessions_open{{job="{job}"}}')
    compare("mcp_auth_sessions_open", sum(got.values()), 1)
    got = by(prometheus, f'sum(mcp_server_session_duration_seconds_count{{job="{job}"}})')
    compare("mcp_server_session_duration_seconds_count", sum(got.values()), 1)

    if failures:
        raise SystemExit(f"[observability] FAILED: {len(failures)} check(s): {', '.join(failures)}")
    line("PASSED")


def call(args: argparse.Namespace) -> None:
    status, reply = modern(args.url, args.token, "lookup_invoice", 1)
    expect("lookup_invoice status", status, 200)
    expect("lookup_invoice is a result", reply is not None and "result" in reply, True)
    line(f"  {MODERN} tools/call lookup_invoice: 200")


def otlp(args: argparse.Namespace) -> None:
    with open(args.received, encoding="utf-8") as f:
        received = [json.loads(l) for l in f if l.strip()]
    spans = [r for r in received if r["signal"] == "span"]
    metrics = {r["name"] for r in received if r["signal"] == "metric"}
    server = [s for s in spans if s["name"] == "tools/call lookup_invoice"]
    expect("server spans named `tools/call lookup_invoice`", len(server), 1)
    span = server[0]
    expect("its kind", span["kind"], "SPAN_KIND_SERVER")
    expect("its service.name", span["resource"].get("service.name"), "billing")
    expect("its gen_ai.tool.name", span["attributes"].get("gen_ai.tool.name"), "lookup_invoice")
    children = {s["name"] for s in spans if s["parent_span_id"] == span["span_id"]}
    expect("its children include the token check", "mcp_auth.verify_token" in children, True)
    line(f"  span {span['name']!r} ({span['kind']}), children {sorted(children)}")
    expect("mcp.server.operation.duration among the metrics", "mcp.server.operation.duration" in metrics, True)
    line(f"  metrics: {sorted(metrics)}")
    with open(args.received + ".raw", "rb") as f:
        raw = f.read()
    expect("the token in what was exported", args.token.encode() in raw, False)
    line("PASSED")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    t = commands.add_parser("traffic")
    t.add_argument("--url", required=True)
    t.add_argument("--read-token", required=True)
    t.add_argument("--other-issuer-token", required=True)
    t.add_argument("--rounds", type=int, default=12)
    t.add_argument("--pause", type=float, default=2.0)
    t.add_argument("--sent", required=True)
    c = commands.add_parser("check")
    c.add_argument("--prometheus", required=True)
    c.add_argument("--job", default="billing")
    c.add_argument("--sent", required=True)
    c.add_argument("--within", type=float, default=30)
    o = commands.add_parser("call")
    o.add_argument("--url", required=True)
    o.add_argument("--token", required=True)
    r = commands.add_parser("otlp")
    r.add_argument("--received", required=True)
    r.add_argument("--token", required=True)
    args = parser.parse_args()
    {"traffic": traffic, "check": check, "call": call, "otlp": otlp}[args.command](args)


if __name__ == "__main__":
    main()
