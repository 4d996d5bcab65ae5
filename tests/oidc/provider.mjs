// A real OpenID provider (npm oidc-provider) on loopback for the social sign-in tests.
//
//   node tests/oidc/provider.mjs --redirect-uri URI [--redirect-uri URI ...] [--any-loopback-port]
//
// Listens on 127.0.0.1 (a free port), then prints one JSON line to stdout:
//   {"issuer": "http://127.0.0.1:PORT", "client_id": "...", "client_secret": "..."}
// and serves until stdin closes or it is killed.
//
// People sign in at the provider's own (development) login page with any login and password;
// the login decides who they are and what goes wrong, so one provider serves every test:
//   <name>              sub = <name>, email <name>@example.org, verified
//   unverified-<name>   the email is not verified (email_verified: false)
//   badkey-<name>       the ID token is re-signed with a key the provider never published
//   expired-<name>      the ID token is re-signed with the provider's own key, expired an hour ago
// Consent is granted without a page, as a first-party provider does.

import http from 'node:http';
import { once } from 'node:events';
import Provider, { interactionPolicy } from 'oidc-provider';
import * as jose from 'jose';

const redirectUris = [];
let native = false;
for (let i = 2; i < process.argv.length; i += 1) {
  if (process.argv[i] === '--redirect-uri') redirectUris.push(process.argv[(i += 1)]);
  // A loopback redirect URI matches on any port (RFC 8252, 7.3): for a server whose port is
  // chosen after the provider starts.
  else if (process.argv[i] === '--any-loopback-port') native = true;
}
if (redirectUris.length === 0) {
  console.error('usage: provider.mjs --redirect-uri URI [--redirect-uri URI ...]');
  process.exit(2);
}

const CLIENT_ID = 'reelsmith-tests';
const CLIENT_SECRET = 'a-client-secret-only-for-the-tests-0123456789';

async function signingKey(kid) {
  const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
  const jwk = await jose.exportJWK(privateKey);
  return { ...jwk, kid, alg: 'RS256', use: 'sig' };
}

const published = await signingKey('published');
const foreign = await signingKey('published'); // same kid, different key: only the signature tells

function account(login) {
  return {
    accountId: login,
    async claims() {
      return {
        sub: login,
        email: `${login}@example.org`,
        email_verified: !login.startsWith('unverified-'),
        name: `Test ${login}`,
      };
    },
  };
}

async function resign(idToken, jwk, change) {
  const claims = { ...jose.decodeJwt(idToken), ...change };
  const key = await jose.importJWK(jwk, 'RS256');
  return new jose.SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: jwk.kid, typ: 'JWT' }).sign(key);
}

const server = http.createServer();
server.listen(0, '127.0.0.1');
await once(server, 'listening');
const issuer = `http://127.0.0.1:${server.address().port}`;

// Consent is granted without a page (loadExistingGrant below), as a first-party provider does.
// oidc-provider also asks a native client's user to confirm on every sign-in
// (`native_client_prompt`), and --any-loopback-port makes the client native: that page would
// stand between the login form and the redirect back, so the check is dropped.
const policy = interactionPolicy.base();
policy.get('consent').checks.remove('native_client_prompt');

const provider = new Provider(issuer, {
  interactions: { policy },
  clients: [{
    client_id: CLIENT_ID,
    client_secret: CLIENT_SECRET,
    redirect_uris: redirectUris,
    response_types: ['code'],
    grant_types: ['authorization_code'],
    token_endpoint_auth_method: 'client_secret_basic',
    ...(native ? { application_type: 'native' } : {}),
  }],
  jwks: { keys: [published] },
  cookies: { keys: ['reelsmith-oidc-tests-cookie-key'] },
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  // Google and Keycloak put these claims in the ID token; so does this provider.
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: true } },
  findAccount: (ctx, id) => account(id),
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId
      || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope('openid email profile');
    await grant.save();
    return grant;
  },
});

// Every token the token endpoint hands out, for the tests to look for where they must not be.
const issued = [];

// The bad ID tokens: the real token endpoint answers, then the token is re-signed.
provider.use(async (ctx, next) => {
  if (ctx.path === '/__test/issued') {
    ctx.body = issued;
    return;
  }
  await next();
  if (ctx.path !== '/token' || ctx.status !== 200 || !ctx.body?.id_token) return;
  try {
    await rewrite(ctx);
  } finally {
    for (const key of ['access_token', 'id_token', 'refresh_token']) {
      if (ctx.body[key]) issued.push(ctx.body[key]);
    }
  }
});

async function rewrite(ctx) {
  const { sub } = jose.decodeJwt(ctx.body.id_token);
  if (sub.startsWith('badkey-')) {
    ctx.body = { ...ctx.body, id_token: await resign(ctx.body.id_token, foreign, {}) };
  } else if (sub.startsWith('expired-')) {
    const now = Math.floor(Date.now() / 1000);
    ctx.body = {
      ...ctx.body,
      id_token: await resign(ctx.body.id_token, published, { iat: now - 7200, exp: now - 3600 }),
    };
  }
}

server.on('request', provider.callback());
process.stdout.write(`${JSON.stringify({ issuer, client_id: CLIENT_ID, client_secret: CLIENT_SECRET })}\n`);
// The tests read only that line and may close the pipe: anything printed later goes to stderr,
// so a write to the closed pipe cannot bring the provider down.
console.log = console.error;
console.info = console.error;
process.stdout.on('error', () => {});
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
