// Shared by the Node scenarios of the interop and cluster suites: the transcript, a fetch that
// records every exchange (and, behind the cluster's nginx, which replica answered it: its
// `X-Upstream` header), a redirect follower for the authorization endpoint, a hand-written
// 2026-07-28 tools/call, small assertions.
import { appendFileSync } from 'node:fs';

/** Per-request time limit: every HTTP exchange of the suite is bounded. */
export const REQUEST_TIMEOUT_MS = 15_000;

/** The named command-line options, `--name value`. */
export function options() {
  const out = {};
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) {
    if (!argv[i].startsWith('--') || argv[i + 1] === undefined) {
      throw new Error(`usage: --name value pairs, got ${argv.slice(i).join(' ')}`);
    }
    out[argv[i].slice(2)] = argv[i + 1];
  }
  return out;
}

/**
 * A transcript for one scenario. Each line goes to stdout and, when SCENARIO_TRANSCRIPT names a
 * file, to that file, which the suite's run.sh prints at the end.
 */
export class Transcript {
  /** `stream`: where lines are shown besides the file; stderr for a tool whose stdout is data. */
  constructor(scenario, stream = process.stdout) {
    this.scenario = scenario;
    this.stream = stream;
  }

  line(text) {
    const line = `[${this.scenario}] ${text}`;
    this.stream.write(`${line}\n`);
    if (process.env.SCENARIO_TRANSCRIPT) {
      appendFileSync(process.env.SCENARIO_TRANSCRIPT, `${line}\n`);
    }
  }

  /** A step of the scenario: what it checks and how it ended. */
  step(text) {
    this.line(`  step: ${text}`);
  }

  /** One HTTP exchange. */
  http(method, url, status, note = '') {
    const u = new URL(url);
    this.line(`    ${method.padEnd(4)} ${u.host}${u.pathname} -> ${status}${note ? `  ${note}` : ''}`);
  }
}

/** What is worth showing of a request body: the OAuth parameters, the JSON-RPC method. */
function describeBody(body) {
  if (body === undefined || body === null) return '';
  let text;
  if (body instanceof URLSearchParams) text = body.toString();
  else if (typeof body === 'string') text = body;
  else return '';
  if (text.startsWith('{') || text.startsWith('[')) {
    try {
      const json = JSON.parse(text);
      const first = Array.isArray(json) ? json[0] : json;
      if (first?.method) {
        const name = first.params?.name ? ` ${first.params.name}` : '';
        const offered = first.method === 'initialize' ? ` (offers ${first.params?.protocolVersion})` : '';
        return `${first.method}${name}${offered}`;
      }
    } catch {
      // not JSON after all
    }
    return '';
  }
  const params = new URLSearchParams(text);
  const shown = ['grant_type', 'scope', 'resource']
    .filter((k) => params.has(k))
    .map((k) => `${k}=${params.get(k)}`);
  return shown.join(' ');
}

/**
 * A fetch that records method, host, path and status of every exchange, the JSON-RPC method
 * or OAuth parameters it carried, the `WWW-Authenticate` challenge of a 401 or 403, and the
 * replica that answered (nginx's `X-Upstream`). Each request is bounded by REQUEST_TIMEOUT_MS.
 * `exchanges`, when given, receives one `{ method, path, status, upstream, session, rpc }` per
 * exchange.
 */
export function recordingFetch(transcript, baseFetch = globalThis.fetch, exchanges = undefined) {
  return async (input, init = {}) => {
    const url = input instanceof Request ? input.url : String(input);
    const method = init.method ?? (input instanceof Request ? input.method : 'GET');
    const timeout = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
    const signal = init.signal ? AbortSignal.any([init.signal, timeout]) : timeout;
    const response = await baseFetch(input, { ...init, signal });
    const rpc = describeBody(init.body);
    const notes = [rpc];
    const headers = new Headers(init.headers ?? (input instanceof Request ? input.headers : undefined));
    const version = headers.get('mcp-protocol-version');
    if (version && !url.includes('/.well-known/')) notes.push(`[MCP-Protocol-Version ${version}]`);
    const session = headers.get('mcp-session-id');
    if (session) notes.push(`[session ${session.slice(0, 8)}…]`);
    if (headers.has('dpop')) {
      const scheme = headers.get('authorization')?.split(' ')[0];
      notes.push(scheme === 'DPoP' ? '[Authorization: DPoP + proof]' : `[${scheme ? `${scheme} + ` : ''}DPoP proof]`);
    }
    const upstream = response.headers.get('x-upstream');
    if (upstream) notes.push(`<- ${replicaName(upstream)}`);
    exchanges?.push({ method, path: new URL(url).pathname, status: response.status, upstream, session, rpc });
    if (response.status === 401 || response.status === 403) {
      const challenge = response.headers.get('www-authenticate');
      if (challenge) notes.push(summarizeChallenge(challenge));
    }
    if (response.headers.has('dpop-nonce')) notes.push('DPoP-Nonce');
    if (response.status >= 300 && response.status < 400 && response.headers.get('location')) {
      notes.push(`Location: ${redactLocation(response.headers.get('location'))}`);
    }
    transcript.http(method, url, response.status, notes.filter(Boolean).join('  '));
    return response;
  };
}

/**
 * One MCP 2026-07-28 tools/call with `token`, no session: the protocol version and client
 * capabilities in `_meta`, and `MCP-Protocol-Version`, `Mcp-Method` and `Mcp-Name` mirroring
 * the body. `auth` replaces the bearer credentials: `{ authorization, dpop }` (the `DPoP`
 * scheme and its proof). Resolves to the status, the `WWW-Authenticate` challenge ('' when
 * none), the `DPoP-Nonce` (undefined when none) and the body's text.
 */
