"""The cluster scenarios written by hand with httpx (tests/cluster/run.sh runs them):

    token            print a client_credentials access token from oidc-provider
    sessions         session-a-to-b: a session made on replica A works on B, ends on B, is gone
                     on A; another principal cannot use it
    subscriptions    subscriptions-across-replicas: a resource subscription made on replica A, its
                     updates streamed from B (a session's GET stream and a listen stream) when
                     a tool on A voids the invoice
    rate-limit       rate-limit-across-replicas: a per-tool budget shared by both replicas
    replica-dies     a client loop through nginx while replica A is killed with SIGKILL
    reach            requests through nginx reach a given replica again (after its restart)
    health-up, health-down, health-back
                     /healthz and /readyz, with Redis up, stopped, and back
    probe            one 2026-07-28 lookup_invoice through a URL, for the load test's sanity
    dpop-replay      dpop-replay-across-replicas: a DPoP proof accepted by one replica is refused
                     by the other and by the same one (replay record in Redis); fresh proofs
                     work on either, in both eras

Each prints its transcript lines and exits non-zero on failure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import queue
import signal
import threading
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx2

import jwt

from cluster import (
    DpopKey,
    client_credentials,
    dpop_client_credentials,
    initialize_body,
    json_rpc_result,
    legacy_call,
    legacy_headers,
    legacy_initialize,
    lookup_params,
    modern_request,
    rpc_body,
    tool_ok,
)
from mcp_client import REQUEST_TIMEOUT, Transcript, describe_upstream, replica_of


def status_line(response: httpx2.Response) -> str:
    upstream = response.headers.get("x-upstream")
    via = f"  <- replica {describe_upstream(upstream)}" if upstream else ""
    return f"{response.status_code}{via}"


def short(session: str) -> str:
    return f"{session[:8]}…"


# --- token -------------------------------------------------------------------------------------


def cmd_token(args: argparse.Namespace) -> int:
    print(
        client_credentials(
            args.issuer, args.client_id, os.environ["CLUSTER_CLIENT_SECRET"], args.resource, args.scope
        )
    )
    return 0


# --- session-a-to-b ----------------------------------------------------------------------------


def cmd_sessions(args: argparse.Namespace) -> int:
    t = Transcript("session-a-to-b")
    a, b = f"{args.a}/mcp", f"{args.b}/mcp"
    t.line(f"a handshake-era session across replicas, no nginx: A = {args.a}, B = {args.b}")
    with httpx2.Client(timeout=REQUEST_TIMEOUT) as http:
        session, init, note = legacy_initialize(http, a, args.token)
        t.step(f"initialize on A: {init.status_code}, protocol 2025-11-25, Mcp-Session-Id {short(session)}")
        t.step(f"notifications/initialized on A: {note.status_code}")

        on_b = legacy_call(http, b, args.token, session, lookup_params())
        t.step(f"tools/call lookup_invoice on B with that session: {on_b.status_code}")
        assert tool_ok(on_b), f"B did not serve A's session: {on_b.status_code} {on_b.text[:300]}"

        hijack = legacy_call(http, b, args.other_token, session, lookup_params())
        t.step(f"the same session id with another principal's token on B: {hijack.status_code}")
        assert hijack.status_code == 404, f"another principal got {hijack.status_code}: {hijack.text[:300]}"

        still = legacy_call(http, a, args.token, session, lookup_params(), id=3)
        t.step(f"the owner's next call on A (the attempt did not end the session): {still.status_code}")
        assert tool_ok(still), f"{still.status_code} {still.text[:300]}"

        hijack_delete = http.delete(b, headers=legacy_headers(args.other_token, session))
        t.step(f"DELETE of the session by another principal on B: {hijack_delete.status_code}")
        assert hijack_delete.status_code == 404, f"{hijack_delete.status_code} {hijack_delete.text[:300]}"

        deleted = http.delete(b, headers=legacy_headers(args.token, session))
        t.step(f"DELETE of the session by its owner on B: {deleted.status_code}")
        assert deleted.status_code == 204, f"{deleted.status_code} {deleted.text[:300]}"

        gone = legacy_call(http, a, args.token, session, lookup_params(), id=4)
        t.step(f"the same session id on A after the DELETE on B: {gone.status_code}")
        assert gone.status_code == 404, f"{gone.status_code} {gone.text[:300]}"
    t.line("PASSED")
    return 0


# --- subscriptions-across-replicas -------------------------------------------------------------


# A stream stays quiet between events: reads may wait longer than a request's.
STREAM_TIMEOUT = httpx2.Timeout(15.0, read=60.0)


def stream_into(events: queue.Queue, name: str, method: str, url: str, headers: dict[str, str], body: bytes | None = None) -> None:
    """Reads an event stream in a daemon thread: ("open", name, status), then ("event", name,
    message) for each JSON-RPC message, then ("closed", name, None)."""

    def read() -> None:
        try:
            with httpx2.Client(timeout=STREAM_TIMEOUT) as http:
                with http.stream(method, url, headers=headers, content=body) as response:
                    events.put(("open", name, response.status_code))
                    for line in response.iter_lines():
                        if line.startswith("data:") and line[5:].strip():
                            events.put(("event", name, json.loads(line[5:])))
        except Exception as err:  # the scenario reports it through the queue
            events.put(("error", name, repr(err)))
        events.put(("closed", name, None))

    threading.Thread(target=read, daemon=True).start()


def next_of(events: queue.Queue, within: float) -> tuple[str, str, Any]:
    try:
        return events.get(timeout=within)
    except queue.Empty:
        raise AssertionError(f"nothing on the streams within {within} s") from None


def cmd_subscriptions(args: argparse.Namespace) -> int:
    t = Transcript("subscriptions-across-replicas")
    a, b = f"{args.a}/mcp", f"{args.b}/mcp"
    uri = f"invoice://{args.invoice}"
    t.line(f"a resource subscription across replicas, no nginx: A = {args.a}, B = {args.b}")
    events: queue.Queue = queue.Queue()
    with httpx2.Client(timeout=REQUEST_TIMEOUT) as http:
        session, init, _ = legacy_initialize(http, a, args.token)
        capability = json_rpc_result(init)["result"]["capabilities"].get("resources")
        t.step(f"initialize on A: session {short(session)}, resources capability {json.dumps(capability)}")
        assert capability and capability.get("subscribe") is True, f"{capability}"

        def in_session(url: str, method: str, params: dict[str, Any], id: int) -> httpx2.Response:
            body = json.dumps(rpc_body(method, params, id)).encode()
            return http.post(url, headers=legacy_headers(args.token, session), content=body)

        subscribed = in_session(a, "resources/subscribe", {"uri": uri}, 2)
        t.step(f"resources/subscribe {uri} on A: {subscribed.status_code} {json.dumps(json_rpc_result(subscribed))[:120]}")
        assert subscribed.status_code == 200 and json_rpc_result(subscribed).get("result") == {}

        foreign = in_session(b, "resources/subscribe", {"uri": f"invoice://{args.foreign_invoice}"}, 3)
        error = json_rpc_result(foreign).get("error", {})
        t.step(f"resources/subscribe to another tenant's invoice on B: {foreign.status_code}, error {error.get('code')} {error.get('message')}")
        assert error.get("code") == -32602, f"{foreign.status_code} {foreign.text[:300]}"

        get_headers = legacy_headers(args.token, session)
        get_headers["accept"] = "text/event-stream"
        stream_into(events, "GET stream on B", "GET", b, get_headers)
        headers, body = modern_request(
            args.token, "subscriptions/listen", {"notifications": {"resourceSubscriptions": [uri]}}, id=9
        )
        stream_into(events, "listen stream on B", "POST", b, headers, body)
        opened, acknowledged = 0, False
        while opened < 2 or not acknowledged:
            kind, name, detail = next_of(events, 10)
            assert kind in ("open", "event"), f"{name}: {kind} {detail}"
            if kind == "open":
                t.step(f"{name} opened: {detail}")
                assert detail == 200, f"{name}: {detail}"
                opened += 1
            else:
                t.step(f"{name}: {detail.get('method')} {json.dumps(detail.get('params'))[:160]}")
                acknowledged = detail.get("method") == "notifications/subscriptions/acknowledged"

        voided = legacy_call(
            http, a, args.token, session, {"name": "void_invoice", "arguments": {"invoice_id": args.invoice}}, id=4
        )
        t.step(f"tools/call void_invoice {args.invoice} on A: {voided.status_code}")
        assert tool_ok(voided, args.invoice), f"{voided.status_code} {voided.text[:300]}"

        waiting = {"GET stream on B", "listen stream on B"}
        while waiting:
            kind, name, detail = next_of(events, 10)
            assert kind == "event", f"{name}: {kind} {detail}"
            t.step(f"{name} received {detail.get('method')} {json.dumps(detail.get('params'))}")
            assert detail.get("method") == "notifications/resources/updated", f"{detail}"
            assert detail["params"]["uri"] == uri, f"{detail}"
            waiting.discard(name)

        deleted = http.delete(a, headers=legacy_headers(args.token, session))
        t.step(f"DELETE of the session on A: {deleted.status_code}")
        assert deleted.status_code == 204, f"{deleted.status_code}"
        kind, name, _ = next_of(events, 10)
        t.step(f"{name}: {kind} after the session ended on the other replica")
        assert (kind, name) == ("closed", "GET stream on B"), f"{kind} {name}"
    t.line("PASSED")
    return 0


# --- rate-limit-across-replicas ----------------------------------------------------------------


def cmd_rate_limit(args: argparse.Namespace) -> int:
    t = Transcript("rate-limit-across-replicas")
    n = args.limit
    total = n + 2
    t.line(
        f"--tool-rate-limit void_invoice={n} on both replicas, counted in Redis: {total} calls "
        f"through nginx ({args.url}) as one caller within one minute"
    )
    # The windows are aligned on the wall-clock minute: keep the burst inside one.
    into = time.time() % 60
    if into > 54:
        wait = 60 - into + 0.5
        t.step(f"{into:.1f} s into the minute: waiting {wait:.1f} s for the next window")
        time.sleep(wait)
    outcomes: list[tuple[int, str]] = []
    with httpx2.Client(timeout=REQUEST_TIMEOUT) as http:
        for i in range(total):
            headers, body = modern_request(
                args.token, "tools/call", {"name": "void_invoice", "arguments": {"invoice_id": args.invoice}}, i + 1
            )
            response = http.post(args.url, headers=headers, content=body)
            replica = replica_of(response.headers.get("x-upstream"))
            if response.status_code == 200:
                result = json_rpc_result(response).get("result") or {}
                ok = not result.get("isError")
                what = f"200, changed: {(result.get('structuredContent') or {}).get('changed')}" if ok else (
                    f"200 but a tool error: {json.dumps(result)[:200]}"
                )
                outcomes.append((200 if ok else -1, replica))
            elif response.status_code == 429:
                retry = response.headers.get("retry-after")
                what = f"429, Retry-After: {retry}"
                outcomes.append((429 if retry and retry.isdigit() else -2, replica))
            else:
                what = f"{response.status_code}: {response.text[:200]}"
                outcomes.append((response.status_code, replica))
            t.step(f"void_invoice {args.invoice} #{i + 1}: {what}  <- replica {describe_upstream(response.headers.get('x-upstream'))}")
    ok = [r for s, r in outcomes if s == 200]
    limited = [r for s, r in outcomes if s == 429]
    t.step(
        f"{len(ok)} succeeded (replicas {dict(Counter(ok))}), {len(limited)} got 429 with Retry-After "
        f"(replicas {dict(Counter(limited))}); per-replica counters would have let {2 * n} through"
    )
    assert len(ok) == n, f"{len(ok)} calls succeeded, expected exactly {n}"
    assert [s for s, _ in outcomes] == [200] * n + [429] * 2, f"outcomes in order: {outcomes}"
    assert {"A", "B"} <= set(ok), f"the successful calls were served by {sorted(set(ok))} only"
    t.line("PASSED")
    return 0


# --- replica-dies ------------------------------------------------------------------------------


class Loop:
    """Requests through nginx at a steady pace; each one's start and end times, status and
    replica."""

    def __init__(self, http: httpx2.AsyncClient, url: str, token: str, session: str) -> None:
        self.http, self.url, self.token, self.session = http, url, token, session
        self.records: list[dict[str, Any]] = []

    async def one(self, kind: str, i: int) -> None:
        if kind == "legacy":
            headers = legacy_headers(self.token, self.session)
            body = json.dumps(
                {"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": lookup_params()}
            ).encode()
        else:
            headers, body = modern_request(self.token, "tools/call", lookup_params(), i)
        start = time.monotonic()
        record: dict[str, Any] = {"kind": kind, "start": start}
        try:
            response = await self.http.post(self.url, headers=headers, content=body)
            record["status"] = response.status_code
            record["upstream"] = response.headers.get("x-upstream")
            record["ok"] = tool_ok(response)
            if not record["ok"]:
                record["error"] = response.text[:200]
        except httpx2.HTTPError as err:
            record.update(status=None, upstream=None, ok=False, error=f"{type(err).__name__}: {err}")
        record["end"] = time.monotonic()
        self.records.append(record)

    @classmethod
    def on_new_session(cls, t: Transcript, http: httpx2.AsyncClient, url: str, token: str) -> Loop:
        """A loop whose 2025-11-25 requests go on a session initialized through nginx first."""
        with httpx2.Client(timeout=REQUEST_TIMEOUT) as sync_http:
            session, _, _ = legacy_initialize(sync_http, url, token)
        t.step(f"session {short(session)} initialized through nginx")
        return cls(http, url, token, session)

    async def run(self, kind: str, until: float, interval: float) -> None:
        i = 0
        while time.monotonic() < until:
            due = time.monotonic() + interval
            i += 1
            await self.one(kind, i)
            await asyncio.sleep(max(0.0, due - time.monotonic()))

    async def run_both(self, until: float, rate: int) -> None:
        """Half the requests on the session, half 2026-07-28 ones, `rate` a second in all."""
        interval = 2.0 / rate  # two loops share the rate
        await asyncio.gather(self.run("legacy", until, interval), self.run("modern", until, interval))


async def replica_dies(args: argparse.Namespace) -> int:
    t = Transcript("replica-dies")
    t.line(
        f"a client loop through nginx ({args.url}) for {args.duration:.0f} s at {args.rate} req/s "
        f"(half on one 2025-11-25 session, half 2026-07-28 requests); replica A (pid {args.kill_pid}) "
        f"is killed with SIGKILL after {args.duration / 2:.0f} s"
    )
    async with httpx2.AsyncClient(timeout=REQUEST_TIMEOUT) as http:
        loop = Loop.on_new_session(t, http, args.url, args.token)
        begin = time.monotonic()
        until = begin + args.duration

        async def killer() -> tuple[float, float]:
            """SIGKILL, then the moment the process is gone (a zombie or reaped): its sockets
            are closed by then. Requests sent in between were in flight at the kill too."""
            await asyncio.sleep(args.duration / 2)
            at = time.monotonic()
            os.kill(args.kill_pid, signal.SIGKILL)
            while time.monotonic() - at < 5 and not exited(args.kill_pid):
                await asyncio.sleep(0.001)
            return at, time.monotonic()

        kill_task = asyncio.create_task(killer())
        await loop.run_both(until, args.rate)
        killed_at, dead_at = await kill_task
    records = sorted(loop.records, key=lambda r: r["start"])
    t.step(
        f"SIGKILL sent to replica A at t={killed_at - begin:.3f} s; the process was gone "
        f"{(dead_at - killed_at) * 1000:.1f} ms later"
    )
    assert exited(args.kill_pid), "replica A still runs after SIGKILL"
    failed = [r for r in records if not r["ok"]]
    in_flight = [r for r in failed if r["start"] <= dead_at and r["end"] >= killed_at]
    before = [r for r in records if r["end"] < killed_at]
    after = [r for r in records if r["start"] > killed_at]
    t.step(
        f"{len(records)} requests: {len(records) - len(failed)} ok, {len(failed)} failed "
        f"({len(in_flight)} of them in flight at the kill)"
    )
    for r in failed:
        t.step(
            f"  failed: {r['kind']} request sent at {r['start'] - killed_at:+.3f} s, ended at "
            f"{r['end'] - killed_at:+.3f} s relative to the kill: status {r['status']} "
            f"<- {describe_upstream(r['upstream'])}: {r.get('error', '')}"
        )

    def by_replica(rs: list[dict[str, Any]]) -> dict[str, int]:
        return dict(sorted(Counter(replica_of(r["upstream"]) for r in rs if r["ok"]).items()))

    t.step(f"before the kill, ok per replica: {by_replica(before)}")
    t.step(f"after the kill, ok per replica: {by_replica(after)}")
    retried = [r for r in after if r["upstream"] and "," in r["upstream"]]
    if retried:
        t.step(
            f"nginx retried {len(retried)} request(s) on B after a connection error on A "
            f"(X-Upstream: {retried[0]['upstream']})"
        )
    legacy_after = [r for r in after if r["kind"] == "legacy" and r["ok"]]
    t.step(f"the 2025-11-25 session went on after the kill: {len(legacy_after)} ok call(s) on it")
    assert not [r for r in failed if r not in in_flight], "requests failed that were not in flight at the kill"
    assert by_replica(before).keys() >= {"A", "B"}, "both replicas served before the kill"
    assert set(by_replica(after)) == {"B"}, f"after the kill only B serves: {by_replica(after)}"
    assert legacy_after, "the session survived replica A"
    return 0


# --- rolling-restart ---------------------------------------------------------------------------


async def rolling_restart(args: argparse.Namespace) -> int:
    """The client loop alone; run.sh restarts the replicas (SIGTERM, start again) meanwhile,
    and names the moments in --events. No request may fail."""
    t = Transcript("rolling-restart")
    t.line(
        f"a client loop through nginx ({args.url}) for {args.duration:.0f} s at {args.rate} req/s "
        "(half on one 2025-11-25 session, half 2026-07-28 requests) while each replica in turn "
        "gets SIGTERM and is started again"
    )
    async with httpx2.AsyncClient(timeout=REQUEST_TIMEOUT) as http:
        loop = Loop.on_new_session(t, http, args.url, args.token)
        begin = time.monotonic()
        with open(args.ready_file, "w", encoding="ascii") as f:
            f.write(f"{time.time()}\n")
        await loop.run_both(begin + args.duration, args.rate)
    records = sorted(loop.records, key=lambda r: r["start"])
    failed = [r for r in records if not r["ok"]]
    t.step(f"{len(records)} requests: {len(records) - len(failed)} ok, {len(failed)} failed")
    for r in failed:
        t.step(
            f"  failed: {r['kind']} request at {r['start'] - begin:.3f} s: status {r['status']} "
            f"<- {describe_upstream(r['upstream'])}: {r.get('error', '')}"
        )
    retried = [r for r in records if r["upstream"] and "," in r["upstream"]]
    t.step(f"nginx retried {len(retried)} request(s) on the other replica after a connection error")
    served = Counter(replica_of(r["upstream"]) for r in records if r["ok"])
    t.step(f"ok per replica: {dict(sorted(served.items()))}")
    assert not failed, f"{len(failed)} request(s) failed during the rolling restart"
    assert {"A", "B"} <= set(served), "both replicas served"
    legacy = [r for r in records if r["kind"] == "legacy" and r["ok"]]
    t.step(f"the 2025-11-25 session carried on through both restarts: {len(legacy)} ok call(s) on it")
    return 0


def cmd_rolling_restart(args: argparse.Namespace) -> int:
    return asyncio.run(rolling_restart(args))


def exited(pid: int) -> bool:
    """Whether `pid` has exited: gone, or a zombie waiting for its parent."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError):
        # Gone, or being reaped while its stat file was read.
        return True


