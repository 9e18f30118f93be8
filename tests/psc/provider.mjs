// A test Pro Santé Connect: a real, certified OpenID provider (panva's
// oidc-provider) on loopback, shaped like PSC as a box sees it:
//
//   card login     authorization code + PKCE; the practitioner is
//                  authenticated by the CPS card's certificate in the TLS
//                  handshake (no forms: the box is its own user agent)
//   e-CPS login    OpenID CIBA in poll mode; the test plays the phone app
//                  (approves or denies through the test controls)
//   clients        facteur-secret (client_secret_basic / _post),
//                  facteur-mtls (tls_client_auth, RFC 8705), and operator
//                  (client_secret_basic), which the test operator's Dovecot
//                  uses to introspect access tokens
//
//   node tests/psc/provider.mjs --config FILE.json
//
// The configuration (JSON; every key but tls is optional):
//   dir            where state.json, keys.json, provider.log and
//                  provider.json go (default: the configuration's directory)
//   host, port     listening address (127.0.0.1, 0 = a free port)
//   issuer         default https://localhost:PORT
//   tls            {cert, key, ca, max_version}: server certificate and key
//                  (PEM), CA file client certificates are verified against
//                  (requested, never required), optional "TLSv1.2" cap
//   redirect_uris  default ["https://facteur.local/psc/retour"]
//   clients        {secret: {client_id, client_secret},
//                   mtls: {client_id, subject_dn},
//                   operator: {client_id, client_secret}}
//   ttl            seconds: access_token 300, refresh_token 3600,
//                  ciba 600, authorization_code 60, id_token 300,
//                  grant 43200, interaction 600, session 43200
//   ciba_interval  seconds between polls the token endpoint expects (5)
//   rotate_refresh_tokens  true (as PSC): each refresh returns a new
//                  refresh token and consumes the old one; presenting a
//                  consumed one again revokes the whole grant
//                  (oidc-provider's reuse detection)
//   accounts       national id -> {given_name, family_name, email, title};
//                  default: 899700000001 and 899700000002, both mapped to
//                  cabinet.dupont@test.mssante.fr
//
// Once listening it writes DIR/provider.json ({pid, port, issuer}).
//
// Test controls, JSON, on the same HTTPS server (loopback only):
//   GET  /test/ciba                    {"pending": [{id, login_hint, account,
//                                       binding_message, client_id, scope,
//                                       created, expires_at}]}
//   POST /test/ciba/ID/approve         {"ok": true}; 404 unknown, 409 expired
//   POST /test/ciba/ID/deny            or already decided
//   POST /test/revoke  {"account": ID} every grant of ID (or of everyone
//                                      without "account"), with its refresh
//                                      and access tokens: {"revoked_grants": n}
//   GET  /test/token-mode              {"mode": "normal"}
//   POST /test/token-mode {"mode": M}  normal | garbage | unsigned
//   GET  /test/counters                see newCounters()
//   POST /test/counters/reset
//   GET  /test/ttl, POST /test/ttl {"access_token": 4, ...}
//                                      lifetimes of what is issued from now on
//
// Behaviour the box's tests may rely on:
//   - PKCE (S256) is required, and every authorization request needs the
//     card again: a session cookie the box kept from an earlier login is
//     ignored, so a login is always the card presented then.
//   - Refresh tokens are always issued (no offline_access needed), and
//     rotated unless rotate_refresh_tokens is false.
//   - CIBA: a poll sooner than 80 % of the interval after the request or
//     the previous poll gets slow_down, and that request's interval grows by
//     5 s (RFC 8628 section 3.5). oidc-provider does neither, nor does it
//     send "interval" in the backchannel response: both are done here.
//   - Introspection answers {"active": false} for anything that is not a
//     live access token of this provider, the unsigned JWTs of the
//     "unsigned" mode included (oidc-provider would refuse to introspect a
//     JWT). Only the operator client may introspect other clients' tokens.
//   - The test controls are unauthenticated: loopback test use only.
//     Lifetimes set through /test/ttl last until the provider stops.
//
// State (grants, tokens, pending CIBA requests, counters, token mode) is
// kept in DIR/state.json and the signing and cookie keys in DIR/keys.json,
// so a provider stopped and started again (the tests' "PSC is down")
// still honours what it issued before.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as path from 'node:path';
import * as querystring from 'node:querystring';

import Provider, { errors } from 'oidc-provider';

// ---- configuration --------------------------------------------------------

