"""CivitaiClient against the Civitai emulator over real sockets: endpoints, paging, retries, errors.

Retries are proven by counting requests at the emulator; backoff sleeps are recorded, not slept.
"""

from __future__ import annotations

import hashlib
import logging
import socket
import threading

import pytest

from civkit import USER_AGENT
from civkit.api import (
    Archived,
    AuthRequired,
    BadRequest,
    CivitaiClient,
    CloudflareBlocked,
    EarlyAccess,
    Forbidden,
    NetworkError,
    NotFound,
    RateLimited,
    RateLimiter,
    RegionBlocked,
    ServerBusy,
    UnexpectedResponse,
)
from civkit.api.errors import KEY_HELP  # the words the client uses when no face is known


@pytest.fixture
def sleeps():
    return []


def make_client(fake, sleeps, api_key=None, **kw):
    kw.setdefault("rate_per_second", None)  # no politeness pauses in tests
    kw.setdefault("max_concurrent_per_host", 8)
    return CivitaiClient(fake.base_url, api_key, sleep=sleeps.append, **kw)


@pytest.fixture
def client(fake_civitai, sleeps):
    with make_client(fake_civitai, sleeps) as c:
        yield c


@pytest.fixture
def keyed(fake_civitai, sleeps):
    with make_client(fake_civitai, sleeps, api_key=fake_civitai.api_key) as c:
        yield c


def api_paths(fake, prefix="/api/"):
    return [path for _method, path, _auth in fake.request_log if path.startswith(prefix)]


# -- models and paging ---------------------------------------------------------------------------------

def test_get_model_and_version(client):
    m = client.get_model(101)
    assert (m.id, m.name, m.type, m.creator.username) == (101, "Anime Lineart Style", "LORA", "inkbrush")
    assert [v.id for v in m.versions][:2] == [1011, 1010]
    v = client.get_version(1011)
    assert (v.id, v.model_id, v.model_type) == (1011, 101, "LORA")
    assert v.primary_file.id == 10110 and len(v.primary_file.sha256) == 64


def test_query_search_pages_by_cursor_and_never_sends_page(client, fake_civitai):
    everything = [m.id for m in client.search_models_page("anime", limit=100).items]
    assert len(everything) >= 3
    fake_civitai.reset()
    paged = [m.id for m in client.iter_models("anime", page_size=2)]
    assert paged == everything
    paths = api_paths(fake_civitai, "/api/v1/models")
    assert len(paths) == -(-len(everything) // 2)
    assert all("page=" not in p for p in paths)
    assert all("cursor=" in p for p in paths[1:])


def test_load_more_cursor_feeds_the_next_call(client):
    first = client.search_models_page("anime", limit=2)
    second = client.search_models_page("anime", limit=2, cursor=first.next_cursor)
    both = client.search_models_page("anime", limit=4)
    assert [m.id for m in first.items + second.items] == [m.id for m in both.items]
    assert first.next_cursor and not set(m.id for m in first.items) & set(m.id for m in second.items)


def test_listing_without_query_pages_by_page_number(client, fake_civitai):
    ids = [m.id for m in client.iter_models(page_size=5)]
    assert len(ids) == len(set(ids)) >= 15
    paths = api_paths(fake_civitai, "/api/v1/models")
    assert "page=1" in paths[0] and "page=2" in paths[1]
    assert all("query=" not in p for p in paths)


def test_max_items_stops_early(client, fake_civitai):
    assert len(list(client.iter_models(max_items=3, page_size=2))) == 3
    assert len(api_paths(fake_civitai, "/api/v1/models")) == 2


def test_filters_are_sent_as_repeated_keys(client, fake_civitai):
    models = list(client.iter_models(types=["LORA", "LoCon"], base_models=["SD 1.5"], sort="Newest"))
    assert models and all(m.type in ("LORA", "LoCon") for m in models)
    assert all(any(v.base_model == "SD 1.5" for v in m.versions) for m in models)
    path = api_paths(fake_civitai, "/api/v1/models")[0]
    assert "types=LORA&types=LoCon" in path and "sort=Newest" in path


def test_get_models_by_ids_keeps_order_and_skips_unknown(client):
    assert [m.id for m in client.get_models([107, 101, 999999, 101])] == [107, 101]


# -- versions by hash -----------------------------------------------------------------------------------

def test_get_version_by_any_hash_case_insensitive(client):
    f = client.get_version(1011).primary_file
    for kind in ("SHA256", "AutoV2", "BLAKE3", "AutoV3"):
        if kind in f.hashes:
            assert client.get_version_by_hash(f.hashes[kind].lower()).id == 1011


def test_bulk_by_hash_batches_of_100_and_ids_route(client, fake_civitai):
    sha = client.get_version(1011).primary_file.sha256
    other = client.get_version(1070).primary_file.sha256
    junk = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(148)]
    fake_civitai.reset()
    versions = client.get_versions_by_hashes([sha, *junk, other.lower()])
    assert sorted(v.id for v in versions) == [1011, 1070]
    assert fake_civitai.count("/api/v1/model-versions/by-hash") == 2  # 150 hashes -> 100 + 50
    fake_civitai.reset()
    matches = client.get_version_ids_by_hashes([sha, *junk, other])
    assert sorted((m.model_version_id, m.model_id) for m in matches) == [(1011, 101), (1070, 107)]
    assert fake_civitai.count("/api/v1/model-versions/by-hash/ids") == 1