def cmd_replica_dies(args: argparse.Namespace) -> int:
    return asyncio.run(replica_dies(args))


# --- reach -------------------------------------------------------------------------------------


def cmd_reach(args: argparse.Namespace) -> int:
    t = Transcript(args.scenario)
    begin = time.monotonic()
    deadline = begin + args.within
    with httpx2.Client(timeout=REQUEST_TIMEOUT) as http:
        sent = 0
        served = Counter()
        while time.monotonic() < deadline:
            headers, body = modern_request(args.token, "tools/call", lookup_params(), sent + 1)
            response = http.post(args.url, headers=headers, content=body)
            sent += 1
            assert tool_ok(response), f"{response.status_code} {response.text[:300]}"
            replica = replica_of(response.headers.get("x-upstream"))
            served[replica] += 1
            if replica == args.replica:
                t.step(
                    f"requests through nginx reach replica {args.replica} again after "
                    f"{time.monotonic() - begin:.1f} s (nginx's fail_timeout): {sent} request(s), all "
                    f"200, replicas {dict(sorted(served.items()))}"
                )
                return 0
            time.sleep(0.25)
    t.step(f"no request reached replica {args.replica} within {args.within:.0f} s ({dict(served)})")
    return 1


# --- health ------------------------------------------------------------------------------------


