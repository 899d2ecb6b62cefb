"""Resolve needs: on disk → Civitai by ids → by hash → by name (issue 10 §2).

Requests for hash-identified needs: one ``POST by-hash/ids`` for every full SHA256, one
``POST by-hash`` for the ones it knows, then one ``GET by-hash/<hash>`` per need still unknown
(short A1111 hashes included) — at most 2 + misses for the whole source. Needs known by version
id cost one ``GET /model-versions/<id>`` each; name-only needs one or two searches each, and their
candidates are never downloaded without an explicit yes (``accept_guesses``).
"""

from __future__ import annotations

import difflib
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from ..api.errors import CivitaiError, NotFound
from .local import LocalFiles
from .needs import KIND_TYPES, Need, stem

log = logging.getLogger(__name__)
STATUSES = ("present", "missing", "downloaded", "ambiguous", "unresolved", "failed")
MAX_CANDIDATES = 5
SURE = 0.95  # a file name equal to the need's: still a guess, but the best one


@dataclass
class Resolution:
    need: Need
    status: str = "unresolved"
    path: Optional[str] = None
    verified: bool = False
    version: object = None          # api.records.ModelVersion
    file: object = None             # api.records.ModelFile
    candidates: list = field(default_factory=list)
    message: str = ""
    guess: bool = False
    task_id: Optional[str] = None
    folder_key: Optional[str] = None
    comfy_name: Optional[str] = None  # the file's name relative to its folder root, "/" separated

    @property
    def size(self) -> Optional[int]:
        if self.file is not None:
            return int(self.file.size_bytes)
        if self.path:
            try:
                return Path(self.path).stat().st_size
            except OSError:
                return None
        return None

    @property
    def sha256(self) -> Optional[str]:
        if self.file is not None and self.file.sha256:
            return self.file.sha256.upper()
        return self.need.hashes.get("SHA256")

    def to_json(self) -> dict:
        n, v, f = self.need, self.version, self.file
        return {
            "source": n.source, "kind": n.kind, "status": self.status,
            "name": n.name or " ".join(x for x in (getattr(v, "model_name", None), getattr(v, "name", None)) if x)
            or (f"version {n.version_id}" if n.version_id else ""), "path": self.path,
            "verified": self.verified,
            "model_id": getattr(v, "model_id", None) or n.model_id,
            "version_id": getattr(v, "id", None) or n.version_id,
            "file_id": getattr(f, "id", None) or n.file_id,
            "sha256": self.sha256, "size": self.size, "weight": n.weight, "node_id": n.node_id,
            "widget": n.widget, "uses": [{"node_id": a, "widget": b} for a, b in n.uses],
            "folder_key": self.folder_key or n.folder_key, "comfy_name": self.comfy_name,
            "model_name": getattr(v, "model_name", None), "version_name": getattr(v, "name", None),
            "model_type": getattr(v, "model_type", None), "file_name": getattr(f, "name", None),
            "url": download_url(v, f), "air": getattr(v, "air", None) or n.air, "hashes": dict(n.hashes),
            "candidates": self.candidates, "guess": self.guess, "message": self.message,
            "task_id": self.task_id,
        }


def download_url(version, file) -> Optional[str]:
    if version is None or file is None:
        return None
    base = (getattr(file, "download_url", None) or "").split("?")[0]
    if not base.startswith("http") or "undefined" in base:
        return f"https://civitai.com/api/download/models/{version.id}?fileId={file.id}"
    return f"{base}?fileId={file.id}" if "fileId" not in base else base


def _file_for_hashes(version, hashes: dict):
    wanted = {v.upper() for v in hashes.values()}
    for f in version.files:
        values = {str(h).upper() for h in (f.hashes or {}).values() if h}
        if wanted & values:
            return f
        sha = (f.sha256 or "").upper()
        if sha and any(len(w) >= 10 and sha.startswith(w) for w in wanted):
            return f
    return None


def _search_words(name: str) -> list:
    words = [w for w in re.split(r"[\s_\-.]+", stem(name)) if w]
    words = [w for w in words if not re.fullmatch(r"v?\d+(\.\d+)*|fp\d+|bf16|pruned|ema|emaonly|full|safetensors", w)]
    return words


