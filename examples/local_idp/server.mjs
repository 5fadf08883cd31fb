// A local, Auth0-like OpenID provider for tests and the demo, built on the
// certified node-oidc-provider. It listens on loopback only and needs no
// internet access.
//
// Configuration: one JSON object in the environment variable LOCAL_IDP_CONFIG
// (every key optional):
//
//   {
//     "port": 0,                         // 0 = pick a free port
//     "apis": [                          // Auth0 APIs (resource servers)
//       {"identifier": "https://api.example.com", "scopes": "read:messages write:messages"},
//       {"identifier": "https://billing.example.com", "scopes": "read:invoices"}
//     ],
//     "audience": "https://api.example.com",   // older spelling of the first API:
//     "api_scopes": "read:messages write:messages",  // (put first when not in "apis")
//     "access_token_ttl": 3600,          // seconds, for every access token
//     "organizations": [                 // Auth0 Organizations
//       {"id": "org_abc123", "name": "acme", "invitations": ["inv_xyz"]}
//     ],
//     "require_par": false,              // true: /authorize only takes a PAR request_uri
//     "clients": [{
//       "client_id": "app",
//       "client_secret": "s3cr:et%+",
//       "redirect_uris": ["http://127.0.0.1:8000/callback"],
//       "post_logout_redirect_uris": ["http://127.0.0.1:8000/"],
//       "token_endpoint_auth_method": "client_secret_post",  // or client_secret_basic
//       "id_token_signed_response_alg": "RS256",             // or HS256
//       "backchannel_logout_uri": "http://127.0.0.1:8000/backchannel", // optional
//       "apis": ["https://api.example.com"]  // optional MRRT policy; default: every API
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
// Auth0 behaviours beyond plain OpenID Connect:
// - Multi-Resource Refresh Token: grant_type=refresh_token with
//   audience=<API identifier> (optional scope) gives an access token for that
//   API if it is the login's or the client's policy ("apis") lists it, else
//   HTTP 403 access_denied.
// - Step-up: acr_values containing
//   http://schemas.openid.net/pape/policies/2007/06/multi-factor adds a
//   one-time-code page after the password; any 6 digits pass. The ID token
//   then has acr = that policy and amr = ["mfa"], also after refreshes.
//   max_age is honoured; every ID token has auth_time.
// - Organizations: organization=<id or name> (and invitation=<ticket>) puts
//   org_id and org_name in the ID and access tokens; unknown -> invalid_request.
// - PAR at /oauth/par; prompt=none; /userinfo also takes the API access tokens.
//
// Test instrumentation: GET /__stats returns token-endpoint request counts per
// grant_type (plus "<grant_type>_errors"); POST /__stats/reset zeroes them.

import * as crypto from 'node:crypto';
import * as http from 'node:http';
import * as querystring from 'node:querystring';

import Provider, { errors, interactionPolicy } from 'oidc-provider';
// Not public API (version pinned in package.json): the built-in refresh_token
// grant, wrapped below for Multi-Resource Refresh Tokens.
import {
  handler as refreshTokenGrant,
  parameters as refreshTokenParameters,
} from 'oidc-provider/lib/actions/grants/refresh_token.js';
import * as grantHelpers from 'oidc-provider/lib/helpers/grants.js';

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
  pushed_authorization_request: '/oauth/par',
};

const CLIENT_DEFAULTS = {
  token_endpoint_auth_method: 'client_secret_post',
  id_token_signed_response_alg: 'RS256',
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
  // Auth0's logout tokens carry the session id.
  backchannel_logout_session_required: true,
};

// OpenID Provider Authentication Policy Extension's multi-factor policy, the
// acr_values Auth0 uses to ask for MFA.
const MFA_POLICY = 'http://schemas.openid.net/pape/policies/2007/06/multi-factor';
const ONE_TIME_CODE = /^\d{6}$/; // the demo's second factor: any 6 digits

// The old single-API keys (audience, api_scopes) stay the first API.
function readApis(raw) {
  const apis = (raw.apis ?? []).map(({ identifier, scopes = '' }) => ({ identifier, scopes }));
  const audience = raw.audience ?? (apis.length ? undefined : 'https://api.example.com');
  if (audience !== undefined && !apis.some((api) => api.identifier === audience)) {
    apis.unshift({ identifier: audience, scopes: raw.api_scopes ?? 'read:messages write:messages' });
  }
  return apis;
}

