"""Scenario python-sdk: the official Python SDK client (`mcp` from PyPI), through nginx in front
of two billing replicas, with a bearer token from oidc-provider's client_credentials grant:
connect, list the tools and call lookup_invoice over streamable HTTP, once in every protocol
era the installed SDK speaks. In the handshake era (2025-11-25) it makes several calls on one
session, and an httpx event hook records which replica answered each request (nginx's
X-Upstream): the session must have been served by both.

    python python_client.py --url http://127.0.0.1:NGINX/mcp --token TOKEN

(Adapted from tests/interop/python_client.py.)
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from typing import Any

import anyio
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS

from cluster import REQUEST_TIMEOUT, Transcript, describe_upstream, replica_of

T = Transcript("python-sdk")
SCENARIO_TIMEOUT = 90.0
# Calls of lookup_invoice on the one handshake-era session.
SESSION_CALLS = 6


def describe(request: httpx2.Request) -> str:
    """The JSON-RPC method a request carried, if any."""
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
    """An httpx response hook: each exchange in the transcript, with the replica that answered."""

    def __init__(self, transcript: Transcript = T) -> None:
        self.transcript = transcript
        self.exchanges: list[dict[str, Any]] = []

    async def __call__(self, response: httpx2.Response) -> None:
        request = response.request
        upstream = response.headers.get("x-upstream")
        session = request.headers.get("mcp-session-id")
        notes = [describe(request)]
        version = request.headers.get("mcp-protocol-version")
        if version:
            notes.append(f"[MCP-Protocol-Version {version}]")
        if session:
            notes.append(f"[session {session[:8]}…]")
        if response.status_code in (401, 403):
            notes.append(f"WWW-Authenticate: {response.headers.get('www-authenticate', '')}")
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
    return httpx2.AsyncClient(
        headers={"Authorization": f"Bearer {token}"},
        timeout=REQUEST_TIMEOUT,
        event_hooks={"response": [recorder]},
    )


def text_of(result: Any) -> str:
    return "".join(c.text for c in result.content if getattr(c, "type", None) == "text")


async def run_era(url: str, token: str, mode: str) -> None:
    """Connects in `mode` (`legacy`, `auto` or a modern version), lists the tools and calls
    lookup_invoice (several times on the legacy session); raises on any failure."""
    T.step(f"mode {mode!r}")
    recorder = Recorder()
    transport = streamable_http_client(url, http_client=http_client(token, recorder))
    calls = SESSION_CALLS if mode == "legacy" else 2
    async with Client(transport, mode=mode, client_info=None) as client:
        version = client.protocol_version
        T.step(f"connected, protocol version {version}")
        if mode == "legacy":
            assert version in HANDSHAKE_PROTOCOL_VERSIONS, version
        else:
            assert version in MODERN_PROTOCOL_VERSIONS, version
        tools = await client.list_tools()
        names = sorted(t.name for t in tools.tools)
        assert "lookup_invoice" in names, names
        T.step(f"tools/list: {', '.join(names)}")
        for _ in range(calls):
            result = await client.call_tool("lookup_invoice", {"invoice_id": "INV-2041"})
            assert not result.is_error, text_of(result)
            assert "INV-2041" in text_of(result), text_of(result)
        T.step(f"tools/call lookup_invoice INV-2041 x{calls}: OK")
    # The SDK also tries GET for a standalone event stream; billing offers none (405).
    failed = [e for e in recorder.exchanges if e["status"] >= 400 and e["method"] != "GET"]
    assert not failed, f"failed exchanges: {failed}"
    if mode == "legacy":
        on_session = [e for e in recorder.exchanges if e["session"]]
        replicas = Counter(e["replica"] for e in on_session)
        T.step(
            f"requests on the session: {len(on_session)}, served by replicas "
            + ", ".join(f"{r}: {n}" for r, n in sorted(replicas.items()))
        )
        assert {"A", "B"} <= set(replicas), f"the session was served by {sorted(replicas)} only"
    else:
        replicas = Counter(e["replica"] for e in recorder.exchanges)
        T.step(
            f"requests: {len(recorder.exchanges)}, served by replicas "
            + ", ".join(f"{r}: {n}" for r, n in sorted(replicas.items()))
        )


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", required=True)
    args = parser.parse_args()
    T.line(f"Python SDK client (mcp {version_of('mcp')}) through nginx: {args.url}")
    T.line(
        f"  the SDK speaks: handshake era {', '.join(HANDSHAKE_PROTOCOL_VERSIONS)}; "
        f"stateless era {', '.join(MODERN_PROTOCOL_VERSIONS) or 'none'}"
    )
    # `legacy`: the initialize handshake at the newest handshake version; each modern
    # version directly; `auto`: the server/discover probe picks the era.
    modes = ["legacy", *MODERN_PROTOCOL_VERSIONS, "auto"]
    failed = False
    with anyio.move_on_after(SCENARIO_TIMEOUT) as scope:
        for mode in modes:
            try:
                await run_era(args.url, args.token, mode)
            except Exception as err:  # noqa: BLE001 - report and go on with the next era
                failed = True
                cause = innermost(err)
                T.step(f"mode {mode!r} FAILED: {type(cause).__name__}: {cause}")
    if scope.cancelled_caught:
        T.line(f"FAILED: no result within {SCENARIO_TIMEOUT:.0f} s")
        return 1
    T.line("FAILED" if failed else "PASSED")
    return 1 if failed else 0


def innermost(err: BaseException) -> BaseException:
    """The first leaf of nested exception groups (anyio task groups wrap errors in them)."""
    while isinstance(err, BaseExceptionGroup) and err.exceptions:
        err = err.exceptions[0]
    return err


def version_of(package: str) -> str:
    from importlib.metadata import version

    return version(package)


if __name__ == "__main__":
    sys.exit(anyio.run(main))
