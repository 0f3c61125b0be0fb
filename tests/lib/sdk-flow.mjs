// The steps the TypeScript SDK scenarios (tests/interop/ts-sdk-flow.mjs against one billing,
// tests/cluster/ts-sdk-flow.mjs through nginx) share: the authorization flow the SDK runs on
// its first 401, tools/list with a read call, and the checks after the write call's step-up.
import { assert } from './scenario.mjs';

/** The text content of a tool result. */
export function text(result) {
  return result.content?.find((c) => c.type === 'text')?.text ?? '';
}

/**
 * 401 → discovery → registration → authorization → token, all driven by the SDK: the first
 * connection, without a token, must fail with the SDK's `UnauthorizedError` once the
 * HeadlessProvider has followed the authorization URL; the code then goes to `finishAuth`.
 * `connection()` makes a fresh `{ transport, client }`; `what` names the connect step.
 */
export async function authorizeFirst({ transcript, provider, connection, UnauthorizedError, mcpUrl, what }) {
  const { transport, client } = connection();
  try {
    await client.connect(transport);
    throw new Error('the first connection succeeded without a token');
  } catch (err) {
    if (!(err instanceof UnauthorizedError)) throw err;
  }
  transcript.step(`${what} without a token: 401, the SDK ran discovery, registration and authorization`);
  await transport.finishAuth(provider.takeCallback());
  assert(provider.authorizations[0]?.resource === mcpUrl.href, 'the authorization request names the resource');
}

/** tools/list names both billing tools; lookup_invoice INV-2041 succeeds. */
export async function listAndLookup(transcript, client) {
  const { tools } = await client.listTools();
  const names = tools.map((t) => t.name).sort();
  assert(names.includes('lookup_invoice') && names.includes('void_invoice'), `tools/list: ${names}`);
  transcript.step(`tools/list: ${names.join(', ')}`);

  const lookup = await client.callTool({ name: 'lookup_invoice', arguments: { invoice_id: 'INV-2041' } });
  assert(!lookup.isError, `lookup_invoice failed: ${text(lookup)}`);
  assert(text(lookup).includes('INV-2041'), 'lookup_invoice returns INV-2041');
  transcript.step('lookup_invoice INV-2041: OK');
}

/**
 * The write call `voided` (void_invoice `invoice`) went through after exactly one more
 * authorization request than `before`, for a scope naming invoices:write, and changed the
 * invoice.
 */
export function assertSteppedUp({ transcript, provider, before, voided, invoice }) {
  const stepUp = provider.authorizations.at(-1);
  assert(provider.authorizations.length === before + 1, 'the step-up made one authorization request');
  assert(stepUp.scope.split(' ').includes('invoices:write'), `step-up scope: ${stepUp.scope}`);
  assert(!voided.isError, `void_invoice failed after step-up: ${text(voided)}`);
  assert(voided.structuredContent?.changed === true, `void_invoice changed nothing: ${text(voided)}`);
  transcript.step(`void_invoice ${invoice} after step-up (scope "${stepUp.scope}"): OK, changed: true`);
}
