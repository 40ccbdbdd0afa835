"""The services' logs: one JSON object per line, ours and uvicorn's alike.

- ``JsonFormatter``: ``{"ts", "level", "logger", "msg", ...fields}``; a record's
  ``fields`` (``logger.info(msg, extra={"fields": {...}})``) become top-level
  keys (the access log's id, route, status...). A traceback, if any, is one
  JSON string: a log line is never more than one line.
- ``LogFile``: a handler appending to a file created 0600 (it names client
  addresses and request ids) that follows logrotate: when the path no longer
  names the file it writes to (renamed away), or after SIGHUP
  (``reopen_on_sighup``), the next line opens the path again. Checking the
  path on each line is what logging's own WatchedFileHandler does; it also
  covers uvicorn's supervisor, which takes SIGHUP for itself (it restarts the
  workers) and so never runs our handler.
- ``log_config(access_file)``: the dict uvicorn applies with
  ``logging.config.dictConfig`` in the supervisor and in every worker: the
  access log (logger ``licwiz.access``) to ``access_file`` or stderr, every
  other line (ours under ``licwiz``, uvicorn's) to stderr, all as JSON.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import time
import traceback
from typing import Any, TextIO

ACCESS = "licwiz.access"
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record (see the module)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created)),
            "level": record.levelname.lower(), "logger": record.name, "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update(fields)
        if record.exc_info and record.exc_info[0] is not None:
            line["exc"] = "".join(traceback.format_exception(*record.exc_info))
        return json.dumps(line, default=str)


class LogFile(logging.StreamHandler[TextIO]):
    """Appends to ``path`` (created 0600) and opens it again once it was
    renamed or removed, or after SIGHUP (see the module)."""

    def __init__(self, path: str) -> None:
        self.path = os.path.abspath(path)
        self.reopen_asked = False
        super().__init__(self._open())

    def _open(self) -> TextIO:
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        if os.fstat(fd).st_mode & 0o077:  # made by an older version or another umask
            os.fchmod(fd, 0o600)
        return os.fdopen(fd, "a", buffering=1, encoding="utf-8")

    def _moved(self) -> bool:
        try:
            now = os.stat(self.path)
        except FileNotFoundError:
            return True
        mine = os.fstat(self.stream.fileno())
        return (now.st_dev, now.st_ino) != (mine.st_dev, mine.st_ino)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if self.reopen_asked or self._moved():
                self.reopen_asked = False
                old = self.setStream(self._open())
                if old is not None:
                    old.close()
        except OSError:
            self.handleError(record)
            return
        super().emit(record)


def _handlers() -> list[LogFile]:
    return [h for name in ("", ACCESS, "licwiz", "uvicorn")
            for h in logging.getLogger(name or None).handlers if isinstance(h, LogFile)]


def reopen_on_sighup() -> None:
    """SIGHUP: the log files open again with their next line, and the process
    goes on (the default action of SIGHUP would end it). Only a flag is set in
    the handler: the file is opened by the next ``emit``, outside signal context."""

    def asked(signum: int, frame: object) -> None:
        for h in _handlers():
            h.reopen_asked = True

    signal.signal(signal.SIGHUP, asked)


def log_config(access_file: str | None, level: str = "INFO") -> dict[str, Any]:
    """uvicorn's ``log_config``: see the module."""
    stderr = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    access = ({"()": f"{__name__}.LogFile", "path": access_file, "formatter": "json"} if access_file
              else stderr)
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": f"{__name__}.JsonFormatter"}},
        "handlers": {"stderr": stderr, "access": access},
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"handlers": ["stderr"], "level": level, "propagate": False},
            "licwiz": {"handlers": ["stderr"], "level": level, "propagate": False},
            ACCESS: {"handlers": ["access"], "level": "INFO", "propagate": False},
        },
    }


def configure(access_file: str | None, level: str = "INFO") -> None:
    """``log_config`` for this process (uvicorn run by hand, without it)."""
    configure_process(log_config(access_file, level))


def configure_process(config: dict[str, Any]) -> None:
    """Apply ``config`` here, before uvicorn applies it again. A log that cannot
    be written (disk full) loses the line quietly: logging's default would
    print a plain-text traceback among the JSON lines."""
    import logging.config

    logging.raiseExceptions = False
    logging.config.dictConfig(config)


def stream_logger(name: str, stream: TextIO) -> logging.Logger:
    """A logger of its own writing JSON lines to ``stream`` (the embedded
    center's log file), outside the process's logging configuration."""
    logger = logging.Logger(name)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    logger.propagate = False
    return logger
