"""Scenario 6: the official Python SDK client (`mcp` from PyPI) launches the `notes` example
over stdio (`stdio_client`), its identity in the environment granting `notes:read` only:
lists the tools, calls a read tool, and is refused a write tool with the insufficient-scope
error, once in every protocol era the installed SDK speaks.

    PYTHONPATH=../lib python stdio_client.py --binary target/debug/notes
"""

from __future__ import annotations

import argparse
import sys

import anyio
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.shared.exceptions import MCPError
from mcp_client import Transcript, assert_era, run_modes, text_of, version_of
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

T = Transcript("python-sdk-stdio")
SCENARIO_TIMEOUT = 60.0
TOOLS = ["create_note", "delete_note", "get_note", "list_notes", "update_note"]
# Read only: what the desktop client's configuration grants this user.
ENVIRONMENT = {"NOTES_SUBJECT": "alice", "NOTES_SCOPES": "notes:read", "RUST_LOG": "warn"}


async def run_era(binary: str, mode: str) -> None:
    server = StdioServerParameters(command=binary, args=["stdio"], env=ENVIRONMENT)
    async with Client(server, mode=mode, read_timeout_seconds=15.0) as client:
        version = client.protocol_version
        T.step(f"launched `notes stdio`, protocol version {version}")
        assert_era(mode, version)
        names = sorted(t.name for t in (await client.list_tools()).tools)
        assert names == TOOLS, names
        T.step(f"tools/list: {', '.join(names)}")
        listed = await client.call_tool("list_notes", {})
        assert not listed.is_error, text_of(listed)
        assert listed.structured_content == {"notes": []}, listed.structured_content
        T.step("tools/call list_notes: OK, no notes")
        try:
            await client.call_tool("create_note", {"title": "t", "body": "b"})
        except MCPError as err:
            assert err.code == -32003, (err.code, err.message)
            assert err.data == {"requiredScopes": ["notes:write"]}, err.data
            T.step(f"tools/call create_note: refused, {err.code} {err.message} {err.data}")
        else:
            raise AssertionError("create_note succeeded without notes:write")


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    binary = parser.parse_args().binary
    T.line(f"Python SDK client (mcp {version_of('mcp')}) launching {binary} stdio")
    T.line(f"  environment: {' '.join(f'{k}={v}' for k, v in ENVIRONMENT.items())}")
    modes = ["legacy", *MODERN_PROTOCOL_VERSIONS, "auto"]
    return await run_modes(T, modes, lambda mode: run_era(binary, mode), SCENARIO_TIMEOUT)


if __name__ == "__main__":
    sys.exit(anyio.run(main))
