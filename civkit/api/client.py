"""``CivitaiClient``: every Civitai REST endpoint civkit uses (CIVITAI_API.md §4-§6), over one session.

* One ``requests.Session`` per client, built lazily, injectable (``session=``).
* ``User-Agent: civkit/<version>`` so Civitai answers download errors in JSON (§1.2), the key only
  as ``Authorization: Bearer`` (never ``?token=``), a timeout on every request.
* Retries with exponential backoff and full jitter for 429/5xx/52x and connection errors (§12),
  honouring a larger ``Retry-After``; never for 400/401/403 JSON/404/405/410/451.
* A token bucket and a per-host concurrency cap (``ratelimit.py``).
* The key never appears in a log line, an exception text or the repr.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Optional
from urllib.parse import parse_qs, urljoin, urlsplit

import requests
from urllib3.util import parse_url

from .. import USER_AGENT
from ..config import DEFAULT_API_BASE, normalise_api_base, redact, redact_logger
from . import paging
from .errors import (
    CloudflareBlocked,
    NetworkError,
    UnexpectedResponse,
    error_from_response,
    is_retryable,
)
from .ratelimit import RateLimiter
from .records import (
    Enums,
    HashMatch,
    Image,
    Model,
    ModelVersion,
    Page,
    ResolvedDownload,
    filename_from_disposition,
    parse_creators,
    parse_enums,
    parse_hash_matches,
    parse_image,
    parse_model,
    parse_page,
    parse_tags,
    parse_version,
)

log = logging.getLogger(__name__)
# urllib3 logs every request line with its query: a signed storage URL's credentials (issue 13 item 14)
redact_logger("urllib3.connectionpool")
redact_logger(__name__)

CIVITAI_HOSTS = ("civitai.com", "civitai.red", "civitai.green")
BY_HASH_BATCH = 100  # §4.5
BY_HASH_IDS_BATCH = 10000  # §4.6
IDS_BATCH = 100  # §4.1 ids
EDGE_PAUSE_SECONDS = 60.0  # §12: after an HTML 403/429, pause that host
_NETWORK_ERRORS = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)


def _is_civitai_host(host: Optional[str]) -> bool:
    """``host`` as urllib3 connects to it (``parse_url(url).host``), never a raw netloc."""
    host = (host or "").lower().rstrip(".")
    return any(host == h or host.endswith("." + h) for h in CIVITAI_HOSTS)


def _is_loopback_host(host: Optional[str]) -> bool:
    return (host or "").lower() in ("127.0.0.1", "localhost", "::1", "[::1]")


def _endpoint(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) exactly as urllib3 will connect, which is what decides where a header goes."""
    parsed = parse_url(url)
    scheme = (parsed.scheme or "").lower()
    return scheme, (parsed.host or "").lower().rstrip("."), parsed.port or (443 if scheme == "https" else 80)


def key_may_follow(src: str, dst: str) -> bool:
    """May the Civitai key go along from ``src`` to ``dst``? Decided on the hosts urllib3 connects to:
    the same endpoint, a Civitai host over https, or loopback to loopback (the emulator); never from
    https to plain http, never to an address with userinfo or a backslash."""
    if "\\" in dst or "@" in (urlsplit(dst).netloc or "") or parse_url(dst).auth is not None:
        return False
    (s_scheme, s_host, s_port), (d_scheme, d_host, d_port) = _endpoint(src), _endpoint(dst)
    if d_scheme not in ("http", "https") or (s_scheme == "https" and d_scheme != "https"):
        return False
    if (s_scheme, s_host, s_port) == (d_scheme, d_host, d_port):
        return True
    if d_scheme == "https" and _is_civitai_host(d_host):
        return True
    return _is_loopback_host(s_host) and _is_loopback_host(d_host)


