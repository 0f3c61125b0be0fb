// Registers one confidential client of the token exchange for tests/lib/oidc-server.mjs: adds
// its metadata and exchange policy to DIR/clients.json (created if missing) and writes its
// credential for billing and the scenarios: DIR/ID.pem, a fresh PKCS#8 private key
// (private_key_jwt, ES256 or RS256; the public half goes into clients.json as `jwks`), or
// DIR/ID.secret (client_secret_post or client_secret_basic). Files are 0600.
//
//   node exchange-setup.mjs --dir DIR --client ID --auth private_key_jwt|client_secret_post \
//     --acts-for http://127.0.0.1:B/mcp[,URI...] --may-exchange-for http://127.0.0.1:B/payments [--alg ES256]
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { options } from '../lib/scenario.mjs';

const args = options();
const file = join(args.dir, 'clients.json');
mkdirSync(args.dir, { recursive: true, mode: 0o700 });
const clients = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : [];

const client = {
  client_id: args.client,
  token_endpoint_auth_method: args.auth,
  acts_for: args['acts-for'].split(','),
  may_exchange_for: args['may-exchange-for'].split(','),
};
if (args.auth === 'private_key_jwt') {
  const alg = args.alg ?? 'ES256';
  const { privateKey, publicKey } =
    alg === 'RS256'
      ? generateKeyPairSync('rsa', { modulusLength: 2048 })
      : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  writeFileSync(join(args.dir, `${args.client}.pem`), privateKey.export({ format: 'pem', type: 'pkcs8' }), {
    mode: 0o600,
  });
  client.jwks = { keys: [{ ...publicKey.export({ format: 'jwk' }), alg, use: 'sig', kid: `${args.client}-1` }] };
  client.token_endpoint_auth_signing_alg = alg;
} else {
  const secret = randomBytes(32).toString('base64url');
  writeFileSync(join(args.dir, `${args.client}.secret`), `${secret}\n`, { mode: 0o600 });
  client.client_secret = secret;
}
clients.push(client);
writeFileSync(file, JSON.stringify(clients, null, 2), { mode: 0o600 });
