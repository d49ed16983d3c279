"""Headers, CSRF, escaping and the one 404 (issue 16)."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from cm_bot.bootstrap import App
from cm_bot.domain import Severity
from cm_bot.web.security import CSP
from tests.web.conftest import add_case, add_flag, add_staff, audit_rows, sign_in

STATIC = Path(__file__).resolve().parents[2] / "src" / "cm_bot" / "web"


def test_every_page_carries_the_security_headers(client: TestClient, cm: App) -> None:
    sign_in(client, cm, add_staff(cm, "Maria"))
    for path in ("/flags", "/signin", "/flags/999/nothing", "/static/console.css"):
        headers = client.get(path).headers
        assert headers["content-security-policy"] == CSP, path
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["x-content-type-options"] == "nosniff"
    assert "script-src 'self'" in CSP and "frame-ancestors 'none'" in CSP
    assert client.get("/flags").headers["cache-control"] == "no-store"
    assert client.get("/signin").headers["cache-control"] == "no-store"


def test_no_inline_script_or_style_in_any_template() -> None:
    for template in (STATIC / "templates").glob("*.html"):
        text = template.read_text()
        assert "<script" not in text.replace("</script>", ""), template.name
        assert "<style" not in text and " style=" not in text, template.name
        assert "onclick=" not in text and "javascript:" not in text, template.name


def test_a_post_without_the_csrf_token_is_refused(client: TestClient, cm: App) -> None:
    maria = add_staff(cm, "Maria")
    flag_id = add_flag(cm, add_case(cm, "Maria"))
    csrf = sign_in(client, cm, maria)

    for form in ({}, {"csrf": ""}, {"csrf": csrf[:-1] + "x"}):
        response = client.post(f"/flags/{flag_id}/ack", data=form)
        assert response.status_code == 403, form
    assert client.post("/logout").status_code == 403
    assert client.get("/flags").status_code == 200  # still signed in
    assert "Open: nobody has acknowledged it yet" in client.get("/flags").text
    assert len(audit_rows(cm, "console_csrf_refused")) == 4

    assert client.post(f"/flags/{flag_id}/ack", data={"csrf": csrf}).status_code == 303
    assert "Acknowledged by Maria" in client.get("/flags").text


def test_a_clients_script_shows_as_text(client: TestClient, cm: App) -> None:
    maria = add_staff(cm, "Maria")
    add_flag(
        cm,
        add_case(cm, "Maria"),
        severity=Severity.HIGH,
        reason='Client wrote: <script>alert("x")</script> & <b>bold</b>',
    )
    sign_in(client, cm, maria)
    page = client.get("/flags").text
    assert "<script>" not in page and "<b>bold</b>" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in page


def test_unknown_and_forbidden_flags_get_the_same_404(client: TestClient, cm: App) -> None:
    add_staff(cm, "Maria")
    omar = add_staff(cm, "Omar")
    marias_flag = add_flag(cm, add_case(cm, "Maria"))
    csrf = sign_in(client, cm, omar)

    forbidden = client.post(f"/flags/{marias_flag}/ack", data={"csrf": csrf})
    unknown = client.post("/flags/99999/ack", data={"csrf": csrf})

    assert forbidden.status_code == unknown.status_code == 404
    assert forbidden.text == unknown.text
    assert len(audit_rows(cm, "access_refused")) == 2
