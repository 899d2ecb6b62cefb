"""The local model library: the SQLite index, scanning, linking to Civitai, sidecars, previews."""

from .index import IndexUnavailable, LibraryEntry, LibraryIndex
from .link import LinkResult, link_entries
from .preview import existing_preview, save_preview
from .scan import MODEL_EXTENSIONS, ScanProgress, ScanReport, scan
from .sidecar_read import read_sidecar_facts, read_sidecar_hashes
from .sidecars import SidecarResult, merge_a1111_json, write_civitai_info

__all__ = [
    "IndexUnavailable", "LibraryEntry", "LibraryIndex", "LinkResult", "link_entries", "existing_preview",
    "save_preview", "MODEL_EXTENSIONS", "ScanProgress", "ScanReport", "scan", "read_sidecar_facts",
    "read_sidecar_hashes", "SidecarResult", "merge_a1111_json", "write_civitai_info",
]
