// What the two TypeScript servers of the load benchmark share, so that they differ only in the
// SDK: the token check (a `jose` verifier against the issuer's JWKS: signature, issuer,
// audience, expiry) and the billing tools, with the same descriptions, schemas and answers.
// Each server keeps its SDK's own setup: its McpServer, `registerTool`, `requireBearerAuth`
// and transport, as that SDK's documentation builds a protected server.

import { createRemoteJWKSet, jwtVerify } from "jose";
import * as z from "zod/v4";

/**
 * A token verifier for `requireBearerAuth`: checks a JWT against the JWKS of `issuer`, for
 * `audience`, and maps its claims to the SDK's `AuthInfo`. A token it refuses throws
 * `invalid(message)`, the SDK's own invalid-token error. `resource`, when given, is put in
 * the `AuthInfo` for an SDK that compares it.
 */
export function tokenVerifier({ issuer, audience, invalid, resource }) {
  const jwks = createRemoteJWKSet(new URL(`${issuer}/jwks`));
  return {
    async verifyAccessToken(token) {
      let payload;
      try {
        ({ payload } = await jwtVerify(token, jwks, { issuer, audience }));
      } catch (error) {
        throw invalid(`invalid token: ${error.code ?? error.message}`);
      }
      return {
        token,
        clientId: payload.client_id ?? payload.azp ?? "",
        scopes: typeof payload.scope === "string" ? payload.scope.split(" ") : [],
        expiresAt: payload.exp,
        ...(resource && { resource }),
        extra: { subject: payload.sub, tenant: payload.tenant },
      };
    },
  };
}

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

/** The fields of an invoice, the tools' structured output (a zod shape). */
export const invoiceShape = {
  id: z.string(),
  customer: z.string(),
  amount_cents: z.number().int(),
  currency: z.string(),
  status: z.string(),
};

/** The tools' one argument (a zod shape). */
export const invoiceIdShape = {
  invoice_id: z.string().describe("The invoice id, e.g. INV-2041"),
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

/**
 * The billing tools, each with what `registerTool` takes besides the schemas, and `call`:
 * the handler, given the arguments and the SDK's `AuthInfo` of the request. Each checks its
 * own scope, as the SDKs leave that to the tool.
 */
export const tools = [
  {
    name: "lookup_invoice",
    description: "Look up an invoice.",
    annotations: { readOnlyHint: true },
    call({ invoice_id }, authInfo) {
      if (!authInfo?.scopes.includes("invoices:read")) return failure("insufficient scope");
      const invoice = invoices.get(`${authInfo.extra.tenant}/${invoice_id}`);
      return invoice ? result(invoice) : failure(`invoice ${invoice_id} not found`);
    },
  },
  {
    name: "void_invoice",
    description: "Mark an invoice as voided.",
    annotations: { destructiveHint: true, idempotentHint: true },
    call({ invoice_id }, authInfo) {
      if (!authInfo?.scopes.includes("invoices:write")) return failure("insufficient scope");
      const invoice = invoices.get(`${authInfo.extra.tenant}/${invoice_id}`);
      if (!invoice) return failure(`invoice ${invoice_id} not found`);
      invoice.status = "void";
      return result(invoice);
    },
  },
];
