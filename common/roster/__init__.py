"""The roster: the enterprises operating elsewhere and their people."""
