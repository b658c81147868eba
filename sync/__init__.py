"""The sync engine between the hub and its spokes."""
