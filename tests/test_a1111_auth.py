"""The A1111/Forge ``/civkit/*`` routes honour ``--gradio-auth`` (and ``--gradio-auth-path``) as well as
``--api-auth`` (issue 13 item 10): with only gradio's login set, they used to answer anyone on the
network, and ``/civkit/library`` shows file paths."""

from __future__ import annotations

import pytest
from test_a1111_tab import webui  # noqa: F401 - fixture

ROUTES = ("/civkit/status", "/civkit/downloads", "/civkit/library")


def _client(webui, **opts):  # noqa: F811 - the fixture's value
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    for key, value in opts.items():
        setattr(webui.shared.cmd_opts, key, value)
    app = FastAPI()
    app.tokens = {"session-of-alice": "alice"}  # what gradio's App keeps after a login
    webui.callbacks.app_started_callback(None, app)
    return TestClient(app)


def test_gradio_auth_alone_closes_the_routes(webui):  # noqa: F811
    client = _client(webui, gradio_auth="alice:s3cret,bob:pw:with:colons")
    for path in ROUTES:
        assert client.get(path).status_code == 401, path
        assert client.get(path, auth=("alice", "wrong")).status_code == 401
        assert client.get(path, auth=("alice", "s3cret")).status_code == 200
        assert client.get(path, auth=("bob", "pw:with:colons")).status_code == 200
    # the browser tab of a logged-in user sends gradio's session cookie, not Basic credentials
    for name in ("access-token", "access-token-unsecure", "access-token-abc123", "access-token-unsecure-abc123"):
        client.cookies.clear()
        client.cookies.set(name, "session-of-alice")
        assert client.get("/civkit/library").status_code == 200, name
    client.cookies.clear()
    client.cookies.set("access-token", "forged")
    assert client.get("/civkit/library").status_code == 401


def test_gradio_auth_path_is_read_like_the_webui_does(webui, tmp_path):  # noqa: F811
    creds = tmp_path / "auth.txt"
    creds.write_text("carol:one, dave:two\n\n erin:three\n", encoding="utf-8")
    client = _client(webui, gradio_auth_path=str(creds))
    assert client.get("/civkit/status").status_code == 401
    for user, password in (("carol", "one"), ("dave", "two"), ("erin", "three")):
        assert client.get("/civkit/status", auth=(user, password)).status_code == 200


def test_api_auth_and_gradio_auth_together(webui):  # noqa: F811
    client = _client(webui, api_auth="api:key1", gradio_auth="alice:s3cret")
    assert client.get("/civkit/status").status_code == 401
    assert client.get("/civkit/status", auth=("api", "key1")).status_code == 200
    assert client.get("/civkit/status", auth=("alice", "s3cret")).status_code == 200


def test_an_unreadable_gradio_auth_path_keeps_the_routes_closed(webui, tmp_path):  # noqa: F811
    client = _client(webui, gradio_auth_path=str(tmp_path / "missing.txt"))
    assert client.get("/civkit/status").status_code == 401


@pytest.mark.parametrize("opts", [{}, {"gradio_auth": ""}])
def test_no_auth_at_all_stays_open(webui, opts):  # noqa: F811
    assert _client(webui, **opts).get("/civkit/status").status_code == 200
