"""Typed, frozen records for what Civitai sends, built by ONE tolerant parser.

Nothing else in civkit indexes raw API dicts: every other module reads these records. Parsing never
fails on a missing key, a null, an unseen enum value or an unknown key (CIVITAI_API.md §11); each
record keeps the dict it came from in ``raw`` so later versions of civkit can re-read caches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any, Generic, Optional, TypeVar

from .normalise import (  # noqa: F401 - re-exported: the contract names them in records
    DEFAULT_DOWNLOAD_BASE,
    HASH_KEYS,
    fix_download_url,
    normalise_commercial_use,
    normalise_hashes,
    normalise_nsfw_level,
    parse_time,
)
from .normalise import (
    as_bool as _bool,
)
from .normalise import (
    as_dict as _dict,
)
from .normalise import (
    as_float as _float,
)
from .normalise import (
    as_int as _int,
)
from .normalise import (
    as_list as _list,
)
from .normalise import (
    as_str as _str,
)
from .normalise import (
    as_strings as _strings,
)


def __getattr__(name: str):
    """``filename_from_disposition`` is named in records too; it lives in download/names.py and loads
    on first use (see ``normalise.__getattr__``)."""
    if name == "filename_from_disposition":
        from .normalise import filename_from_disposition

        return filename_from_disposition
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


T = TypeVar("T")
CommercialUse = frozenset


# -- records -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Stats:
    download_count: Optional[int] = None
    thumbs_up: int = 0
    thumbs_down: int = 0
    comment_count: int = 0
    rating: Optional[float] = None
    rating_count: Optional[int] = None
    favorite_count: Optional[int] = None


@dataclass(frozen=True)
class Creator:
    username: str
    image: Optional[str] = None


@dataclass(frozen=True)
class Image:
    url: str
    nsfw_level: int = 0
    width: Optional[int] = None
    height: Optional[int] = None
    type: str = "image"
    id: Optional[int] = None
    hash: Optional[str] = None
    meta: Optional[dict] = None
    raw: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def is_video(self) -> bool:
        return self.type == "video" or self.url.lower().split("?")[0].endswith((".mp4", ".webm", ".mov"))


@dataclass(frozen=True)
class ModelFile:
    id: int
    name: str
    size_kb: float = 0.0
    type: str = "Model"
    primary: bool = False
    format: Optional[str] = None
    size: Optional[str] = None
    fp: Optional[str] = None
    pickle_scan: Optional[str] = None
    virus_scan: Optional[str] = None
    hashes: dict = field(default_factory=dict)
    download_url: Optional[str] = None
    quant_type: Optional[str] = None
    override_name: Optional[str] = None
    raw: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def sha256(self) -> Optional[str]:
        return self.hashes.get("SHA256")

    @property
    def size_bytes(self) -> int:
        return int(round(self.size_kb * 1024))


@dataclass(frozen=True)
class ModelVersion:
    id: int
    model_id: Optional[int] = None
    name: str = ""
    base_model: Optional[str] = None
    base_model_type: Optional[str] = None
    trained_words: tuple = ()
    files: tuple = ()
    images: tuple = ()
    download_url: Optional[str] = None
    published_at: Optional[str] = None
    nsfw_level: int = 0
    description: Optional[str] = None
    air: Optional[str] = None
    availability: Optional[str] = None
    early_access_deadline: Optional[str] = None
    usage_control: Optional[str] = None
    model_name: Optional[str] = None
    model_type: Optional[str] = None
    model_nsfw: Optional[bool] = None
    model_mode: Optional[str] = None
    stats: Stats = field(default_factory=Stats)
    status: Optional[str] = None
    raw: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def primary_file(self) -> Optional[ModelFile]:
        for f in self.files:
            if f.primary:
                return f
        # No file flagged primary (§11.9: absent = false): the first model file, then any file.
        for f in self.files:
            if f.type in ("Model", "Pruned Model"):
                return f
        return self.files[0] if self.files else None

    def early_access_active(self, now: Optional[datetime] = None) -> bool:
        """§11.7: early access is active if any of its many encodings says so."""
        now = now or datetime.now(timezone.utc)
        deadline = parse_time(self.early_access_deadline)
        if deadline is not None and deadline > now:
            return True
        paid = _dict(self.raw.get("paidAccess"))
        if paid.get("permanent") is True:
            return True
        days = _int(self.raw.get("earlyAccessTimeFrame"), 0) or 0
        published = parse_time(self.published_at)
        if days > 0 and published is not None and published + timedelta(days=days) > now:
            return True
        return self.availability == "EarlyAccess" and deadline is None


@dataclass(frozen=True)
class Model:
    id: int
    name: str = ""
    description: Optional[str] = None
    type: str = "Other"
    nsfw: bool = False
    nsfw_level: int = 0
    poi: bool = False
    mode: Optional[str] = None
    creator: Optional[Creator] = None
    tags: tuple = ()
    versions: tuple = ()
    stats: Stats = field(default_factory=Stats)
    allow_commercial_use: frozenset = frozenset()
    allow_no_credit: bool = True
    allow_derivatives: bool = True
    allow_different_license: bool = True
    availability: Optional[str] = None
    raw: dict = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class Page(Generic[T]):
    items: tuple = ()
    next_cursor: Optional[str] = None
    next_page: Optional[str] = None
    total_items: Optional[int] = None
    current_page: Optional[int] = None
    page_size: Optional[int] = None
    total_pages: Optional[int] = None

    @property
    def has_more(self) -> bool:
        return bool(self.next_cursor or self.next_page)


@dataclass(frozen=True)
class HashMatch:
    model_version_id: int
    model_id: Optional[int]
    hash: str


@dataclass(frozen=True)
class CreatorItem:
    username: str
    model_count: Optional[int] = None
    link: Optional[str] = None
    image: Optional[str] = None


@dataclass(frozen=True)
class TagItem:
    name: str
    model_count: Optional[int] = None
    link: Optional[str] = None


@dataclass(frozen=True)
class Enums:
    model_types: tuple = ()
    file_types: tuple = ()
    base_models: tuple = ()
    active_base_models: tuple = ()
    base_model_types: tuple = ()


@dataclass(frozen=True)
class ResolvedDownload:
    url: str
    filename: Optional[str]
    version_id: int
    file_id: Optional[int] = None

    def __repr__(self) -> str:  # the signed URL's credentials never reach a log line (issue 13 item 14)
        from ..config import redact

        return (f"ResolvedDownload(url={redact(self.url)!r}, filename={self.filename!r}, "
                f"version_id={self.version_id!r}, file_id={self.file_id!r})")


# -- the parser -----------------------------------------------------------------------------------

def parse_stats(d: Any) -> Stats:
    d = _dict(d)
    return Stats(
        download_count=_int(d.get("downloadCount")),
        thumbs_up=_int(d.get("thumbsUpCount"), 0),
        thumbs_down=_int(d.get("thumbsDownCount"), 0),
        comment_count=_int(d.get("commentCount"), 0),
        rating=_float(d.get("rating")),
        rating_count=_int(d.get("ratingCount")),
        favorite_count=_int(d.get("favoriteCount")),
    )


def parse_creator(d: Any) -> Optional[Creator]:
    d = _dict(d)
    name = _str(d.get("username"))
    return Creator(username=name, image=_str(d.get("image"))) if name else None


def parse_image(d: Any) -> Image:
    d = _dict(d)
    meta = d.get("meta")
    # §11.10: meta is null, flat, or wrapped as {id, meta} on the legacy /images path.
    if isinstance(meta, dict) and "meta" in meta and set(meta) <= {"id", "meta"}:
        meta = meta.get("meta")
    return Image(
        url=_str(d.get("url")) or "",
        nsfw_level=normalise_nsfw_level(d.get("nsfwLevel"), d.get("nsfw") if isinstance(d.get("nsfw"), bool) else None),
        width=_int(d.get("width")),
        height=_int(d.get("height")),
        type=_str(d.get("type")) or "image",
        id=_int(d.get("id")),
        hash=_str(d.get("hash")),
        meta=meta if isinstance(meta, dict) else None,
        raw=d,
    )


def parse_file(d: Any, *, version_id: Optional[int] = None, download_base: str = DEFAULT_DOWNLOAD_BASE) -> ModelFile:
    d = _dict(d)
    meta = _dict(d.get("metadata"))
    file_id = _int(d.get("id"), 0)
    return ModelFile(
        id=file_id,
        name=_str(d.get("name")) or "",
        size_kb=_float(d.get("sizeKB"), 0.0) or 0.0,
        type=_str(d.get("type")) or "Model",
        primary=d.get("primary") is True,
        format=_str(meta.get("format")),
        size=_str(meta.get("size")),
        fp=_str(meta.get("fp")),
        pickle_scan=_str(d.get("pickleScanResult")),
        virus_scan=_str(d.get("virusScanResult")),
        hashes=normalise_hashes(d.get("hashes")),
        download_url=fix_download_url(_str(d.get("downloadUrl")), version_id, file_id, download_base),
        quant_type=_str(meta.get("quantType")),
        override_name=_str(d.get("overrideName")),
        raw=d,
    )


def _early_access_deadline(d: dict) -> Optional[str]:
    for value in (d.get("earlyAccessDeadline"), d.get("earlyAccessEndsAt"), _dict(d.get("paidAccess")).get("endsAt"),
                  _dict(d.get("earlyAccessConfig")).get("endsAt")):
        text = _str(value)
        if text:
            return text
    return None


def parse_version(d: Any, *, download_base: str = DEFAULT_DOWNLOAD_BASE) -> ModelVersion:
    d = _dict(d)
    model = _dict(d.get("model"))
    version_id = _int(d.get("id"), 0)
    return ModelVersion(
        id=version_id,
        model_id=_int(d.get("modelId")),
        name=_str(d.get("name")) or "",
        base_model=_str(d.get("baseModel")),
        base_model_type=_str(d.get("baseModelType")),
        trained_words=tuple(w.strip() for w in _strings(d.get("trainedWords")) if w.strip()),
        files=tuple(parse_file(f, version_id=version_id, download_base=download_base)
                    for f in _list(d.get("files")) if isinstance(f, dict)),
        images=tuple(parse_image(i) for i in _list(d.get("images")) if isinstance(i, dict)),
        download_url=fix_download_url(_str(d.get("downloadUrl")), version_id, None, download_base),
        published_at=_str(d.get("publishedAt")),
        nsfw_level=normalise_nsfw_level(d.get("nsfwLevel")),
        description=_str(d.get("description")),
        air=_str(d.get("air")),
        availability=_str(d.get("availability")),
        early_access_deadline=_early_access_deadline(d),
        usage_control=_str(d.get("usageControl")),
        model_name=_str(model.get("name")),
        model_type=_str(model.get("type")),
        model_nsfw=model["nsfw"] if isinstance(model.get("nsfw"), bool) else None,
        model_mode=_str(model.get("mode")),
        stats=parse_stats(d.get("stats")),
        status=_str(d.get("status")),
        raw=d,
    )


def _tag_name(value: Any) -> Optional[str]:
    """Tags are strings on /models; older or other payloads use ``{id, name}``."""
    return _str(value.get("name")) if isinstance(value, dict) else _str(value)


def parse_model(d: Any, *, download_base: str = DEFAULT_DOWNLOAD_BASE) -> Model:
    d = _dict(d)
    nsfw = _bool(d.get("nsfw"))
    model_id = _int(d.get("id"), 0)
    name = _str(d.get("name")) or ""
    mtype = _str(d.get("type")) or "Other"
    mode = _str(d.get("mode"))
    versions = tuple(
        replace(parse_version(v, download_base=download_base), model_id=model_id, model_name=name,
                model_type=mtype, model_nsfw=nsfw, model_mode=mode)
        for v in _list(d.get("modelVersions")) if isinstance(v, dict)
    )
    return Model(
        id=model_id,
        name=name,
        description=_str(d.get("description")),
        type=mtype,
        nsfw=nsfw,
        nsfw_level=normalise_nsfw_level(d.get("nsfwLevel"), nsfw if "nsfw" in d else None),
        poi=_bool(d.get("poi")),
        mode=mode,
        creator=parse_creator(d.get("creator")),
        tags=tuple(t for t in (_tag_name(t) for t in _list(d.get("tags"))) if t),
        versions=versions,
        stats=parse_stats(d.get("stats")),
        allow_commercial_use=normalise_commercial_use(d.get("allowCommercialUse")),
        allow_no_credit=_bool(d.get("allowNoCredit"), True),
        allow_derivatives=_bool(d.get("allowDerivatives"), True),
        allow_different_license=_bool(d.get("allowDifferentLicense"), True),
        availability=_str(d.get("availability")),
        raw=d,
    )


def _cursor(value: Any) -> Optional[str]:
    """§11.8: a number in 2023, a string now, sometimes null, now absent at the end."""
    if value is None or isinstance(value, (bool, dict, list)):
        return None
    text = str(value).strip()
    return text or None


def parse_page(d: Any, item_parser: Callable[[dict], T]) -> Page:
    """A list response: ``{items, metadata}``; legacy totals kept, never required (§11.3)."""
    if isinstance(d, list):  # a bare list of items
        d = {"items": d}
    d = _dict(d)
    meta = _dict(d.get("metadata"))
    return Page(
        items=tuple(item_parser(i) for i in _list(d.get("items")) if isinstance(i, dict)),
        next_cursor=_cursor(meta.get("nextCursor")),
        next_page=_str(meta.get("nextPage")),
        total_items=_int(meta.get("totalItems")),
        current_page=_int(meta.get("currentPage")),
        page_size=_int(meta.get("pageSize")),
        total_pages=_int(meta.get("totalPages")),
    )


def parse_hash_matches(items: Any) -> list[HashMatch]:
    out = []
    for d in _list(items):
        d = _dict(d)
        vid = _int(d.get("modelVersionId"))
        if vid is not None:
            out.append(HashMatch(model_version_id=vid, model_id=_int(d.get("modelId")),
                                 hash=(_str(d.get("hash")) or "").upper()))
    return out


def parse_enums(d: Any) -> Enums:
    d = _dict(d)
    base_models = _strings(d.get("BaseModel"))
    return Enums(
        model_types=_strings(d.get("ModelType")),
        file_types=_strings(d.get("ModelFileType")),
        base_models=base_models,
        active_base_models=_strings(d.get("ActiveBaseModel")) or base_models,
        base_model_types=_strings(d.get("BaseModelType")),
    )


def parse_creator_item(d: Any) -> CreatorItem:
    d = _dict(d)
    return CreatorItem(username=_str(d.get("username")) or "", model_count=_int(d.get("modelCount")),
                       link=_str(d.get("link")), image=_str(d.get("image")))


def parse_tag_item(d: Any) -> TagItem:
    d = _dict(d)
    return TagItem(name=_str(d.get("name")) or "", model_count=_int(d.get("modelCount")), link=_str(d.get("link")))


def parse_creators(d: Any) -> Page:
    return parse_page(d, parse_creator_item)


def parse_tags(d: Any) -> Page:
    return parse_page(d, parse_tag_item)


def parse_versions(items: Iterable[Any], *, download_base: str = DEFAULT_DOWNLOAD_BASE) -> list[ModelVersion]:
    return [parse_version(v, download_base=download_base) for v in _list(list(items)) if isinstance(v, dict)]
