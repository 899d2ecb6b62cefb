"""Questions asked of the index: which linked models have a newer version, which files are duplicates."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Optional

log = logging.getLogger(__name__)


@dataclass
class LocalCopy:
    path: str
    version_id: int
    version_name: Optional[str]


@dataclass
class UpdateInfo:
    model_id: int
    model_name: str
    model_type: Optional[str]
    local: list                        # [LocalCopy], the newest first
    latest_version_id: int
    latest_version_name: str
    latest_published_at: Optional[str]
    latest_base_model: Optional[str]
    model: Any = field(default=None, repr=False, compare=False)  # the Model record (for batch plans)

    def to_json(self) -> dict:
        return {
            "model_id": self.model_id,
            "model_name": self.model_name,
            "model_type": self.model_type,
            "local": [{"path": c.path, "version_id": c.version_id, "version_name": c.version_name} for c in self.local],
            "latest_version_id": self.latest_version_id,
            "latest_version_name": self.latest_version_name,
            "latest_published_at": self.latest_published_at,
            "latest_base_model": self.latest_base_model,
        }


def _published_key(version) -> tuple:
    return (version.published_at or "", version.id)


def find_updates(entries, client) -> list:
    """Linked models whose newest published version is newer than every local copy.

    One ``GET /models?ids=`` per 100 models (the client batches them).
    """
    by_model: dict = {}
    for e in entries:
        if e.status == "linked" and e.model_id and e.version_id:
            by_model.setdefault(e.model_id, []).append(e)
    if not by_model:
        return []
    updates = []
    for model in client.get_models(sorted(by_model)):
        published = [v for v in model.versions if (v.status in (None, "Published"))]
        if not published:
            continue
        latest = max(published, key=_published_key)
        local = by_model.get(model.id, [])
        local_ids = {e.version_id for e in local}
        if latest.id in local_ids:
            continue
        known = {v.id: v for v in model.versions}
        newest_local = max((known[i] for i in local_ids if i in known), key=_published_key, default=None)
        if newest_local is not None and _published_key(newest_local) >= _published_key(latest):
            continue
        order = {v.id: n for n, v in enumerate(sorted(model.versions, key=_published_key, reverse=True))}
        copies = sorted(
            (LocalCopy(e.path, e.version_id, e.version_name) for e in local),
            key=lambda c: (order.get(c.version_id, len(order)), c.path),
        )
        updates.append(UpdateInfo(model.id, model.name, model.type, copies, latest.id, latest.name,
                                  latest.published_at, latest.base_model, model))
    return sorted(updates, key=lambda u: u.model_name.lower())


@dataclass
class DuplicateGroup:
    sha256: str
    size: int
    paths: list = field(default_factory=list)
    model_name: Optional[str] = None
    version_name: Optional[str] = None
    hardlinked: bool = False          # every path is the same file on disk: no space wasted

    @property
    def wasted_bytes(self) -> int:
        return 0 if self.hardlinked else self.size * (len(self.paths) - 1)

    def to_json(self) -> dict:
        return {
            "sha256": self.sha256, "size": self.size, "paths": list(self.paths), "model_name": self.model_name,
            "version_name": self.version_name, "hardlinked": self.hardlinked, "wasted_bytes": self.wasted_bytes,
        }


def find_duplicates(entries) -> list:
    """Files with the same SHA256 in several places, the biggest waste first."""
    groups: dict = {}
    for e in entries:
        if e.sha256 and e.status != "error":
            groups.setdefault(e.sha256, []).append(e)
    out = []
    for sha, group in groups.items():
        if len(group) < 2:
            continue
        named = next((e for e in group if e.model_name), group[0])
        out.append(DuplicateGroup(
            sha256=sha, size=group[0].size, paths=sorted(e.path for e in group),
            model_name=named.model_name, version_name=named.version_name,
            hardlinked=len({e.inode for e in group}) == 1,
        ))
    return sorted(out, key=lambda g: (-g.wasted_bytes, g.paths[0]))