def get(http: httpx2.Client, url: str) -> tuple[int | None, str]:
    try:
        response = http.get(url)
        return response.status_code, response.text.strip()[:200]
    except httpx2.HTTPError as err:
        return None, f"{type(err).__name__}: {err}"


def wait_status(http: httpx2.Client, url: str, want: int, within: float) -> tuple[int | None, str, float]:
    """Polls `url` until it answers `want` (or `within` seconds pass); the last answer and how
    long it took."""
    begin = time.monotonic()
    while True:
        status, body = get(http, url)
        took = time.monotonic() - begin
        if status == want or took > within:
            return status, body, took
        time.sleep(0.2)


def replicas(args: argparse.Namespace) -> tuple[tuple[str, str], ...]:
    """Each replica's name and origin."""
    return (("A", args.a), ("B", args.b))


def readiness(t: Transcript, http: httpx2.Client, args: argparse.Namespace, want: int, within: float) -> None:
    """Polls each replica's /readyz until it answers `want` (503 with Redis down, 200 with Redis
    back), which it must within `within` s; with Redis down, /healthz must still answer 200."""
    redis = "down" if want == 503 else "back"
    for name, base in replicas(args):
        status, body, took = wait_status(http, base + "/readyz", want, within)
        t.step(f"GET /readyz on replica {name} with Redis {redis}: {status} after {took:.1f} s {body}")
        assert status == want, f"/readyz on {name}: {status}"
        if redis == "down":
            status, body = get(http, base + "/healthz")
            t.step(f"GET /healthz on replica {name} with Redis down: {status} {body}")
            assert status == 200, f"/healthz on {name}: {status}"


