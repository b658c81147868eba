"""Domain services: each write is validated, scoped by the policy and audited in one transaction."""
