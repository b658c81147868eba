"""Files attached to rows: their bytes, their kinds, how they are served."""
