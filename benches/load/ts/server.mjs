// (b) The reference server of the load benchmark: the official MCP TypeScript SDK, built the
// way the MCP documentation's authorization tutorial builds a protected server: Express,
// `requireBearerAuth` with a token verifier, here a `jose` verifier against the issuer's JWKS
// (signature, issuer, audience, expiry), and a Streamable HTTP transport. Stateless, JSON
// responses, a server and transport per request, as the SDK documents for stateless servers.
//
// usage: node server.mjs <port> <issuer URL>

import express from "express";
import { createRemoteJWKSet, jwtVerify } from "jose";
import { z } from "zod";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { requireBearerAuth } from "@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js";
import { InvalidTokenError } from "@modelcontextprotocol/sdk/server/auth/errors.js";

const [port, issuer] = process.argv.slice(2);
const resource = `http://127.0.0.1:${port}/mcp`;
const jwks = createRemoteJWKSet(new URL(`${issuer}/jwks`));

const verifier = {
  async verifyAccessToken(token) {
    let payload;
    try {
      ({ payload } = await jwtVerify(token, jwks, { issuer, audience: resource }));
    } catch (error) {
      throw new InvalidTokenError(`invalid token: ${error.code ?? error.message}`);
    }
    return {
      token,
      clientId: payload.client_id ?? payload.azp ?? "",
      scopes: typeof payload.scope === "string" ? payload.scope.split(" ") : [],
      expiresAt: payload.exp,
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

const invoiceShape = {
  id: z.string(),
  customer: z.string(),
  amount_cents: z.number().int(),
  currency: z.string(),
  status: z.string(),
};

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
      inputSchema: { invoice_id: z.string().describe("The invoice id, e.g. INV-2041") },
      outputSchema: invoiceShape,
      annotations: { readOnlyHint: true },
    },
    async ({ invoice_id }, { authInfo }) => {
      if (!authInfo?.scopes.includes("invoices:read")) return failure("insufficient scope");
      const invoice = invoices.get(`${authInfo.extra.tenant}/${invoice_id}`);
      return invoice ? result(invoice) : failure(`invoice ${invoice_id} not found`);
    },
  );
  server.registerTool(
    "void_invoice",
    {
      description: "Mark an invoice as voided.",
      inputSchema: { invoice_id: z.string().describe("The invoice id, e.g. INV-2041") },
      outputSchema: invoiceShape,
      annotations: { destructiveHint: true, idempotentHint: true },
    },
    async ({ invoice_id }, { authInfo }) => {
      if (!authInfo?.scopes.includes("invoices:write")) return failure("insufficient scope");
      const invoice = invoices.get(`${authInfo.extra.tenant}/${invoice_id}`);
      if (!invoice) return failure(`invoice ${invoice_id} not found`);
      invoice.status = "void";
      return result(invoice);
    },
  );
  return server;
}

const app = express();
app.use(express.json());
const auth = requireBearerAuth({
  verifier,
  requiredScopes: [],
  resourceMetadataUrl: `http://127.0.0.1:${port}/.well-known/oauth-protected-resource/mcp`,
});

app.post("/mcp", auth, async (req, res) => {
  const server = buildServer();
  const transport = new StreamableHTTPServerTransport({
    sessionIdGenerator: undefined,
    enableJsonResponse: true,
  });
  res.on("close", () => {
    transport.close();
    server.close();
  });
  try {
    await server.connect(transport);
    await transport.handleRequest(req, res, req.body);
  } catch (error) {
    if (!res.headersSent) {
      res.status(500).json({
        jsonrpc: "2.0",
        error: { code: -32603, message: "internal error" },
        id: null,
      });
    }
  }
});

app.listen(Number(port), "127.0.0.1");
