"""Shared by the Python scenarios of the interop and cluster suites, as scenario.mjs is by their
Node scenarios: the transcript, an httpx hook recording every exchange of the official Python
SDK (`mcp` from PyPI) and, behind the cluster's nginx, the replica that answered it, and the
run of one SDK scenario in every protocol era it is given.

The suites' run.sh put this folder on PYTHONPATH; by hand:

    PYTHONPATH=../lib .venv/bin/python python_client.py --url ... --token ...
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import anyio
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS

# Every request of the suites is bounded; each scenario too (see run_modes).
REQUEST_TIMEOUT = httpx2.Timeout(15.0)


class Transcript:
    """Lines of one scenario, on stdout and in SCENARIO_TRANSCRIPT if set (run.sh prints that
    file at the end)."""

    def __init__(self, scenario: str) -> None:
        self.scenario = scenario

    def line(self, text: str) -> None:
        out = f"[{self.scenario}] {text}"
        print(out, flush=True)
        path = os.environ.get("SCENARIO_TRANSCRIPT")
        if path:
            with open(path, "a", encoding="utf-8") as f:
                f.write(out + "\n")

    def step(self, text: str) -> None:
        self.line(f"  step: {text}")


def replica_of(upstream: str | None) -> str:
    """`A` or `B` for the replica that finally answered (the last address of X-Upstream, which
    lists every replica nginx tried), the address for another, `-` when there was none."""
    if not upstream:
        return "-"
    last = upstream.split(",")[-1].strip()
    names = {os.environ.get("CLUSTER_REPLICA_A"): "A", os.environ.get("CLUSTER_REPLICA_B"): "B"}
    return names.get(last, last)


def describe_upstream(upstream: str | None) -> str:
    """Every replica nginx tried, in order, e.g. `A` or `A, then B`."""
    if not upstream:
        return "-"
    return ", then ".join(replica_of(a) for a in upstream.split(","))


def describe(request: httpx2.Request) -> str:
    """The JSON-RPC method a request carried, or the id of the response it carried, if any."""
    try:
        body = json.loads(request.content or b"null")
    except (ValueError, httpx2.RequestNotRead):
        return ""
    if isinstance(body, dict) and "method" not in body and ("result" in body or "error" in body):
        return f"response to {body.get('id')}"
    if isinstance(body, dict) and "method" in body:
        params = body.get("params") or {}
        name = f" {params['name']}" if "name" in params else ""
        offered = f" (offers {params.get('protocolVersion')})" if body["method"] == "initialize" else ""
        return f"{body['method']}{name}{offered}"
    return ""


class Recorder:
    """An httpx response hook: each exchange in the transcript and in `exchanges`. With
    `replicas` (behind the cluster's nginx), each line also names the session and the replica
    that answered (X-Upstream)."""

    def __init__(self, transcript: Transcript, replicas: bool = False) -> None:
        self.transcript = transcript
        self.replicas = replicas
        self.exchanges: list[dict[str, Any]] = []

    async def __call__(self, response: httpx2.Response) -> None:
        request = response.request
        upstream = response.headers.get("x-upstream")
        session = request.headers.get("mcp-session-id")
        notes = [describe(request)]
        version = request.headers.get("mcp-protocol-version")
        if version:
            notes.append(f"[MCP-Protocol-Version {version}]")
        if session and self.replicas:
            notes.append(f"[session {session[:8]}…]")
        if response.status_code in (401, 403):
            notes.append(f"WWW-Authenticate: {response.headers.get('www-authenticate', '')}")
        if self.replicas:
            notes.append(f"<- replica {describe_upstream(upstream)}")
        self.transcript.line(
            f"    {request.method:<4} {request.url.host}:{request.url.port}{request.url.path} -> "
            f"{response.status_code}  {'  '.join(n for n in notes if n)}".rstrip()
        )
        self.exchanges.append(
            {
                "method": request.method,
                "status": response.status_code,
                "session": session,
                "replica": replica_of(upstream),
                "what": notes[0],
            }
        )


def http_client(token: str, recorder: Recorder) -> httpx2.AsyncClient:
    """The SDK's HTTP client: the bearer token on every request, each one bounded and recorded."""
    return httpx2.AsyncClient(
        headers={"Authorization": f"Bearer {token}"},
        timeout=REQUEST_TIMEOUT,
        event_hooks={"response": [recorder]},
    )


def connect(url: str, token: str, mode: str, recorder: Recorder, **options: Any) -> Client:
    """An SDK client of `url` in `mode` (`legacy`, `auto` or a modern version); `options` go to
    `Client` (an elicitation callback, say). Use it with `async with`."""
    transport = streamable_http_client(url, http_client=http_client(token, recorder))
    return Client(transport, mode=mode, client_info=None, **options)


def text_of(result: Any) -> str:
    return "".join(c.text for c in result.content if getattr(c, "type", None) == "text")


def assert_era(mode: str, version: str) -> None:
    """The protocol version a client negotiated belongs to the era its `mode` asked for."""
    if mode == "legacy":
        assert version in HANDSHAKE_PROTOCOL_VERSIONS, version
    else:
        assert version in MODERN_PROTOCOL_VERSIONS, version


async def list_and_lookup(url: str, token: str, mode: str, recorder: Recorder, calls: int = 1) -> None:
    """Connects in `mode`, checks the negotiated version belongs to that era, lists the tools
    and calls lookup_invoice INV-2041 `calls` times; raises on any failure."""
    t = recorder.transcript
    async with connect(url, token, mode, recorder) as client:
        version = client.protocol_version
        t.step(f"connected, protocol version {version}")
        assert_era(mode, version)
        tools = await client.list_tools()
        names = sorted(t.name for t in tools.tools)
        assert "lookup_invoice" in names, names
        t.step(f"tools/list: {', '.join(names)}")
        for _ in range(calls):
            result = await client.call_tool("lookup_invoice", {"invoice_id": "INV-2041"})
            assert not result.is_error, text_of(result)
            assert "INV-2041" in text_of(result), text_of(result)
        t.step(f"tools/call lookup_invoice INV-2041{f' x{calls}' if calls > 1 else ''}: OK")


async def in_every_era(
    t: Transcript, where: str, run_era: Callable[[str, str, str], Awaitable[None]], timeout: float
) -> int:
    """An SDK scenario run from its command line (`--url URL --token TOKEN`): the SDK's version
    and the eras it speaks in the transcript, then `run_era(url, token, mode)` in every mode
    (see run_modes). The exit code."""
    args = url_and_token()
    t.line(f"Python SDK client (mcp {version_of('mcp')}) {where} {args.url}")
    t.line(
        f"  the SDK speaks: handshake era {', '.join(HANDSHAKE_PROTOCOL_VERSIONS)}; "
        f"stateless era {', '.join(MODERN_PROTOCOL_VERSIONS) or 'none'}"
    )
    # `legacy`: the initialize handshake at the newest handshake version; each modern
    # version directly; `auto`: the server/discover probe picks the era.
    modes = ["legacy", *MODERN_PROTOCOL_VERSIONS, "auto"]
    return await run_modes(t, modes, lambda mode: run_era(args.url, args.token, mode), timeout)


def url_and_token() -> argparse.Namespace:
    """The command line of an SDK scenario: `--url URL --token TOKEN`."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", required=True)
    return parser.parse_args()


async def run_modes(
    t: Transcript,
    modes: Iterable[str],
    run_era: Callable[[str], Awaitable[None]],
    timeout: float,
) -> int:
    """Runs `run_era` for each mode (`legacy`, `auto` or a modern version), reporting a failure and going on with the next mode, all
    within `timeout` seconds; ends the transcript with PASSED or FAILED. The exit code."""
    failed = False
    with anyio.move_on_after(timeout) as scope:
        for mode in modes:
            t.step(f"mode {mode!r}")
            try:
                await run_era(mode)
            except Exception as err:  # noqa: BLE001 - report and go on with the next era
                failed = True
                cause = innermost(err)
                t.step(f"mode {mode!r} FAILED: {type(cause).__name__}: {cause}")
    if scope.cancelled_caught:
        t.line(f"FAILED: no result within {timeout:.0f} s")
        return 1
    t.line("FAILED" if failed else "PASSED")
    return 1 if failed else 0


def innermost(err: BaseException) -> BaseException:
    """The first leaf of nested exception groups (anyio task groups wrap errors in them)."""
    while isinstance(err, BaseExceptionGroup) and err.exceptions:
        err = err.exceptions[0]
    return err


def version_of(package: str) -> str:
    from importlib.metadata import version

    return version(package)
