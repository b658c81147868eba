"""Nodes of the federation: sub-centers and workstations, the applications that found them."""
