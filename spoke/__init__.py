"""A spoke: a sub-center's or workstation's lightweight node."""