@contextmanager
def after_redis_change(
    args: argparse.Namespace, want: int, within: float
) -> Iterator[tuple[Transcript, str, httpx2.Client]]:
    """A health phase after Redis stopped (`want` 503) or came back (200): its transcript, the
    session health-up made, and a client, once both replicas' /readyz said `want`."""
    t = Transcript("health")
    with open(args.session_file, encoding="utf-8") as f:
        session = f.read().strip()
    with httpx2.Client(timeout=REQUEST_TIMEOUT) as http:
        readiness(t, http, args, want, within)
        yield t, session, http


def cmd_health_up(args: argparse.Namespace) -> int:
    t = Transcript("health")
    with httpx2.Client(timeout=REQUEST_TIMEOUT) as http:
        for name, base in replicas(args):
            for path in ("/healthz", "/readyz"):
                status, body = get(http, base + path)
                t.step(f"GET {path} on replica {name}: {status} {body}")
                assert status == 200, f"{path} on {name}: {status}"
        session, _, _ = legacy_initialize(http, args.url, args.token)
        call = legacy_call(http, args.url, args.token, session, lookup_params())
        t.step(f"a 2025-11-25 session {short(session)} through nginx, tools/call: {status_line(call)}")
        assert tool_ok(call), call.text[:300]
    with open(args.session_file, "w", encoding="utf-8") as f:
        f.write(session)
    return 0