def _batches(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


class CivitaiClient:
    def __init__(self, api_base: str = DEFAULT_API_BASE, api_key: Optional[str] = None, *,
                 session: Optional[requests.Session] = None, timeout=(10, 60), max_attempts: int = 5,
                 backoff_base: float = 2.0, backoff_cap: float = 60.0, sleep: Callable[[float], Any] = time.sleep,
                 rate_per_second: Optional[float] = 2.0, burst: int = 5, max_concurrent_per_host: int = 2,
                 limiter: Optional[RateLimiter] = None, page_cap: int = 1000, rng: Optional[random.Random] = None):
        self.api_base = normalise_api_base(api_base)
        self._api_key = api_key.strip() if isinstance(api_key, str) and api_key.strip() else None
        self._session = session
        self._session_lock = threading.Lock()
        self.timeout = timeout
        self.max_attempts = max(1, int(max_attempts))
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self._sleep = sleep
        self._rng = rng or random.Random()
        self.limiter = limiter or RateLimiter(rate_per_second, burst, max_concurrent_per_host)
        self.page_cap = page_cap  # §6: page*limit must stay <= 1000 on /models and /images
        self.requests_made = 0
        self._count_lock = threading.Lock()

    # -- plumbing ------------------------------------------------------------------------------------

    def __repr__(self) -> str:
        return f"CivitaiClient(api_base={self.api_base!r}, api_key={'set' if self._api_key else 'not set'})"

    @property
    def has_api_key(self) -> bool:
        return self._api_key is not None

    @property
    def api_root(self) -> str:
        return self.api_base + "/api/v1"

    @property
    def session(self) -> requests.Session:
        if self._session is None:
            with self._session_lock:
                if self._session is None:
                    s = requests.Session()
                    s.headers["User-Agent"] = USER_AGENT
                    self._session = s
        return self._session

    def close(self) -> None:
        if self._session is not None:
            self._session.close()

    def __enter__(self) -> CivitaiClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _redact(self, text: str) -> str:
        return redact(text, self._api_key)

    def _headers(self, auth: bool, extra: Optional[dict] = None) -> dict:
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if auth and self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        else:
            headers["Authorization"] = None  # drop any session-level value
        headers.update(extra or {})
        return headers

    def backoff_delay(self, attempt: int, retry_after: Optional[float] = None) -> float:
        """Full jitter: uniform(0, min(cap, base * 2**(attempt-1))), or a larger Retry-After."""
        delay = self._rng.uniform(0, min(self.backoff_cap, self.backoff_base * (2 ** (attempt - 1))))
        if retry_after is not None:
            delay = max(delay, min(retry_after, max(self.backoff_cap, 1.0)))
        return delay

    def _count(self) -> None:
        with self._count_lock:
            self.requests_made += 1

    def _send(self, method: str, url: str, *, params=None, json_body=None, auth: bool = True,
              allow_redirects: bool = True, accept_status: Iterable[int] = ()) -> requests.Response:
        """One logical request: rate limit, retries, and every error through ``error_from_response``."""
        host = urlsplit(url).netloc
        shown = self._redact(url)
        accept = set(accept_status)
        for attempt in range(1, self.max_attempts + 1):
            paused = self.limiter.paused_for(host)
            if paused:
                self._sleep(paused)
            try:
                with self.limiter.slot(host):
                    self._count()
                    response = self.session.request(
                        method, url, params=params, json=json_body, headers=self._headers(auth),
                        timeout=self.timeout, allow_redirects=allow_redirects)
                    response.content  # read the body while holding the slot  # noqa: B018
            except _NETWORK_ERRORS as exc:
                reason = self._redact(type(exc).__name__)
                log.info("%s %s failed (%s), attempt %d/%d", method, shown, reason, attempt, self.max_attempts)
                if attempt == self.max_attempts:
                    raise NetworkError(
                        f"Could not reach Civitai at {host} ({reason}): check your internet connection, "
                        "or try again later.", url=shown) from None
                self._sleep(self.backoff_delay(attempt))
                continue
            status = response.status_code
            log.debug("%s %s -> %d", method, self._redact(response.url or url), status)
            if status < 400 or status in accept:
                return response
            error = error_from_response(response, self._api_key)
            if isinstance(error, CloudflareBlocked) and status in (403, 429):
                self.limiter.pause(host, EDGE_PAUSE_SECONDS)
            if attempt < self.max_attempts and is_retryable(error):
                delay = self.backoff_delay(attempt, getattr(error, "retry_after", None))
                log.info("%s %s -> %d, retrying in %.1fs (%d/%d)", method, shown, status, delay, attempt,
                         self.max_attempts)
                self._sleep(delay)
                continue
            raise error
        raise AssertionError("unreachable")  # pragma: no cover

    def _get_json(self, path: str, params=None) -> Any:
        return self._json(self._send("GET", self.api_root + path, params=params))

    def _post_json(self, path: str, body: Any) -> Any:
        return self._json(self._send("POST", self.api_root + path, json_body=body))

    def _json(self, response: requests.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            if "html" in (response.headers.get("Content-Type") or "").lower():
                raise error_from_response(response, self._api_key) from None
            raise UnexpectedResponse(
                f"Civitai answered with something that is not JSON ({self._redact(response.url)}).",
                status=response.status_code, url=self._redact(response.url)) from None

    # -- models ------------------------------------------------------------------------------------

    def _model(self, d: Any) -> Model:
        return parse_model(d, download_base=self.download_base)

    def _version(self, d: Any) -> ModelVersion:
        return parse_version(d, download_base=self.download_base)

    def search_models_page(self, query=None, *, types=(), base_models=(), sort=None, period=None, tag=None,
                           username=None, nsfw=False, limit=20, cursor=None, page=None, ids=None,
                           primary_file_only=False, favorites=False) -> Page:
        """One page of ``GET /models``. ``next_cursor`` feeds the ``cursor`` of the next call."""
        params: list[tuple[str, Any]] = []
        if query:
            params.append(("query", query))
        params += [("types", t) for t in types or ()]  # §1.4: enum lists as repeated keys, never commas
        params += [("baseModels", b) for b in base_models or ()]
        for name, value in (("sort", sort), ("period", period), ("tag", tag), ("username", username)):
            if value:
                params.append((name, value))
        if nsfw:
            params.append(("nsfw", "true"))
        if primary_file_only:
            params.append(("primaryFileOnly", "true"))
        if favorites:  # the key's account's bookmarked models; 401 without a key
            params.append(("favorites", "true"))
        if ids:
            params.append(("ids", ",".join(str(int(i)) for i in ids)))
        params.append(("limit", int(limit)))
        if cursor:
            params.append(("cursor", cursor))
        elif page and not query:  # §4.1: page together with query is a 400
            params.append(("page", int(page)))
        return parse_page(self._get_json("/models", params), self._model)

    def iter_models(self, query=None, *, max_items=None, page_size=None, **filters) -> Iterator[Model]:
        return paging.iter_models(self, query, max_items=max_items, page_size=page_size, **filters)

    def get_model(self, model_id) -> Model:
        return self._model(self._get_json(f"/models/{int(model_id)}"))

    def get_models(self, ids) -> list[Model]:
        """``/models?ids=`` in batches of 100, in the order asked; unknown ids are left out."""
        wanted = list(dict.fromkeys(int(i) for i in ids))
        found: dict[int, Model] = {}
        for batch in _batches(wanted, IDS_BATCH):
            for model in self.search_models_page(ids=batch, nsfw=True, limit=len(batch)).items:
                found[model.id] = model
        return [found[i] for i in wanted if i in found]

    # -- versions ----------------------------------------------------------------------------------

    def get_version(self, version_id) -> ModelVersion:
        return self._version(self._get_json(f"/model-versions/{int(version_id)}"))

    def get_version_by_hash(self, hash_) -> ModelVersion:
        return self._version(self._get_json(f"/model-versions/by-hash/{str(hash_).strip().upper()}"))

    def get_versions_by_hashes(self, sha256s) -> list[ModelVersion]:
        """``POST by-hash`` in batches of 100; one version per matching file, duplicates removed."""
        hashes = list(dict.fromkeys(str(h).strip().upper() for h in sha256s))
        out: dict[int, ModelVersion] = {}
        for batch in _batches(hashes, BY_HASH_BATCH):
            for d in self._post_json("/model-versions/by-hash", batch) or []:
                version = self._version(d)
                out.setdefault(version.id, version)
        return list(out.values())

    def get_version_ids_by_hashes(self, sha256s) -> list[HashMatch]:
        hashes = list(dict.fromkeys(str(h).strip().upper() for h in sha256s))
        out: list[HashMatch] = []
        for batch in _batches(hashes, BY_HASH_IDS_BATCH):
            out += parse_hash_matches(self._post_json("/model-versions/by-hash/ids", batch))
        return out

    # -- images, creators, tags, enums, me ----------------------------------------------------------

    def images_page(self, **params) -> Page:
        """``GET /images``; keyword names as Civitai spells them (modelVersionId, withMeta, ...)."""
        clean = {k: ("true" if v is True else "false" if v is False else v) for k, v in params.items()
                 if v is not None}
        return parse_page(self._get_json("/images", clean), parse_image)

    def iter_images(self, *, max_items=None, page_size=None, **params) -> Iterator[Image]:
        return paging.iter_images(self, max_items=max_items, page_size=page_size, **params)

    def creators_page(self, query=None, page=1, limit=20) -> Page:
        params = {"page": int(page), "limit": int(limit)}
        if query:
            params["query"] = query
        return parse_creators(self._get_json("/creators", params))

    def tags_page(self, query=None, page=1, limit=20) -> Page:
        params = {"page": int(page), "limit": int(limit)}
        if query:
            params["query"] = query
        return parse_tags(self._get_json("/tags", params))

    def get_enums(self) -> Enums:
        return parse_enums(self._get_json("/enums"))

    def me(self) -> dict:
        """``GET /me``: the key check (§2). Returns only what civkit shows: ``username`` and ``tier``."""
        data = self._get_json("/me")
        data = data if isinstance(data, dict) else {}
        return {"username": data.get("username"), "tier": data.get("tier"), "status": data.get("status")}

    # -- downloads -----------------------------------------------------------------------------------

    @property
    def download_base(self) -> str:
        """§1.1: downloads go to civitai.com for every Civitai host; another base serves its own."""
        return DEFAULT_API_BASE if _is_civitai_host(parse_url(self.api_base).host) else self.api_base

    def download_url_for(self, version_id, file_id=None) -> str:
        url = f"{self.download_base}/api/download/models/{int(version_id)}"
        return f"{url}?fileId={int(file_id)}" if file_id is not None else url

    def resolve_download(self, version_id, file_id=None) -> ResolvedDownload:
        """Ask the download route for the signed storage URL; never follow it blindly (§5.4)."""
        url = self.download_url_for(version_id, file_id)
        for _hop in range(3):
            response = self._send("GET", url, allow_redirects=False, accept_status=(301, 302, 303, 307, 308))
            if response.status_code in (301, 302, 303, 307, 308):
                location = response.headers.get("Location")
                if not location:
                    break
                target = self._checked_redirect(url, location)
                # §1.1: a non-primary host may redirect to the same route elsewhere; only follow it
                # (with the key) to a Civitai host or between loopback names.
                if "/api/download/models/" in (parse_url(target).path or ""):
                    if not key_may_follow(url, target):
                        raise self._refused(target, "the key would go to another site")
                    url = target
                    continue
                return ResolvedDownload(url=target, filename=self._filename_from_signed_url(target),
                                        version_id=int(version_id), file_id=file_id)
            break
        raise UnexpectedResponse(
            "Civitai did not hand out a download link for this file (a web page came back instead: usually "
            "a login or Early Access page).", status=response.status_code, url=self._redact(url))

    def _refused(self, target: str, why: str) -> UnexpectedResponse:
        shown = self._redact(target.split("?")[0])
        return UnexpectedResponse(f"civkit refused a download redirect to {shown} ({why}). Nothing was "
                                  "downloaded and your API key was not sent there.", url=shown)

    def _checked_redirect(self, src: str, location: str) -> str:
        """The absolute redirect target, refused when parsers could disagree about its host (backslashes,
        userinfo, control characters) or when it leaves https for plain http."""
        if "\\" in location or any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in location):
            raise self._refused(location, "the address contains a backslash, a space or a control character")
        target = urljoin(src, location)
        parsed = parse_url(target)
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise self._refused(target, "not an http(s) address")
        if parsed.auth is not None or "@" in (urlsplit(target).netloc or ""):
            raise self._refused(target, "the address carries a user name or password")
        if parse_url(src).scheme == "https" and parsed.scheme != "https":
            raise self._refused(target, "it leaves https for plain http")
        return target

    @staticmethod
    def _filename_from_signed_url(url: str) -> Optional[str]:
        query = parse_qs(urlsplit(url).query)
        for key in ("response-content-disposition", "b2ContentDisposition", "rcd"):
            for value in query.get(key, ()):
                name = filename_from_disposition(value)
                if name:
                    return name
        return None

    def open_storage(self, url: str, start: int = 0, end: Optional[int] = None) -> requests.Response:
        """Stream the signed storage URL WITHOUT the Civitai key (storage rejects extra credentials).

        ``end`` (inclusive) asks for ``bytes=start-end`` (one segment of a multi-connection download)."""
        headers = {"User-Agent": USER_AGENT, "Authorization": None}
        if end is not None:
            headers["Range"] = f"bytes={int(start)}-{int(end)}"
        elif start:
            headers["Range"] = f"bytes={int(start)}-"
        shown = self._redact(url.split("?")[0])
        self._count()
        try:
            response = self.session.get(url, headers=headers, stream=True, timeout=self.timeout,
                                        allow_redirects=True)
        except _NETWORK_ERRORS as exc:
            raise NetworkError(f"Could not reach the download server ({type(exc).__name__}): check your "
                               "connection and try again; the download will resume.", url=shown) from None
        if response.status_code >= 400 and response.status_code != 416:
            try:
                response.content  # noqa: B018 - error bodies are small
            finally:
                response.close()
            raise error_from_response(response, self._api_key)
        return response
