"""The download pipeline, one module per step in the order data flows:

``choice`` (which file of a version) → ``names`` (a safe name inside the folder, Content-Disposition)
→ ``lock`` (one writer per ``.part``) → ``storage`` (one storage GET) → ``transfer`` (Range,
retries, restarts) with ``hashpipe`` (hashing beside the writes) → ``core`` (``download_file``:
conflicts, space, verification, the atomic move, after-download hooks). ``errors`` holds the
``DownloadError`` family and ``explain``, which turns any failure into words for people.
"""

from .choice import check_safety, choose_file, is_pickle
from .core import CONFLICT_MODES, DownloadResult, download_file
from .errors import (
    Cancelled,
    DownloadError,
    FileConflict,
    HashMismatch,
    HtmlInsteadOfFile,
    NotEnoughSpace,
    UnsafeFile,
    explain,
)
from .names import UnsafeFilename, safe_filename

__all__ = [
    "CONFLICT_MODES", "Cancelled", "DownloadError", "DownloadResult", "FileConflict", "HashMismatch",
    "HtmlInsteadOfFile", "NotEnoughSpace", "UnsafeFile", "UnsafeFilename", "check_safety", "choose_file",
    "download_file", "explain", "is_pickle", "safe_filename",
]
