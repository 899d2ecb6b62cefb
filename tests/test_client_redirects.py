"""Where the API key goes when Civitai (or something pretending to be it) redirects a download.

The client talks through ``tls_rig``: a recording proxy on 127.0.0.1 that speaks real TLS with a test CA for
civitai.com, civitai.red, civitai.green and a few hostile names, and forwards the Civitai hosts to the
emulator. So the client connects exactly where urllib3 would on the internet, and the rig sees which host got
an ``Authorization`` header.
"""

from __future__ import annotations

import pytest
from tls_rig import TlsRig

from civkit.api import CivitaiClient, UnexpectedResponse

KEY = None  # filled from the emulator's valid key


@pytest.fixture(scope="module")
def rig_session(tmp_path_factory, fake_civitai_session):
    rig = TlsRig(tmp_path_factory.mktemp("tls"), emulator=fake_civitai_session).start()
    yield rig
    rig.stop()


@pytest.fixture
def rig(rig_session, fake_civitai):
    rig_session.log.clear()
    rig_session.scripted.clear()
    rig_session.upstream = {"civitai.com", "civitai.red", "civitai.green"}
    yield rig_session


def client_for(rig, base, key):
    return CivitaiClient(base, key, session=rig.session(), rate_per_second=None, max_attempts=1)


def redirect(rig, url, location):
    rig.scripted[url] = (307, [("Location", location), ("Content-Type", "text/plain")], location.encode())


DL = "https://civitai.com/api/download/models/1011"


def test_key_reaches_civitai_and_never_storage_through_real_tls(rig, fake_civitai):
    with client_for(rig, "https://civitai.com", fake_civitai.api_key) as c:
        resolved = c.resolve_download(1011)
        assert resolved.url.startswith("https://storage.test/")
        data = c.open_storage(resolved.url).content
    assert data and rig.sent_key_to() == [DL]


@pytest.mark.parametrize("location", [
    "https://evil\\.civitai.com/api/download/models/1011",  # urlsplit: *.civitai.com; urllib3: host "evil"
    "https://civitai.com\\@evil.com/api/download/models/1011",
    "https://evil\\civitai.com/api/download/models/1011",
])
def test_key_never_follows_a_redirect_whose_host_the_parsers_disagree_on(rig, fake_civitai, location):
    redirect(rig, DL, location)
    with client_for(rig, "https://civitai.com", fake_civitai.api_key) as c:
        with pytest.raises(UnexpectedResponse) as info:
            c.resolve_download(1011)
    assert "redirect" in str(info.value).lower()
    assert fake_civitai.api_key not in str(info.value)
    assert rig.sent_key_to() == [DL]
    assert [url for _m, url, _a in rig.log if "evil" in url] == []  # not even contacted without the key


@pytest.mark.parametrize("location", [
    "https://user:pw@civitai.com/api/download/models/1011",
    "https://civitai.com@evil.com/api/download/models/1011",
    "https://user@storage.test/file.safetensors?sig=1",
])
def test_redirects_with_userinfo_are_refused(rig, fake_civitai, location):
    redirect(rig, DL, location)
    with client_for(rig, "https://civitai.com", fake_civitai.api_key) as c:
        with pytest.raises(UnexpectedResponse):
            c.resolve_download(1011)
    assert rig.sent_key_to() == [DL]
    assert len(rig.log) == 2  # the CONNECT and the one download request, nothing followed


def test_key_never_goes_from_https_to_plain_http_on_the_same_host(rig, fake_civitai):
    redirect(rig, DL, "http://civitai.com/api/download/models/1011")
    with client_for(rig, "https://civitai.com", fake_civitai.api_key) as c:
        with pytest.raises(UnexpectedResponse) as info:
            c.resolve_download(1011)
    assert "http" in str(info.value)
    assert rig.sent_key_to() == [DL]
    assert not any(url.startswith("http://civitai.com") for _m, url, _a in rig.log)


def test_storage_on_plain_http_after_https_is_refused(rig, fake_civitai):
    redirect(rig, DL, "http://storage.test/file.safetensors?X-Amz-Signature=abc")
    with client_for(rig, "https://civitai.com", fake_civitai.api_key) as c:
        with pytest.raises(UnexpectedResponse):
            c.resolve_download(1011)


def test_a_plain_http_api_base_on_loopback_keeps_working(fake_civitai):
    fake_civitai.faults.non_primary_redirect = True  # 127.0.0.1 -> localhost, both plain http
    with CivitaiClient(fake_civitai.base_url, fake_civitai.api_key, rate_per_second=None) as c:
        resolved = c.resolve_download(1030)  # needs the key after the hop
    assert "/api/download/" not in resolved.url
    assert [auth for _m, p, auth in fake_civitai.request_log if p.startswith("/api/download/")] == [True, True]


# -- item 18: civitai.red / civitai.green --------------------------------------------------------------------

def test_civitai_red_as_api_base_sends_the_key_to_red_and_com_only(rig, fake_civitai):
    with client_for(rig, "https://civitai.red/api/v1", fake_civitai.api_key) as c:
        assert c.get_model(101).id == 101
        resolved = c.resolve_download(1030)  # a download that needs the key
        assert c.open_storage(resolved.url).content
    assert rig.sent_key_to() == ["https://civitai.red/api/v1/models/101",
                                 "https://civitai.com/api/download/models/1030"]


@pytest.mark.parametrize("base", ["https://civitai.green", "https://www.civitai.green/api/v1", "civitai.green"])
def test_civitai_green_as_api_base_is_rewritten_to_civitai_com(rig, fake_civitai, base):
    with client_for(rig, base, fake_civitai.api_key) as c:
        assert c.api_base == "https://civitai.com"
        assert c.get_model(101).id == 101
    assert rig.sent_key_to() == ["https://civitai.com/api/v1/models/101"]


def test_sidecars_written_under_a_civitai_red_base_point_downloads_at_civitai_com(rig, fake_civitai, tmp_path):
    import json
    import shutil

    from civkit.library import LibraryIndex, scan

    lib = tmp_path / "lib"
    lib.mkdir()
    src = fake_civitai.catalog.files[10110]
    shutil.copy(src, lib / src.name)
    fake_civitai.faults.undefined_bulk_urls = True  # §11.5: the sidecar rebuilds the download URLs
    with client_for(rig, "https://civitai.red", None) as c:
        report = scan([lib], LibraryIndex(tmp_path / "i.sqlite3"), c, previews=False)
    assert report.linked == 1
    info = json.loads((lib / (src.name.rsplit(".", 1)[0] + ".civitai.info")).read_text(encoding="utf-8"))
    assert info["downloadUrl"].startswith("https://civitai.com/api/download/models/")
    assert all(f["downloadUrl"].startswith("https://civitai.com/") for f in info["files"])
