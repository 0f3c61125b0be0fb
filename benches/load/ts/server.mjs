// (b) The reference server of the load benchmark: the official MCP TypeScript SDK, built the
// way the MCP documentation's authorization tutorial builds a protected server: Express,
// `requireBearerAuth` with a token verifier, here a `jose` verifier against the issuer's JWKS
// (signature, issuer, audience, expiry), and a Streamable HTTP transport. Stateless, JSON
// responses, a server and transport per request, as the SDK documents for stateless servers.
// The verifier and the tools are common.mjs's, shared with server-v2.mjs.
//
// usage: node server.mjs <port> <issuer URL>

import express from "express";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { requireBearerAuth } from "@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js";
import { InvalidTokenError } from "@modelcontextprotocol/sdk/server/auth/errors.js";
import { invoiceIdShape, invoiceShape, tokenVerifier, tools } from "./common.mjs";

const [port, issuer] = process.argv.slice(2);
const resource = `http://127.0.0.1:${port}/mcp`;

const verifier = tokenVerifier({
  issuer,
  audience: resource,
  invalid: (message) => new InvalidTokenError(message),
});

function buildServer() {
  const server = new McpServer({ name: "billing", version: "1.0.0" });
  for (const { name, description, annotations, call } of tools) {
    server.registerTool(
      name,
      { description, inputSchema: invoiceIdShape, outputSchema: invoiceShape, annotations },
      async (args, { authInfo }) => call(args, authInfo),
    );
  }
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