function parseArgs(argv) {
  const i = argv.indexOf('--config');
  if (i === -1 || !argv[i + 1]) {
    process.stderr.write('usage: node provider.mjs --config FILE.json\n');
    process.exit(2);
  }
  return argv[i + 1];
}

const configPath = path.resolve(parseArgs(process.argv));
const cfg = JSON.parse(fs.readFileSync(configPath, 'utf8'));
const dir = path.resolve(cfg.dir || path.dirname(configPath));
fs.mkdirSync(dir, { recursive: true });

const TTL = {
  access_token: 300,
  refresh_token: 3600,
  ciba: 600,
  authorization_code: 60,
  id_token: 300,
  grant: 12 * 3600,
  interaction: 600,
  session: 12 * 3600,
  ...(cfg.ttl || {}),
};
const CIBA_INTERVAL = cfg.ciba_interval ?? 5;
const ROTATE = cfg.rotate_refresh_tokens ?? true;
const REDIRECT_URIS = cfg.redirect_uris || ['https://facteur.local/psc/retour'];
const CLIENTS = {
  secret: { client_id: 'facteur-secret', client_secret: 'facteur-secret-test', ...(cfg.clients?.secret || {}) },
  mtls: {
    client_id: 'facteur-mtls',
    subject_dn: 'CN=cabinet.dupont@test.mssante.fr,OU=10000000001,O=CABINET DUPONT TEST,C=FR',
    ...(cfg.clients?.mtls || {}),
  },
  operator: { client_id: 'operator', client_secret: 'operator-test', ...(cfg.clients?.operator || {}) },
};
// PSC knows the practitioner by national id (8 + RPPS); the operator maps
// that identity to the mailbox it may use, here the practice's.
const ACCOUNTS = cfg.accounts || {
  899700000001: {
    given_name: 'JEAN', family_name: 'DUPONT', title: 'Medecin', email: 'cabinet.dupont@test.mssante.fr',
  },
  899700000002: {
    given_name: 'CLAIRE', family_name: 'MARTIN', title: 'Medecin', email: 'cabinet.dupont@test.mssante.fr',
  },
};
const TOKEN_MODES = ['normal', 'garbage', 'unsigned'];

// ---- log ------------------------------------------------------------------

const logStream = fs.createWriteStream(path.join(dir, 'provider.log'), { flags: 'a' });
function log(...parts) {
  const line = parts.map((p) => (typeof p === 'string' ? p : JSON.stringify(p))).join(' ');
  logStream.write(`${new Date().toISOString()} ${line}\n`);
}
// Tokens are secrets even in tests: the log shows enough to tell them apart.
const short = (value) => (typeof value === 'string' ? `${value.slice(0, 8)}…` : value);

// ---- persistent state -----------------------------------------------------

const statePath = path.join(dir, 'state.json');

function newCounters() {
  return {
    // grant type -> outcome ("ok" or the OAuth error code) -> count
    token: {},
    card_login: { ok: 0, refused: 0, seen: [] }, // seen: [{cn, ok, reason}]
    ciba: {
      created: 0, approved: 0, denied: 0, expired: 0,
    },
    introspection: { active: 0, inactive: 0 },
  };
}

function loadState() {
  try {
    const s = JSON.parse(fs.readFileSync(statePath, 'utf8'));
    return {
      store: s.store || {},
      pending: s.pending || {},
      counters: { ...newCounters(), ...(s.counters || {}) },
      token_mode: TOKEN_MODES.includes(s.token_mode) ? s.token_mode : 'normal',
    };
  } catch {
    return {
      store: {}, pending: {}, counters: newCounters(), token_mode: 'normal',
    };
  }
}

const state = loadState();

// Expired artefacts stay this long, so that a late poll or refresh is told
// "expired" (expired_token, invalid_grant) rather than "unknown".
const GRACE_MS = 10 * 60 * 1000;