def test_undefined_bulk_download_urls_are_rebuilt(client, fake_civitai):
    sha = client.get_version(1011).primary_file.sha256
    fake_civitai.faults.undefined_bulk_urls = True
    (v,) = client.get_versions_by_hashes([sha])
    assert v.download_url == f"{fake_civitai.base_url}/api/download/models/1011"
    assert all(f.download_url.startswith(fake_civitai.base_url) for f in v.files)


# -- other endpoints ------------------------------------------------------------------------------------

def test_enums_creators_tags_images_me(client, keyed):
    assert "LORA" in client.get_enums().model_types
    creators = client.creators_page(limit=3)
    assert len(creators.items) == 3 and all(c.username for c in creators.items)
    assert client.tags_page(query="anim").items
    page = client.images_page(modelVersionId=1011, limit=2)
    assert page.items and all(i.url for i in page.items)
    assert keyed.me()["username"] == "tester"


# -- headers and key hygiene ----------------------------------------------------------------------------

def test_key_goes_in_the_authorization_header_never_the_url(keyed, fake_civitai):
    keyed.get_model(101)
    keyed.resolve_download(1011)
    assert all(auth for _m, _p, auth in fake_civitai.request_log)
    assert all("token=" not in p and fake_civitai.api_key not in p for _m, p, _a in fake_civitai.request_log)
    assert keyed.session.headers["User-Agent"] == USER_AGENT == f"civkit/{__import__('civkit').__version__}"
    assert keyed.requests_made == 2


def test_the_key_never_appears_in_errors_reprs_or_logs(fake_civitai, sleeps, caplog):
    secret = "sk-SECRET-0123456789abcdef"
    caplog.set_level(logging.DEBUG)
    c = make_client(fake_civitai, sleeps, api_key=secret)
    with pytest.raises(AuthRequired) as info:
        c.me()
    fake_civitai.faults.busy_count = 1
    c.get_model(101)
    with pytest.raises(AuthRequired) as download:
        c.resolve_download(1030)
    for text in (str(info.value), repr(info.value), info.value.url, str(download.value), repr(c),
                 repr(c.limiter), caplog.text):
        assert secret not in text
    assert "api_key=set" in repr(c)
    assert caplog.text  # something was logged, and it was clean


# -- download resolution ---------------------------------------------------------------------------------

def test_resolve_download_returns_the_signed_url_without_following_it(keyed, fake_civitai):
    resolved = keyed.resolve_download(1011)
    assert resolved.version_id == 1011 and resolved.url.startswith(fake_civitai.base_url)
    assert "/api/download/" not in resolved.url
    assert fake_civitai.count("/api/download/models/1011") == 1
    assert not any("/api/download/" not in p for _m, p, _a in fake_civitai.request_log)  # storage not touched
    version = keyed.get_version(1011)
    if resolved.filename is not None:
        assert resolved.filename == version.primary_file.name
    response = keyed.open_storage(resolved.url)
    data = response.content
    assert hashlib.sha256(data).hexdigest().upper() == version.primary_file.sha256
    storage = [entry for entry in fake_civitai.request_log if "/api/" not in entry[1]]
    assert storage and not any(auth for _m, _p, auth in storage)  # the key never goes to storage
    partial = keyed.open_storage(keyed.resolve_download(1011).url, start=100)
    assert partial.status_code == 206 and partial.content == data[100:]


