"""The HTTP floor of ``bench.as_tokens``: ``proofbound serve``'s uvicorn, an app doing no work.

``python -m bench._http_floor PORT TOKEN_CHARS`` serves on 127.0.0.1:PORT with exactly the
uvicorn options of ``proofbound serve`` (``uvicorn_options``). ``GET /healthz`` answers 200; any
``POST`` is read to its end and answered like a token response -- the same headers and a body of
the same size (an ``access_token`` of TOKEN_CHARS characters) -- without parsing or checking
anything. Timing the benchmark's own requests against it gives the per-request cost of the HTTP
stack itself (uvicorn, httptools, uvloop, the loopback sockets), measured in the same run.
"""

from __future__ import annotations

import json
import sys
from typing import Any

__all__ = ["main"]

_HEALTHY = b'{"status":"ok"}'


def _app(token_chars: int) -> Any:
    body = json.dumps(
        {"access_token": "x" * token_chars, "token_type": "DPoP", "expires_in": 300},
        separators=(",", ":"),
    ).encode("ascii")

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        answer = _HEALTHY
        if scope["method"] == "POST":
            more = True
            while more:
                message = await receive()
                more = message.get("more_body", False) and message["type"] == "http.request"
            answer = body
        headers = [
            (b"cache-control", b"no-store"),
            (b"pragma", b"no-cache"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(answer)).encode("ascii")),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": answer})

    return app


def main(argv: list[str]) -> int:
    """Serve until SIGTERM/SIGINT."""
    if len(argv) != 2 or not all(a.isdigit() for a in argv):
        print("usage: python -m bench._http_floor PORT TOKEN_CHARS", file=sys.stderr)
        return 2
    import uvicorn

    from proofbound.cli.server_commands import uvicorn_options

    port, token_chars = int(argv[0]), int(argv[1])
    config = uvicorn.Config(
        _app(token_chars), host="127.0.0.1", port=port, **uvicorn_options("warning")
    )
    uvicorn.Server(config).run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
