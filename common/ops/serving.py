"""What `lianfu hub serve` and `lianfu spoke serve` set up before their workers start: logging, and the directory
where the workers' metrics are added up."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from common.ops import logs
from common.ops.metrics_dir import MULTIPROC_ENV
from common.settings import export_to_workers


def metrics_directory(data_dir: Path) -> Path:
    """`<data dir>/metrics`, emptied: what a previous run counted is not this run's (Prometheus sees a restart)."""
    directory = data_dir / "metrics"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def prepare_serving(data_dir: Path, log_file: Path | None = None) -> dict[str, Any]:
    """Set up this process (and, through the environment, its workers); the logging config for uvicorn. Raises
    ValueError with a one-line reason for a LIANFU_LOG_FORMAT it does not know."""
    reason = logs.check_format()
    if reason:
        raise ValueError(reason)
    # Read by prometheus-client when it is first imported, in this process and in each worker.
    export_to_workers(MULTIPROC_ENV, str(metrics_directory(data_dir).resolve()))
    return logs.configure(log_file)
