"""The JSON API under /api/v1, shared by hub and spoke; thin controllers over the domain services."""
