"""Shared by the hand-written scenarios of the cluster test (scenarios.py): client-credentials
tokens from oidc-provider, and MCP requests written by hand in both protocol eras (the
2025-11-25 handshake with its Mcp-Session-Id, and 2026-07-28 requests with their mirrored
headers). The transcript and the replica names come from tests/lib/mcp_client.py.
"""

from __future__ import annotations

import json
from typing import Any

import httpx2
from mcp_client import REQUEST_TIMEOUT

LEGACY = "2025-11-25"
MODERN = "2026-07-28"


def client_credentials(
    issuer: str, client_id: str, client_secret: str, resource: str, scope: str
) -> str:
    """A JWT access token for `resource` from oidc-provider's client_credentials grant."""
    with httpx2.Client(timeout=REQUEST_TIMEOUT) as http:
        metadata = http.get(f"{issuer}/.well-known/openid-configuration").json()
        response = http.post(
            metadata["token_endpoint"],
            auth=(client_id, client_secret),
            data={"grant_type": "client_credentials", "scope": scope, "resource": resource},
        )
        assert response.status_code == 200, f"token endpoint: {response.status_code} {response.text}"
        return response.json()["access_token"]


def rpc_body(method: str, params: dict[str, Any] | None, id: int | None = 1) -> dict[str, Any]:
    body: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if id is not None:
        body["id"] = id
    if params is not None:
        body["params"] = params
    return body


def modern_request(
    token: str, method: str, params: dict[str, Any], id: int = 1
) -> tuple[dict[str, str], bytes]:
    """Headers and body of one 2026-07-28 request: the protocol version and client capabilities
    in `_meta`, and `MCP-Protocol-Version`, `Mcp-Method` and (for tools/call) `Mcp-Name`
    mirroring the body, as billing checks them."""
    params = dict(params)
    params["_meta"] = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    headers = {
        "authorization": f"Bearer {token}",
        "content-type": "application/json",
        "accept": "application/json, text/event-stream",
        "mcp-protocol-version": MODERN,
        "mcp-method": method,
    }
    if method == "tools/call":
        headers["mcp-name"] = params["name"]
    return headers, json.dumps(rpc_body(method, params, id)).encode()


def legacy_headers(token: str, session: str | None = None) -> dict[str, str]:
    """Headers of a 2025-11-25 request; after `initialize`, with its protocol version and the
    session."""
    headers = {
        "authorization": f"Bearer {token}",
        "content-type": "application/json",
        "accept": "application/json, text/event-stream",
    }
    if session:
        headers["mcp-protocol-version"] = LEGACY
        headers["mcp-session-id"] = session
    return headers


def initialize_body(id: int = 1) -> bytes:
    return json.dumps(
        rpc_body(
            "initialize",
            {
                "protocolVersion": LEGACY,
                "capabilities": {},
                "clientInfo": {"name": "mcp-auth-cluster", "version": "1.0.0"},
            },
            id,
        )
    ).encode()


def lookup_params(invoice: str = "INV-2041") -> dict[str, Any]:
    return {"name": "lookup_invoice", "arguments": {"invoice_id": invoice}}


def json_rpc_result(response: httpx2.Response) -> dict[str, Any]:
    """The JSON-RPC response in a JSON body or in the last `data:` event of an SSE body."""
    content_type = response.headers.get("content-type", "")
    if content_type.startswith("text/event-stream"):
        messages = [
            json.loads(line[5:])
            for line in response.text.splitlines()
            if line.startswith("data:") and line[5:].strip()
        ]
        responses = [m for m in messages if "result" in m or "error" in m]
        assert responses, f"no JSON-RPC response in the event stream: {response.text[:300]}"
        return responses[-1]
    return response.json()


def tool_ok(response: httpx2.Response, expect: str = "INV-2041") -> bool:
    """Whether a tools/call answered 200 with a successful result mentioning `expect`."""
    if response.status_code != 200:
        return False
    message = json_rpc_result(response)
    result = message.get("result")
    return bool(result) and not result.get("isError") and expect in json.dumps(result)


def legacy_initialize(
    http: httpx2.Client, url: str, token: str
) -> tuple[str, httpx2.Response, httpx2.Response]:
    """`initialize` and `notifications/initialized`; the session id and both responses."""
    init = http.post(url, headers=legacy_headers(token), content=initialize_body())
    assert init.status_code == 200, f"initialize: {init.status_code} {init.text}"
    session = init.headers.get("mcp-session-id")
    assert session, "initialize answered without Mcp-Session-Id"
    version = json_rpc_result(init)["result"]["protocolVersion"]
    assert version == LEGACY, f"initialize negotiated {version}"
    note = http.post(
        url,
        headers=legacy_headers(token, session),
        content=json.dumps(rpc_body("notifications/initialized", None, None)).encode(),
    )
    assert note.status_code == 202, f"notifications/initialized: {note.status_code} {note.text}"
    return session, init, note


def legacy_call(
    http: httpx2.Client, url: str, token: str, session: str, params: dict[str, Any], id: int = 2
) -> httpx2.Response:
    return http.post(
        url,
        headers=legacy_headers(token, session),
        content=json.dumps(rpc_body("tools/call", params, id)).encode(),
    )
