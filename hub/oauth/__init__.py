"""The hub as OpenID Connect provider: clients, signing keys, grants, endpoints, and bearer tokens at the API."""
