"""The AS's HTML pages: the elements the flow relies on, everything escaped, no JavaScript, and
the Content-Security-Policy that goes with them."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from proofbound.server.pages import consent_page, error_page, login_page, page_csp

XSS = '"><script>alert(1)</script><img src=x onerror=alert(2)>'
ESCAPED_SCRIPT = "&lt;script&gt;alert(1)&lt;/script&gt;"


class Page(HTMLParser):
    """Collects start tags (with attributes) and the text inside elements with an id."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text_by_id: dict[str, str] = {}
        self._open_ids: list[str | None] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if tag not in ("input", "meta"):  # void elements have no content
            self._open_ids.append(attributes.get("id"))
            if attributes.get("id"):
                self.text_by_id[str(attributes["id"])] = ""

    def handle_endtag(self, tag: str) -> None:
        if self._open_ids:
            self._open_ids.pop()

    def handle_data(self, data: str) -> None:
        for element_id in self._open_ids:
            if element_id:
                self.text_by_id[element_id] += data

    def one(self, tag: str, **match: str) -> dict[str, str | None]:
        found = [
            attrs
            for name, attrs in self.tags
            if name == tag and all(attrs.get(k) == v for k, v in match.items())
        ]
        assert len(found) == 1, (tag, match, found)
        return found[0]

    def hidden(self) -> dict[str | None, str | None]:
        return {
            attrs.get("name"): attrs.get("value")
            for name, attrs in self.tags
            if name == "input" and attrs.get("type") == "hidden"
        }


def assert_no_javascript(text: str) -> None:
    page = Page(text)
    assert "script" not in [tag for tag, _ in page.tags]
    for _, attrs in page.tags:
        assert not [name for name in attrs if name.startswith("on")], attrs
        assert not any((value or "").lower().startswith("javascript:") for value in attrs.values())


# --- page_csp -----------------------------------------------------------------------------------


def test_csp_without_targets() -> None:
    assert page_csp() == (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    )


def test_csp_with_the_redirect_uri_origin() -> None:
    assert page_csp(["https://app.example", "http://127.0.0.1:8080", "com.example.app:"]) == (
        "default-src 'none'; style-src 'unsafe-inline'; "
        "form-action 'self' https://app.example http://127.0.0.1:8080 com.example.app:; "
        "frame-ancestors 'none'; base-uri 'none'"
    )
    assert "http://[::1]:3000" in page_csp(["http://[::1]:3000"])


BAD_TARGETS = {
    "directive injection": "https://app.example; script-src *",
    "source list injection": "https://app.example https://evil.example",
    "comma": "https://app.example,https://evil.example",
    "path": "https://app.example/callback",
    "query": "https://app.example?x=1",
    "wildcard": "*",
    "wildcard host": "https://*.example",
    "keyword": "'unsafe-inline'",
    "self keyword": "'self'",
    "empty": "",
    "no scheme": "app.example",
    "newline": "https://app.example\n",
    "javascript scheme": "javascript:",
    "data scheme": "DATA:",
    "blob scheme": "blob:",
    "bad port": "https://app.example:123456",
    "userinfo": "https://user@app.example",
}


@pytest.mark.parametrize("target", BAD_TARGETS.values(), ids=BAD_TARGETS.keys())
def test_csp_refuses_targets_that_are_not_origins(target: str) -> None:
    with pytest.raises(ValueError, match="origin or a safe scheme") as info:
        page_csp(["https://ok.example", target])
    if target:
        assert target not in str(info.value)


# --- login --------------------------------------------------------------------------------------


def test_login_page_elements() -> None:
    text = login_page(action="/login", tx="tx-123", csrf="csrf-456")
    page = Page(text)
    form = page.one("form")
    assert form == {"method": "post", "action": "/login"}
    username = page.one("input", name="username")
    assert username["id"] == "username"
    assert username.get("type") in (None, "text")
    password = page.one("input", name="password")
    assert password["id"] == "password"
    assert password["type"] == "password"
    assert password["autocomplete"] == "current-password"
    assert page.hidden() == {"tx": "tx-123", "csrf": "csrf-456"}
    button = page.one("button", id="login")
    assert button["type"] == "submit"
    assert page.text_by_id["login"] == "Sign in"
    assert "error" not in page.text_by_id
    assert '<form method="post" action="/login">' in text
    assert '<input name="username" id="username"' in text
    assert '<input type="password" name="password" id="password"' in text
    assert '<button type="submit" id="login">Sign in</button>' in text
    assert text.startswith("<!DOCTYPE html>")
    assert '<meta charset="utf-8">' in text
    assert_no_javascript(text)


