"""Scenario python-sdk: the official Python SDK client (`mcp` from PyPI), through nginx in front
of two billing replicas, with a bearer token from oidc-provider's client_credentials grant:
connect, list the tools and call lookup_invoice over streamable HTTP, once in every protocol
era the installed SDK speaks (as tests/interop/python_client.py does against one billing). In
the handshake era (2025-11-25) it makes several calls on one session, and an httpx event hook
records which replica answered each request (nginx's X-Upstream): the session must have been
served by both.

    PYTHONPATH=../lib python python_client.py --url http://127.0.0.1:NGINX/mcp --token TOKEN
"""

from __future__ import annotations

import sys
from collections import Counter

import anyio
from mcp_client import Recorder, Transcript, in_every_era, list_and_lookup

T = Transcript("python-sdk")
SCENARIO_TIMEOUT = 90.0
# Calls of lookup_invoice on the one handshake-era session.
SESSION_CALLS = 6


async def run_era(url: str, token: str, mode: str) -> None:
    """Lists the tools and calls lookup_invoice in `mode` (several times on the legacy
    session), then checks which replicas served it; raises on any failure."""
    recorder = Recorder(T, replicas=True)
    await list_and_lookup(url, token, mode, recorder, calls=SESSION_CALLS if mode == "legacy" else 2)
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


if __name__ == "__main__":
    sys.exit(anyio.run(in_every_era, T, "through nginx:", run_era, SCENARIO_TIMEOUT))
