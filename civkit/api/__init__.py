"""The Civitai REST client: ``CivitaiClient``, its error hierarchy and its typed records.

The names are loaded on first use (PEP 562), so ``from civkit.api.errors import ...`` or a look at
the records does not import requests and the client: the ``civkit`` command starts faster.
"""

from __future__ import annotations

from ..lazy import lazy_exports

_WHERE = {
    "CivitaiClient": "client",
    **dict.fromkeys((
        "Archived", "AuthRequired", "BadRequest", "CivitaiError", "CloudflareBlocked", "EarlyAccess", "Forbidden",
        "NetworkError", "NotFound", "RateLimited", "RegionBlocked", "ServerBusy", "UnexpectedResponse",
        "error_from_response",
    ), "errors"),
    "RateLimiter": "ratelimit",
    **dict.fromkeys((
        "Creator", "CreatorItem", "Enums", "HashMatch", "Image", "Model", "ModelFile", "ModelVersion", "Page",
        "ResolvedDownload", "Stats", "TagItem", "filename_from_disposition", "normalise_commercial_use",
        "normalise_nsfw_level", "parse_enums", "parse_file", "parse_hash_matches", "parse_image", "parse_model",
        "parse_page", "parse_version",
    ), "records"),
}

__all__ = [
    "Archived", "AuthRequired", "BadRequest", "CivitaiClient", "CivitaiError", "CloudflareBlocked", "Creator",
    "CreatorItem", "EarlyAccess", "Enums", "Forbidden", "HashMatch", "Image", "Model", "ModelFile", "ModelVersion",
    "NetworkError", "NotFound", "Page", "RateLimited", "RateLimiter", "RegionBlocked", "ResolvedDownload",
    "ServerBusy", "Stats", "TagItem", "UnexpectedResponse", "error_from_response", "filename_from_disposition",
    "normalise_commercial_use", "normalise_nsfw_level", "parse_enums", "parse_file", "parse_hash_matches",
    "parse_image", "parse_model", "parse_page", "parse_version",
]


__getattr__, __dir__ = lazy_exports(__name__, _WHERE, globals(), __all__)
