"""Log lines as operators read them: plain text by default, one JSON object per line with LIANFU_LOG_FORMAT=json;
each line of a request carries its request id, and every line the node it was written on.

JSON through python-json-logger: a formatter for the standard `logging` module, so uvicorn's, APScheduler's,
SQLAlchemy's and our own loggers all come out alike with no change where they log (structlog would have us route
the standard library's records through its own pipeline for the same result).
"""
from __future__ import annotations

import logging
import logging.config
import os
import re
import uuid
from contextvars import ContextVar
from pathlib import Path
from typing import Any

REQUEST_ID: ContextVar[str | None] = ContextVar("lianfu_request_id", default=None)
# A request id taken from a client or a proxy: letters, digits and a few separators, at most 128 of them (it is
# echoed in a header and written in every log line of the request).
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@/+=-]{0,127}")

LOG_FILE_BYTES = 10 * 1024 * 1024
LOG_FILE_COUNT = 5
FORMATS = ("text", "json")

_node = os.environ.get("LIANFU_NODE_ID", "") or "-"


def set_node(node_id: str) -> None:
    """The node every later line names (a spoke learns its own from its data dir when its app is built)."""
    global _node
    _node = node_id or "-"


def request_id_from(header: str | None) -> str:
    """The incoming X-Request-ID when it is sane, else a new one."""
    if header and _SANE_REQUEST_ID.fullmatch(header):
        return header
    return uuid.uuid4().hex


class ContextFilter(logging.Filter):
    """Adds `request_id` and `node` to every record a handler writes."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get() or "-"
        record.node = _node
        record.__dict__.pop("color_message", None)  # uvicorn's copy of the message with terminal colours
        return True


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(node)s %(request_id)s] %(message)s"


def log_format() -> str:
    """LIANFU_LOG_FORMAT: `text` (the default) or `json`; anything else is refused at start."""
    chosen = os.environ.get("LIANFU_LOG_FORMAT", "text").strip().lower() or "text"
    if chosen not in FORMATS:
        raise ValueError(f"LIANFU_LOG_FORMAT must be one of {', '.join(FORMATS)}, not {chosen!r}")
    return chosen


def make_formatter() -> logging.Formatter:
    """The formatter LIANFU_LOG_FORMAT asks for (dictConfig calls this in each worker process)."""
    if log_format() == "json":
        from pythonjsonlogger.json import JsonFormatter

        # The traceback is one string field ("exception"): a JSON string, so still one line.
        # `time`: ISO 8601 in UTC, with its offset.
        return JsonFormatter("%(levelname)s %(name)s %(message)s %(request_id)s %(node)s",
                             rename_fields={"levelname": "level", "name": "logger", "exc_info": "exception"},
                             timestamp="time", json_ensure_ascii=False)
    return logging.Formatter(TEXT_FORMAT)


def logging_config(log_file: Path | None = None, level: str = "INFO") -> dict[str, Any]:
    """A dictConfig for a serving node: every logger to stdout (and to `log_file`, rotated by size), uvicorn's
    access lines off (ours, `lianfu.access`, carry the route and the request id instead)."""
    handlers: dict[str, Any] = {
        "console": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout", "formatter": "lianfu",
                    "filters": ["context"]},
    }
    if log_file is not None:
        handlers["file"] = {"class": "logging.handlers.RotatingFileHandler", "filename": str(log_file),
                            "maxBytes": LOG_FILE_BYTES, "backupCount": LOG_FILE_COUNT, "encoding": "utf-8",
                            "formatter": "lianfu", "filters": ["context"]}
    names = list(handlers)
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"lianfu": {"()": "common.ops.logs.make_formatter"}},
        "filters": {"context": {"()": "common.ops.logs.ContextFilter"}},
        "handlers": handlers,
        "root": {"level": level, "handlers": names},
        "loggers": {
            "uvicorn": {"level": level, "handlers": [], "propagate": True},
            "uvicorn.error": {"level": level, "handlers": [], "propagate": True},
            "uvicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
            # A line per Alembic plugin at every start is noise; its "Running upgrade" lines stay.
            "alembic.runtime.plugins": {"level": "WARNING"},
        },
    }


def spoke_log_file(data_dir: Path) -> Path:
    """A spoke keeps its log in its data dir (CONTRACT.md: the data dir holds its log)."""
    directory = data_dir / "logs"
    directory.mkdir(parents=True, exist_ok=True)
    return directory / "lianfu.log"


def configure(log_file: Path | None = None) -> dict[str, Any]:
    """Set this process's logging up as a serving node's, and return the config for uvicorn's workers."""
    config = logging_config(log_file)
    logging.config.dictConfig(config)
    return config


def check_format() -> str | None:
    """The one-line reason LIANFU_LOG_FORMAT is refused, or None."""
    try:
        log_format()
    except ValueError as exc:
        return str(exc)
    return None


__all__ = ["REQUEST_ID", "ContextFilter", "configure", "logging_config", "request_id_from", "set_node",
           "spoke_log_file", "check_format"]