def test_resolve_download_with_file_id(keyed):
    resolved = keyed.resolve_download(1070, file_id=10701)
    assert resolved.file_id == 10701 and resolved.url


def test_resolve_download_follows_the_non_primary_host_redirect_with_the_key(keyed, fake_civitai):
    fake_civitai.faults.non_primary_redirect = True
    resolved = keyed.resolve_download(1011)
    assert "/api/download/" not in resolved.url


@pytest.mark.parametrize(
    "version, key, error, reason, message",
    [
        (1030, None, AuthRequired, "login", f"This model needs a Civitai API key: {KEY_HELP}"),
        (1030, "wrong-key", AuthRequired, "key_rejected",
         "Civitai did not accept your API key (it may be expired or revoked): create a new key in your Civitai "
         f"account settings and {KEY_HELP}."),
        (1190, "valid", AuthRequired, "disabled",
         "The creator of this model has disabled downloads; it can only be used for generation on Civitai."),
        (1180, "valid", Archived, None,
         "This model is archived on Civitai and its files can no longer be downloaded."),
    ],
)
def test_download_gating_errors(fake_civitai, sleeps, version, key, error, reason, message):
    c = make_client(fake_civitai, sleeps, api_key=fake_civitai.api_key if key == "valid" else key)
    with pytest.raises(error) as info:
        c.resolve_download(version)
    assert type(info.value) is error and str(info.value) == message and info.value.message == message
    if reason:
        assert info.value.reason == reason
    assert fake_civitai.count(f"/api/download/models/{version}") == 1  # never retried


def test_early_access_error_carries_the_deadline(keyed, fake_civitai):
    with pytest.raises(EarlyAccess) as info:
        keyed.resolve_download(1040)
    deadline = info.value.deadline
    assert deadline and deadline[:4].isdigit()
    assert str(info.value) == (f"This version is in Early Access on Civitai until {deadline}: it can be "
                               "downloaded for free after that, or unlocked with Buzz on civitai.com now.")
    assert info.value.status == 403 and fake_civitai.count("/api/download/") == 1


def test_download_quota_is_not_retried(keyed, fake_civitai, sleeps):
    fake_civitai.faults.download_quota = True
    with pytest.raises(RateLimited) as info:
        keyed.resolve_download(1011)
    assert info.value.quota and not info.value.paging_cap
    assert str(info.value) == ("Civitai's download limit for your account or address is reached: try again in a "
                               "few hours, or contact support@civitai.com.")
    assert fake_civitai.count("/api/download/") == 1 and sleeps == []


def test_blocklisted_download_is_forbidden(keyed, fake_civitai):
    fake_civitai.faults.blocklisted = True
    with pytest.raises(Forbidden) as info:
        keyed.resolve_download(1011)
    assert str(info.value) == "Civitai refused access (Civitai said: Forbidden)."


# -- errors and retries -----------------------------------------------------------------------------------

def test_not_found_is_not_retried(client, fake_civitai):
    with pytest.raises(NotFound) as info:
        client.get_model(99999)
    assert str(info.value) == "Not found on Civitai: No model with id 99999."
    assert info.value.status == 404 and fake_civitai.count("/api/v1/models/99999") == 1
    with pytest.raises(NotFound) as info:
        client.get_version(99999)
    assert str(info.value) == "Not found on Civitai: Model not found."


def test_bad_request_shows_the_server_message_readably(client, fake_civitai):
    with pytest.raises(BadRequest) as info:
        client.search_models_page(limit=500)
    assert str(info.value) == "Civitai rejected the request: limit: Too big: expected number to be <=100"
    with pytest.raises(BadRequest) as info:
        client.get_model(2**31)
    assert str(info.value) == "Civitai rejected the request: id: Too big: expected number to be <=2147483647"
    assert len(api_paths(fake_civitai)) == 2


def test_unknown_user_is_not_found(client):
    with pytest.raises(NotFound) as info:
        client.search_models_page(username="nobody-here")
    assert str(info.value) == "Not found on Civitai: User not found."


def test_method_not_allowed_is_not_retried(client, fake_civitai):
    with pytest.raises(UnexpectedResponse) as info:
        client._send("POST", client.api_root + "/models")
    assert info.value.status == 405 and fake_civitai.count("/api/v1/models") == 1
    assert str(info.value) == "Civitai does not allow this request method (Civitai said: Method not allowed)."


