"""A checkpoint's companion files, for ``CivkitService`` downloads (HOSTS.md §3 "Files inside a version").

A checkpoint version's ``files[]`` may hold its recommended ``VAE`` and a ``Config`` yaml. They are
downloaded only when asked for (``start_download(..., with_vae=True, with_config=True)``), in the
same queue task, right after the main file, each verified and atomic like every download:

* the VAE goes to the host's VAE folder (never beside the checkpoint); once the checkpoint and a
  VAE of the same version are both on disk, the checkpoint's A1111 ``<base>.json`` gets
  ``"vae": "<vae file name>"`` (merged: a user's value stays). That holds in either order, also
  when one of them was downloaded alone with ``file_id``, because each download looks for the
  other in the library index. It is written on every layout where civkit writes the ``.json``
  (ComfyUI ignores the file; a models folder shared with a WebUI gets the right value);
* the Config on the WebUI layouts is saved as ``<checkpoint base>.yaml`` beside the checkpoint,
  which A1111/Forge read as that model's config; on ComfyUI/plain it keeps Civitai's name in the
  ``configs`` folder.

Companion files get no A1111 ``.json`` and no preview of their own (no host shows a card for
them); the VAE gets a ``.civitai.info`` and an index entry, the yaml neither (scans skip yamls).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

log = logging.getLogger(__name__)

COMPANIONS = ("vae", "config")
LABELS = {"vae": "VAE", "config": "config"}
MODEL_FILE_TYPES = ("Model", "Pruned Model")
WEBUI_LAYOUTS = ("a1111", "forge")
_FALSE = (None, False, 0, "", "0", "false", "False", "no", "off")


def wanted_companions(with_vae=False, with_config=False) -> tuple:
    """The companion kinds asked for (form values such as "false" count as no)."""
    return tuple(kind for kind, on in (("vae", with_vae), ("config", with_config)) if on not in _FALSE)


def is_companion(file) -> bool:
    """A VAE or Config file that rides along with a version's model (not a VAE model's own file)."""
    return file.type in ("VAE", "Config") and not file.primary


class CompanionsMixin:
    """Needs from the service: ``client``, ``index``, ``host``, ``config``, ``_target_folder``,
    ``error_message`` and the hooks of ``DownloadsMixin``."""

    # ------------------------------------------------------------------ where a file goes
    def _is_webui(self) -> bool:
        return getattr(self.host, "layout", "") in WEBUI_LAYOUTS

    def _placement(self, request, version, file, main_path: Optional[Path] = None):
        """``(folder, name or None)`` for ``file``; name None keeps Civitai's name.

        A Config on the WebUI layouts is named after its checkpoint and saved beside it: the one
        just downloaded, else one of this version already in the library. A VAE companion ignores
        the request's folder key (that names the checkpoint's folder)."""
        if file.type == "Config" and self._is_webui() and not request.folder_key:
            checkpoint = main_path or next(iter(self._version_files_on_disk(version, MODEL_FILE_TYPES)), None)
            if checkpoint is not None:
                suffix = Path(file.name or "").suffix.lower() or ".yaml"
                return Path(checkpoint).parent, Path(checkpoint).stem + suffix
        if main_path is not None:  # a companion: the host's folder for its file type
            return self._target_folder(request, version, file, folder_key=None), None
        return self._target_folder(request, version, file), None

    def _version_files_on_disk(self, version, types) -> list:
        """Files of ``version`` whose ``files[].type`` is in ``types`` that the index knows on disk."""
        found: list = []
        for f in version.files or ():
            if f.type not in types or not f.sha256:
                continue
            try:
                entries = self.index.by_sha256(f.sha256)
            except Exception as exc:  # the index is a cache: never let it break a download
                log.warning("library index lookup failed: %s", exc)
                return found
            for entry in entries:
                path = Path(entry.path)
                if path not in found and path.is_file():
                    found.append(path)
        return found

    def _hooks_for(self, file) -> list:
        if file.type == "Config" and not file.primary:
            return [self._hook_host]
        if is_companion(file):  # a VAE: indexed, a .civitai.info, the checkpoint's "vae" key
            return [self._hook_index, self._hook_info_only, self._hook_vae_key, self._hook_host]
        return [self._hook_index, self._hook_sidecars, self._hook_vae_key, self._hook_preview, self._hook_host]

    # ------------------------------------------------------------------ hooks
    def _hook_info_only(self, path, version, file, result) -> Optional[str]:
        if not self.config.write_sidecars:
            return None
        from .library.sidecars import write_civitai_info

        outcome = write_civitai_info(path, version)
        return outcome.message if outcome.status in ("error", "conflict") else None

    def _hook_vae_key(self, path, version, file, result) -> Optional[str]:
        """Checkpoint and VAE of one version both on disk: the checkpoint's ``.json`` names the VAE."""
        from .folders import canonical_type

        if not self.config.write_sidecars or canonical_type(version.model_type) != "Checkpoint":
            return None
        if file.type == "VAE":
            return self._set_vae_key(self._version_files_on_disk(version, MODEL_FILE_TYPES), version, Path(path))
        if file.type in MODEL_FILE_TYPES:
            vaes = self._version_files_on_disk(version, ("VAE",))
            return self._set_vae_key([Path(path)], version, vaes[0]) if vaes else None
        return None

    def _set_vae_key(self, checkpoints, version, vae_path: Path) -> Optional[str]:
        from .library.sidecars import merge_a1111_json

        warnings = []
        for checkpoint in checkpoints:
            outcome = merge_a1111_json(checkpoint, version, forge=getattr(self.host, "layout", "") == "forge",
                                       vae=Path(vae_path).name)
            if outcome.status in ("error", "conflict"):
                warnings.append(outcome.message)
        return "; ".join(warnings) or None

    # ------------------------------------------------------------------ the companion downloads
    def _download_companions(self, request, version, main_file, main, control, cancel, on_conflict) -> None:
        """Download the companions ``request`` asks for after ``main`` (a DownloadResult), adding
        them to ``main.companions``/``warnings``. A companion that fails fails the task, saying
        that the main file is saved (a retry skips it and resumes the companion)."""
        from .download import download_file
        from .download.choice import COMPANION_TYPES, check_safety, companion_file
        from .download.errors import Cancelled, DownloadError

        main_path = Path(main.path)
        # on_conflict=skip left someone else's file under the name: attach nothing to it
        ours = not main.skipped or main.sha256 is not None or not main_file.sha256
        all_skipped = main.skipped
        for kind in request.companions:
            label = LABELS[kind]
            if main_file.type == COMPANION_TYPES[kind]:
                continue  # the main file is that companion already (file_id=)
            file = companion_file(version, kind, exclude=main_file)
            if file is None:
                main.warnings.append(f"{version.model_name or 'This model'} {version.name or ''} lists no "
                                     f"{label} file; only {main_path.name} was downloaded.".replace("  ", " "))
                continue
            if kind == "config" and self._is_webui() and not ours:
                main.warnings.append(f"The {label} {file.name} was not saved: {main_path.name} is not this "
                                     "model's file (on_conflict=skip), so it cannot be named after it.")
                continue
            try:
                check_safety(file, allow_unsafe=bool(request.choices.get("allow_unsafe")))
                dest, name = self._placement(request, version, file, main_path=main_path)
                control.update(total=int(file.size_bytes) or None, message=f"{label}: {file.name}")
                result = download_file(self.client, version, file, dest, progress=control, cancel=cancel,
                                       on_conflict=on_conflict, index=self.index, hooks=self._hooks_for(file),
                                       name=name)
            except Cancelled:
                raise
            except Exception as exc:
                reason = exc.message if isinstance(getattr(exc, "message", None), str) else self.error_message(exc)
                raise DownloadError(f"{main_path.name} is saved in {main_path.parent}, but its {label} "
                                    f"{file.name} is not: {reason}", cause=exc) from exc
            all_skipped = all_skipped and result.skipped
            main.warnings.extend(f"{label}: {w}" for w in result.warnings)
            if kind == "config" and name and Path(result.path).name != name:
                main.warnings.append(f"The {label} was saved as {Path(result.path).name}; the WebUI only "
                                     f"reads {name} as this checkpoint's config.")
            if kind == "vae" and ours and self.config.write_sidecars and result.sha256 is not None:
                warning = self._set_vae_key([main_path], version, Path(result.path))
                if warning:
                    main.warnings.append(warning)
            main.companions.append({
                "kind": kind, "file_id": file.id, "name": file.name, "path": str(result.path),
                "state": "skipped" if result.skipped else "done", "sha256": result.sha256,
                "bytes": result.bytes, "message": result.message,
            })
        main.skipped = all_skipped
        if main.companions:  # the bar showed each companion in turn; the task's numbers are the model's
            control("verifying", main.bytes, main.bytes)
        if main.companions:  # UIs that know no "companions" still show what came along
            kinds = " and ".join(LABELS[c["kind"]] for c in main.companions)
            main.message = f"{main.message or ('already there' if main.skipped else 'done')} (with its {kinds})"
