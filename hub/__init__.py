"""The hub: the office's application, all tenants, the identity provider."""
