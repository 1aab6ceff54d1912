// Sign-in: an API key, or (when the API names an OIDC issuer and a public client) the authorization code flow with
// PKCE against that issuer. The credential is kept in this tab's session storage only.

const TOKEN = 'rag.token';
const PENDING = 'rag.oidc';

export function savedToken() {
  return sessionStorage.getItem(TOKEN);
}

export function keep(token) {
  sessionStorage.setItem(TOKEN, token);
}

export function forget() {
  sessionStorage.removeItem(TOKEN);
}

function base64url(bytes) {
  let text = '';
  for (const b of new Uint8Array(bytes)) text += String.fromCharCode(b);
  return btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function randomText(size = 32) {
  return base64url(crypto.getRandomValues(new Uint8Array(size)));
}

async function discovery(issuer) {
  const response = await fetch(`${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`);
  if (!response.ok) throw new Error(`the identity provider's discovery document answered ${response.status}`);
  return response.json();
}

function redirectUri() {
  return `${window.location.origin}${window.location.pathname}`;
}

// Sends the browser to the issuer's authorization endpoint; it comes back to this page with a code.
export async function startOidc(oidc) {
  const meta = await discovery(oidc.issuer);
  const verifier = randomText(48);
  const state = randomText(16);
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier));
  sessionStorage.setItem(PENDING, JSON.stringify({ verifier, state, token_endpoint: meta.token_endpoint }));
  const query = new URLSearchParams({
    response_type: 'code',
    client_id: oidc.client_id,
    redirect_uri: redirectUri(),
    scope: oidc.scope,
    state,
    code_challenge: base64url(digest),
    code_challenge_method: 'S256',
  });
  if (oidc.resource) query.set('resource', oidc.resource);
  window.location.assign(`${meta.authorization_endpoint}?${query}`);
}

function pendingSignIn() {
  try {
    const pending = JSON.parse(sessionStorage.getItem(PENDING) || 'null');
    return pending && typeof pending.state === 'string' && pending.state ? pending : null;
  } catch {
    return null;
  }
}

// Back from the issuer with ?code=&state=: the code exchanged for an access token (null when this is no such return).
// An ?error= is shown only when its state is that of a sign-in this tab started: anyone may link to this page with
// an error and a description of their own words ("call us at ..."); such a link is ignored, and every one of these
// parameters leaves the address bar either way.
export async function finishOidc(oidc) {
  const params = new URLSearchParams(window.location.search);
  if (!params.has('code') && !params.has('error')) return null;
  window.history.replaceState(null, '', redirectUri());
  const pending = pendingSignIn();
  const ours = pending !== null && params.get('state') === pending.state;
  if (params.has('error')) {
    if (!ours) return null;
    sessionStorage.removeItem(PENDING);
    throw new Error(`sign-in refused: ${params.get('error_description') || params.get('error')}`);
  }
  sessionStorage.removeItem(PENDING);
  if (!ours) throw new Error('sign-in failed: the state does not match');
  const body = new URLSearchParams({
    grant_type: 'authorization_code',
    code: params.get('code'),
    redirect_uri: redirectUri(),
    client_id: oidc.client_id,
    code_verifier: pending.verifier,
  });
  if (oidc.resource) body.set('resource', oidc.resource);
  const response = await fetch(pending.token_endpoint, { method: 'POST', body });
  const token = await response.json().catch(() => ({}));
  if (!response.ok || !token.access_token) {
    throw new Error(`sign-in failed: ${token.error_description || token.error || response.status}`);
  }
  return token.access_token;
}
