"""Operations: health and readiness, metrics, logs with request ids, the hub's hosts and the version."""