function saveState() {
  const now = Date.now();
  for (const [key, entry] of Object.entries(state.store)) {
    if (entry.exp !== null && entry.exp + GRACE_MS < now) delete state.store[key];
  }
  const tmp = `${statePath}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(state));
  fs.renameSync(tmp, statePath);
}

const GRANTABLE = new Set([
  'AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest',
]);

// oidc-provider's storage interface over state.store, written through to
// state.json at every change (a few hundred small entries in a test run).
class FileAdapter {
  constructor(model) {
    this.model = model;
  }

  key(id) {
    return `${this.model}:${id}`;
  }

  async upsert(id, payload, expiresIn) {
    state.store[this.key(id)] = {
      payload,
      exp: typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : null,
    };
    saveState();
  }

  async find(id) {
    const entry = state.store[this.key(id)];
    return entry ? structuredClone(entry.payload) : undefined;
  }

  async findByUid(uid) {
    for (const [key, entry] of Object.entries(state.store)) {
      if (key.startsWith(`${this.model}:`) && entry.payload.uid === uid) return structuredClone(entry.payload);
    }
    return undefined;
  }

  async findByUserCode(userCode) {
    for (const [key, entry] of Object.entries(state.store)) {
      if (key.startsWith(`${this.model}:`) && entry.payload.userCode === userCode) {
        return structuredClone(entry.payload);
      }
    }
    return undefined;
  }

  async consume(id) {
    const entry = state.store[this.key(id)];
    if (entry) {
      entry.payload.consumed = Math.floor(Date.now() / 1000);
      saveState();
    }
  }

  async destroy(id) {
    delete state.store[this.key(id)];
    saveState();
  }

  async revokeByGrantId(grantId) {
    if (!GRANTABLE.has(this.model)) return;
    for (const [key, entry] of Object.entries(state.store)) {
      if (key.startsWith(`${this.model}:`) && entry.payload.grantId === grantId) delete state.store[key];
    }
    saveState();
  }
}

// Revokes every grant (of one account, or all) with every token issued
// under it: the next refresh gets invalid_grant, and introspection of its
// access tokens answers active: false.
function revokeGrants(account) {
  const grants = new Set();
  for (const [key, entry] of Object.entries(state.store)) {
    if (key.startsWith('Grant:') && (account === undefined || entry.payload.accountId === account)) {
      grants.add(key.slice('Grant:'.length));
    }
  }
  for (const [key, entry] of Object.entries(state.store)) {
    if (grants.has(entry.payload.grantId) || (key.startsWith('Grant:') && grants.has(key.slice(6)))) {
      delete state.store[key];
    }
  }
  saveState();
  return grants.size;
}

// ---- keys -----------------------------------------------------------------

// One RSA signing key and one cookie key per directory, kept across
// restarts: ID tokens and cookies issued before a restart stay valid.
function loadKeys() {
  const keysPath = path.join(dir, 'keys.json');
  try {
    return JSON.parse(fs.readFileSync(keysPath, 'utf8'));
  } catch {
    const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    const jwk = { ...privateKey.export({ format: 'jwk' }), kid: crypto.randomUUID(), use: 'sig' };
    const keys = { jwks: { keys: [jwk] }, cookies: [crypto.randomBytes(32).toString('base64url')] };
    fs.writeFileSync(keysPath, JSON.stringify(keys), { mode: 0o600 });
    return keys;
  }
}
const keys = loadKeys();

// ---- certificates ---------------------------------------------------------

function peerCertificate(socket) {
  const peer = socket?.getPeerCertificate?.();
  if (!peer || !peer.raw) return undefined;
  return peer;
}

// Subject DNs compare as ordered lists of TYPE=value, whether written the
// RFC 4514 way (CN=...,O=...,C=FR, most specific first) or OpenSSL's
// (/C=FR/O=.../CN=...); attribute types are case-insensitive.
function dnParts(dn) {
  const text = dn.trim();
  let parts;
  if (text.startsWith('/')) {
    parts = text.slice(1).split('/');
  } else {
    parts = text.split(/(?<!\\),/).reverse();
  }
  return parts.map((p) => {
    const i = p.indexOf('=');
    return `${p.slice(0, i).trim().toUpperCase()}=${p.slice(i + 1).trim().replace(/\\(.)/g, '$1')}`;
  });
}

function sameDn(a, b) {
  const x = dnParts(a);
  const y = dnParts(b);
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

function x509Subject(peer) {
  // Node gives the subject as "C=FR\nO=...\nCN=..." (issuer first).
  return `/${new crypto.X509Certificate(peer.raw).subject.split('\n').join('/')}`;
}

// ---- accounts ---------------------------------------------------------------

function account(id) {
  const a = ACCOUNTS[id];
  if (!a) return undefined;
  return {
    accountId: id,
    async claims() {
      return {
        sub: id,
        email: a.email,
        email_verified: true,
        given_name: a.given_name,
        family_name: a.family_name,
        SubjectNameID: id,
        SubjectRole: a.title ? [a.title] : undefined,
      };
    },
  };
}

// ---- the provider -----------------------------------------------------------

const host = cfg.host || '127.0.0.1';
const tlsOptions = {
  cert: fs.readFileSync(cfg.tls.cert),
  key: fs.readFileSync(cfg.tls.key),
  ca: fs.readFileSync(cfg.tls.ca),
  // Card login and tls_client_auth need the client's certificate; discovery,
  // introspection and the secret client must work without one.
  requestCert: true,
  rejectUnauthorized: false,
  minVersion: 'TLSv1.2',
  ...(cfg.tls.max_version ? { maxVersion: cfg.tls.max_version } : {}),
};
const server = https.createServer(tlsOptions);

function listen(port) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server.address().port);
    });
  });
}

const port = await listen(cfg.port || 0);
const issuer = cfg.issuer || `https://localhost:${port}`;

const clientCommon = {
  grant_types: ['authorization_code', 'refresh_token', 'urn:openid:params:grant-type:ciba'],
  response_types: ['code'],
  redirect_uris: REDIRECT_URIS,
  backchannel_token_delivery_mode: 'poll',
  scope: 'openid offline_access scope_all email profile',
};

const provider = new Provider(issuer, {
  adapter: FileAdapter,
  clients: [
    {
      ...clientCommon,
      client_id: CLIENTS.secret.client_id,
      client_secret: CLIENTS.secret.client_secret,
      token_endpoint_auth_method: 'client_secret_basic',
    },
    {
      ...clientCommon,
      client_id: CLIENTS.mtls.client_id,
      token_endpoint_auth_method: 'tls_client_auth',
      tls_client_auth_subject_dn: CLIENTS.mtls.subject_dn,
    },
    {
      client_id: CLIENTS.operator.client_id,
      client_secret: CLIENTS.operator.client_secret,
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: [],
      response_types: [],
      redirect_uris: [],
    },
  ],
  clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'tls_client_auth'],
  jwks: keys.jwks,
  cookies: { keys: keys.cookies },
  scopes: ['openid', 'offline_access', 'scope_all', 'email', 'profile'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['given_name', 'family_name'],
    // PSC's scope: the practitioner's identity and the mailbox mapping.
    scope_all: ['email', 'email_verified', 'given_name', 'family_name', 'SubjectNameID', 'SubjectRole'],
  },
  acrValues: ['eidas1'],
  responseTypes: ['code'],
  // Expiry must be exact: tests wait out a 4-second access token.
  clockTolerance: 0,
  findAccount: (ctx, id) => account(id),
  pkce: { required: () => true },
  // PSC issues refresh tokens without offline_access, and the box's
  // session follows them: always, for clients allowed the grant.
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  rotateRefreshToken: ROTATE,
  // Tokens live by their own TTL and their grant, not by a browser session
  // (the box has none worth keeping).
  expiresWithSession: async () => false,
  // The operator compares the SASL user with the introspected "email".
  extraTokenClaims: async (ctx, token) => {
    if (token.kind !== 'AccessToken' || !token.accountId) return undefined;
    const a = ACCOUNTS[token.accountId];
    return a ? { email: a.email, SubjectNameID: token.accountId } : undefined;
  },
  ttl: {
    AccessToken: () => TTL.access_token,
    AuthorizationCode: () => TTL.authorization_code,
    BackchannelAuthenticationRequest: (ctx) => {
      const requested = Number(ctx?.oidc?.params?.requested_expiry);
      return requested > 0 ? Math.min(TTL.ciba, requested) : TTL.ciba;
    },
    IdToken: () => TTL.id_token,
    RefreshToken: () => TTL.refresh_token,
    Grant: () => TTL.grant,
    Interaction: () => TTL.interaction,
    Session: () => TTL.session,
  },
  // Errors that cannot go back to the redirect_uri: JSON, for the box's log.
  async renderError(ctx, out) {
    ctx.type = 'json';
    ctx.body = out;
  },
  features: {
    devInteractions: { enabled: false },
    introspection: {
      enabled: true,
      allowedPolicy: async (ctx, client, token) => client.clientId === CLIENTS.operator.client_id
        || client.clientId === token.clientId,
    },
    revocation: { enabled: true },
    userinfo: { enabled: true },
    ciba: {
      enabled: true,
      deliveryModes: ['poll'],
      async processLoginHint(ctx, loginHint) {
        return ACCOUNTS[loginHint] ? loginHint : undefined;
      },
      async processLoginHintToken() {
        throw new errors.InvalidRequest('login_hint_token is not supported; use login_hint (the national id)');
      },
      // The e-CPS app shows the message: up to 60 printable characters.
      async validateBindingMessage(ctx, message) {
        if (message !== undefined && !/^[\p{L}\p{N}\p{P}\p{S} ]{1,60}$/u.test(message)) {
          throw new errors.InvalidBindingMessage('binding_message must be 1 to 60 printable characters');
        }
      },
      async validateRequestContext() {},
      async verifyUserCode() {},
      async triggerAuthenticationDevice(ctx, request, acct, client) {
        state.pending[request.jti] = {
          id: request.jti,
          login_hint: ctx.oidc.params.login_hint,
          account: acct.accountId,
          binding_message: ctx.oidc.params.binding_message ?? null,
          client_id: client.clientId,
          scope: request.scope,
          created: Math.floor(Date.now() / 1000),
          expires_at: request.exp,
        };
        state.counters.ciba.created += 1;
        polls.set(request.jti, { last: Date.now(), interval: CIBA_INTERVAL });
        saveState();
        log('ciba: request', short(request.jti), 'for', acct.accountId, 'by', client.clientId,
          'message', ctx.oidc.params.binding_message ?? '-');
      },
    },
    mTLS: {
      enabled: true,
      tlsClientAuth: true,
      certificateBoundAccessTokens: false,
      getCertificate(ctx) {
        const peer = peerCertificate(ctx.socket);
        return peer ? new crypto.X509Certificate(peer.raw) : undefined;
      },
      certificateAuthorized(ctx) {
        return ctx.socket?.authorized === true;
      },
      certificateSubjectMatches(ctx, property, expected) {
        const peer = peerCertificate(ctx.socket);
        if (!peer) return false;
        switch (property) {
          case 'tls_client_auth_subject_dn':
            return sameDn(x509Subject(peer), expected);
          default:
            return false;
        }
      },
    },
  },
});

