// A real OpenID provider for crates/baton/tests/login.rs: oidc-provider with one test
// user, a login page that checks the password, and a consent page.
//
// It listens on 127.0.0.1 on a free port and prints `listening PORT`, then reads one JSON
// line on standard input, `{"redirect_uris": [...]}` (Baton's callback, known only once
// Baton runs, and Baton needs this issuer first), and serves from then on. The signing key
// and cookie keys are made fresh at each start.
//
// It doubles as the example application's login for people trying it out:
// `node provider.mjs --port 9090 --redirect-uri http://127.0.0.1:8080/auth/callback`
// listens on that port and serves at once (see examples/student-full-info/README.md).

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import http from 'node:http';
import readline from 'node:readline';

import Provider from 'oidc-provider';

// The test users: the password the login page wants, and the claims of their tokens.
const ACCOUNTS = {
  alice: {
    password: 'alice-password',
    claims: {
      email: 'alice@example.com',
      email_verified: true,
      name: 'Alice Liddell',
      groups: ['students'],
    },
  },
  // The example application's student (examples/student-full-info) and its admin.
  ab1234: {
    password: 'ada-password',
    claims: {
      email: 'ada@example.edu',
      email_verified: true,
      name: 'Ada Lovelace',
      groups: ['students'],
    },
  },
  admin: {
    password: 'admin-password',
    claims: {
      email: 'admin@example.edu',
      email_verified: true,
      name: 'The Registrar',
      groups: ['admins'],
    },
  },
};

// `--port N --redirect-uri URI`: the standalone mode above.
function option(name) {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const page = (title, body) => `<!doctype html>
<html><head><meta charset="utf-8"><title>${escape(title)}</title></head>
<body><h1>${escape(title)}</h1>${body}</body></html>`;

function send(res, status, html) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(html);
}

async function form(req) {
  let body = '';
  for await (const chunk of req) body += chunk;
  return new URLSearchParams(body);
}

function loginPage(uid, message) {
  return page('Sign in', `${message ? `<p class="error">${escape(message)}</p>` : ''}
<form method="post" action="/interaction/${escape(uid)}/login">
  <input name="login" autocomplete="username">
  <input name="password" type="password" autocomplete="current-password">
  <button type="submit">Sign in</button>
</form>
<a href="/interaction/${escape(uid)}/abort">Cancel</a>`);
}

function consentPage(uid, client, scopes) {
  return page('Allow access', `<p>${escape(client)} asks for: ${escape(scopes)}</p>
<form method="post" action="/interaction/${escape(uid)}/confirm">
  <button type="submit">Allow</button>
</form>
<a href="/interaction/${escape(uid)}/abort">Deny</a>`);
}

// The interaction pages: /interaction/UID (the page), /interaction/UID/login,
// /interaction/UID/confirm, /interaction/UID/abort.
async function interaction(provider, req, res, path) {
  const [, , uid, action] = path.split('/');
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) {
    return send(res, 400, page('Error', '<p>not this interaction</p>'));
  }
  const { prompt, params } = details;
  if (action === undefined && req.method === 'GET') {
    if (prompt.name === 'login') return send(res, 200, loginPage(uid));
    return send(res, 200, consentPage(uid, params.client_id, params.scope));
  }
  if (action === 'login' && req.method === 'POST' && prompt.name === 'login') {
    const f = await form(req);
    const account = ACCOUNTS[f.get('login')];
    if (!account || account.password !== f.get('password')) {
      return send(res, 200, loginPage(uid, 'Wrong user name or password.'));
    }
    return provider.interactionFinished(req, res, { login: { accountId: f.get('login') } }, {
      mergeWithLastSubmission: false,
    });
  }
  if (action === 'confirm' && req.method === 'POST' && prompt.name === 'consent') {
    const { missingOIDCScope, missingOIDCClaims } = prompt.details;
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId: params.client_id });
    if (missingOIDCScope) grant.addOIDCScope(missingOIDCScope.join(' '));
    if (missingOIDCClaims) grant.addOIDCClaims(missingOIDCClaims);
    const grantId = await grant.save();
    return provider.interactionFinished(req, res, { consent: { grantId } }, {
      mergeWithLastSubmission: true,
    });
  }
  if (action === 'abort') {
    return provider.interactionFinished(req, res, {
      error: 'access_denied',
      error_description: 'the user said no',
    }, { mergeWithLastSubmission: false });
  }
  return send(res, 405, page('Error', '<p>not here</p>'));
}

let handler = (_req, res) => {
  res.writeHead(503);
  res.end('not configured yet');
};
const server = http.createServer((req, res) => handler(req, res));
const standalone = option('--redirect-uri');
server.listen(Number(option('--port') ?? 0), '127.0.0.1', () => {
  const { port } = server.address();
  process.stdout.write(`listening ${port}\n`);
  if (standalone) {
    configure(port, [standalone]);
    return;
  }
  const lines = readline.createInterface({ input: process.stdin });
  lines.once('line', (line) => configure(port, JSON.parse(line).redirect_uris));
});

function configure(port, redirectUris) {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const provider = new Provider(`http://127.0.0.1:${port}`, {
    clients: [
      {
        // Baton as `client_secret_basic` (its default when the provider allows it).
        client_id: 'baton',
        client_secret: 'baton-secret',
        redirect_uris: redirectUris,
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
      {
        // Baton configured with `token_endpoint_auth_method = client_secret_post`.
        client_id: 'baton-post',
        client_secret: 'baton-post-secret',
        redirect_uris: redirectUris,
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_post',
      },
    ],
    async findAccount(_ctx, id) {
      const account = ACCOUNTS[id];
      if (!account) return undefined;
      return { accountId: id, claims: async () => ({ sub: id, ...account.claims }) };
    },
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name'],
      groups: ['groups'],
    },
    // The scopes' claims in the ID token too, as Google does with email.
    conformIdTokenClaims: false,
    features: { devInteractions: { enabled: false } },
    interactions: { url: (_ctx, i) => `/interaction/${i.uid}` },
    // Every client must use PKCE: this checks that Baton does.
    pkce: { required: () => true },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    jwks: { keys: [{ ...privateKey.export({ format: 'jwk' }), kid: 'test-1', use: 'sig', alg: 'RS256' }] },
  });
  const callback = provider.callback();
  handler = (req, res) => {
    const path = new URL(req.url, 'http://x').pathname;
    if (path.startsWith('/interaction/')) {
      interaction(provider, req, res, path).catch((e) => {
        send(res, 500, page('Error', `<p>${escape(e.message)}</p>`));
      });
      return;
    }
    callback(req, res);
  };
  process.stdout.write('ready\n');
}