function readConfig() {
  const raw = JSON.parse(process.env.LOCAL_IDP_CONFIG || '{}');
  const apis = readApis(raw);
  // A client's "apis" is its MRRT policy; it is no OAuth client metadata.
  const policies = new Map();
  const clients = (raw.clients ?? []).map(({ apis: allowed, ...client }) => {
    policies.set(client.client_id, new Set(allowed ?? apis.map((api) => api.identifier)));
    return { ...CLIENT_DEFAULTS, ...client };
  });
  return {
    port: raw.port ?? 0,
    apis,
    accessTokenTTL: raw.access_token_ttl ?? 3600,
    organizations: (raw.organizations ?? []).map((org) => ({ invitations: [], ...org })),
    requirePar: raw.require_par ?? false,
    clients,
    policies,
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

// The claims each scope releases (the provider's `claims` setting, and the
// /userinfo answer for API access tokens).
// auth_time, acr and amr come from the login, not the account: listing them
// under openid puts them in every ID token whenever the login had them.
const SCOPE_CLAIMS = {
  openid: ['sub', 'auth_time', 'acr', 'amr', 'org_id', 'org_name'],
  profile: ['name', 'nickname', 'picture', 'updated_at'],
  email: ['email', 'email_verified'],
};

// At the token endpoint `token` is the code or refresh token being redeemed;
// its grant says which organization the login was for.
async function findAccount(ctx, sub, token) {
  const grantId = token?.grantId ?? ctx.oidc?.entities.Grant?.jti;
  return { accountId: sub, claims: async () => ({ ...profile(sub), ...orgClaims(grantId) }) };
}

// ---------------------------------------------------------- organizations

// The organization each grant logged into. oidc-provider keeps one grant per
// session and client, so loadExistingGrant starts a new grant when the
// organization changes; codes, refresh and access tokens all keep their
// grantId, which keeps org_id stable across refreshes.
const grantOrganizations = new Map();

function orgClaims(grantId) {
  const org = grantId && grantOrganizations.get(grantId);
  return org ? { org_id: org.id, org_name: org.name } : {};
}

// Auth0 accepts an organization's id or (with "use names" enabled) its name;
// names are lower-case at Auth0, so one given in capitals still names it.
function findOrganization(config, idOrName) {
  const name = String(idOrName).toLowerCase();
  return config.organizations.find((org) => org.id === idOrName || org.name.toLowerCase() === name);
}

// extraParams validators; they run after the redirect_uri check, so Auth0's
// error redirect (error=invalid_request) is what the client sees.
function organizationParams(config) {
  return {
    organization(_ctx, value) {
      if (value !== undefined && !findOrganization(config, value)) {
        throw new errors.InvalidRequest(`parameter organization is invalid: ${value} is not known`);
      }
    },
    invitation(ctx, value) {
      if (value === undefined) return;
      // An invitation only makes sense with its organization's id.
      const org = config.organizations.find(({ id }) => id === ctx.oidc.params.organization);
      if (!org?.invitations.includes(value)) {
        throw new errors.InvalidRequest('parameter invitation is invalid for this organization');
      }
    },
  };
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
// put it back when the raw request asked for it (for a pushed request: when
// the PAR endpoint stored it, already put back there).
function restoreOfflineAccess(ctx) {
  const { oidc } = ctx;
  const pushed = oidc.entities.PushedAuthorizationRequest;
  const raw = pushed
    ? decodeJson(pushed.request.split('.')[1])
    : (ctx.method === 'POST' ? oidc.body : ctx.query);
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
// consent screen (Auth0 skips consent for first-party apps too). The grant
// also holds every API of the client's MRRT policy, for audience= refreshes.
function grantLoader(config) {
  return async function loadExistingGrant(ctx) {
    const { oidc } = ctx;
    const { Grant } = oidc.provider;
    const org = findOrganization(config, oidc.params.organization);
    const grantId = oidc.result?.consent?.grantId || oidc.session.grantIdFor(oidc.client.clientId);
    let grant = grantId ? await Grant.find(grantId) : undefined;
    if (
      !grant
      || grant.accountId !== oidc.session.accountId
      || grantOrganizations.get(grant.jti)?.id !== org?.id
    ) {
      grant = new Grant({ accountId: oidc.session.accountId, clientId: oidc.client.clientId });
    }
    grant.addOIDCScope([...oidc.requestParamOIDCScopes].join(' '));
    for (const [indicator, server] of Object.entries(oidc.resourceServers)) {
      const scopes = [...oidc.requestParamScopes].filter((scope) => server.scopes.has(scope));
      if (scopes.length) grant.addResourceScope(indicator, scopes.join(' '));
    }
    const policy = config.policies.get(oidc.client.clientId) ?? new Set();
    for (const api of config.apis.filter(({ identifier }) => policy.has(identifier))) {
      if (api.scopes) grant.addResourceScope(api.identifier, api.scopes);
    }
    const savedId = await grant.save();
    if (org) grantOrganizations.set(savedId, org);
    return grant;
  };
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

// Auth0 access tokens for an API: aud = [api, userinfo] (the userinfo one only
// with the openid scope), azp, the full scope, the login's organization.
function customizeJwt(ctx, token, jwt) {
  const scope = combinedScope(ctx, token);
  ctx.state.auth0Scope = scope; // for tokenResponseScope
  if (scope.split(' ').includes('openid')) {
    jwt.payload.aud = [jwt.payload.aud, new URL(ROUTES.userinfo, ctx.oidc.issuer).href];
  }
  jwt.payload.azp = jwt.payload.client_id;
  jwt.payload.scope = scope;
  Object.assign(jwt.payload, orgClaims(token.grantId), loginClaims(ctx));
}

// How the user logged in, in the API's token too (RFC 9068 §2.2.1, which RFC
// 9470 step-up at an API relies on): the code's or refresh token's acr, amr
// and auth_time, which carry the login's. Auth0 itself puts these in ID tokens
// only; an API behind Auth0 gates step-up by scope (docs/resource-server.md).
function loginClaims(ctx) {
  const source = ctx.oidc.entities.AuthorizationCode ?? ctx.oidc.entities.RefreshToken;
  if (!source) return {};
  const claims = {};
  if (source.acr) claims.acr = source.acr;
  if (Array.isArray(source.amr) && source.amr.length) claims.amr = source.amr;
  if (source.authTime) claims.auth_time = source.authTime;
  return claims;
}

// ------------------------------------------------- multi-resource refresh

// Auth0's Multi-Resource Refresh Token (docs: "Multi-Resource Refresh Token",
// "Configure and Implement Multi-Resource Refresh Token"): a refresh request
// may name any API of the application's refresh-token policies in `audience`
// (optionally narrowing `scope`); the access token is for that API alone,
// with the policy's scopes. Those docs say nothing about an API outside the
// policy (auth0-server-python's MRRT notes say Auth0 falls back to the
// default audience); this provider refuses it loudly instead, with HTTP 403
// access_denied as Auth0 answers an API a client may not use, so a client
// bug shows up in tests.
function accessDenied(description) {
  const error = new errors.AccessDenied(description);
  error.status = 403;
  error.statusCode = 403;
  return error;
}

function registerMultiResourceRefresh(provider, config) {
  const helpers = Object.fromEntries(
    Object.entries(grantHelpers).map(([name, helper]) => [name, helper.bind(undefined, provider)]),
  );
  const builtIn = refreshTokenGrant.bind(undefined, provider, helpers);

  // During an MRRT request (ctx.state.mrrt) a refresh token issued for
  // another API also counts as holding the requested API and its policy
  // scopes, so the built-in grant issues for it. Nothing of it is saved: a
  // rotated token copies its stored `resource` and `scope`, not these.
  const proto = provider.RefreshToken.prototype;
  const widen = { resourceIndicators: (mrrt) => [mrrt.identifier], scopes: (mrrt) => mrrt.scopes };
  for (const [name, extra] of Object.entries(widen)) {
    let owner = proto;
    while (!Object.getOwnPropertyDescriptor(owner, name)) owner = Object.getPrototypeOf(owner);
    const { get } = Object.getOwnPropertyDescriptor(owner, name);
    Object.defineProperty(proto, name, {
      configurable: true,
      get() {
        const value = get.call(this);
        const mrrt = Provider.ctx?.state.mrrt;
        return mrrt && this.resource !== mrrt.identifier ? new Set([...value, ...extra(mrrt)]) : value;
      },
    });
  }

  async function refreshWithAudience(ctx) {
    const { audience, refresh_token: value } = ctx.oidc.params;
    if (audience) {
      const api = config.apis.find(({ identifier }) => identifier === audience);
      // Auth0 merges the login's own audience with the policy's.
      const token = typeof value === 'string' ? await provider.RefreshToken.find(value) : undefined;
      const policy = config.policies.get(ctx.oidc.client.clientId);
      if (!api || !(token?.resource === audience || policy?.has(audience))) {
        throw accessDenied(`the application's refresh token policies do not allow the API ${audience}`);
      }
      ctx.oidc.params.resource = audience; // Auth0's spelling of RFC 8707's resource
      ctx.state.mrrt = { identifier: audience, scopes: api.scopes.split(' ').filter(Boolean) };
    }
    await builtIn(ctx);
  }
  provider.registerGrantType(
    'refresh_token',
    refreshWithAudience,
    [...refreshTokenParameters, 'resource', 'audience'],
    ['resource'],
  );
}

// --------------------------------------------------------- step-up (MFA)

function wantsMfa(params) {
  return typeof params.acr_values === 'string' && params.acr_values.split(' ').includes(MFA_POLICY);
}

// The default login checks (no session, max_age, ...) plus step-up: a session
// that did not pass MFA logs in again when MFA is asked for.
function interactionsPolicy() {
  const { Check } = interactionPolicy;
  const policy = interactionPolicy.base();
  policy.get('login').checks.push(new Check(
    'mfa_required',
    'multi-factor authentication is required',
    (ctx) => (wantsMfa(ctx.oidc.params) && ctx.oidc.session.acr !== MFA_POLICY
      ? Check.REQUEST_PROMPT
      : Check.NO_NEED_TO_PROMPT),
  ));
  return policy;
}

async function readForm(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return querystring.parse(Buffer.concat(chunks).toString('utf8'));
}

function oneTimeCodePage(ctx, uid, message = '') {
  const action = `/interaction/${encodeURIComponent(uid)}`;
  ctx.type = 'html';
  ctx.body = `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Verify your identity</title></head>
<body>
  <h1>Verify your identity</h1>
  <p>Enter the 6-digit code from your authenticator app (any 6 digits here).</p>
  ${message ? `<p role="alert">${message}</p>` : ''}
  <form method="post" action="${action}">
    <input type="hidden" name="prompt" value="mfa"/>
    <input name="otp" inputmode="numeric" autocomplete="one-time-code" autofocus/>
    <button type="submit">Continue</button>
  </form>
</body></html>`;
}

// oidc-provider's development login form only asks for a password. When the
// authorization asked for MFA, its submission shows a one-time-code form
// instead of finishing, and the code finishes the login with Auth0's acr/amr.
function stepUpInteractions(provider) {
  const awaitingCode = new Map(); // interaction uid -> login id
  return async function stepUp(ctx, next) {
    const uid = ctx.method === 'POST' ? /^\/interaction\/([^/]+)$/.exec(ctx.path)?.[1] : undefined;
    if (!uid) return next();
    const details = await provider.interactionDetails(ctx.req, ctx.res).catch(() => undefined);
    if (details?.uid !== uid || details.prompt.name !== 'login' || !wantsMfa(details.params)) {
      return next();
    }
    const form = await readForm(ctx.req);
    if (form.prompt === 'login' && form.login) {
      awaitingCode.set(uid, String(form.login));
      return oneTimeCodePage(ctx, uid);
    }
    const accountId = awaitingCode.get(uid);
    if (form.prompt !== 'mfa' || !accountId) {
      ctx.status = 400;
      ctx.body = { error: 'invalid_request', error_description: 'log in with the password first' };
      return undefined;
    }
    if (!ONE_TIME_CODE.test(String(form.otp ?? ''))) {
      return oneTimeCodePage(ctx, uid, 'The code must be 6 digits.');
    }
    awaitingCode.delete(uid);
    const returnTo = await provider.interactionResult(ctx.req, ctx.res, {
      login: { accountId, acr: MFA_POLICY, amr: ['mfa'] },
    }, { mergeWithLastSubmission: false });
    ctx.status = 303;
    ctx.redirect(returnTo);
    return undefined;
  };
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

function decodeJson(part) {
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
}

// The payload of an RS256 JWT signed with one of our keys, else undefined.
function verifiedJwt(token, publicKeys) {
  try {
    const [header, payload, signature] = token.split('.');
    const { alg, kid } = decodeJson(header);
    const key = publicKeys.get(kid);
    const signed = Buffer.from(`${header}.${payload}`);
    if (alg !== 'RS256' || !key || !crypto.verify('sha256', signed, key, Buffer.from(signature, 'base64url'))) {
      return undefined;
    }
    return decodeJson(payload);
  } catch {
    return undefined;
  }
}

// oidc-provider's /userinfo refuses every access token issued for an API
// ("token audience prevents accessing the userinfo endpoint"). Auth0 answers
// one whose aud includes its /userinfo (the openid scope asked for it), so
// this answers such JWTs itself; opaque tokens go to the built-in endpoint.
function apiTokenUserinfo(issuer, jwks) {
  const publicKeys = new Map(jwks.keys.map((jwk) => [jwk.kid, crypto.createPublicKey({ key: jwk, format: 'jwk' })]));
  const userinfoUrl = new URL(ROUTES.userinfo, issuer).href;
  return async function userinfo(ctx, next) {
    const token = /^Bearer ([\w-]+\.[\w-]+\.[\w-]+)$/i.exec(ctx.get('authorization'))?.[1];
    if (ctx.path !== ROUTES.userinfo || !token) return next();
    const claims = verifiedJwt(token, publicKeys);
    const scopes = new Set(typeof claims?.scope === 'string' ? claims.scope.split(' ') : []);
    const valid = claims?.iss === issuer
      && claims.exp > Date.now() / 1000
      && [claims.aud].flat().includes(userinfoUrl)
      && scopes.has('openid');
    ctx.set('Cache-Control', 'no-store');
    if (!valid) {
      ctx.status = 401;
      ctx.set('WWW-Authenticate', 'Bearer error="invalid_token"');
      ctx.body = { error: 'invalid_token', error_description: 'invalid access token' };
      return;
    }
    const released = { ...profile(claims.sub), org_id: claims.org_id, org_name: claims.org_name };
    const names = Object.entries(SCOPE_CLAIMS).filter(([scope]) => scopes.has(scope)).flatMap(([, list]) => list);
    ctx.body = Object.fromEntries(names.filter((name) => released[name] !== undefined).map((name) => [name, released[name]]));
  };
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

function providerConfiguration(config, jwks) {
  const resourceServers = new Map(config.apis.map((api) => [api.identifier, {
    scope: api.scopes,
    accessTokenFormat: 'jwt',
    accessTokenTTL: config.accessTokenTTL,
    jwt: { sign: { alg: 'RS256' } },
  }]));
  const days14 = 14 * 24 * 60 * 60;

  return {
    clients: config.clients,
    clientDefaults: CLIENT_DEFAULTS,
    jwks,
    cookies: {
      // Cookies ignore ports: the app on the same 127.0.0.1 must not clash.
      names: { session: '_idp_session', interaction: '_idp_interaction', resume: '_idp_interaction_resume' },
      keys: [crypto.randomBytes(32).toString('hex')],
    },
    routes: ROUTES,
    findAccount,
    claims: {
      ...SCOPE_CLAIMS,
      sid: null,
      iss: null,
    },
    acrValues: [MFA_POLICY],
    interactions: { policy: interactionsPolicy() },
    scopes: ['openid', 'profile', 'email', 'offline_access'],
    responseTypes: ['code'],
    // Auth0 puts the profile claims straight into the ID token.
    conformIdTokenClaims: false,
    extraParams: {
      // The validator runs for every authorization request, audience or not.
      audience(ctx) {
        restoreOfflineAccess(ctx);
      },
      ...organizationParams(config),
    },
    loadExistingGrant: grantLoader(config),
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
      pushedAuthorizationRequests: {
        enabled: true,
        requirePushedAuthorizationRequests: config.requirePar,
      },
      resourceIndicators: {
        enabled: true,
        defaultResource: async (ctx, _client, oneOf) => oneOf ?? audienceParam(ctx),
        // Even an `openid` token request gets the API's JWT, as with Auth0.
        useGrantedResource: async () => true,
        getResourceServerInfo: async (_ctx, indicator) => {
          if (!resourceServers.has(indicator)) throw new errors.InvalidTarget(`unknown audience ${indicator}`);
          return resourceServers.get(indicator);
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
  const jwks = signingKeys();
  const provider = new Provider(issuer, providerConfiguration(config, jwks));
  registerMultiResourceRefresh(provider, config);
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
  provider.use(apiTokenUserinfo(issuer, jwks));
  provider.use(stepUpInteractions(provider));
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