def cmd_health_down(args: argparse.Namespace) -> int:
    with after_redis_change(args, 503, 15) as (t, session, http):
        for name, base in replicas(args):
            begin = time.monotonic()
            call = legacy_call(http, f"{base}/mcp", args.token, session, lookup_params())
            t.step(
                f"tools/call on session {short(session)} on replica {name} with Redis down: "
                f"{call.status_code} in {time.monotonic() - begin:.2f} s, Retry-After: "
                f"{call.headers.get('retry-after')} {call.text[:120]}"
            )
            assert call.status_code == 503, f"a session request without the store: {call.status_code}"
        headers, body = modern_request(args.token, "tools/call", lookup_params())
        begin = time.monotonic()
        modern = http.post(args.url, headers=headers, content=body)
        t.step(
            f"(for information) a 2026-07-28 tools/call through nginx with Redis down, which "
            f"needs no session (rate limits fail open): {status_line(modern)} in "
            f"{time.monotonic() - begin:.2f} s"
        )
    return 0


def cmd_health_back(args: argparse.Namespace) -> int:
    with after_redis_change(args, 200, 30) as (t, session, http):
        old = legacy_call(http, args.url, args.token, session, lookup_params())
        t.step(
            f"the old session {short(session)} after the restart (Redis keeps nothing on disk "
            f"here): {status_line(old)}"
        )
        assert old.status_code == 404, f"a session lost with Redis's state: {old.status_code}"
        new_session, _, _ = legacy_initialize(http, args.url, args.token)
        call = legacy_call(http, args.url, args.token, new_session, lookup_params())
        t.step(f"a new session {short(new_session)} through nginx, tools/call: {status_line(call)}")
        assert tool_ok(call), call.text[:300]
    t.line("PASSED")
    return 0