class Resolver:
    """One resolution pass over a source's needs, for one host."""

    def __init__(self, client, local: LocalFiles, *, accept_guesses: bool = False):
        self.client = client
        self.local = local
        self.accept_guesses = accept_guesses
        self.requests = 0

    # ----------------------------------------------------------------- the pass
    def resolve(self, needs) -> list:
        results = [Resolution(n, folder_key=self._folder(n)) for n in needs]
        todo = [r for r in results if not self._on_disk(r)]
        by_ids = [r for r in todo if r.need.version_id or r.need.model_id]
        for r in by_ids:
            self._by_ids(r)
        self._by_hashes([r for r in todo if r.version is None and r.need.hashes])
        for r in todo:
            if r.version is None:
                self._by_name(r)
        for r in todo:
            if r.version is not None and r.file is not None:
                self._after_civitai(r)
            elif r.status not in ("ambiguous", "present") and not r.message:
                r.message = "Civitai does not know it"
        return _merge_same(results)

    def _folder(self, need: Need) -> Optional[str]:
        keys = self.local.keys()
        return need.folder_key if need.folder_key in keys else None

    # ----------------------------------------------------------------- 1. on disk
    def _present(self, r: Resolution, path, verified: bool, message: str = "") -> None:
        r.status, r.path, r.verified, r.message = "present", str(path), verified, message
        self._set_comfy_name(r, Path(path))

    def _set_comfy_name(self, r: Resolution, path: Path) -> None:
        keys = [r.folder_key] if r.folder_key else list(self.local.keys())
        for key in keys:
            for root in self.local.roots(key):
                try:
                    rel = path.resolve().relative_to(Path(root).resolve())
                except ValueError:
                    continue
                r.folder_key = r.folder_key or key
                r.comfy_name = rel.as_posix()
                return

    def _on_disk(self, r: Resolution) -> bool:
        need = r.need
        for value in need.hashes.values():
            entry = self.local.by_hash(value)
            if entry is not None:
                self._present(r, entry.path, True)
                return True
        if need.version_id and not need.file_id:
            entry = self.local.by_version(need.version_id)
            if entry is not None and (need.kind in ("lora", "embedding", "vae") or not need.name
                                      or stem(need.name) == stem(entry.path)):
                self._present(r, entry.path, True)
                return True
        path = self.local.by_name(need) if need.name else None
        if path is None:
            return False
        entry = self.local.entry_for(path)
        if entry is not None and entry.sha256 and need.hashes:
            known = {h for h in (entry.sha256, entry.autov1, entry.autov2, entry.autov3, entry.blake3) if h}
            if not any(v in known or (len(v) >= 10 and entry.sha256.startswith(v)) for v in need.hashes.values()):
                r.message = f"{path.name} on disk is a different file than the one named (its hash differs)"
                return False
            self._present(r, path, True)
            return True
        self._present(r, path, False, "found by name only; no hash confirms it is the same file")
        return True

    # ----------------------------------------------------------------- 2. by ids
    def _by_ids(self, r: Resolution) -> None:
        need = r.need
        try:
            if need.version_id:
                self.requests += 1
                version = self.client.get_version(need.version_id)
            else:
                self.requests += 1
                model = self.client.get_model(need.model_id)
                version = next(iter(model.versions), None)
                if version is None:
                    r.message = f"Civitai model {need.model_id} has no downloadable version"
                    return
        except NotFound:
            what = f"version {need.version_id}" if need.version_id else f"model {need.model_id}"
            r.message = f"Civitai has no {what} (deleted or private)"
            return
        except CivitaiError as exc:
            r.message = exc.message
            return
        self._pick_file(r, version, file_id=need.file_id)

    def _pick_file(self, r: Resolution, version, file_id=None, file=None) -> None:
        from ..download.choice import choose_file

        r.version = version
        if file is None and r.need.hashes:
            file = _file_for_hashes(version, r.need.hashes)
        if file is None and not file_id and r.need.kind == "vae":
            file = next((f for f in version.files if f.type == "VAE"), None)
        if file is None and not file_id and r.need.kind == "embedding" and r.need.name:
            file = next((f for f in version.files if stem(f.name) == stem(r.need.name)), None)
        try:
            r.file = choose_file(version, file_id=file_id or (file.id if file else None))
        except Exception as exc:  # DownloadError / UnsafeFile carry a message for people
            r.message = getattr(exc, "message", None) or str(exc)
            r.file = None

    # ----------------------------------------------------------------- 3. by hash
    def _by_hashes(self, todo: list) -> None:
        if not todo:
            return
        sha_needs = [r for r in todo if "SHA256" in r.need.hashes]
        found: dict = {}
        if sha_needs:
            try:
                self.requests += 1
                matches = self.client.get_version_ids_by_hashes([r.need.hashes["SHA256"] for r in sha_needs])
                known = [m.hash.upper() for m in matches]
                if known:
                    self.requests += 1
                    for version in self.client.get_versions_by_hashes(known):
                        for f in version.files:
                            if f.sha256 and f.sha256.upper() in known:
                                found.setdefault(f.sha256.upper(), (version, f))
            except CivitaiError as exc:
                for r in todo:
                    r.message = exc.message
                return
        for r in todo:
            hit = found.get(r.need.hashes.get("SHA256", ""))
            if hit:
                self._pick_file(r, hit[0], file=hit[1])
                continue
            value = next((r.need.hashes[k] for k in ("AutoV3", "AutoV2", "BLAKE3", "AutoV1", "CRC32")
                          if k in r.need.hashes), None)
            if value is None:
                continue  # the SHA256 was asked in bulk already: Civitai does not know it
            try:
                self.requests += 1
                version = self.client.get_version_by_hash(value)
            except NotFound:
                continue
            except CivitaiError as exc:
                r.message = exc.message
                continue
            self._pick_file(r, version)

    # ----------------------------------------------------------------- 4. by name
    def _by_name(self, r: Resolution) -> None:
        need = r.need
        words = _search_words(need.name)
        if not words:
            if need.hashes and not r.message:
                r.message = "Civitai knows none of its hashes"
            r.message = r.message or "nothing identifies it (no hash, no Civitai id, no usable name)"
            return
        types = KIND_TYPES.get(need.kind, ())
        models = []
        for query in dict.fromkeys((" ".join(words[:4]), words[0])):
            try:
                self.requests += 1
                models = list(self.client.search_models_page(query, types=types, limit=10, nsfw=True).items)
            except CivitaiError as exc:
                r.message = exc.message
                return
            if models:
                break
        scored = []
        want = stem(need.name)
        for model in models:
            for version in list(model.versions)[:3]:
                for f in version.files:
                    if f.type not in ("Model", "VAE", "Negative", "Text Encoder", "UNet", "Diffusion Model"):
                        continue
                    fs = stem(f.name)
                    if fs == want:
                        score = SURE
                    else:
                        score = 0.8 * difflib.SequenceMatcher(None, want, fs).ratio()
                        score = max(score, 0.6 * difflib.SequenceMatcher(None, want, model.name.casefold()).ratio())
                    scored.append((round(score, 2), model, version, f))
        scored.sort(key=lambda t: -t[0])
        r.candidates = [{"model_id": m.id, "model_name": m.name, "version_id": v.id, "version_name": v.name,
                         "file_id": f.id, "file_name": f.name, "size": int(f.size_bytes), "confidence": s,
                         "type": m.type}
                        for s, m, v, f in scored[:MAX_CANDIDATES]]
        if not r.candidates:
            known = "Civitai knows none of its hashes, and " if need.hashes else ""
            r.message = f"{known}no Civitai model matches the name {need.name!r}"
            return
        if self.accept_guesses:
            best = scored[0]
            r.guess = True
            self._pick_file(r, best[2], file=best[3])
            r.message = (f"guessed from the name: {best[1].name} {best[2].name} "
                         f"(confidence {best[0]:.2f})")
        else:
            r.status = "ambiguous"
            r.message = "found by name only: choose a candidate (or --accept-guesses)"

    # ----------------------------------------------------------------- after Civitai: on disk after all?
    def _after_civitai(self, r: Resolution) -> None:
        entry = self.local.by_sha256(r.file.sha256)
        if entry is not None:
            r.message = "" if not r.guess else r.message
            self._present(r, entry.path, True)
            return
        r.status = "missing"
        if r.folder_key is None:
            host = self.local.host
            try:
                r.folder_key = host.key_for(r.version.model_type or "Other", r.file.type)
            except Exception:
                r.folder_key = None


def _merge_same(results: list) -> list:
    """Two references that resolved to the same file are one need (kept in source order)."""
    out: list = []
    seen: dict = {}
    for r in results:
        key = None
        if r.file is not None:
            key = ("file", r.file.id)
        elif r.path:
            key = ("path", r.path)
        if key is not None and key in seen:
            kept = seen[key]
            kept.need.merge(r.need)
            continue
        if key is not None:
            seen[key] = r
        out.append(r)
    return out


def choose_candidate(r: Resolution, client, version_id: int, file_id: Optional[int] = None) -> None:
    """The user picked a candidate (or any version) for an ambiguous need."""
    version = client.get_version(int(version_id))
    r.status, r.message, r.guess = "unresolved", "", False
    Resolver(client, None)._pick_file(r, version, file_id=file_id)
    if r.file is not None:
        r.status = "missing"
