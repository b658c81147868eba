"""The audit trail: a keyed chain of every change and security event."""
