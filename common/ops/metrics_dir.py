"""The environment variable that puts prometheus-client in multiprocess mode (kept apart from common/ops/metrics.py,
which imports prometheus-client: the variable must be set before that import)."""
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
