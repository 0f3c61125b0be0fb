// The official MCP TypeScript SDK v2 (`@modelcontextprotocol/server`), served as its
// "Require authorization" and "Serve with Express" guides show: `createMcpExpressApp` (Express
// with `express.json()` and Host/Origin validation for a loopback bind), `requireBearerAuth`
// from `@modelcontextprotocol/express` with a token verifier, here a `jose` verifier against
// the issuer's JWKS (signature, issuer, audience, expiry), and `toNodeHandler(createMcpHandler(
// factory))`: a fresh server per request, stateless, JSON responses (`responseMode: 'json'`).
// The harness's call speaks the 2025-11-25 revision, which v2 answers through its default
// stateless legacy fallback from the same factory. The verifier and the tools are
// common.mjs's, shared with server.mjs.
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
import * as z from "zod/v4";
import { invoiceIdShape, invoiceShape, tokenVerifier, tools } from "./common.mjs";

const [port, issuer] = process.argv.slice(2);
const resource = new URL(`http://127.0.0.1:${port}/mcp`);

const verifier = tokenVerifier({
  issuer,
  audience: resource.href,
  invalid: (message) => new OAuthError(OAuthErrorCode.InvalidToken, message),
  // `jwtVerify` checked `aud`; `expectedResource` below compares this too, as v2 documents.
  resource,
});

// v2 takes schemas, not shapes.
const invoiceSchema = z.object(invoiceShape);
const invoiceId = z.object(invoiceIdShape);

function buildServer() {
  const server = new McpServer({ name: "billing", version: "1.0.0" });
  for (const { name, description, annotations, call } of tools) {
    server.registerTool(
      name,
      { description, inputSchema: invoiceId, outputSchema: invoiceSchema, annotations },
      async (args, ctx) => call(args, ctx.http?.authInfo),
    );
  }
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
