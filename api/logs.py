"""Structured JSON logs with a request id, and nothing secret in them.

Every line carries the request id set by :mod:`api.middleware`; what is logged never
includes bodies, query strings or the Authorization header: NIRs, passwords, codes and
tokens stay out by construction.
"""

from __future__ import annotations

import json
import logging
import sys
import time

from flask import Flask, g

_RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + "Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = _current_request_id()
        if request_id:
            entry["request_id"] = request_id
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


JsonFormatter.converter = time.gmtime


def _current_request_id() -> str | None:
    try:
        return g.get("request_id")
    except RuntimeError:  # outside a request
        return None


def configure_logging(app: Flask) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("api")
    root.handlers[:] = [handler]
    root.setLevel(app.extensions["settings"].LOG_LEVEL)
    root.propagate = True
    app.logger.handlers[:] = [handler]
    app.logger.setLevel(app.extensions["settings"].LOG_LEVEL)
