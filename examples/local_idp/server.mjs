// A local, Auth0-like OpenID provider for tests and the demo, built on the
// certified node-oidc-provider. It listens on loopback only and needs no
// internet access.
//
// Configuration: one JSON object in the environment variable LOCAL_IDP_CONFIG
// (every key optional):
//
//   {
//     "port": 0,                         // 0 = pick a free port
//     "audience": "https://api.example.com",   // Auth0 API identifier
//     "api_scopes": "read:messages write:messages",
//     "access_token_ttl": 3600,          // seconds, for every access token
//     "clients": [{
//       "client_id": "app",
//       "client_secret": "s3cr:et%+",
//       "redirect_uris": ["http://127.0.0.1:8000/callback"],
//       "post_logout_redirect_uris": ["http://127.0.0.1:8000/"],
//       "token_endpoint_auth_method": "client_secret_post",  // or client_secret_basic
//       "id_token_signed_response_alg": "RS256",             // or HS256
//       "backchannel_logout_uri": "http://127.0.0.1:8000/backchannel"  // optional
//     }]
//   }
//
// Once listening it prints exactly one line on stdout:
//   LOCAL_IDP_READY http://127.0.0.1:<port>/
// (the issuer, with Auth0's trailing slash). SIGTERM/SIGINT stop it cleanly.
//
// Users: the development login form accepts any login id with any password;
// the login id becomes `sub` and the profile claims are derived from it.
//
// Test instrumentation: GET /__stats returns token-endpoint request counts per
// grant_type (plus "<grant_type>_errors"); POST /__stats/reset zeroes them.

import * as crypto from 'node:crypto';
import * as http from 'node:http';

import Provider, { errors } from 'oidc-provider';

const HOST = '127.0.0.1';
// A stable updated_at for every user, as for an unchanged Auth0 profile.
const PROFILES_UPDATED_AT = new Date().toISOString();

// Auth0's endpoint paths, so code that hardcodes them (instead of reading the
// discovery document) also works here.
const ROUTES = {
  authorization: '/authorize',
  token: '/oauth/token',
  userinfo: '/userinfo',
  jwks: '/.well-known/jwks.json',
  end_session: '/oidc/logout',
  revocation: '/oauth/revoke',
};

const CLIENT_DEFAULTS = {
  token_endpoint_auth_method: 'client_secret_post',
  id_token_signed_response_alg: 'RS256',
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
  // Auth0's logout tokens carry the session id.
  backchannel_logout_session_required: true,
};

function readConfig() {
  const raw = JSON.parse(process.env.LOCAL_IDP_CONFIG || '{}');
  return {
    port: raw.port ?? 0,
    audience: raw.audience ?? 'https://api.example.com',
    apiScopes: raw.api_scopes ?? 'read:messages write:messages',
    accessTokenTTL: raw.access_token_ttl ?? 3600,
    clients: (raw.clients ?? []).map((client) => ({ ...CLIENT_DEFAULTS, ...client })),
  };
}

// ---------------------------------------------------------------- accounts

function displayName(login) {
  const local = login.split('@')[0];
  const words = local.split(/[._\-\s]+/).filter(Boolean);
  const capitalised = words.map((word) => word[0].toUpperCase() + word.slice(1));
  // A single word reads better with a surname, e.g. "alice" -> "Alice Example".
  if (capitalised.length === 1) capitalised.push('Example');
  return capitalised.join(' ');
}

// An inline SVG avatar: a picture URL that needs no network at all.
function avatar(name) {
  const svg = '<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64">'
    + '<rect width="64" height="64" fill="#4d90fe"/>'
    + `<text x="32" y="42" font-size="32" text-anchor="middle" fill="#fff">${name[0]}</text></svg>`;
  return `data:image/svg+xml;base64,${Buffer.from(svg).toString('base64')}`;
}

// Any login id is a valid user; claims are derived from it like an Auth0
// database connection would return them.
function profile(sub) {
  const name = displayName(sub);
  return {
    sub,
    name,
    nickname: sub.split('@')[0],
    email: sub.includes('@') ? sub : `${sub}@example.com`,
    email_verified: true,
    picture: avatar(name),
    updated_at: PROFILES_UPDATED_AT, // Auth0 sends an ISO string, not a number
  };
}

async function findAccount(_ctx, sub) {
  return { accountId: sub, claims: async () => profile(sub) };
}

// ------------------------------------------------------ Auth0 behaviour

// Auth0 reports the OIDC and API scopes together, in the access token's
// `scope` claim and in the token response; oidc-provider keeps only the API's.
function combinedScope(ctx, token) {
  const { Grant: grant, RefreshToken: refresh, AuthorizationCode: code } = ctx.oidc.entities;
  const requested = ctx.oidc.params.scope ? ctx.oidc.requestParamScopes : (refresh ?? code).scopes;
  const oidc = grant.getOIDCScopeFiltered(requested).split(' ');
  const api = (token.scope ?? '').split(' ');
  return [...new Set([...oidc, ...api])].filter(Boolean).join(' ');
}

