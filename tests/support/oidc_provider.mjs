// The tests' OpenID Connect provider: the npm package oidc-provider (installed by scripts/oidc-provider.sh) on
// loopback, issuing JWT access tokens to clients by the client-credentials grant, with extra claims per client
// (tenant, groups, roles), signed with the keys of a JWKS file the test writes (so it can rotate them by restarting
// the provider with another file). With an ACCOUNTS_FILE it also signs users in (its development login and consent
// pages: any password) for public clients by the authorization code flow with PKCE, each account's token carrying
// that account's claims.
//
//   node tests/support/oidc_provider.mjs PROVIDER_MODULE PORT AUDIENCE JWKS_FILE CLIENTS_FILE [ACCOUNTS_FILE]
//
// CLIENTS_FILE: [{"client_id", "client_secret", "claims": {"tenant", "groups", "roles"}}, or, a public client,
//                {"client_id", "redirect_uris": [...]}]
// ACCOUNTS_FILE: {"ACCOUNT_ID": {"tenant", "groups", "roles"}}
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const [modulePath, port, audience, jwksFile, clientsFile, accountsFile] = process.argv.slice(2);
const { default: Provider } = await import(pathToFileURL(modulePath).href);
const clients = JSON.parse(readFileSync(clientsFile, 'utf8'));
const claimsOf = Object.fromEntries(clients.map((c) => [c.client_id, c.claims]));
const accounts = accountsFile ? JSON.parse(readFileSync(accountsFile, 'utf8')) : {};

const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: clients.map((c) => (c.redirect_uris ? {
    client_id: c.client_id,
    grant_types: ['authorization_code'],
    redirect_uris: c.redirect_uris,
    response_types: ['code'],
    token_endpoint_auth_method: 'none',
  } : {
    client_id: c.client_id,
    client_secret: c.client_secret,
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    token_endpoint_auth_method: 'client_secret_post',
  })),
  jwks: JSON.parse(readFileSync(jwksFile, 'utf8')),
  features: {
    devInteractions: { enabled: Object.keys(accounts).length > 0 },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => audience,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: 'api',
        audience,
        accessTokenFormat: 'jwt',
        accessTokenTTL: 600,
        jwt: { sign: { alg: 'RS256' } },
      }),
    },
  },
  extraTokenClaims: async (ctx, token) => (token.accountId ? accounts[token.accountId] : claimsOf[token.clientId]) ?? {},
  cookies: { keys: ['test-only-cookie-key'] },
});

for (const event of ['server_error', 'grant.error']) {
  provider.on(event, (ctx, error) => console.error(`${event}: ${error?.stack ?? error}`));
}

provider.listen(Number(port), '127.0.0.1', () => console.log(`oidc-provider listening on ${port}`));
