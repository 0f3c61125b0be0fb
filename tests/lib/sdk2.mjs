// The official TypeScript SDK's 2.x client (`@modelcontextprotocol/client`) as the interop
// scenarios use it: its version, the two protocol eras, and a connection in either.
import { readFileSync } from 'node:fs';

import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';

/** The stateless revision, and the newest revision of the `initialize` handshake. */
export const MODERN = '2026-07-28';
export const LEGACY = '2025-11-25';

/** The installed version of `@modelcontextprotocol/client`. */
export const SDK2_VERSION = JSON.parse(
  readFileSync(new URL('../node_modules/@modelcontextprotocol/client/package.json', import.meta.url)),
).version;

/**
 * A fresh `{ transport, client }` for `url` in `era`: pinned to 2026-07-28 for MODERN (the
 * SDK then starts with `server/discover`, no session), the SDK's default `initialize`
 * handshake otherwise. `authProvider` and `fetch` go to the transport; `name` is the client's.
 */
export function connection(era, url, { authProvider, fetch, name }) {
  const transport = new StreamableHTTPClientTransport(url, { authProvider, fetch });
  const options = era === MODERN ? { versionNegotiation: { mode: { pin: MODERN } } } : {};
  return { transport, client: new Client({ name, version: '1.0.0' }, options) };
}
