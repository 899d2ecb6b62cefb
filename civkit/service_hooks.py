"""What happens after a verified download: the index entry, sidecars, the preview, the host's
refresh, and a checkpoint's ``vae`` key once its VAE is on disk too (HOSTS.md §3).

Each hook is called as ``hook(path, version, file, result)`` by ``download_file`` and returns a
warning or None; ``download_file`` guards each one, so a failing step never fails a download.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Optional

from .service_placement import MODEL_FILE_TYPES, version_files_on_disk


def is_companion(file) -> bool:
    """A VAE or Config file that rides along with a version's model (not a VAE model's own file)."""
    return file.type in ("VAE", "Config") and not file.primary


class AfterDownload:
    """``client()``, ``index()``, ``config()`` return the service's current parts; ``host`` is told
    about every new file."""

    def __init__(self, client: Callable, index: Callable, host, config: Callable):
        self._client = client
        self._index = index
        self.host = host
        self._config = config

    def hooks_for(self, file) -> list:
        if file.type == "Config" and not file.primary:
            return [self._hook_host]
        if is_companion(file):  # a VAE: indexed, a .civitai.info, the checkpoint's "vae" key
            return [self._hook_index, self._hook_info_only, self._hook_vae_key, self._hook_host]
        return [self._hook_index, self._hook_sidecars, self._hook_vae_key, self._hook_preview, self._hook_host]

    def _forge(self) -> bool:
        return getattr(self.host, "layout", "") == "forge"

    # ------------------------------------------------------------------ the hooks
    def _hook_index(self, path, version, file, result) -> Optional[str]:
        """The index entry for the new file: linked, with Civitai's other hashes for these bytes."""
        from .library.index import LibraryEntry

        index = self._index()
        st = os.stat(path)
        real = os.path.realpath(path)
        previous = index.get(real)
        if previous is not None and previous.matches_stat(st) and previous.status == "linked":
            return None
        hashes = {str(k).upper(): str(v).upper() for k, v in (file.hashes or {}).items() if v}
        sha = (result.sha256 or hashes.get("SHA256") or "").upper() or None
        same_bytes = sha is not None and hashes.get("SHA256", sha) == sha
        entry = LibraryEntry.from_stat(
            real, st, sha256=sha,
            autov1=hashes.get("AUTOV1") if same_bytes else None,
            autov2=sha[:10] if sha else None,
            autov3=hashes.get("AUTOV3") if same_bytes else None,
            crc32=hashes.get("CRC32") if same_bytes else None,
            blake3=hashes.get("BLAKE3") if same_bytes else None,
            status="linked", model_id=version.model_id, version_id=version.id,
            model_name=version.model_name, version_name=version.name, model_type=version.model_type,
            base_model=version.base_model, trained_words=list(version.trained_words or ()),
            air=version.air, checked_at=time.time(),
            version_json=version.raw if isinstance(version.raw, dict) else None,
            unverified=bool(getattr(result, "unverified", False)),  # Civitai listed no hash to check
        )
        index.upsert(entry)
        # the folder it went to becomes one of the CLI's default roots (civkit mv/rm/organize)
        index.remember_roots(r for r in self.host.model_roots()
                             if real.startswith(os.path.realpath(str(r)).rstrip(os.sep) + os.sep))
        return None

    def _hook_sidecars(self, path, version, file, result) -> Optional[str]:
        if not self._config().write_sidecars:
            return None
        from .library.sidecars import merge_a1111_json, write_civitai_info

        warnings = []
        for outcome in (write_civitai_info(path, version), merge_a1111_json(path, version, forge=self._forge())):
            if getattr(outcome, "status", None) in ("error", "conflict"):
                warnings.append(str(getattr(outcome, "message", "") or outcome))
        return "; ".join(warnings) or None

    def _hook_preview(self, path, version, file, result) -> Optional[str]:
        config = self._config()
        if not config.write_sidecars:
            return None
        from .library.preview import save_preview

        save_preview(path, version, self._client().session, nsfw_allowed=config.nsfw_previews)
        return None

    def _hook_host(self, path, version, file, result) -> Optional[str]:
        self.host.after_download(Path(path))
        return None

    def _hook_info_only(self, path, version, file, result) -> Optional[str]:
        if not self._config().write_sidecars:
            return None
        from .library.sidecars import write_civitai_info

        outcome = write_civitai_info(path, version)
        return outcome.message if outcome.status in ("error", "conflict") else None

    def _hook_vae_key(self, path, version, file, result) -> Optional[str]:
        """Checkpoint and VAE of one version both on disk: the checkpoint's ``.json`` names the VAE."""
        from .folders import canonical_type

        if not self._config().write_sidecars or canonical_type(version.model_type) != "Checkpoint":
            return None
        index = self._index()
        if file.type == "VAE":
            return self.set_vae_key(version_files_on_disk(index, version, MODEL_FILE_TYPES), version, Path(path))
        if file.type in MODEL_FILE_TYPES:
            vaes = version_files_on_disk(index, version, ("VAE",))
            return self.set_vae_key([Path(path)], version, vaes[0]) if vaes else None
        return None

    def set_vae_key(self, checkpoints, version, vae_path: Path) -> Optional[str]:
        """Merge ``"vae": <file name>`` into each checkpoint's A1111 ``.json`` (a user's value stays)."""
        from .library.sidecars import merge_a1111_json

        warnings = []
        for checkpoint in checkpoints:
            outcome = merge_a1111_json(checkpoint, version, forge=self._forge(), vae=Path(vae_path).name)
            if outcome.status in ("error", "conflict"):
                warnings.append(outcome.message)
        return "; ".join(warnings) or None