// `audience` is Auth0's spelling of an RFC 8707 resource indicator.
function audienceParam(ctx) {
  const { audience } = ctx.oidc.params;
  return typeof audience === 'string' && audience ? audience : undefined;
}

// oidc-provider drops offline_access from an authorization request unless it
// also carries prompt=consent (OIDC Core 11). Auth0 honours it without, so
// put it back when the raw request asked for it.
function restoreOfflineAccess(ctx) {
  const { oidc } = ctx;
  const raw = ctx.method === 'POST' ? oidc.body : ctx.query;
  const asked = typeof raw?.scope === 'string' && raw.scope.split(' ').includes('offline_access');
  const scopes = new Set(oidc.params.scope?.split(' ') ?? []);
  if (
    asked
    && !scopes.has('offline_access')
    && oidc.params.response_type?.includes('code')
    && oidc.client.grantTypeAllowed('refresh_token')
  ) {
    scopes.add('offline_access');
    oidc.params.scope = [...scopes].join(' ');
  }
}

// First-party application: grant whatever was asked for, so there is never a
// consent screen (Auth0 skips consent for first-party apps too).
async function loadExistingGrant(ctx) {
  const { oidc } = ctx;
  const { Grant } = oidc.provider;
  const grantId = oidc.result?.consent?.grantId || oidc.session.grantIdFor(oidc.client.clientId);
  let grant = grantId ? await Grant.find(grantId) : undefined;
  if (!grant || grant.accountId !== oidc.session.accountId) {
    grant = new Grant({ accountId: oidc.session.accountId, clientId: oidc.client.clientId });
  }
  grant.addOIDCScope([...oidc.requestParamOIDCScopes].join(' '));
  for (const [indicator, server] of Object.entries(oidc.resourceServers)) {
    const scopes = [...oidc.requestParamScopes].filter((scope) => server.scopes.has(scope));
    if (scopes.length) grant.addResourceScope(indicator, scopes.join(' '));
  }
  await grant.save();
  return grant;
}

// The RP-initiated logout confirmation submits itself: Auth0 logs out without
// asking. The hidden `logout=yes` also ends the session for every client.
async function logoutSource(ctx, form) {
  const autoForm = form.replace('</form>', '<input type="hidden" name="logout" value="yes"/></form>');
  ctx.body = `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Signing out</title></head>
<body>
  <p>Signing out&hellip;</p>
  ${autoForm}
  <noscript><button type="submit" form="op.logoutForm">Continue</button></noscript>
  <script>document.getElementById('op.logoutForm').submit()</script>
</body></html>`;
}

// Auth0 access tokens for an API: aud = [api, userinfo], azp, the full scope.
function customizeJwt(ctx, token, jwt) {
  const scope = combinedScope(ctx, token);
  ctx.state.auth0Scope = scope; // for tokenResponseScope
  jwt.payload.aud = [jwt.payload.aud, new URL(ROUTES.userinfo, ctx.oidc.issuer).href];
  jwt.payload.azp = jwt.payload.client_id;
  jwt.payload.scope = scope;
}

// ------------------------------------------------------ Koa middleware

// The built-in pages @import a Google web font; there is no internet here.
async function stripWebFonts(ctx, next) {
  await next();
  if (typeof ctx.body === 'string' && ctx.response.is('html')) {
    ctx.body = ctx.body.replace(/@import url\(https?:[^)]*\);?/g, '');
  }
}

// Makes the token response's `scope` match the access token's (see combinedScope).
async function tokenResponseScope(ctx, next) {
  await next();
  if (ctx.path === ROUTES.token && ctx.state.auth0Scope && ctx.body?.access_token) {
    ctx.body.scope = ctx.state.auth0Scope;
  }
}

function emptyStats() {
  return {
    authorization_code: 0,
    authorization_code_errors: 0,
    refresh_token: 0,
    refresh_token_errors: 0,
  };
}

// Counts token-endpoint requests per grant_type and serves /__stats, so
// tests can assert e.g. that a refresh happened exactly once.
function statsMiddleware() {
  let stats = emptyStats();
  return async function countTokenRequests(ctx, next) {
    if (ctx.path === '/__stats' && ctx.method === 'GET') {
      ctx.body = stats;
      return;
    }
    if (ctx.path === '/__stats/reset' && ctx.method === 'POST') {
      stats = emptyStats();
      ctx.status = 204;
      return;
    }
    await next();
    if (ctx.path === ROUTES.token && ctx.method === 'POST') {
      const grantType = ctx.oidc?.params?.grant_type ?? ctx.oidc?.body?.grant_type ?? 'unknown';
      stats[grantType] = (stats[grantType] ?? 0) + 1;
      if (ctx.status >= 400) {
        stats[`${grantType}_errors`] = (stats[`${grantType}_errors`] ?? 0) + 1;
      }
    }
  };
}

// ------------------------------------------------------------- provider

