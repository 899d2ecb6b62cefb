"""The local model library: the SQLite index, scanning, linking to Civitai, sidecars, previews.

The index and the scan are imported with the package; the other names on first use (PEP 562), so a
rescan (and ``civkit scan``) does not import sidecar writing, previews and the API records.
"""

from __future__ import annotations

from ..lazy import lazy_exports
from .index import IndexUnavailable, LibraryEntry, LibraryIndex
from .scan import MODEL_EXTENSIONS, ScanProgress, ScanReport, scan

_LAZY = {
    **dict.fromkeys(("LinkResult", "link_entries"), "link"),
    **dict.fromkeys(("existing_preview", "save_preview"), "preview"),
    **dict.fromkeys(("read_sidecar_facts", "read_sidecar_hashes"), "sidecar_read"),
    **dict.fromkeys(("SidecarResult", "merge_a1111_json", "write_civitai_info"), "sidecars"),
}

__all__ = [
    "IndexUnavailable", "LibraryEntry", "LibraryIndex", "LinkResult", "link_entries", "existing_preview",
    "save_preview", "MODEL_EXTENSIONS", "ScanProgress", "ScanReport", "scan", "read_sidecar_facts",
    "read_sidecar_hashes", "SidecarResult", "merge_a1111_json", "write_civitai_info",
]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals(), __all__)
