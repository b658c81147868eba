"""Bulletins and warnings the office publishes, with their acknowledgements."""