function signingKeys() {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  return { keys: [{ ...jwk, kid: crypto.randomUUID(), alg: 'RS256', use: 'sig' }] };
}

function providerConfiguration(config) {
  const resourceServer = {
    scope: config.apiScopes,
    accessTokenFormat: 'jwt',
    accessTokenTTL: config.accessTokenTTL,
    jwt: { sign: { alg: 'RS256' } },
  };
  const days14 = 14 * 24 * 60 * 60;

  return {
    clients: config.clients,
    clientDefaults: CLIENT_DEFAULTS,
    jwks: signingKeys(),
    cookies: {
      // Cookies ignore ports: the app on the same 127.0.0.1 must not clash.
      names: { session: '_idp_session', interaction: '_idp_interaction', resume: '_idp_interaction_resume' },
      keys: [crypto.randomBytes(32).toString('hex')],
    },
    routes: ROUTES,
    findAccount,
    claims: {
      openid: ['sub'],
      profile: ['name', 'nickname', 'picture', 'updated_at'],
      email: ['email', 'email_verified'],
      sid: null,
      auth_time: null,
      acr: null,
      iss: null,
    },
    scopes: ['openid', 'profile', 'email', 'offline_access'],
    responseTypes: ['code'],
    // Auth0 puts the profile claims straight into the ID token.
    conformIdTokenClaims: false,
    extraParams: {
      // The validator runs for every authorization request, audience or not.
      audience(ctx) {
        restoreOfflineAccess(ctx);
      },
    },
    loadExistingGrant,
    issueRefreshToken: async (_ctx, client, source) => (
      client.grantTypeAllowed('refresh_token') && source.scopes.has('offline_access')
    ),
    // Auth0 refresh token rotation: every use yields a new one; reusing a
    // rotated-out token is rejected and revokes the whole grant.
    rotateRefreshToken: true,
    enabledJWA: { idTokenSigningAlgValues: ['RS256', 'HS256'] },
    formats: { customizers: { jwt: customizeJwt } },
    features: {
      devInteractions: { enabled: true },
      rpInitiatedLogout: { enabled: true, logoutSource },
      backchannelLogout: { enabled: true },
      revocation: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: async (ctx, _client, oneOf) => oneOf ?? audienceParam(ctx),
        // Even an `openid` token request gets the API's JWT, as with Auth0.
        useGrantedResource: async () => true,
        getResourceServerInfo: async (_ctx, indicator) => {
          if (indicator !== config.audience) throw new errors.InvalidTarget(`unknown audience ${indicator}`);
          return resourceServer;
        },
      },
    },
    ttl: {
      AccessToken: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? config.accessTokenTTL,
      AuthorizationCode: 60,
      IdToken: 36000, // Auth0's default: 10 hours
      Interaction: 3600,
      Grant: days14,
      RefreshToken: days14,
      Session: days14,
    },
    // oidc-provider's fetch refuses special-use addresses (SSRF protection),
    // but here the only outbound calls are back-channel logouts to the
    // configured clients, which live on loopback.
    fetch: (url, { dispatcher, ...options }) => globalThis.fetch(url, options),
    // Plain JSON error pages: easy to read in tests and curl.
    renderError: async (ctx, out) => {
      ctx.type = 'json';
      ctx.body = out;
    },
  };
}

function createProvider(issuer, config) {
  const provider = new Provider(issuer, providerConfiguration(config));
  // Auth0 always puts `sid` in the ID token; oidc-provider only does for
  // clients registered for back-channel logout with sessions required.
  provider.Client.prototype.includeSid = () => true;
  // oidc-provider only emits these; print them so failures are visible.
  provider.on('backchannel.error', (_ctx, err, client) => {
    console.error(`back-channel logout to ${client.clientId} failed:`, err);
  });
  provider.on('server_error', (_ctx, err) => console.error('server_error:', err));
  provider.use(statsMiddleware());
  provider.use(stripWebFonts);
  provider.use(tokenResponseScope);
  return provider;
}

// ------------------------------------------------------------------ main

// Static clients are only validated on first use; fail at startup instead,
// where the launcher shows the error, rather than on the first login.
async function checkClients(provider, clients) {
  for (const { client_id: clientId } of clients) {
    await provider.Client.find(clientId);
  }
}

function listen(server, port) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, HOST, () => resolve(server.address().port));
  });
}

function stopOnSignals(server) {
  const stop = () => {
    server.close(() => process.exit(0));
    // keep-alive connections would otherwise hold close() open
    server.closeAllConnections();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

async function main() {
  const config = readConfig();
  // The issuer embeds the port, so bind first (port 0 = any free port) and
  // build the provider afterwards; nobody knows the address before READY.
  const server = http.createServer();
  const port = await listen(server, config.port);
  const issuer = `http://${HOST}:${port}/`;
  const provider = createProvider(issuer, config);
  await checkClients(provider, config.clients);
  server.on('request', provider.callback());
  stopOnSignals(server);
  process.stdout.write(`LOCAL_IDP_READY ${issuer}\n`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
