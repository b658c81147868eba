"""Lianfu domain: models, validation, policy, audit, settings and shared web pieces."""