def test_paging_cap_429_is_not_retried(client, fake_civitai, sleeps):
    with pytest.raises(RateLimited) as info:
        client.search_models_page(page=11, limit=100)
    assert info.value.paging_cap and not info.value.quota
    assert fake_civitai.count("/api/v1/models") == 1 and sleeps == []


def test_busy_503_is_retried_honouring_retry_after(client, fake_civitai, sleeps):
    fake_civitai.faults.busy_count = 2
    fake_civitai.faults.retry_after = 7
    assert client.get_model(101).id == 101
    assert fake_civitai.count("/api/v1/models/101") == 3
    assert len(sleeps) == 2 and all(s >= 7 for s in sleeps)


def test_busy_503_gives_up_after_five_attempts(client, fake_civitai, sleeps):
    fake_civitai.faults.busy_count = 100
    with pytest.raises(ServerBusy) as info:
        client.get_model(101)
    assert fake_civitai.count("/api/v1/models/101") == 5 and len(sleeps) == 4
    assert info.value.status == 503 and info.value.retry_after == 2
    assert str(info.value) == ("Civitai is busy or failing (HTTP 503) (Civitai said: Model search is temporarily "
                               "overloaded — please retry.): try again in a few minutes.")


@pytest.mark.parametrize("status", [500, 502, 504, 522])
def test_server_errors_are_retried(client, fake_civitai, sleeps, status):
    fake_civitai.faults.error_count = 2
    fake_civitai.faults.error_status = status
    assert client.get_version(1011).id == 1011
    assert fake_civitai.count("/api/v1/model-versions/1011") == 3 and len(sleeps) == 2


def test_backoff_is_exponential_with_full_jitter_and_capped(fake_civitai, sleeps):
    import random

    c = make_client(fake_civitai, sleeps, backoff_base=2.0, backoff_cap=60.0, rng=random.Random(1))
    delays = [c.backoff_delay(n) for n in range(1, 9)]
    assert all(0 <= d <= min(60.0, 2.0 * 2 ** (n - 1)) for n, d in zip(range(1, 9), delays, strict=True))
    assert c.backoff_delay(1, retry_after=30) == 30


@pytest.mark.parametrize("status, retried", [(403, False), (429, False), (503, True)])
def test_cloudflare_html_pages(client, fake_civitai, sleeps, status, retried):
    fake_civitai.faults.cloudflare_count = 1
    fake_civitai.faults.cloudflare_status = status
    if retried:
        assert client.get_model(101).id == 101
        assert fake_civitai.count("/api/v1/models/101") == 2
        return
    with pytest.raises(CloudflareBlocked) as info:
        client.get_model(101)
    assert info.value.status == status and fake_civitai.count("/api/v1/models/101") == 1
    assert str(info.value).startswith(f"Civitai's edge (Cloudflare) answered HTTP {status} with a web page")
    # §12: the host is paused for 60 s before the next request
    assert client.get_model(101).id == 101 and sleeps and sleeps[-1] > 59


def test_cloudflare_html_on_download(keyed, fake_civitai):
    fake_civitai.faults.cloudflare_count = 1
    with pytest.raises(CloudflareBlocked):
        keyed.resolve_download(1011)


def test_region_block_is_not_retried(client, fake_civitai):
    fake_civitai.faults.region_blocked = True
    with pytest.raises(RegionBlocked) as info:
        client.get_model(101)
    assert str(info.value) == ("Civitai is not available in your region (Civitai said: Access to this service is "
                               "not available in your region due to legal restrictions.).")
    assert fake_civitai.count("/api/v1/") == 1


def test_auth_required_for_me(client, fake_civitai, sleeps):
    with pytest.raises(AuthRequired) as info:
        client.me()
    assert info.value.reason == "login" and str(info.value) == f"This model needs a Civitai API key: {KEY_HELP}"
    bad = make_client(fake_civitai, sleeps, api_key="expired")
    with pytest.raises(AuthRequired) as info:
        bad.me()
    assert info.value.reason == "key_rejected"
    assert fake_civitai.count("/api/v1/me") == 2


def test_connection_refused_is_retried_then_network_error(sleeps):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    c = CivitaiClient(f"http://127.0.0.1:{port}", "sk-hidden", sleep=sleeps.append, rate_per_second=None,
                      timeout=(2, 2))
    with pytest.raises(NetworkError) as info:
        c.get_model(1)
    assert c.requests_made == 5 and len(sleeps) == 4
    assert str(info.value) == (f"Could not reach Civitai at 127.0.0.1:{port} (ConnectionError): check your internet "
                               "connection, or try again later.")
    assert "sk-hidden" not in repr(info.value)


