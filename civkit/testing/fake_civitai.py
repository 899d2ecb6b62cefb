"""FakeCivitai: a local HTTP emulator of the Civitai API, downloads and storage (CIVITAI_API.md §13).

    with FakeCivitai() as fake:                 # demo catalog in a temporary folder
        requests.get(fake.base_url + "/api/v1/models/101")

    python -m civkit.testing.fake_civitai --port 8765 [--files-dir DIR] [--extra-models N] [--batch-models]
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import re
import secrets
import shutil
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from . import routes_download, routes_misc, routes_models, routes_versions
from .catalog import Catalog, build_demo_catalog
from .faults import Faults
from .http import Request, Response, error, text_response

log = logging.getLogger(__name__)
TEST_KEY = "test-key-123"

ROUTES = [
    (re.compile(r"^/api/v1/models/?$"), routes_models.list_models),
    (re.compile(r"^/api/v1/models/([^/]+)$"), routes_models.get_model),
    (re.compile(r"^/api/v1/model-versions/by-hash/ids$"), routes_versions.bulk_ids),
    (re.compile(r"^/api/v1/model-versions/by-hash$"), routes_versions.bulk),
    (re.compile(r"^/api/v1/model-versions/by-hash/([^/]+)$"), routes_versions.by_hash),
    (re.compile(r"^/api/v1/model-versions/([^/]+)$"), routes_versions.get_version),
    (re.compile(r"^/api/v1/images/?$"), routes_misc.images),
    (re.compile(r"^/api/v1/creators/?$"), routes_misc.creators),
    (re.compile(r"^/api/v1/tags/?$"), routes_misc.tags),
    (re.compile(r"^/api/v1/enums/?$"), routes_misc.enums),
    (re.compile(r"^/api/v1/me/?$"), routes_misc.me),
    (re.compile(r"^/api/download/models/([^/]+)$"), routes_download.download),
    (re.compile(r"^/storage/(\d+)/([^/]+)$"), routes_download.storage),
    (re.compile(r"^/images/([^/]+)\.(?:png|jpeg|jpg)$"), routes_misc.image_file),
    (re.compile(r"^/(login|model-versions/\d+|models/\d+.*)$"), routes_misc.html_page),
]
_TOKEN_RE = re.compile(r"(token=)[^&]*", re.IGNORECASE)


class FakeCivitai:
    """The emulator. ``catalog=None`` builds the demo catalog in ``files_dir`` (a temp dir if None)."""

    def __init__(self, catalog: Catalog | None = None, files_dir=None, port: int = 0, host: str = "127.0.0.1",
                 extra_models: int = 0):
        self._tmp = None
        if catalog is None:
            if files_dir is None:
                self._tmp = tempfile.mkdtemp(prefix="fake-civitai-")
                files_dir = self._tmp
            catalog = build_demo_catalog(Path(files_dir), extra_models=extra_models)
        self.catalog = catalog
        self._baseline = catalog.mark()
        self.host, self._port = host, port
        self.api_key = TEST_KEY
        self.keys = {TEST_KEY: catalog.test_user["username"]}
        self.faults = Faults()
        self.request_log: list[tuple[str, str, bool]] = []
        self.downloads_counted = 0
        # storage bookkeeping: one dict per storage response {file_id, start, end (exclusive), status, sent}
        self.storage_log: list[dict] = []
        self.urls_issued = 0  # signed storage URLs handed out (each carries its serial number)
        self.expired_below = 0  # URLs with a serial below this answer "Request has expired"
        self._storage_bytes = 0
        self.secret = secrets.token_bytes(32)
        self._log_lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ----- lifecycle -----
    def start(self) -> FakeCivitai:
        if self._server is not None:
            return self
        server = _Server((self.host, self._port), _Handler)
        server.fake = self
        self._server = server
        self._port = server.server_address[1]
        self._thread = threading.Thread(target=server.serve_forever, name="fake-civitai", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.close_all()
            server.server_close()
            self._thread.join(timeout=5)
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self) -> FakeCivitai:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self._port}"

    # ----- test helpers -----
    def reset(self) -> None:
        """Clear faults and the request log, and drop models added since the emulator was created."""
        self.faults.reset()
        self.catalog.restore(self._baseline)
        self.downloads_counted = 0
        with self._log_lock:
            self.request_log.clear()
            self.storage_log.clear()
            self.expired_below = 0
            self._storage_bytes = 0

    def set_baseline(self) -> None:
        """Keep the models added so far across ``reset()`` (e.g. a large file added by a module fixture)."""
        self._baseline = self.catalog.mark()

    def count(self, prefix: str = "") -> int:
        with self._log_lock:
            return sum(1 for _m, path, _a in self.request_log if path.startswith(prefix))

    def log_storage(self, file_id, start, end, status) -> dict:
        """Record one storage response (``sent`` grows as its body goes out); returns the entry."""
        entry = {"file_id": file_id, "start": start, "end": end, "status": status, "sent": 0}
        with self._log_lock:
            self.storage_log.append(entry)
        return entry

    def storage_ranges(self, file_id=None) -> list[tuple[int, int, int]]:
        """(start, end exclusive, bytes sent) of every storage response with a body, in order."""
        with self._log_lock:
            return [(e["start"], e["end"], e["sent"]) for e in self.storage_log
                    if e["start"] is not None and (file_id is None or e["file_id"] == file_id)]

    def storage_connections(self) -> int:
        """How many TCP connections carried the storage responses with a body (a reused keep-alive
        connection counts once)."""
        with self._log_lock:
            return len({e.get("client_port") for e in self.storage_log if e["start"] is not None})

    def issue_url_serial(self) -> int:
        with self._log_lock:
            self.urls_issued += 1
            return self.urls_issued

    def storage_sent(self, nbytes: int) -> None:
        """Count storage body bytes; past ``faults.expire_after_bytes`` every URL issued so far expires."""
        limit = self.faults.expire_after_bytes
        with self._log_lock:
            self._storage_bytes += nbytes
            if limit is not None and self._storage_bytes >= limit:
                self.expired_below = self.urls_issued + 1
                self.faults.expire_after_bytes = None

    def add_model(self, path, **kw) -> dict:
        """Publish a file on disk as a new model (see ``Catalog.add_file_model``)."""
        return self.catalog.add_file_model(path, **kw)

    def redact(self, text: str) -> str:
        text = _TOKEN_RE.sub(r"\1***", text)
        for key in self.keys:
            text = text.replace(key, "***")
        return text

    # ----- request handling -----
    def _key_of(self, headers: dict, query: dict) -> str | None:
        auth = headers.get("authorization")
        if auth is not None:
            value = auth.split(" ", 1)[1] if " " in auth else ""  # the scheme word is ignored (§1.2)
        else:
            value = (query.get("token") or [""])[0]
        return value if value in self.keys else None

    def handle(self, method: str, target: str, headers: dict, body: bytes) -> Response:
        req = Request(method, target, headers, body, self)
        req.key = self._key_of(headers, req.query)
        with self._log_lock:
            self.request_log.append((method, self.redact(target), "authorization" in headers))
        if method == "OPTIONS":
            return Response(200, b"", _CORS)
        faults = self.faults
        if faults.region_blocked:
            return error(451, "Access to this service is not available in your region due to legal restrictions.",
                         code="REGION_BLOCKED")
        is_api = req.path.startswith("/api/")
        if is_api and faults.take("cloudflare_count"):
            return _cloudflare(faults.cloudflare_status)
        if is_api:
            if faults.request_delay > 0:
                time.sleep(faults.request_delay)
            if faults.next_is_rate_limited():
                return _rate_limited(faults.rate_limit_retry_after)
            if faults.take("busy_count"):
                return _busy(req.path, faults.retry_after)
            if faults.take("error_count"):
                return Response(faults.error_status, *_json_error_500())
        for pattern, route in ROUTES:
            m = pattern.match(req.path)
            if m:
                resp = route(req, *m.groups())
                break
        else:
            resp = error(404, "Not found") if is_api else text_response(404, "Not found")
        if is_api:
            resp.headers.extend(_CORS)
        return self._etag(req, resp)

    def _etag(self, req: Request, resp: Response) -> Response:
        if not self.faults.etag or resp.status != 200 or resp.stream is not None:
            return resp
        if not (resp.header("Content-Type") or "").startswith("application/json"):
            return resp
        tag = '"' + hashlib.sha1(resp.body).hexdigest()[:20] + '"'
        resp.headers.append(("ETag", tag))
        if req.headers.get("if-none-match") == tag:
            return Response(304, b"", [h for h in resp.headers if h[0].lower() != "content-type"])
        return resp


_CORS = [("Access-Control-Allow-Origin", "*"), ("Access-Control-Allow-Headers", "*"),
         ("Access-Control-Allow-Methods", "GET, POST")]


def _busy(path: str, retry_after: int) -> Response:
    if path.startswith("/api/v1/models"):
        message = "Model search is temporarily overloaded — please retry."
    elif path.startswith("/api/v1/images"):
        message = "Image search is temporarily overloaded — please retry."
    else:
        message = "Server busy, please retry shortly."
    resp = error(503, message, "no-store")
    resp.headers.append(("Retry-After", str(retry_after)))
    return resp


def _rate_limited(retry_after: int) -> Response:
    """Civitai's request limiter: 429 with a JSON body and Retry-After (not the download quota)."""
    resp = error(429, "Too Many Requests", "no-store")
    resp.headers.append(("Retry-After", str(retry_after)))
    return resp


