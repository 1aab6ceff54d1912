// The tests' OpenID Connect provider: the npm package oidc-provider (installed by scripts/oidc-provider.sh) on
// loopback, issuing JWT access tokens to clients by the client-credentials grant, with extra claims per client
// (tenant, groups, roles), signed with the keys of a JWKS file the test writes (so it can rotate them by restarting
// the provider with another file).
//
//   node tests/oidc_provider.mjs PROVIDER_MODULE PORT AUDIENCE JWKS_FILE CLIENTS_FILE
//
// CLIENTS_FILE: [{"client_id", "client_secret", "claims": {"tenant", "groups", "roles"}}]
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const [modulePath, port, audience, jwksFile, clientsFile] = process.argv.slice(2);
const { default: Provider } = await import(pathToFileURL(modulePath).href);
const clients = JSON.parse(readFileSync(clientsFile, 'utf8'));
const claimsOf = Object.fromEntries(clients.map((c) => [c.client_id, c.claims]));

const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: clients.map((c) => ({
    client_id: c.client_id,
    client_secret: c.client_secret,
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    token_endpoint_auth_method: 'client_secret_post',
  })),
  jwks: JSON.parse(readFileSync(jwksFile, 'utf8')),
  features: {
    devInteractions: { enabled: false },
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
  extraTokenClaims: async (ctx, token) => claimsOf[token.clientId] ?? {},
  cookies: { keys: ['test-only-cookie-key'] },
});

for (const event of ['server_error', 'grant.error']) {
  provider.on(event, (ctx, error) => console.error(`${event}: ${error?.stack ?? error}`));
}

provider.listen(Number(port), '127.0.0.1', () => console.log(`oidc-provider listening on ${port}`));
