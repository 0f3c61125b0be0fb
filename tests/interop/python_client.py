"""Scenario 2: the official Python SDK client (`mcp` from PyPI) against billing with a bearer
token: connect, list the tools and call one over streamable HTTP, once in every protocol era
the installed SDK speaks.

    python python_client.py --url http://127.0.0.1:PORT/mcp --token TOKEN
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

import anyio
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS

SCENARIO = "python-sdk"
# Every request of the suite is bounded; the whole scenario too (see main).
REQUEST_TIMEOUT = httpx2.Timeout(15.0)
SCENARIO_TIMEOUT = 60.0


def line(text: str) -> None:
    """One line of the transcript, on stdout and in SCENARIO_TRANSCRIPT if set."""
    out = f"[{SCENARIO}] {text}"
    print(out, flush=True)
    path = os.environ.get("SCENARIO_TRANSCRIPT")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(out + "\n")


def describe(request: httpx2.Request) -> str:
    """The JSON-RPC method a request carried, if any."""
    try:
        body = json.loads(request.content or b"null")
    except (ValueError, httpx2.RequestNotRead):
        return ""
    if isinstance(body, dict) and "method" in body:
        params = body.get("params") or {}
        name = f" {params['name']}" if "name" in params else ""
        offered = f" (offers {params.get('protocolVersion')})" if body["method"] == "initialize" else ""
        return f"{body['method']}{name}{offered}"
    return ""


async def record(response: httpx2.Response) -> None:
    request = response.request
    notes = [describe(request)]
    version = request.headers.get("mcp-protocol-version")
    if version:
        notes.append(f"[MCP-Protocol-Version {version}]")
    if response.status_code in (401, 403):
        notes.append(f"WWW-Authenticate: {response.headers.get('www-authenticate', '')}")
    line(
        f"    {request.method:<4} {request.url.host}:{request.url.port}{request.url.path} -> "
        f"{response.status_code}  {'  '.join(n for n in notes if n)}".rstrip()
    )


def http_client(token: str) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(
        headers={"Authorization": f"Bearer {token}"},
        timeout=REQUEST_TIMEOUT,
        event_hooks={"response": [record]},
    )


def text_of(result: Any) -> str:
    return "".join(c.text for c in result.content if getattr(c, "type", None) == "text")


async def run_era(url: str, token: str, mode: str) -> None:
    """Connects in `mode` (`legacy`, `auto` or a modern version), lists the tools and calls
    lookup_invoice; raises on any failure."""
    line(f"  step: mode {mode!r}")
    transport = streamable_http_client(url, http_client=http_client(token))
    async with Client(transport, mode=mode, client_info=None) as client:
        version = client.protocol_version
        line(f"  step: connected, protocol version {version}")
        if mode == "legacy":
            assert version in HANDSHAKE_PROTOCOL_VERSIONS, version
        else:
            assert version in MODERN_PROTOCOL_VERSIONS, version
        tools = await client.list_tools()
        names = sorted(t.name for t in tools.tools)
        assert "lookup_invoice" in names, names
        line(f"  step: tools/list: {', '.join(names)}")
        result = await client.call_tool("lookup_invoice", {"invoice_id": "INV-2041"})
        assert not result.is_error, text_of(result)
        assert "INV-2041" in text_of(result), text_of(result)
        line("  step: tools/call lookup_invoice INV-2041: OK")


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", required=True)
    args = parser.parse_args()
    line(f"Python SDK client (mcp {version_of('mcp')}) against {args.url}")
    line(
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
                line(f"  step: mode {mode!r} FAILED: {type(cause).__name__}: {cause}")
    if scope.cancelled_caught:
        line(f"FAILED: no result within {SCENARIO_TIMEOUT:.0f} s")
        return 1
    line("FAILED" if failed else "PASSED")
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
