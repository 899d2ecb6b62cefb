"""The Civitai REST client: ``CivitaiClient``, its error hierarchy and its typed records."""

from .client import CivitaiClient
from .errors import (
    Archived,
    AuthRequired,
    BadRequest,
    CivitaiError,
    CloudflareBlocked,
    EarlyAccess,
    Forbidden,
    NetworkError,
    NotFound,
    RateLimited,
    RegionBlocked,
    ServerBusy,
    UnexpectedResponse,
    error_from_response,
)
from .ratelimit import RateLimiter
from .records import (
    Creator,
    CreatorItem,
    Enums,
    HashMatch,
    Image,
    Model,
    ModelFile,
    ModelVersion,
    Page,
    ResolvedDownload,
    Stats,
    TagItem,
    filename_from_disposition,
    normalise_commercial_use,
    normalise_nsfw_level,
    parse_enums,
    parse_file,
    parse_hash_matches,
    parse_image,
    parse_model,
    parse_page,
    parse_version,
)

__all__ = [
    "Archived", "AuthRequired", "BadRequest", "CivitaiClient", "CivitaiError", "CloudflareBlocked", "Creator",
    "CreatorItem", "EarlyAccess", "Enums", "Forbidden", "HashMatch", "Image", "Model", "ModelFile", "ModelVersion",
    "NetworkError", "NotFound", "Page", "RateLimited", "RateLimiter", "RegionBlocked", "ResolvedDownload",
    "ServerBusy", "Stats", "TagItem", "UnexpectedResponse", "error_from_response", "filename_from_disposition",
    "normalise_commercial_use", "normalise_nsfw_level", "parse_enums", "parse_file", "parse_hash_matches",
    "parse_image", "parse_model", "parse_page", "parse_version",
]
