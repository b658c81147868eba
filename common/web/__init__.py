"""Shared web pieces of hub and spoke: errors, templates, sessions, CSRF, the JSON API and the pages."""
