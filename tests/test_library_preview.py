"""Choosing and saving a preview image."""

from __future__ import annotations

import pytest
import requests

from civkit.api.records import parse_version
from civkit.library.preview import choose_preview_image, existing_preview, image_extension, save_preview


def _version(*images):
    return parse_version({"id": 1, "images": list(images)})


def test_image_extension_from_magic_bytes():
    assert image_extension(b"\x89PNG\r\n\x1a\n....") == "png"
    assert image_extension(b"\xff\xd8\xff\xe0....") == "jpeg"
    assert image_extension(b"RIFF\0\0\0\0WEBPVP8 ") == "webp"
    assert image_extension(b"GIF89a......") == "gif"
    assert image_extension(b"<!DOCTYPE html>") is None


def test_first_allowed_still_image_is_chosen():
    v = _version(
        {"url": "http://x/v.mp4", "type": "video", "nsfwLevel": 1},
        {"url": "http://x/r.jpeg", "type": "image", "nsfwLevel": 4},
        {"url": "http://x/unrated.jpeg", "type": "image", "nsfwLevel": 0},
        {"url": "http://x/pg13.jpeg", "type": "image", "nsfwLevel": 2},
    )
    assert choose_preview_image(v).url == "http://x/pg13.jpeg"
    assert choose_preview_image(v, nsfw_allowed=True).url == "http://x/r.jpeg"
    assert choose_preview_image(_version()) is None


@pytest.mark.parametrize("name", ["m.png", "m.preview.png", "m.jpg", "m.preview.jpeg", "m.webp", "m.gif"])
def test_any_existing_preview_counts(tmp_path, name):
    model = tmp_path / "m.safetensors"
    model.write_bytes(b"x")
    assert existing_preview(model) is None
    (tmp_path / name).write_bytes(b"img")
    assert existing_preview(model) == tmp_path / name


def test_html_instead_of_an_image_is_not_saved(fake_civitai, tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    model = folder / "m.safetensors"
    model.write_bytes(b"x")
    v = _version({"url": fake_civitai.base_url + "/login", "type": "image", "nsfwLevel": 1})
    with requests.Session() as session:
        assert save_preview(model, v, session) is None
    assert sorted(p.name for p in folder.iterdir()) == ["m.safetensors"]


def test_a_jpeg_served_as_png_is_saved_as_jpeg(tmp_path):
    import http.server
    import threading

    jpeg = b"\xff\xd8\xff\xe0" + b"\0" * 100

    class Handler(http.server.BaseHTTPRequestHandler):
        seen_auth = []

        def do_GET(self):  # noqa: N802 - http.server's naming
            Handler.seen_auth.append(self.headers.get("Authorization"))
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(jpeg)))
            self.end_headers()
            self.wfile.write(jpeg)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        model = tmp_path / "m.safetensors"
        model.write_bytes(b"x")
        v = _version({"url": f"http://127.0.0.1:{server.server_address[1]}/a.png", "type": "image", "nsfwLevel": 1})
        with requests.Session() as session:
            session.headers["Authorization"] = "Bearer secret-key"
            saved = save_preview(model, v, session)
        assert saved == tmp_path / "m.preview.jpeg" and saved.read_bytes() == jpeg
        assert Handler.seen_auth == [None]
        with requests.Session() as session:  # once only
            assert save_preview(model, v, session) is None
        assert len(Handler.seen_auth) == 1
    finally:
        server.shutdown()
        server.server_close()