provider.on('server_error', (ctx, err) => log('server error:', ctx.method, ctx.path, String(err?.stack || err)));
provider.on('grant.error', (ctx, err) => log('token error:', err.error || err.message, err.error_description || ''));
provider.on('introspection.error', (ctx, err) => log('introspection error:', err.error || err.message));
provider.on('backchannel_authentication.error', (ctx, err) => log('ciba error:', err.error || err.message,
  err.error_description || ''));
provider.on('authorization.error', (ctx, err) => log('authorization error:', err.error || err.message,
  err.error_description || ''));

// ---- helpers for the middleware ---------------------------------------------

const FORM_LIMIT = 56 * 1024;

// The token endpoint's body, read here so that the CIBA polling rate can
// be checked before oidc-provider consumes a request; oidc-provider then
// takes the already-read body from req.body.
async function readForm(ctx) {
  if (!ctx.is('application/x-www-form-urlencoded')) return {};
  const chunks = [];
  let size = 0;
  for await (const chunk of ctx.req) {
    size += chunk.length;
    if (size > FORM_LIMIT) throw new errors.InvalidRequest('request body too large');
    chunks.push(chunk);
  }
  const body = Buffer.concat(chunks);
  ctx.req.body = body;
  return querystring.parse(body.toString('utf8'));
}

