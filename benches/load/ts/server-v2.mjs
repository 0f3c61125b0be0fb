// The official MCP TypeScript SDK v2 (`@modelcontextprotocol/server`), served as its
// "Require authorization" and "Serve with Express" guides show: `createMcpExpressApp` (Express
// with `express.json()` and Host/Origin validation for a loopback bind), `requireBearerAuth`
// from `@modelcontextprotocol/express` with a token verifier, here a `jose` verifier against
// the issuer's JWKS (signature, issuer, audience, expiry), and `toNodeHandler(createMcpHandler(
// factory))`: a fresh server per request, stateless, JSON responses (`responseMode: 'json'`).
// The harness's call speaks the 2025-11-25 revision, which v2 answers through its default
// stateless legacy fallback from the same factory.
//
// usage: node server-v2.mjs <port> <issuer URL>

import {
  createMcpExpressApp,
  getOAuthProtectedResourceMetadataUrl,
  requireBearerAuth,
} from "@modelcontextprotocol/express";
import { toNodeHandler } from "@modelcontextprotocol/node";
import {
  createMcpHandler,
  McpServer,
  OAuthError,
  OAuthErrorCode,
} from "@modelcontextprotocol/server";
import { createRemoteJWKSet, jwtVerify } from "jose";
import * as z from "zod/v4";

const [port, issuer] = process.argv.slice(2);
const resource = new URL(`http://127.0.0.1:${port}/mcp`);
const jwks = createRemoteJWKSet(new URL(`${issuer}/jwks`));

const verifier = {
  async verifyAccessToken(token) {
    let payload;
    try {
      ({ payload } = await jwtVerify(token, jwks, { issuer, audience: resource.href }));
    } catch (error) {
      throw new OAuthError(
        OAuthErrorCode.InvalidToken,
        `invalid token: ${error.code ?? error.message}`,
      );
    }
    return {
      token,
      clientId: payload.client_id ?? payload.azp ?? "",
      scopes: typeof payload.scope === "string" ? payload.scope.split(" ") : [],
      expiresAt: payload.exp,
      // `jwtVerify` checked `aud`; `expectedResource` below compares this too, as v2 documents.
      resource,
      extra: { subject: payload.sub, tenant: payload.tenant },
    };
  },
};

const invoices = new Map(
  [
    ["INV-2041", "Initech", 125000, "open"],
    ["INV-2042", "Globex", 9900, "paid"],
    ["INV-2043", "Umbrella", 40250, "open"],
  ].map(([id, customer, amount_cents, status]) => [
    `acme/${id}`,
    { id, customer, amount_cents, currency: "EUR", status },
  ]),
);

const invoiceSchema = z.object({
  id: z.string(),
  customer: z.string(),
  amount_cents: z.number().int(),
  currency: z.string(),
  status: z.string(),
});

const invoiceId = z.object({
  invoice_id: z.string().describe("The invoice id, e.g. INV-2041"),
});

function result(invoice) {
  return {
    content: [{ type: "text", text: JSON.stringify(invoice) }],
    structuredContent: invoice,
  };
}

function failure(text) {
  return { content: [{ type: "text", text }], isError: true };
}

function buildServer() {
  const server = new McpServer({ name: "billing", version: "1.0.0" });
  server.registerTool(
    "lookup_invoice",
    {
      description: "Look up an invoice.",
      inputSchema: invoiceId,
      outputSchema: invoiceSchema,
      annotations: { readOnlyHint: true },
    },
    async ({ invoice_id }, ctx) => {
      const authInfo = ctx.http?.authInfo;
      if (!authInfo?.scopes.includes("invoices:read")) return failure("insufficient scope");
      const invoice = invoices.get(`${authInfo.extra.tenant}/${invoice_id}`);
      return invoice ? result(invoice) : failure(`invoice ${invoice_id} not found`);
    },
  );
  server.registerTool(
    "void_invoice",
    {
      description: "Mark an invoice as voided.",
      inputSchema: invoiceId,
      outputSchema: invoiceSchema,
      annotations: { destructiveHint: true, idempotentHint: true },
    },
    async ({ invoice_id }, ctx) => {
      const authInfo = ctx.http?.authInfo;
      if (!authInfo?.scopes.includes("invoices:write")) return failure("insufficient scope");
      const invoice = invoices.get(`${authInfo.extra.tenant}/${invoice_id}`);
      if (!invoice) return failure(`invoice ${invoice_id} not found`);
      invoice.status = "void";
      return result(invoice);
    },
  );
  return server;
}

const auth = requireBearerAuth({
  verifier,
  requiredScopes: [],
  expectedResource: resource,
  resourceMetadataUrl: getOAuthProtectedResourceMetadataUrl(resource),
});

const app = createMcpExpressApp({ host: "127.0.0.1" });
const node = toNodeHandler(createMcpHandler(buildServer, { responseMode: "json" }));
app.all("/mcp", auth, (req, res) => void node(req, res, req.body));

app.listen(Number(port), "127.0.0.1");
