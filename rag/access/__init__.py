"""Who is calling and what they may see: principals (API keys, OIDC tokens), each document's access and the readers
it admits, tenant names, the store collection a tenant's collection lives in, and the namespace a writer's ids land
in (docs/access.md)."""
