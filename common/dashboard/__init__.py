"""Each role's front page and the office's figures."""