# --- dpop-replay-across-replicas ---------------------------------------------------------------


def cmd_dpop_replay(args: argparse.Namespace) -> int:
    t = Transcript("dpop-replay-across-replicas")
    a, b = f"{args.a}/mcp", f"{args.b}/mcp"
    # The public URI (nginx's, the token audience) is every proof's htu, and its host the Host
    # header, exactly as requests through nginx reach a replica (proxy_set_header Host): the
    # replicas are addressed directly so that which one gets which proof is certain.
    public = args.url
    host = httpx2.URL(public).netloc.decode()
    t.line(
        f"a DPoP proof replayed across replicas sharing Redis, no nginx: A = {args.a}, B = {args.b}; "
        f"htu and Host are the public URI {public}"
    )
    key = DpopKey()
    issued = dpop_client_credentials(
        args.issuer, args.client_id, os.environ["CLUSTER_CLIENT_SECRET"], public, "invoices:read", key
    )
    token = issued["access_token"]
    cnf = jwt.decode(token, options={"verify_signature": False}).get("cnf", {})
    assert issued["token_type"].lower() == "dpop", f"token_type {issued['token_type']}"
    assert cnf.get("jkt") == key.thumbprint, f"cnf {cnf} is not the key's thumbprint {key.thumbprint}"
    t.step(
        "client_credentials with a DPoP proof (PyJWT ES256; oidc-provider's nonce on the second "
        "try): token_type DPoP, cnf.jkt = the key's thumbprint"
    )
    names = {a: "A", b: "B"}

    def send(http: httpx2.Client, url: str, proof: str, session: str | None = None, **request: Any) -> httpx2.Response:
        """POST (or `method`) to a replica with the token in the DPoP scheme and `proof`."""
        if session is None and "content" not in request:
            headers, body = modern_request(token, "tools/call", lookup_params())
            request["content"] = body
        else:
            headers = legacy_headers(token, session)
        headers.update({"authorization": f"DPoP {token}", "dpop": proof, "host": host})
        method = request.pop("method", "POST")
        return http.request(method, url, headers=headers, **request)

    def fresh(http: httpx2.Client, url: str, session: str | None = None, **request: Any) -> tuple[httpx2.Response, str]:
        """`send` with a new proof; once more with billing's nonce if it asks for one."""
        method = request.get("method", "POST")
        proof = key.proof(method, public, token)
        response = send(http, url, proof, session, **dict(request))
        challenge = response.headers.get("www-authenticate", "")
        if response.status_code == 401 and "use_dpop_nonce" in challenge and key.observe(public, response):
            t.step(f"replica {names[url]} asked for a DPoP nonce (401 use_dpop_nonce): a new proof with it")
            proof = key.proof(method, public, token)
            response = send(http, url, proof, session, **dict(request))
        key.observe(public, response)
        return response, proof

    def refused(response: httpx2.Response, what: str) -> None:
        challenge = response.headers.get("www-authenticate", "")
        t.step(f"{what}: {response.status_code} {'invalid_dpop_proof' if 'invalid_dpop_proof' in challenge else challenge}")
        assert response.status_code == 401, f"{what}: {response.status_code} {response.text[:300]}"
        assert 'error="invalid_dpop_proof"' in challenge, f"{what}: challenge {challenge!r}"

    with httpx2.Client(timeout=REQUEST_TIMEOUT) as http:
        # 2026-07-28: each request stands alone.
        first, proof = fresh(http, a)
        t.step(f"2026-07-28 tools/call lookup_invoice with proof #1 on A: {first.status_code}")
        assert tool_ok(first), f"A refused a fresh proof: {first.status_code} {first.headers.get('www-authenticate')} {first.text[:300]}"
        refused(send(http, b, proof), "proof #1 replayed on B")
        refused(send(http, a, proof), "proof #1 replayed on A")
        second, proof = fresh(http, b)
        t.step(f"a fresh proof #2 on B: {second.status_code}")
        assert tool_ok(second), f"B refused a fresh proof: {second.status_code} {second.text[:300]}"
        refused(send(http, a, proof), "proof #2 (accepted by B) replayed on A")

        # 2025-11-25: a session made on A, used on B; each request with its own proof.
        init, _ = fresh(http, a, None, content=initialize_body())
        session = init.headers.get("mcp-session-id")
        assert init.status_code == 200 and session, f"initialize on A: {init.status_code} {init.text[:300]}"
        t.step(f"2025-11-25 initialize on A with a fresh proof: {init.status_code}, Mcp-Session-Id {short(session)}")
        note, _ = fresh(
            http, b, session, content=json.dumps(rpc_body("notifications/initialized", None, None)).encode()
        )
        assert note.status_code == 202, f"notifications/initialized on B: {note.status_code} {note.text[:300]}"
        call_body = json.dumps(rpc_body("tools/call", lookup_params(), 2)).encode()
        call, proof = fresh(http, b, session, content=call_body)
        t.step(f"notifications/initialized, then tools/call on B, fresh proofs: {note.status_code}, {call.status_code}")
        assert tool_ok(call), f"{call.status_code} {call.text[:300]}"
        refused(send(http, a, proof, session, content=call_body), "that tools/call's proof replayed on A (same session)")
        deleted, _ = fresh(http, a, session, method="DELETE")
        t.step(f"DELETE of the session on A with a fresh proof: {deleted.status_code}")
        assert deleted.status_code == 204, f"{deleted.status_code} {deleted.text[:300]}"
    t.line("PASSED")
    return 0