export async function modernToolCall(fetchFn, url, token, name, args, auth = undefined) {
  const response = await fetchFn(url, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      ...auth,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2026-07-28',
      'mcp-method': 'tools/call',
      'mcp-name': name,
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'tools/call',
      params: {
        name,
        arguments: args,
        _meta: {
          'io.modelcontextprotocol/protocolVersion': '2026-07-28',
          'io.modelcontextprotocol/clientCapabilities': {},
        },
      },
    }),
  });
  const text = await response.text();
  return {
    status: response.status,
    challenge: response.headers.get('www-authenticate') ?? '',
    nonce: response.headers.get('dpop-nonce') ?? undefined,
    text,
  };
}

/**
 * The replica named by an `X-Upstream` value (`127.0.0.1:PORT`, or several when nginx tried
 * more than one), as `A`/`B` when CLUSTER_REPLICA_A/B give their addresses.
 */
export function replicaName(upstream) {
  const names = { [process.env.CLUSTER_REPLICA_A]: 'A', [process.env.CLUSTER_REPLICA_B]: 'B' };
  return upstream
    .split(',')
    .map((addr) => {
      const a = addr.trim();
      return names[a] ? `replica ${names[a]} (${a})` : a;
    })
    .join(', then ');
}

/** The replicas (`A`, `B`, or addresses) that answered the given exchanges. */
export function replicasOf(exchanges) {
  const seen = new Set();
  for (const { upstream } of exchanges) {
    if (!upstream) continue;
    const last = upstream.split(',').at(-1).trim();
    seen.add(last === process.env.CLUSTER_REPLICA_A ? 'A' : last === process.env.CLUSTER_REPLICA_B ? 'B' : last);
  }
  return [...seen].sort();
}

/**
 * The parts of a challenge a reader cares about, per scheme (`Bearer`, `DPoP`, both when a
 * server accepts both, RFC 9449 §7.1): error, scope and the DPoP algorithms.
 */
export function summarizeChallenge(challenge) {
  const starts = [...challenge.matchAll(/(?:^|,)\s*(Bearer|DPoP)(?=\s|,|$)/gi)];
  if (starts.length === 0) return `WWW-Authenticate: ${challenge.slice(0, 120)}`;
  const parts = starts.map((match, i) => {
    const segment = challenge.slice(match.index, starts[i + 1]?.index ?? challenge.length);
    const error = /error="([^"]*)"/.exec(segment)?.[1];
    const scope = /scope="([^"]*)"/.exec(segment)?.[1];
    const algs = /algs="([^"]*)"/.exec(segment)?.[1];
    return `${match[1]}${error ? ` error=${error}` : ''}${scope ? ` scope="${scope}"` : ''}${algs ? ` algs="${algs}"` : ''}`;
  });
  return `WWW-Authenticate: ${parts.join(', ')}`;
}

/** A redirect target with its code shortened: codes are secrets, if short-lived ones. */
export function redactLocation(location) {
  try {
    const url = new URL(location, 'http://placeholder');
    if (url.searchParams.has('code')) url.searchParams.set('code', '…');
    const shown = location.startsWith('/') ? `${url.pathname}${url.search}` : url.href;
    return decodeURIComponent(shown).slice(0, 200);
  } catch {
    return location.slice(0, 160);
  }
}

/**
 * Follows an authorization URL the way a browser would, without one: GET each hop with
 * `redirect: 'manual'`, keeping cookies, until a `Location` points at the redirect URI. Returns
 * that URL, whose query carries `code` (or `error`), `state` and `iss`.
 */
export async function followAuthorization(fetchFn, authorizationUrl, redirectUri, jar = new Map()) {
  let url = new URL(authorizationUrl);
  for (let hop = 0; hop < 10; hop += 1) {
    const headers = {};
    const cookie = [...jar.entries()].map(([k, v]) => `${k}=${v}`).join('; ');
    if (cookie) headers.cookie = cookie;
    const response = await fetchFn(url, { redirect: 'manual', headers });
    for (const setCookie of response.headers.getSetCookie()) {
      const [pair] = setCookie.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      if (/expires=Thu, 01 Jan 1970/i.test(setCookie) || value === '') jar.delete(name);
      else jar.set(name, value);
    }
    await response.arrayBuffer();
    const location = response.headers.get('location');
    if (response.status < 300 || response.status >= 400 || !location) {
      throw new Error(`the authorization endpoint answered ${response.status} at ${url.pathname}, not a redirect`);
    }
    const next = new URL(location, url);
    if (next.href.startsWith(redirectUri)) return next;
    url = next;
  }
  throw new Error('more than 10 redirects while authorizing');
}

export function assert(condition, message) {
  if (!condition) throw new Error(`assertion failed: ${message}`);
}

/** Runs `main`, bounded by `limitMs`, and exits 1 with the error if it fails. */
export function run(transcript, limitMs, main) {
  const timer = setTimeout(() => {
    transcript.line(`FAILED: no result within ${limitMs / 1000} s`);
    process.exit(1);
  }, limitMs);
  main().then(
    () => {
      clearTimeout(timer);
      transcript.line('PASSED');
      process.exit(0);
    },
    (err) => {
      clearTimeout(timer);
      transcript.line(`FAILED: ${err?.stack ?? err}`);
      process.exit(1);
    },
  );
}