def _json_error_500():
    from .http import json_dumps

    body = json_dumps({"message": "An unexpected error occurred", "error": "Emulated server failure"})
    return body, [("Content-Type", "application/json; charset=utf-8")]


def _cloudflare(status: int) -> Response:
    title = {403: "Attention Required! | Cloudflare", 429: "Access denied | Cloudflare",
             503: "Just a moment..."}.get(status, "Cloudflare")
    html = (f"<!DOCTYPE html>\n<html lang=\"en-US\"><head><title>{title}</title></head><body>"
            f"<div id=\"cf-wrapper\"><h1>Sorry, you have been blocked</h1><p>Cloudflare Ray ID: "
            f"{secrets.token_hex(8)}</p></div></body></html>")
    return text_response(status, html, "text/html; charset=UTF-8", [("Server", "cloudflare"),
                                                                   ("CF-RAY", secrets.token_hex(8) + "-FRA")])


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self._conns: set = set()
        self._conns_lock = threading.Lock()

    def track(self, conn, add: bool) -> None:
        with self._conns_lock:
            (self._conns.add if add else self._conns.discard)(conn)

    def handle_error(self, request, client_address) -> None:
        """A client that hangs up mid-request (a cancelled or split download) is normal, not a traceback."""
        import sys

        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError, TimeoutError)):
            log.debug("client %s went away", client_address)
            return
        super().handle_error(request, client_address)

    def close_all(self) -> None:
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(2)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle's algorithm on, the body waits for the
    # client's delayed ACK (~40 ms a request on Linux loopback), a cost no real Civitai server has.
    disable_nagle_algorithm = True
    server_version = "FakeCivitai/1.0"
    timeout = 120

    def setup(self):
        super().setup()
        self.server.track(self.connection, True)

    def finish(self):
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def log_message(self, fmt, *args):  # keep test output quiet; the request log is on the fake
        log.debug("%s " + fmt, self.address_string(), *args)

    def _handle(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        fake: FakeCivitai = self.server.fake
        try:
            resp = fake.handle(self.command, self.path, headers, body)
        except Exception as exc:  # an emulator bug must not kill the connection silently
            log.exception("emulator error")
            resp = error(500, f"emulator error: {exc!r}")
        self.send_response(resp.status)
        for name, value in resp.headers:
            self.send_header(name, value)
        length = resp.length if resp.stream is not None else len(resp.body)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        if self.command == "HEAD":
            return
        if resp.stream is not None:
            resp.stream(self)
        elif resp.body:
            self.wfile.write(resp.body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _handle


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Run the local Civitai emulator")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--files-dir", default=None, help="where catalog files are generated (cached)")
    parser.add_argument("--extra-models", type=int, default=0, help="filler models for paging tests")
    parser.add_argument("--large-file", type=int, default=0, help="also publish a model with a file of N bytes")
    parser.add_argument("--throttle-bps", type=int, default=0,
                        help="limit every storage connection to N bytes per second (like a CDN's per-connection cap)")
    parser.add_argument("--batch-models", action="store_true",
                        help="also publish model 126 (several versions with several files each)")
    args = parser.parse_args(argv)
    fake = FakeCivitai(files_dir=args.files_dir, port=args.port, host=args.host, extra_models=args.extra_models)
    fake.faults.throttle_bps = args.throttle_bps
    if args.batch_models:
        fake.catalog.add_batch_models()
    if args.large_file:
        model = fake.catalog.add_large_file_model(args.large_file)
        print(f"large model: id {model['id']}, version {model['modelVersions'][0]['id']}, "
              f"sha256 {model['modelVersions'][0]['files'][0]['hashes']['SHA256']}")
    with fake:
        print(f"Fake Civitai at {fake.base_url}")
        print(f"API key: {fake.api_key}")
        print("Ctrl-C to stop", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print("stopping")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