# --- probe -------------------------------------------------------------------------------------


def cmd_probe(args: argparse.Namespace) -> int:
    with httpx2.Client(timeout=REQUEST_TIMEOUT) as http:
        headers, body = modern_request(args.token, "tools/call", lookup_params())
        response = http.post(args.url, headers=headers, content=body)
        if not tool_ok(response):
            print(f"probe {args.url}: {response.status_code} {response.text[:300]}", file=sys.stderr)
            return 1
    return 0


HELP = {"--a": "replica A's origin, http://127.0.0.1:PORT"}


def main() -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name: str, run: Any, *required: str) -> argparse.ArgumentParser:
        """A subcommand running `run`, with these options required."""
        p = sub.add_parser(name)
        for option in required:
            p.add_argument(option, required=True, help=HELP.get(option))
        p.set_defaults(run=run)
        return p

    command("token", cmd_token, "--issuer", "--client-id", "--resource", "--scope")
    command("sessions", cmd_sessions, "--a", "--b", "--token", "--other-token")
    p = command("subscriptions", cmd_subscriptions, "--a", "--b", "--token")
    p.add_argument("--invoice", default="INV-2047")
    p.add_argument("--foreign-invoice", default="INV-3101")

    p = command("rate-limit", cmd_rate_limit, "--url", "--token")
    p.add_argument("--limit", type=int, required=True)
    p.add_argument("--invoice", default="INV-2046")

    p = command("replica-dies", cmd_replica_dies, "--url", "--token")
    p.add_argument("--kill-pid", type=int, required=True)
    p.add_argument("--duration", type=float, default=6.0)
    p.add_argument("--rate", type=int, default=20)

    p = command("rolling-restart", cmd_rolling_restart, "--url", "--token")
    p.add_argument("--duration", type=float, default=12.0)
    p.add_argument("--rate", type=int, default=20)
    p.add_argument("--ready-file", required=True, help="written when the loop starts")

    p = command("reach", cmd_reach, "--scenario", "--url", "--token", "--replica")
    p.add_argument("--within", type=float, default=30.0)

    for name, run in (("health-up", cmd_health_up), ("health-down", cmd_health_down), ("health-back", cmd_health_back)):
        command(name, run, "--a", "--b", "--url", "--token", "--session-file")

    command("probe", cmd_probe, "--url", "--token")
    command("dpop-replay", cmd_dpop_replay, "--a", "--b", "--url", "--issuer", "--client-id")

    args = parser.parse_args()
    try:
        return args.run(args)
    except AssertionError as err:
        scenario = {
            "sessions": "session-a-to-b",
            "subscriptions": "subscriptions-across-replicas",
            "rate-limit": "rate-limit-across-replicas",
            "replica-dies": "replica-dies",
            "rolling-restart": "rolling-restart",
            "dpop-replay": "dpop-replay-across-replicas",
        }.get(args.command, getattr(args, "scenario", None) or "health")
        Transcript(scenario).line(f"FAILED: {err}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
