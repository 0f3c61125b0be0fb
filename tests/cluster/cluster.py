"""Shared by the hand-written scenarios of the cluster test (scenarios.py): client-credentials
tokens from oidc-provider (DPoP-bound ones too, with proofs signed by `DpopKey`), and MCP
requests written by hand in both protocol eras (the 2025-11-25 handshake with its
Mcp-Session-Id, and 2026-07-28 requests with their mirrored headers). The transcript and the
replica names come from tests/lib/mcp_client.py.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from typing import Any

import httpx2
import jwt
from cryptography.hazmat.primitives.asymmetric import ec
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


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class DpopKey:
    """A client's DPoP key (RFC 9449): a P-256 key pair made with `cryptography`, proofs signed
    with PyJWT (ES256, `typ: dpop+jwt`, the public JWK in the header), and the nonce each
    server last sent (RFC 9449 §8), by origin."""

    def __init__(self) -> None:
        self.private_key = ec.generate_private_key(ec.SECP256R1())
        numbers = self.private_key.public_key().public_numbers()
        self.public_jwk = {
            "kty": "EC",
            "crv": "P-256",
            "x": b64url(numbers.x.to_bytes(32, "big")),
            "y": b64url(numbers.y.to_bytes(32, "big")),
        }
        self.nonces: dict[str, str] = {}

    @property
    def thumbprint(self) -> str:
        """The RFC 7638 SHA-256 thumbprint: the required members, sorted, no whitespace."""
        canonical = json.dumps(self.public_jwk, sort_keys=True, separators=(",", ":"))
        return b64url(hashlib.sha256(canonical.encode()).digest())

    def proof(self, method: str, url: str, token: str | None = None) -> str:
        """A fresh proof for `method` `url` (query and fragment dropped), bound to `token` by
        `ath` when given, with the nonce `url`'s origin last sent."""
        htu = httpx2.URL(url).copy_with(query=None, fragment=None)
        claims: dict[str, Any] = {
            "jti": secrets.token_urlsafe(16),
            "htm": method,
            "htu": str(htu),
            "iat": int(time.time()),
        }
        if token is not None:
            claims["ath"] = b64url(hashlib.sha256(token.encode()).digest())
        nonce = self.nonces.get(origin(url))
        if nonce is not None:
            claims["nonce"] = nonce
        return jwt.encode(
            claims, self.private_key, algorithm="ES256", headers={"typ": "dpop+jwt", "jwk": self.public_jwk}
        )

    def observe(self, url: str, response: httpx2.Response) -> bool:
        """Remembers a `DPoP-Nonce` the response carries; whether it did."""
        nonce = response.headers.get("dpop-nonce")
        if nonce:
            self.nonces[origin(url)] = nonce
        return bool(nonce)


def origin(url: str) -> str:
    u = httpx2.URL(url)
    return f"{u.scheme}://{u.netloc.decode()}"


def dpop_client_credentials(
    issuer: str, client_id: str, client_secret: str, resource: str, scope: str, key: DpopKey
) -> dict[str, Any]:
    """A DPoP-bound token response from oidc-provider's client_credentials grant: the request
    carries a proof; oidc-provider (tests/lib/oidc-server.mjs) first answers `400
    use_dpop_nonce` with its nonce, and the request is sent again with a new proof holding it."""
    with httpx2.Client(timeout=REQUEST_TIMEOUT) as http:
        endpoint = http.get(f"{issuer}/.well-known/openid-configuration").json()["token_endpoint"]
        form = {"grant_type": "client_credentials", "scope": scope, "resource": resource}
        for _ in range(2):
            response = http.post(
                endpoint,
                auth=(client_id, client_secret),
                headers={"dpop": key.proof("POST", endpoint)},
                data=form,
            )
            if response.status_code == 400 and response.json().get("error") == "use_dpop_nonce":
                assert key.observe(endpoint, response), "use_dpop_nonce without a DPoP-Nonce"
                continue
            break
        assert response.status_code == 200, f"token endpoint: {response.status_code} {response.text}"
        return response.json()


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
