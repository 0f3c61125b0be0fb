"""FastMCP (Python) in the load benchmark, built as FastMCP's documentation builds an
authenticated HTTP server: `JWTVerifier` against the issuer's JWKS (signature, `iss`, `aud`,
`exp`), per-tool scopes with `require_scopes`, and the ASGI app from `http_app()` over
Streamable HTTP, stateless with JSON responses, served by uvicorn (uvloop and httptools, as
`uvicorn[standard]` installs them) in one process with one worker and no access log.

usage: python server.py <port> <issuer URL>
"""

import sys
from typing import Annotated

import uvicorn
from fastmcp import FastMCP
from fastmcp.server.auth import require_scopes
from fastmcp.server.auth.providers.jwt import JWTVerifier
from fastmcp.exceptions import ToolError
from fastmcp.server.dependencies import get_access_token
from pydantic import BaseModel, Field

port = int(sys.argv[1])
issuer = sys.argv[2]
resource = f"http://127.0.0.1:{port}/mcp"

verifier = JWTVerifier(
    jwks_uri=f"{issuer}/jwks",
    issuer=issuer,
    audience=resource,
    algorithm="RS256",
    required_scopes=[],
)

mcp = FastMCP("billing", auth=verifier)


class Invoice(BaseModel):
    id: str
    customer: str
    amount_cents: int
    currency: str
    status: str


invoices = {
    f"acme/{id}": Invoice(
        id=id, customer=customer, amount_cents=amount_cents, currency="EUR", status=status
    )
    for id, customer, amount_cents, status in [
        ("INV-2041", "Initech", 125000, "open"),
        ("INV-2042", "Globex", 9900, "paid"),
        ("INV-2043", "Umbrella", 40250, "open"),
    ]
}


def find(invoice_id: str) -> Invoice:
    token = get_access_token()
    tenant = token.claims.get("tenant") if token else None
    invoice = invoices.get(f"{tenant}/{invoice_id}")
    if invoice is None:
        raise ToolError(f"invoice {invoice_id} not found")
    return invoice


InvoiceId = Annotated[str, Field(description="The invoice id, e.g. INV-2041")]


@mcp.tool(
    description="Look up an invoice.",
    annotations={"readOnlyHint": True},
    auth=require_scopes("invoices:read"),
)
def lookup_invoice(invoice_id: InvoiceId) -> Invoice:
    return find(invoice_id)


@mcp.tool(
    description="Mark an invoice as voided.",
    annotations={"destructiveHint": True, "idempotentHint": True},
    auth=require_scopes("invoices:write"),
)
def void_invoice(invoice_id: InvoiceId) -> Invoice:
    invoice = find(invoice_id)
    invoice.status = "void"
    return invoice


app = mcp.http_app(path="/mcp", stateless_http=True, json_response=True)

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=port, workers=1, log_level="warning", access_log=False)
