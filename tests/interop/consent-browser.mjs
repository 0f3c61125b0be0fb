// Scenario 5: the dev issuer's consent page as a person uses it, in headless Chromium driven by
// playwright-core. A client registers, a loopback listener waits for the redirect, the browser
// opens the authorization URL, picks a user and a tenant and clicks Allow; the code is exchanged
// (PKCE S256) and the token calls a tool. Then the same with Deny: the redirect carries
// error=access_denied, state and iss.
//
//   node consent-browser.mjs --url http://127.0.0.1:B/mcp --screenshot consent.png
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { chromium } from 'playwright-core';

import { Transcript, assert, modernToolCall, options, recordingFetch, redactLocation, run } from '../lib/scenario.mjs';

const args = options();
const transcript = new Transcript('consent-browser');
const fetchFn = recordingFetch(transcript);
const mcpUrl = args.url;

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/** A loopback listener for the redirect: resolves each request's query, answers a small page. */
function redirectListener() {
  const waiting = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><title>Done</title><p>You can close this window.</p>');
    if (url.pathname === '/callback') waiting.shift()?.(url.searchParams);
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const uri = `http://127.0.0.1:${server.address().port}/callback`;
      resolve({
        uri,
        next: () => new Promise((r) => waiting.push(r)),
        close: () => server.close(),
      });
    });
  });
}

function pkce() {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  return { verifier, challenge };
}

function authorizationUrl(metadata, clientId, redirectUri, state, challenge) {
  const url = new URL(metadata.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: clientId,
    redirect_uri: redirectUri,
    scope: 'invoices:read invoices:write',
    state,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    resource: mcpUrl,
  }).toString();
  return url;
}

/** tools/call lookup_invoice as one MCP 2026-07-28 request; the status and the parsed body. */
async function callTool(token, invoiceId) {
  const { status, text } = await modernToolCall(fetchFn, mcpUrl, token, 'lookup_invoice', { invoice_id: invoiceId });
  return { status, body: JSON.parse(text) };
}

run(transcript, 90_000, async () => {
  transcript.line(`Chromium on the dev issuer's consent page (${mcpUrl})`);
  const prm = await (await fetchFn(new URL('/.well-known/oauth-protected-resource/mcp', mcpUrl))).json();
  const issuer = prm.authorization_servers[0];
  const metadata = await (await fetchFn(`${issuer}/.well-known/oauth-authorization-server`)).json();

  const listener = await redirectListener();
  const registration = await fetchFn(metadata.registration_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      client_name: 'Interop Browser Client',
      redirect_uris: [listener.uri],
      grant_types: ['authorization_code'],
      token_endpoint_auth_method: 'none',
    }),
  });
  assert(registration.status === 201, `registration: ${registration.status}`);
  const { client_id: clientId } = await registration.json();
  transcript.step(`registered a public client, redirect URI ${listener.uri}`);

  const userDataDir = mkdtempSync(join(tmpdir(), 'interop-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 720, height: 900 },
    timeout: 30_000,
  });
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(15_000);
    page.on('response', (response) => {
      const request = response.request();
      if (request.isNavigationRequest()) {
        const location = response.headers().location;
        const note = location ? `Location: ${redactLocation(location)}` : '';
        transcript.http(`${request.method()}`, response.url(), response.status(), `(browser) ${note}`.trim());
      }
    });

    // Allow, as bob in tenant globex.
    const allow = { state: randomBytes(16).toString('base64url'), ...pkce() };
    let redirected = listener.next();
    const consent = await page.goto(authorizationUrl(metadata, clientId, listener.uri, allow.state, allow.challenge).href);
    assert(consent.status() === 200, `consent page: ${consent.status()}`);
    assert((await page.title()).startsWith('Authorize'), `page title: ${await page.title()}`);
    await page.selectOption('#subject', 'bob');
    await page.selectOption('#tenant', 'globex');
    await page.screenshot({ path: args.screenshot, fullPage: true });
    transcript.step(`consent page shown (screenshot ${args.screenshot}); picked user bob, tenant globex; clicking Allow`);
    await page.getByRole('button', { name: 'Allow' }).click();
    let params = await redirected;
    assert(params.get('code'), `the redirect carries a code: ${params}`);
    assert(params.get('state') === allow.state, 'the redirect carries our state');
    assert(params.get('iss') === issuer, `the redirect carries iss: ${params.get('iss')}`);
    transcript.step('the listener got code, state and iss');

    const tokenResponse = await fetchFn(metadata.token_endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code: params.get('code'),
        redirect_uri: listener.uri,
        client_id: clientId,
        code_verifier: allow.verifier,
        resource: mcpUrl,
      }),
    });
    assert(tokenResponse.status === 200, `token: ${tokenResponse.status}`);
    const { access_token: token, scope } = await tokenResponse.json();
    const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url'));
    assert(claims.sub === 'bob' && claims.tenant === 'globex', `claims: ${JSON.stringify(claims)}`);
    transcript.step(`code exchanged: token for sub=${claims.sub} tenant=${claims.tenant} scope "${scope}"`);

    const call = await callTool(token, 'INV-3101');
    assert(call.status === 200 && !call.body.result?.isError, `tools/call: ${JSON.stringify(call)}`);
    assert(JSON.stringify(call.body.result).includes('Tyrell Corp'), 'INV-3101 is globex\'s invoice');
    transcript.step('the token calls lookup_invoice INV-3101 (tenant globex): 200');

    // Deny.
    const deny = { state: randomBytes(16).toString('base64url'), ...pkce() };
    redirected = listener.next();
    await page.goto(authorizationUrl(metadata, clientId, listener.uri, deny.state, deny.challenge).href);
    await page.getByRole('button', { name: 'Deny' }).click();
    params = await redirected;
    assert(params.get('error') === 'access_denied', `error: ${params.get('error')}`);
    assert(!params.has('code'), 'no code after Deny');
    assert(params.get('state') === deny.state, 'the denial carries our state');
    assert(params.get('iss') === issuer, 'the denial carries iss');
    transcript.step(`Deny: redirect with error=access_denied, state and iss=${params.get('iss')}, no code`);
  } finally {
    await context.close();
    listener.close();
    rmSync(userDataDir, { recursive: true, force: true });
  }
});
