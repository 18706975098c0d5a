"""Log output for the servers: one line per record on stderr, as text or as JSON objects.

proofbound itself never logs tokens, proofs, assertions or keys (hash and thumbprint prefixes at
most); :func:`configure` also installs :mod:`proofbound.redact` so that what other libraries
and applications log on the same handlers is cleaned too.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Final, Literal

__all__ = ["JsonFormatter", "configure"]

_TEXT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """``{"ts": ..., "level": ..., "logger": ..., "msg": ...}`` per record."""

    def format(self, record: logging.LogRecord) -> str:
        """One JSON object (exception text included when there is one)."""
        entry = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        # exc_text first: the redaction filter may have replaced the traceback text.
        if record.exc_text:
            entry["exc"] = record.exc_text
        elif record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure(level: str, fmt: Literal["text", "json"] = "text") -> None:
    """Send every log record to stderr at ``level`` in ``fmt``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(_TEXT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    from proofbound import redact

    redact.install()  # last: it filters the handlers configured above, uvicorn's included
