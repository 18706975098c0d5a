"""The resource-server side: ``WWW-Authenticate`` challenges (the guard arrives with its issue)."""

from proofbound.resource.challenge import (
    Challenge,
    ResourceErrorResponse,
    quote_param,
    render_challenges,
    resource_error_response,
)

__all__ = [
    "Challenge",
    "ResourceErrorResponse",
    "quote_param",
    "render_challenges",
    "resource_error_response",
]
