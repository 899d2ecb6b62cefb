"""Shared pytest fixtures: a guard against non-loopback connections, an isolated CIVKIT_HOME,
and the Civitai emulator on 127.0.0.1."""

from __future__ import annotations

import ipaddress
import socket

import pytest

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo


def _is_loopback(address) -> bool:
    if isinstance(address, (str, bytes)):
        return True  # AF_UNIX path
    host = address[0]
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class NetworkAccessBlocked(RuntimeError):
    pass


def _guarded_connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address):
        raise NetworkAccessBlocked(f"test tried to reach {address!r}; tests may only use 127.0.0.1")
    return _real_connect(self, address)


def _guarded_connect_ex(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address):
        raise NetworkAccessBlocked(f"test tried to reach {address!r}; tests may only use 127.0.0.1")
    return _real_connect_ex(self, address)


def _guarded_getaddrinfo(host, *args, **kwargs):
    if host not in (None, "localhost", b"localhost"):
        try:
            if not ipaddress.ip_address(host if isinstance(host, str) else host.decode()).is_loopback:
                raise NetworkAccessBlocked(f"test tried to resolve {host!r}")
        except ValueError:
            raise NetworkAccessBlocked(f"test tried to resolve {host!r}; tests may only use 127.0.0.1") from None
    return _real_getaddrinfo(host, *args, **kwargs)


@pytest.fixture(autouse=True)
def _no_internet(monkeypatch):
    """Fail any test that opens a connection to anything but loopback."""
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", _guarded_connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", _guarded_getaddrinfo)
    yield


@pytest.fixture(autouse=True)
def civkit_home(tmp_path, monkeypatch):
    """Every test gets its own CIVKIT_HOME and no ambient API key."""
    home = tmp_path / "civkit-home"
    home.mkdir()
    monkeypatch.setenv("CIVKIT_HOME", str(home))
    for name in ("CIVITAI_API_KEY", "CIVITAI_TOKEN", "CIVKIT_API_BASE"):
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture(scope="session")
def fake_civitai_session(tmp_path_factory):
    """One emulator for the whole run (building the catalog writes real files)."""
    from civkit.testing import FakeCivitai

    files_dir = tmp_path_factory.mktemp("catalog-files")
    with FakeCivitai(files_dir=files_dir) as fake:
        yield fake


@pytest.fixture
def fake_civitai(fake_civitai_session):
    """The shared emulator with faults and the request log reset for this test."""
    fake_civitai_session.reset()
    yield fake_civitai_session
    fake_civitai_session.reset()
