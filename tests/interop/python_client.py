"""Scenario 2: the official Python SDK client (`mcp` from PyPI) against billing with a bearer
token: connect, list the tools and call one over streamable HTTP, once in every protocol era
the installed SDK speaks.

    PYTHONPATH=../lib python python_client.py --url http://127.0.0.1:PORT/mcp --token TOKEN
"""

from __future__ import annotations

import sys

import anyio
from mcp_client import (
    Recorder,
    Transcript,
    every_mode,
    list_and_lookup,
    run_modes,
    sdk_eras,
    url_and_token,
    version_of,
)

T = Transcript("python-sdk")
SCENARIO_TIMEOUT = 60.0


async def main() -> int:
    args = url_and_token()
    T.line(f"Python SDK client (mcp {version_of('mcp')}) against {args.url}")
    T.line(sdk_eras())

    async def run_era(mode: str) -> None:
        await list_and_lookup(args.url, args.token, mode, Recorder(T))

    return await run_modes(T, every_mode(), run_era, SCENARIO_TIMEOUT)


if __name__ == "__main__":
    sys.exit(anyio.run(main))