async function readJson(ctx) {
  const chunks = [];
  let size = 0;
  for await (const chunk of ctx.req) {
    size += chunk.length;
    if (size > FORM_LIMIT) return {};
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (!text.trim()) return {};
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function json(ctx, status, body) {
  ctx.status = status;
  ctx.type = 'json';
  ctx.body = body;
}

function count(table, key) {
  table[key] = (table[key] || 0) + 1;
}

function b64url(value) {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

// What the token endpoint hands out instead of the real access token in
// the "garbage" and "unsigned" modes (the real one is dropped).
function fakeAccessToken(mode, body, clientId) {
  if (mode === 'garbage') return crypto.randomBytes(32).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  let sub = '899700000001';
  const rt = body.refresh_token && state.store[`RefreshToken:${body.refresh_token}`];
  if (rt) sub = rt.payload.accountId;
  const payload = {
    iss: issuer,
    sub,
    aud: clientId,
    email: ACCOUNTS[sub]?.email || 'cabinet.dupont@test.mssante.fr',
    scope: body.scope,
    iat: now,
    exp: now + TTL.access_token,
    jti: crypto.randomUUID(),
  };
  return `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(payload)}.`;
}

// CIBA polling: when each request was last polled, and the interval it
// must keep (the configured one, plus 5 s after each slow_down, as in
// RFC 8628 section 3.5 which CIBA follows).
const polls = new Map();

function checkPollRate(authReqId) {
  const entry = state.store[`BackchannelAuthenticationRequest:${authReqId}`];
  if (!entry) return undefined;
  const now = Date.now();
  // (A request made before a restart: its issue time, to the second.)
  const p = polls.get(authReqId) || { last: entry.payload.iat * 1000, interval: CIBA_INTERVAL };
  const elapsed = now - p.last;
  p.last = now;
  polls.set(authReqId, p);
  // 80 %: a client that sleeps exactly the interval is not too fast because
  // of scheduling jitter; a client that does not wait at all is.
  if (elapsed < p.interval * 1000 * 0.8) {
    p.interval += 5;
    return p.interval;
  }
  return undefined;
}

function markCibaExpired(id) {
  if (state.pending[id]) {
    delete state.pending[id];
    state.counters.ciba.expired += 1;
    saveState();
    log('ciba: request', short(id), 'expired');
  }
}

// Pending requests past their lifetime count as expired once, whether or
// not the client polled again.
function sweepPending() {
  const now = Math.floor(Date.now() / 1000);
  for (const [id, p] of Object.entries(state.pending)) {
    if (p.expires_at <= now) markCibaExpired(id);
  }
}

// ---- interactions: the card login ---------------------------------------------

// The login prompt is satisfied by the verified TLS client certificate
// alone, and consent is granted at once: no forms, the box follows the
// redirects itself.
async function interaction(ctx) {
  let details;
  try {
    details = await provider.interactionDetails(ctx.req, ctx.res);
  } catch (err) {
    const reason = err.error_description || err.message;
    log('interaction: not found:', reason);
    json(ctx, 400, { error: 'invalid_request', error_description: `interaction not found: ${reason}` });
    return;
  }
  const socket = ctx.req.socket;
  const peer = peerCertificate(socket);
  const cn = peer ? (Array.isArray(peer.subject?.CN) ? peer.subject.CN[0] : peer.subject?.CN) : undefined;
  let refusal;
  if (!peer) {
    refusal = 'no client certificate presented (insert the CPS card)';
  } else if (!socket.authorized) {
    refusal = `client certificate not trusted (${socket.authorizationError || 'unverified'})`;
  } else if (!cn || !ACCOUNTS[cn]) {
    refusal = `unknown practitioner ${cn || '(no CN)'}`;
  }
  let result;
  if (refusal) {
    state.counters.card_login.refused += 1;
    state.counters.card_login.seen.push({ cn: cn ?? null, ok: false, reason: refusal });
    log('card login refused:', refusal, 'subject', peer ? x509Subject(peer) : '-');
    result = { error: 'access_denied', error_description: refusal };
  } else {
    const { params } = details;
    const grant = new provider.Grant({ accountId: cn, clientId: params.client_id });
    const requested = String(params.scope || '').split(' ').filter(Boolean);
    grant.addOIDCScope(requested.join(' '));
    const grantId = await grant.save();
    state.counters.card_login.ok += 1;
    state.counters.card_login.seen.push({ cn, ok: true, reason: null });
    log('card login:', cn, 'for', params.client_id, 'scope', requested.join(' '));
    result = {
      login: { accountId: cn, acr: 'eidas1', remember: false },
      consent: { grantId },
    };
  }
  saveState();
  const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
  ctx.status = 303;
  ctx.redirect(returnTo);
}

// ---- test controls --------------------------------------------------------------

async function decideCiba(ctx, id, approve) {
  sweepPending();
  const request = await provider.BackchannelAuthenticationRequest.find(id, { ignoreExpiration: true });
  if (!request) {
    json(ctx, 404, { error: 'not_found', error_description: `no CIBA request ${id}` });
    return;
  }
  if (request.isExpired) {
    markCibaExpired(id);
    json(ctx, 409, { error: 'expired', error_description: 'the request expired' });
    return;
  }
  if (request.grantId || request.error || request.consumed) {
    json(ctx, 409, { error: 'decided', error_description: 'the request was already approved or denied' });
    return;
  }
  if (approve) {
    const grant = new provider.Grant({ accountId: request.accountId, clientId: request.clientId });
    grant.addOIDCScope(request.scope);
    await grant.save();
    await provider.backchannelResult(request, grant, { authTime: Math.floor(Date.now() / 1000), acr: 'eidas1' });
    state.counters.ciba.approved += 1;
  } else {
    await provider.backchannelResult(request, new errors.AccessDenied('the practitioner refused on the e-CPS app'));
    state.counters.ciba.denied += 1;
  }
  delete state.pending[id];
  saveState();
  log('ciba: request', short(id), approve ? 'approved' : 'denied');
  json(ctx, 200, { ok: true });
}

async function testControl(ctx) {
  const parts = ctx.path.split('/').filter(Boolean); // ["test", ...]
  const method = ctx.method;
  let body = {};
  if (method === 'POST') {
    body = await readJson(ctx);
    if (body === undefined || typeof body !== 'object' || body === null || Array.isArray(body)) {
      json(ctx, 400, { error: 'invalid_request', error_description: 'body must be a JSON object' });
      return;
    }
  }
  const route = `${method} /${parts.slice(1).join('/')}`;
  if (route === 'GET /ciba') {
    sweepPending();
    json(ctx, 200, { pending: Object.values(state.pending).sort((a, b) => a.created - b.created) });
  } else if (method === 'POST' && parts[1] === 'ciba' && parts.length === 4 && ['approve', 'deny'].includes(parts[3])) {
    await decideCiba(ctx, parts[2], parts[3] === 'approve');
  } else if (route === 'POST /revoke') {
    const n = revokeGrants(body.account ?? undefined);
    log('revoked', n, 'grant(s) of', body.account ?? 'everyone');
    json(ctx, 200, { revoked_grants: n });
  } else if (route === 'GET /token-mode') {
    json(ctx, 200, { mode: state.token_mode });
  } else if (route === 'POST /token-mode') {
    if (!TOKEN_MODES.includes(body.mode)) {
      json(ctx, 400, { error: 'invalid_request', error_description: `mode must be one of ${TOKEN_MODES.join(', ')}` });
      return;
    }
    state.token_mode = body.mode;
    saveState();
    log('token mode:', body.mode);
    json(ctx, 200, { mode: state.token_mode });
  } else if (route === 'GET /ttl') {
    json(ctx, 200, { ttl: TTL });
  } else if (route === 'POST /ttl') {
    const bad = Object.entries(body).filter(([k, v]) => !(k in TTL) || !Number.isInteger(v) || v <= 0);
    if (bad.length) {
      json(ctx, 400, { error: 'invalid_request', error_description: `unknown name or not a positive integer: ${bad.map(([k]) => k).join(', ')}` });
      return;
    }
    Object.assign(TTL, body);
    log('ttl:', body);
    json(ctx, 200, { ttl: TTL });
  } else if (route === 'GET /counters') {
    sweepPending();
    json(ctx, 200, state.counters);
  } else if (route === 'POST /counters/reset') {
    state.counters = newCounters();
    saveState();
    json(ctx, 200, state.counters);
  } else {
    json(ctx, 404, { error: 'not_found', error_description: `no test control ${route}` });
  }
}

// ---- middleware in front of oidc-provider's routes ----------------------------------

const SESSION_COOKIE = /^_session(\.legacy)?(\.sig)?$/;

provider.use(async (ctx, next) => {
  const started = Date.now();
  try {
    // Every card login starts from nothing: a session cookie kept by the
    // box from an earlier login (perhaps another practitioner's card) is
    // ignored, so the card presented now is the one that counts.
    if (ctx.path === '/auth' || ctx.path.startsWith('/auth/')) {
      const cookie = ctx.get('cookie');
      if (cookie) {
        ctx.request.header.cookie = cookie.split(/;\s*/)
          .filter((c) => !SESSION_COOKIE.test(c.split('=')[0]))
          .join('; ');
      }
    }

    if (ctx.path.startsWith('/interaction/') && ctx.method === 'GET') {
      await interaction(ctx);
      return;
    }
    if (ctx.path === '/test' || ctx.path.startsWith('/test/')) {
      await testControl(ctx);
      return;
    }

    if (ctx.path === '/token' && ctx.method === 'POST') {
      const form = await readForm(ctx);
      const grantType = typeof form.grant_type === 'string' ? form.grant_type : '(none)';
      const ciba = grantType === 'urn:openid:params:grant-type:ciba' && typeof form.auth_req_id === 'string';
      const slow = ciba ? checkPollRate(form.auth_req_id) : undefined;
      if (slow !== undefined) {
        json(ctx, 400, {
          error: 'slow_down',
          error_description: `polling too fast; wait at least ${slow} s between requests`,
        });
      } else {
        await next();
      }
      const outcome = ctx.status === 200 ? 'ok' : (ctx.body?.error || String(ctx.status));
      state.counters.token[grantType] ||= {};
      count(state.counters.token[grantType], outcome);
      if (ciba && outcome === 'expired_token') markCibaExpired(form.auth_req_id);
      if (ciba && outcome !== 'authorization_pending' && outcome !== 'slow_down') polls.delete(form.auth_req_id);
      // As PSC (a Keycloak) does: how long the refresh token, and so the
      // session, still lives; the box shows it to the practice.
      const refreshEntry = ctx.status === 200 && ctx.body?.refresh_token
        && state.store[`RefreshToken:${ctx.body.refresh_token}`];
      if (refreshEntry && refreshEntry.exp !== null) {
        ctx.body = {
          ...ctx.body,
          refresh_expires_in: Math.max(0, Math.round((refreshEntry.exp - Date.now()) / 1000)),
        };
      }
      if (ctx.status === 200 && ctx.body?.access_token && state.token_mode !== 'normal') {
        const clientId = ctx.oidc?.client?.clientId;
        ctx.body = { ...ctx.body, access_token: fakeAccessToken(state.token_mode, ctx.body, clientId) };
        log('token: handing out a', state.token_mode, 'access token instead of the real one');
      }
      saveState();
      log('token:', grantType, outcome, 'client', ctx.oidc?.client?.clientId || '-');
      return;
    }

    await next();

    if (ctx.path === '/token/introspection' && ctx.method === 'POST') {
      // oidc-provider refuses to introspect a JWT (unsupported_token_type):
      // an unsigned JWT handed out in "unsigned" mode is simply not a
      // token of this provider, so not active.
      if (ctx.status === 400 && ctx.body?.error === 'unsupported_token_type') {
        json(ctx, 200, { active: false });
      }
      if (ctx.status === 200) {
        const active = ctx.body?.active === true;
        count(state.counters.introspection, active ? 'active' : 'inactive');
        saveState();
        log('introspection:', active ? `active for ${ctx.body.email || ctx.body.sub}` : 'inactive',
          'by', ctx.oidc?.client?.clientId || '-');
      }
    } else if (ctx.path === '/backchannel' && ctx.method === 'POST' && ctx.status === 200 && ctx.body?.auth_req_id) {
      // oidc-provider leaves interval out (the client would assume 5 s).
      ctx.body = { ...ctx.body, interval: CIBA_INTERVAL };
    }
  } catch (err) {
    if (err instanceof errors.OIDCProviderError) {
      json(ctx, err.statusCode || 400, { error: err.error, error_description: err.error_description });
    } else {
      log('internal error:', ctx.method, ctx.path, String(err?.stack || err));
      json(ctx, 500, { error: 'server_error', error_description: 'internal error (see provider.log)' });
    }
  } finally {
    // (The socket is gone when the client hung up mid-request.)
    const socket = ctx.req.socket;
    const cert = socket?.authorized ? 'cert:verified' : (peerCertificate(socket) ? 'cert:unverified' : 'cert:none');
    log(ctx.method, ctx.path, ctx.status, `${Date.now() - started}ms`, cert);
  }
});

// ---- serving ----------------------------------------------------------------------

const handler = provider.callback();
server.on('request', handler);
server.on('tlsClientError', (err) => log('tls error:', err.code || '', err.message));
server.on('clientError', (err, socket) => {
  log('client error:', err.code || '', err.message);
  socket.destroy();
});
provider.on('error', (err) => log('app error:', String(err?.stack || err)));

// A test peer never dies of one bad request: log it and go on.
process.on('uncaughtException', (err) => log('uncaught:', String(err?.stack || err)));
process.on('unhandledRejection', (err) => log('unhandled rejection:', String(err?.stack || err)));

function shutdown(signal) {
  log('stopping on', signal);
  saveState();
  server.close();
  server.closeAllConnections();
  logStream.end(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));

fs.writeFileSync(path.join(dir, 'provider.json'), JSON.stringify({ pid: process.pid, port, issuer }));
const { version } = JSON.parse(fs.readFileSync(new URL('./node_modules/oidc-provider/package.json', import.meta.url), 'utf8'));
log('listening on', `${host}:${port}`, 'issuer', issuer, `oidc-provider ${version}`, 'pid', process.pid);
