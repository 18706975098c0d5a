"""The authorization-server side: token-endpoint error responses (the AS arrives with its issue)."""

from proofbound.server.responses import TokenErrorResponse, token_error_response

__all__ = ["TokenErrorResponse", "token_error_response"]