def test_login_page_shows_the_error() -> None:
    page = Page(login_page(action="/login", tx="t", csrf="c", error="Wrong username or password."))
    assert page.text_by_id["error"] == "Wrong username or password."


def test_login_page_escapes_every_value() -> None:
    text = login_page(action=XSS, tx=XSS, csrf=XSS, error=XSS)
    assert "<script>" not in text
    assert "<img" not in text
    assert ESCAPED_SCRIPT in text
    page = Page(text)
    assert page.one("form")["action"] == XSS  # the attribute holds the value, nothing escaped it
    assert page.hidden() == {"tx": XSS, "csrf": XSS}
    assert page.text_by_id["error"] == XSS
    assert_no_javascript(text)


def test_login_attribute_quotes_cannot_break_out() -> None:
    text = login_page(action="/login", tx="a' onfocus='x", csrf='b" autofocus onfocus="x')
    assert_no_javascript(text)
    assert Page(text).hidden() == {"tx": "a' onfocus='x", "csrf": 'b" autofocus onfocus="x'}


# --- consent ------------------------------------------------------------------------------------


def consent(**overrides: object) -> str:
    values: dict[str, object] = {
        "action": "/consent",
        "tx": "tx-1",
        "csrf": "csrf-1",
        "client_name": "Photo App",
        "scopes": ["photos:read", "profile"],
        "subject": "alice",
    }
    values.update(overrides)
    return consent_page(**values)  # type: ignore[arg-type]


def test_consent_page_elements() -> None:
    text = consent()
    page = Page(text)
    assert page.one("form") == {"method": "post", "action": "/consent"}
    assert page.hidden() == {"tx": "tx-1", "csrf": "csrf-1"}
    approve = page.one("button", id="approve")
    assert approve == {"type": "submit", "name": "decision", "value": "approve", "id": "approve"}
    deny = page.one("button", id="deny")
    assert deny == {"type": "submit", "name": "decision", "value": "deny", "id": "deny"}
    assert page.text_by_id["client"] == "Photo App"
    assert page.text_by_id["subject"] == "alice"
    assert page.text_by_id["scopes"].split() == ["photos:read", "profile"]
    assert '<button type="submit" name="decision" value="approve" id="approve">' in text
    assert '<button type="submit" name="decision" value="deny" id="deny">' in text
    assert_no_javascript(text)


def test_consent_page_without_scopes() -> None:
    text = consent(scopes=[])
    assert "scopes" not in Page(text).text_by_id
    assert "No specific permissions" in text


def test_consent_page_escapes_the_client_name() -> None:
    # client_name comes from dynamic registration: anyone can choose it.
    text = consent(client_name="<script>alert('pwned')</script>")
    assert "<script>" not in text
    assert "&lt;script&gt;alert(&#x27;pwned&#x27;)&lt;/script&gt;" in text
    assert Page(text).text_by_id["client"] == "<script>alert('pwned')</script>"
    assert_no_javascript(text)


def test_consent_page_escapes_every_value() -> None:
    text = consent(action=XSS, tx=XSS, csrf=XSS, client_name=XSS, scopes=[XSS, "ok"], subject=XSS)
    assert "<script>" not in text
    assert "<img" not in text
    assert text.count(ESCAPED_SCRIPT) == 6
    page = Page(text)
    assert page.one("form")["action"] == XSS
    assert page.hidden() == {"tx": XSS, "csrf": XSS}
    assert_no_javascript(text)


# --- error --------------------------------------------------------------------------------------


def test_error_page_shows_the_message() -> None:
    text = error_page("Unknown client.")
    assert Page(text).text_by_id["error"] == "Unknown client."
    assert "<form" not in text
    assert_no_javascript(text)


def test_error_page_escapes_the_message() -> None:
    text = error_page(XSS)
    assert "<script>" not in text
    assert ESCAPED_SCRIPT in text
    assert Page(text).text_by_id["error"] == XSS
    assert_no_javascript(text)


@pytest.mark.parametrize(
    "text",
    [
        login_page(action="/login", tx="t", csrf="c"),
        consent(),
        error_page("x"),
    ],
    ids=["login", "consent", "error"],
)
def test_pages_load_nothing_external(text: str) -> None:
    for tag, attrs in Page(text).tags:
        assert tag not in ("script", "link", "iframe", "img", "object", "embed", "base"), tag
        assert "src" not in attrs
        assert "href" not in attrs
