"""What the office keeps as data: its lists and settings."""