# -- politeness -------------------------------------------------------------------------------------------

class ManualClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_token_bucket_allows_a_burst_then_refills_at_the_rate():
    clock = ManualClock()
    limiter = RateLimiter(rate_per_second=2.0, burst=5, max_concurrent_per_host=10, clock=clock)
    for _ in range(5):
        assert limiter.try_acquire("h")
        limiter.release("h")
    assert not limiter.try_acquire("h")
    clock.now += 0.5  # one token at 2/s
    assert limiter.try_acquire("h")
    limiter.release("h")
    assert not limiter.try_acquire("h")


def test_at_most_n_concurrent_requests_per_host():
    limiter = RateLimiter(rate_per_second=None, max_concurrent_per_host=2)
    assert limiter.try_acquire("a") and limiter.try_acquire("a")
    assert not limiter.try_acquire("a")
    assert limiter.try_acquire("b")  # another host has its own slots
    entered = threading.Event()

    def third():
        with limiter.slot("a"):
            entered.set()

    t = threading.Thread(target=third)
    t.start()
    limiter.release("a")
    assert entered.wait(10)
    t.join(10)
    limiter.release("a")
    limiter.release("b")


# -- the 1000-item page cap (a bulk catalog: the demo models + 1100 fillers) -------------------------------

@pytest.fixture(scope="module")
def bulk_fake(tmp_path_factory):
    from civkit.testing import FakeCivitai

    with FakeCivitai(files_dir=tmp_path_factory.mktemp("bulk-catalog"), extra_models=1100) as fake:
        yield fake


def test_page_paging_switches_to_cursors_before_the_1000_cap(bulk_fake, sleeps):
    bulk_fake.reset()
    c = make_client(bulk_fake, sleeps)
    models = list(c.iter_models(max_items=1050, page_size=100))
    ids = [m.id for m in models]
    assert len(ids) == 1050 == len(set(ids))
    paths = api_paths(bulk_fake, "/api/v1/models")
    assert len(paths) == 11
    assert [f"page={n}" in paths[n - 1] for n in range(1, 11)] == [True] * 10
    assert "cursor=" in paths[10] and "page=" not in paths[10]
    # the same order as one uninterrupted cursor walk
    bulk_fake.reset()
    first = c.search_models_page(limit=100)
    walk = list(first.items)
    cursor = first.next_cursor
    while len(walk) < 1050:
        page = c.search_models_page(limit=100, cursor=cursor)
        walk += page.items
        cursor = page.next_cursor
    assert [m.id for m in walk[:1050]] == ids


