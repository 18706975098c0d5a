"""The HTML pages of the authorization server: login, consent and non-redirecting errors.

Pure rendering: every value is escaped with :func:`html.escape` (quotes included, so a value
cannot leave its attribute), and no page carries JavaScript. :func:`page_csp` is the
Content-Security-Policy to send with them: nothing may load but inline style, forms post only to
the AS itself (and, for consent, to the client's redirect-URI origin), and no site may frame the
pages (clickjacking, RFC 6749 §10.13).
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import Final
from urllib.parse import urlsplit

__all__ = ["consent_page", "error_page", "form_target", "login_page", "page_csp"]

# A CSP source expression for one origin (``https://app.example:8443``) or a scheme
# (``com.example.app:``, a native app's private-use URI scheme, RFC 8252 §7.1). Nothing else:
# spaces, quotes, ";" or "," would add sources or directives to the policy.
_SCHEME: Final = r"[A-Za-z][A-Za-z0-9+.-]*"
_HOST: Final = r"(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:.]+\])"
_FORM_TARGET: Final = re.compile(rf"({_SCHEME}):(?://{_HOST}(?::[0-9]{{1,5}})?)?")
# Schemes that run or embed content in the browser: never a redirect URI, never a form target.
_UNSAFE_SCHEMES: Final = frozenset({"about", "blob", "data", "filesystem", "javascript"})

_STYLE: Final = (
    "body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem}"
    "label,input,button{display:block;font-size:1rem}input{width:100%;margin:.25rem 0 1rem}"
    "button{margin:.5rem .5rem 0 0;padding:.5rem 1rem;display:inline-block}"
    "#error{color:#b00020}"
)


def _e(value: str) -> str:
    return html.escape(value, quote=True)


def form_target(redirect_uri: str) -> str:
    """The ``form-action`` source a redirect URI needs: its origin, or its private-use scheme.

    Raises:
        ValueError: the URI has no origin or scheme :func:`page_csp` accepts (registration
            refuses such redirect URIs, so the consent page can always be rendered).
    """
    parts = urlsplit(redirect_uri)
    target = (
        f"{parts.scheme}://{parts.netloc}"
        if parts.scheme in ("http", "https")
        else f"{parts.scheme}:"
    )
    page_csp([target])  # the one place that decides what a CSP source may be
    return target


def page_csp(form_targets: Sequence[str] = ()) -> str:
    """The Content-Security-Policy header value for the AS's pages.

    Args:
        form_targets: origins (``scheme://host[:port]``) or schemes (``scheme:``) that forms may
            submit to besides the AS. Chromium applies ``form-action`` to the redirect after a
            form POST, so the consent page passes the client's redirect-URI origin.

    Raises:
        ValueError: a target that is not a bare origin or scheme (it would alter the policy), or
            a scheme such as ``javascript:`` or ``data:``.

    Example::

        page_csp(["https://app.example"])
        # "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' https://app.example;
        #  frame-ancestors 'none'; base-uri 'none'"
    """
    for target in form_targets:
        match = _FORM_TARGET.fullmatch(target)
        if match is None or match.group(1).lower() in _UNSAFE_SCHEMES:
            raise ValueError("a form target must be an origin or a safe scheme, nothing more")
    form_action = " ".join(("'self'", *form_targets))
    return (
        f"default-src 'none'; style-src 'unsafe-inline'; form-action {form_action}; "
        "frame-ancestors 'none'; base-uri 'none'"
    )


def _document(title: str, body: str) -> str:
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="referrer" content="no-referrer">\n'
        f"<title>{_e(title)}</title>\n<style>{_STYLE}</style>\n</head>\n"
        f"<body>\n{body}</body>\n</html>\n"
    )


def _hidden(name: str, value: str) -> str:
    return f'<input type="hidden" name="{_e(name)}" value="{_e(value)}">\n'


def _error_paragraph(error: str | None) -> str:
    return "" if error is None else f'<p id="error" role="alert">{_e(error)}</p>\n'


def login_page(*, action: str, tx: str, csrf: str, error: str | None = None) -> str:
    """The sign-in form: username, password, and the hidden ``tx`` and ``csrf`` fields.

    Args:
        action: where the form posts (``/login`` below the issuer).
        tx: the pending authorization request.
        csrf: :func:`~proofbound.server.sessions.csrf_token` for ``"login"`` and ``tx``.
        error: shown above the form in ``<p id="error">`` (e.g. after a wrong password).
    """
    body = (
        "<h1>Sign in</h1>\n"
        f"{_error_paragraph(error)}"
        f'<form method="post" action="{_e(action)}">\n'
        '<label for="username">Username</label>\n'
        '<input name="username" id="username" autocomplete="username" required autofocus>\n'
        '<label for="password">Password</label>\n'
        '<input type="password" name="password" id="password" autocomplete="current-password"'
        " required>\n"
        f"{_hidden('tx', tx)}{_hidden('csrf', csrf)}"
        '<button type="submit" id="login">Sign in</button>\n'
        "</form>\n"
    )
    return _document("Sign in", body)


def _scope_list(scopes: list[str]) -> str:
    if not scopes:
        return "<p>No specific permissions (scopes) are requested.</p>\n"
    items = "".join(f"<li><code>{_e(scope)}</code></li>\n" for scope in scopes)
    return f'<ul id="scopes">\n{items}</ul>\n'


def consent_page(
    *, action: str, tx: str, csrf: str, client_name: str, scopes: list[str], subject: str
) -> str:
    """Ask ``subject`` whether ``client_name`` may have ``scopes``; approve or deny.

    Args:
        action: where the form posts (``/consent`` below the issuer).
        tx: the pending authorization request.
        csrf: :func:`~proofbound.server.sessions.csrf_token` for ``"consent"``, bound to it.
        client_name: the client's registered name (attacker-chosen text: escaped like all).
        scopes: the scopes asked for, each shown as given.
        subject: the signed-in user.
    """
    body = (
        "<h1>Allow access?</h1>\n"
        f'<p>Signed in as <strong id="subject">{_e(subject)}</strong>.</p>\n'
        f'<p><strong id="client">{_e(client_name)}</strong> asks for:</p>\n'
        f"{_scope_list(scopes)}"
        f'<form method="post" action="{_e(action)}">\n'
        f"{_hidden('tx', tx)}{_hidden('csrf', csrf)}"
        '<button type="submit" name="decision" value="approve" id="approve">Allow</button>\n'
        '<button type="submit" name="decision" value="deny" id="deny">Deny</button>\n'
        "</form>\n"
    )
    return _document("Allow access?", body)


def error_page(message: str) -> str:
    """A page for errors that must not redirect to the client: an unknown ``client_id`` or a
    ``redirect_uri`` that is not registered (RFC 6749 §4.1.2.1), shown in ``<p id="error">``."""
    body = f"<h1>Sign-in error</h1>\n{_error_paragraph(message)}"
    return _document("Sign-in error", body)
