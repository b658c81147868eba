"""Cases: a police report from its intake to its closing, with the units that handle it."""