def test_walking_everything_ends_at_the_last_page(bulk_fake, sleeps):
    bulk_fake.reset()
    c = make_client(bulk_fake, sleeps)
    ids = [m.id for m in c.iter_models(page_size=100)]
    assert len(ids) == len(set(ids)) > 1100
    assert bulk_fake.count("/api/v1/models") == -(-len(ids) // 100)


# -- error bodies Civitai sends that the emulator has no route for (§1.5) -----------------------------------

def _response(status, body, content_type="application/json; charset=utf-8", headers=None):
    import requests

    r = requests.Response()
    r.status_code = status
    r._content = body if isinstance(body, bytes) else body.encode()
    r.headers["Content-Type"] = content_type
    r.headers.update(headers or {})
    r.url = "https://civitai.com/api/v1/models?token=sk-leak&x=1"
    return r


@pytest.mark.parametrize(
    "status, body, ctype, error, message",
    [
        (400, '{"error":{"issues":[{"path":["sort"],"message":"Invalid option"}],"name":"ZodError"}}', None,
         BadRequest, "Civitai rejected the request: sort: Invalid option"),
        (400, '[{"code":"too_small","path":["limit"],"message":"Too small: expected number to be >=1"}]', None,
         BadRequest, "Civitai rejected the request: limit: Too small: expected number to be >=1"),
        (400, '{"message":"Invalid cursor: expected 3 value(s) for this sort, received 1"}', None, BadRequest,
         "Civitai rejected the request: Invalid cursor: expected 3 value(s) for this sort, received 1"),
        (400, '{"error":"Request must include an array of SHA256 Hashes. [\\n  {\\n    \\"code\\": \\"custom\\",'
              '\\n    \\"path\\": [\\n      0\\n    ],\\n    \\"message\\": \\"Invalid hash\\"\\n  }\\n]"}', None,
         BadRequest, "Civitai rejected the request: Request must include an array of SHA256 Hashes. (0: Invalid hash)"),
        (500, '{"message":"An unexpected error occurred","error":"boom"}', None, ServerBusy,
         "Civitai is busy or failing (HTTP 500) (Civitai said: An unexpected error occurred): try again in a few "
         "minutes."),
        (404, "<html><body>Not here</body></html>", "text/html", UnexpectedResponse,
         "Civitai answered HTTP 404 with a web page instead of data (https://civitai.com/api/v1/models?token=***&x=1)."),
        (200, "<!DOCTYPE html><title>Just a moment...</title>cloudflare", "text/html", CloudflareBlocked, None),
        (418, "", None, UnexpectedResponse, "Civitai answered HTTP 418."),
    ],
)
def test_error_from_response_reads_every_body_shape(status, body, ctype, error, message):
    from civkit.api import error_from_response

    exc = error_from_response(_response(status, body, ctype or "application/json; charset=utf-8"), "sk-leak")
    assert type(exc) is error and exc.status == status
    if message:
        assert str(exc) == message
    assert "sk-leak" not in str(exc) + repr(exc) + exc.url


def test_creators_validation_bare_array(client):
    with pytest.raises(BadRequest) as info:
        client.creators_page(limit=0)
    assert str(info.value).startswith("Civitai rejected the request: limit: ")


def test_unknown_hash_is_not_found(client):
    with pytest.raises(NotFound) as info:
        client.get_version_by_hash("0" * 64)
    assert str(info.value) == "Not found on Civitai: Model not found."


def test_an_html_page_where_json_was_expected(client, fake_civitai):
    response = client._send("GET", fake_civitai.base_url + "/login")
    with pytest.raises(UnexpectedResponse) as info:
        client._json(response)
    assert str(info.value).startswith("Civitai answered HTTP 200 with a web page instead of data")


def test_legacy_shapes_page_the_same_and_parse(client, fake_civitai):
    modern = [m.id for m in client.iter_models(page_size=5)]
    anime = [m.id for m in client.iter_models("anime", page_size=2)]
    fake_civitai.faults.legacy_shapes = True
    assert [m.id for m in client.iter_models(page_size=5)] == modern
    assert [m.id for m in client.iter_models("anime", page_size=2)] == anime
    page = client.search_models_page(limit=2)
    assert page.next_cursor and page.next_cursor.isdigit()  # 2023: a number, kept as text
    assert client.get_model(108).allow_commercial_use == frozenset({"Rent"})


def test_iter_images_pages_and_stops(client, fake_civitai):
    everything = client.images_page(modelId=101, limit=200).items
    walked = list(client.iter_images(modelId=101, page_size=1))
    assert [i.url for i in walked] == [i.url for i in everything] and walked
    assert len(list(client.iter_images(modelId=101, page_size=1, max_items=1))) == 1


# -- issue 13 item 14: a signed storage URL's credentials never show in errors or logs --------------------------

@pytest.mark.parametrize("status", [403, 404, 503])
def test_storage_errors_never_show_the_signed_url_credentials(keyed, fake_civitai, caplog, status):
    caplog.set_level(logging.DEBUG)
    resolved = keyed.resolve_download(1011)
    signature = resolved.url.split("X-Signature=")[1].split("&")[0]
    assert len(signature) > 20
    fake_civitai.faults.storage_error_count = 1
    fake_civitai.faults.storage_error_status = status
    with pytest.raises(Exception) as info:
        keyed.open_storage(resolved.url)
    client_side = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("civkit.testing"))
    assert "/storage/" in client_side  # urllib3 logged the request line (the emulator's own log is not civkit's)
    for text in (str(info.value), repr(info.value), getattr(info.value, "url", ""), client_side):
        assert signature not in (text or "")
    assert "/storage/" in info.value.url  # still says where


def test_a_resolved_download_repr_hides_the_signature(keyed):
    resolved = keyed.resolve_download(1011)
    signature = resolved.url.split("X-Signature=")[1].split("&")[0]
    assert signature not in repr(resolved) and signature not in str(resolved)
    assert "/storage/" in repr(resolved) and signature in resolved.url  # the URL itself stays usable
