"""civkit's trash: ``civkit rm`` and the UIs' delete move a model file and its sidecars here.

Where: a ``.civkit-trash`` folder at the model root holding the file when it is on the same
file system (a rename, nothing copied), else ``$CIVKIT_HOME/trash/`` (copied, verified, then
removed: ``bundle.move_file``). Each item is a folder ``<trash>/<id>/`` with ``item.json`` (the
original paths, when, the index entry) and the files, each with ``TRASHED_SUFFIX`` appended so
no host lists them as models and no scan picks them up.

Restoring gives back the same bytes under the original names, with the index entry as it was
(no re-hashing), and never overwrites: if any original name is taken, nothing is restored.

``trash_bundle(path, roots, home, index=None) -> TrashItem`` is the one call other parts use
(``civkit updates --download --replace`` moves an old file away with it).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

from ..atomic import write_atomic
from ..paths import deepest_root
from .bundle import bundle_of, move_file
from .index import LibraryEntry

log = logging.getLogger(__name__)

ROOT_TRASH = ".civkit-trash"
TRASHED_SUFFIX = ".civkit-trashed"
ITEM_FILE = "item.json"


class TrashError(Exception):
    """A trash operation civkit refused or could not do; ``message`` is for people."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = self.user_message = message


@dataclass
class TrashItem:
    id: str
    path: str                                   # the model file's original path
    files: list = field(default_factory=list)   # [{"original": path, "stored": name}]
    trashed_at: float = 0.0
    size: int = 0
    entry: Optional[dict] = None                # the index entry, to restore without re-hashing
    folder: str = ""                            # where the item is kept

    def to_json(self) -> dict:
        data = asdict(self)
        data.pop("entry", None)
        data["name"] = os.path.basename(self.path)
        data["sidecars"] = [os.path.basename(f["original"]) for f in self.files[1:]]
        return data


def _new_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


def _root_of(path: str, roots) -> Optional[str]:
    return deepest_root(path, [os.path.realpath(str(root)) for root in roots])


def trash_folders(roots, home) -> list:
    """Every place items may be kept: ``<root>/.civkit-trash`` for each root, then ``<home>/trash``."""
    out = [os.path.join(os.path.realpath(str(r)), ROOT_TRASH) for r in roots]
    out.append(os.path.join(str(home), "trash"))
    return list(dict.fromkeys(out))


def _pick_folder(path: str, roots, home) -> str:
    root = _root_of(path, roots)
    if root is not None:
        candidate = os.path.join(root, ROOT_TRASH)
        try:
            os.makedirs(candidate, exist_ok=True)
            if os.stat(candidate).st_dev == os.stat(path).st_dev:
                return candidate
        except OSError as exc:
            log.info("no trash at %s (%s); using civkit's home", candidate, exc)
    folder = os.path.join(str(home), "trash")
    os.makedirs(folder, exist_ok=True)
    return folder


def trash_bundle(path, roots, home, index=None) -> TrashItem:
    """Move the model file ``path`` and its sidecars into the trash; forget it in ``index``.

    ``roots``: the model folders (the file must be inside one); ``home``: CIVKIT_HOME.
    Raises TrashError (nothing moved) or, if a sidecar could not follow, moves what it can and
    keeps a record of every file that went.
    """
    real = os.path.realpath(str(path))
    if not os.path.isfile(real):
        raise TrashError(f"{path} is not a file")
    if _root_of(real, roots) is None:
        raise TrashError(f"{path} is outside the model folders; civkit will not delete it")
    bundle = bundle_of(real)
    folder = _pick_folder(real, roots, home)
    item = TrashItem(id=_new_id(), path=real, trashed_at=time.time(), size=os.path.getsize(real))
    item_dir = os.path.join(folder, item.id)
    os.makedirs(item_dir)
    item.folder = item_dir
    entry = index.get(real) if index is not None else None
    item.entry = asdict(entry) if entry is not None else None
    for i, source in enumerate(bundle.files):
        stored = f"{i:02d}-{source.name}{TRASHED_SUFFIX}"
        try:
            move_file(source, os.path.join(item_dir, stored), entry.sha256 if (i == 0 and entry) else None)
        except OSError as exc:
            if i == 0:
                shutil.rmtree(item_dir, ignore_errors=True)
                raise TrashError(f"cannot move {path} to the trash: {exc.strerror or exc}") from exc
            log.warning("sidecar %s stays: %s", source, exc)
            continue
        item.files.append({"original": str(source), "stored": stored})
    _write_item(item)
    if index is not None and entry is not None:
        index.delete([real])
    return item


def _write_item(item: TrashItem) -> None:
    data = asdict(item)
    data.pop("folder", None)
    write_atomic(Path(item.folder) / ITEM_FILE, json.dumps(data, indent=2, ensure_ascii=False).encode("utf-8"))


def _read_item(item_dir: str) -> Optional[TrashItem]:
    try:
        with open(os.path.join(item_dir, ITEM_FILE), encoding="utf-8") as fh:
            data = json.load(fh)
        item = TrashItem(id=str(data["id"]), path=str(data["path"]), files=list(data.get("files") or []),
                         trashed_at=float(data.get("trashed_at") or 0), size=int(data.get("size") or 0),
                         entry=data.get("entry") if isinstance(data.get("entry"), dict) else None)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.info("ignoring damaged trash item %s: %s", item_dir, exc)
        return None
    if item.id != os.path.basename(item_dir):
        return None
    item.folder = item_dir
    return item


def list_trash(roots, home) -> list:
    """Every item in every trash folder, newest first."""
    items = []
    for folder in trash_folders(roots, home):
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            continue
        for name in names:
            item = _read_item(os.path.join(folder, name))
            if item is not None:
                items.append(item)
    return sorted(items, key=lambda i: i.trashed_at, reverse=True)


def find_items(ids, roots, home) -> list:
    """The items with these ids, or TrashError naming the unknown ones."""
    known = {i.id: i for i in list_trash(roots, home)}
    missing = [i for i in ids if i not in known]
    if missing:
        raise TrashError(f"no trash item {', '.join(missing)} (see `civkit trash list`)")
    return [known[i] for i in ids]


def restore_item(item: TrashItem, index=None) -> str:
    """Put the item's files back under their original names; the model's path.

    Refuses (TrashError, nothing moved) when any original name is taken now.
    """
    taken = [f["original"] for f in item.files if os.path.lexists(f["original"])]
    if taken:
        raise TrashError(
            f"cannot restore {item.id}: {', '.join(taken)} already exists; civkit never overwrites a file "
            "(move that file away first)"
        )
    for f in item.files:
        source = os.path.join(item.folder, f["stored"])
        os.makedirs(os.path.dirname(f["original"]), exist_ok=True)
        move_file(source, f["original"])
    if index is not None and item.entry:
        try:
            entry = LibraryEntry(**item.entry)
            st = os.stat(item.path)
            entry.path = item.path
            entry.take_stat(st)
            index.upsert(entry)
        except (TypeError, OSError) as exc:  # an item written by another civkit: a rescan hashes it
            log.info("index entry of %s not restored: %s", item.path, exc)
    shutil.rmtree(item.folder, ignore_errors=True)
    return item.path


def empty_trash(roots, home, *, ids=None, older_than_days: Optional[float] = None) -> list:
    """Delete items for good (all, the given ids, or those older than N days); the deleted items."""
    items = find_items(ids, roots, home) if ids else list_trash(roots, home)
    if older_than_days is not None:
        cutoff = time.time() - float(older_than_days) * 86400
        items = [i for i in items if i.trashed_at < cutoff]
    for item in items:
        shutil.rmtree(item.folder)
    return items
