"""A recording HTTP(S) forward proxy on 127.0.0.1 that stands in for the internet in key-hygiene tests.

The client under test gets a ``requests.Session`` whose proxies point here and whose ``verify`` is this
rig's own test CA (TLS verification stays on). For ``https://`` the proxy answers ``CONNECT`` and speaks
real TLS with a certificate for the names below, so the client connects exactly where it would on the
internet and the rig sees every request with its headers: which host, which scheme, and whether an
``Authorization`` header came along. Requests for hosts in ``upstream`` are forwarded to the Civitai
emulator; ``scripted`` answers win over that; anything else answers 502.
"""

from __future__ import annotations

import datetime
import http.client
import socketserver
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

NAMES = ("civitai.com", "*.civitai.com", "civitai.red", "*.civitai.red", "civitai.green", "*.civitai.green",
         "evil", "evil.com", "storage.test")


def make_ca_and_leaf(folder: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a leaf certificate for ``NAMES``; returns (ca.pem, leaf.pem, leaf.key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "civkit test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "civitai.com")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in NAMES]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    folder.mkdir(parents=True, exist_ok=True)
    paths = folder / "ca.pem", folder / "leaf.pem", folder / "leaf.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    origin = ""  # "https://host" inside a CONNECT tunnel

    def log_message(self, fmt, *args):
        pass

    def do_CONNECT(self):
        rig: TlsRig = self.server.rig
        host = self.path.rsplit(":", 1)[0]
        rig.log.append(("CONNECT", self.path, False))
        self.send_response(200, "Connection established")
        self.end_headers()
        self.wfile.flush()
        tls = rig.server_context.wrap_socket(self.connection, server_side=True)
        self.connection = tls
        self.rfile = tls.makefile("rb")
        self.wfile = socketserver._SocketWriter(tls)
        self.origin = "https://" + host
        self.close_connection = False

    def _any(self):
        rig: TlsRig = self.server.rig
        url = self.path if "://" in self.path else self.origin + self.path
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k: v for k, v in self.headers.items()}
        rig.log.append((self.command, url, "Authorization" in headers))
        status, out_headers, out_body = rig.answer(self.command, url, headers, body)
        self.send_response(status)
        for name, value in out_headers:
            if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(out_body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(out_body)

    do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = _any


class TlsRig:
    def __init__(self, cert_dir: Path, emulator=None):
        self.ca, leaf, key = make_ca_and_leaf(cert_dir)
        self.server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.server_context.load_cert_chain(leaf, key)
        self.emulator = emulator
        self.upstream: set[str] = set()  # hosts ("civitai.red") forwarded to the emulator
        self.scripted: dict[str, tuple[int, list, bytes]] = {}  # exact URL -> answer
        self.storage_host = "https://storage.test"  # emulator storage URLs are rewritten to this
        self.log: list[tuple[str, str, bool]] = []  # (method, url, Authorization sent)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.rig = self
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def session(self):
        import requests

        s = requests.Session()
        s.trust_env = False
        s.proxies = {"http": self.url, "https": self.url}
        s.verify = str(self.ca)
        return s

    def answer(self, method: str, url: str, headers: dict, body: bytes):
        if url in self.scripted:
            return self.scripted[url]
        parts = urlsplit(url)
        if self.emulator is None or (parts.hostname not in self.upstream
                                     and parts.scheme + "://" + parts.netloc != self.storage_host):
            return 502, [("Content-Type", "text/plain")], b"not reachable in tests"
        target = parts.path + ("?" + parts.query if parts.query else "")
        conn = http.client.HTTPConnection("127.0.0.1", self.emulator.port, timeout=30)
        try:
            forward = {k: v for k, v in headers.items() if k.lower() not in ("host", "proxy-connection")}
            conn.request(method, target, body=body or None, headers=forward)
            resp = conn.getresponse()
            data = resp.read()
            out = [(k, v.replace(self.emulator.base_url, self.storage_host) if k.lower() == "location" else v)
                   for k, v in resp.getheaders()]
            return resp.status, out, data
        finally:
            conn.close()

    def sent_key_to(self) -> list[str]:
        """Every URL that received an Authorization header."""
        return [url for _m, url, auth in self.log if auth]

    def start(self) -> TlsRig:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
