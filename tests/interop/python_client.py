"""Scenarios 2 and 9: the official Python SDK client (`mcp` from PyPI) against billing with a
bearer token (scenario 2) or an API key sent as one (9): connect, list the tools and call one
over streamable HTTP, once in every protocol era the installed SDK speaks. INTEROP_SCENARIO
names the scenario in the transcript (python-sdk by default).

    PYTHONPATH=../lib python python_client.py --url http://127.0.0.1:PORT/mcp --token TOKEN
"""

from __future__ import annotations

import os
import sys

import anyio
from mcp_client import Recorder, Transcript, in_every_era, list_and_lookup

T = Transcript(os.environ.get("INTEROP_SCENARIO", "python-sdk"))
SCENARIO_TIMEOUT = 60.0


async def run_era(url: str, token: str, mode: str) -> None:
    await list_and_lookup(url, token, mode, Recorder(T))


if __name__ == "__main__":
    sys.exit(anyio.run(in_every_era, T, "against", run_era, SCENARIO_TIMEOUT))
