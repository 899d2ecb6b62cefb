"""Request/response plumbing shared by the emulator's route modules."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

BROWSER_MARKERS = ("mozilla", "chrome", "safari", "firefox", "opera", "edge")

CACHE_PUBLIC = "public, s-maxage=300, stale-while-revalidate=150"
CACHE_HASH = "public, s-maxage=3600, stale-while-revalidate=1800"
CACHE_PRIVATE = "max-age=0, private, no-cache"
CACHE_DOWNLOAD = "no-store, max-age=0"


@dataclass
class Request:
    method: str
    target: str  # path with query, as received
    headers: dict  # lower-cased names
    body: bytes
    fake: object  # the FakeCivitai
    key: str | None = None  # a VALID key, else None (unknown keys are anonymous, §2)
    path: str = ""
    query: dict = field(default_factory=dict)

    def __post_init__(self):
        parts = urlsplit(self.target)
        self.path = parts.path
        self.raw_query = parts.query
        self.query = parse_qs(parts.query, keep_blank_values=True)

    def one(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    def all(self, name: str) -> list[str]:
        return list(self.query.get(name, ()))

    def has(self, name: str) -> bool:
        return name in self.query

    @property
    def origin(self) -> str:
        return self.fake.base_url

    @property
    def url(self) -> str:
        return self.origin + self.target

    @property
    def browser(self) -> bool:
        ua = self.headers.get("user-agent", "").lower()
        return any(marker in ua for marker in BROWSER_MARKERS)

    @property
    def sent_auth(self) -> bool:
        return "authorization" in self.headers or "token" in self.query


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: list = field(default_factory=list)
    stream: Callable | None = None  # stream(handler) writes the body itself (storage route)
    length: int | None = None  # Content-Length when streaming

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None


def json_dumps(obj) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def json_response(status: int, obj, cache: str | None = None, headers=()) -> Response:
    hdrs = [("Content-Type", "application/json; charset=utf-8")]
    if cache:
        hdrs.append(("Cache-Control", cache))
    hdrs.extend(headers)
    return Response(status, json_dumps(obj), hdrs)


def error(status: int, text: str, cache: str | None = None, **extra) -> Response:
    return json_response(status, {"error": text, **extra}, cache)


def text_response(status: int, text: str, content_type="text/plain; charset=utf-8", headers=()) -> Response:
    return Response(status, text.encode(), [("Content-Type", content_type), *headers])


def zod_error(issues: list) -> Response:
    """The 2025-08+ ZodError envelope: the issues pretty-printed (JSON.stringify(issues, null, 2))."""
    message = json.dumps(issues, indent=2, ensure_ascii=False)
    return json_response(400, {"error": {"name": "ZodError", "message": message}})


def id_error(message: str, param: str = "id") -> Response:
    return error(400, f"✖ {message}\n  → at {param}")


def parse_id(raw: str, param: str = "id") -> tuple[int | None, Response | None]:
    """Zod-style validation of a positive int32 path parameter (§1.5)."""
    try:
        value = float(raw)
    except ValueError:
        return None, id_error("Invalid input: expected number, received NaN", param)
    if value != value:  # NaN
        return None, id_error("Invalid input: expected number, received NaN", param)
    if value in (float("inf"), float("-inf")):
        return None, id_error("Invalid input: expected number, received Infinity", param)
    if value != int(value):
        return None, id_error("Invalid input: expected int, received number", param)
    if value <= 0:
        return None, id_error("Too small: expected number to be >0", param)
    if value > 2147483647:
        return None, id_error("Too big: expected number to be <=2147483647", param)
    return int(value), None
