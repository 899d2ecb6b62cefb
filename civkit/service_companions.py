"""A checkpoint's companion files, for the service's downloads (HOSTS.md §3 "Files inside a version").

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
from collections.abc import Callable
from pathlib import Path

from .service_errors import error_message
from .service_hooks import is_companion

log = logging.getLogger(__name__)

__all__ = ["COMPANIONS", "Companions", "is_companion", "wanted_companions"]

COMPANIONS = ("vae", "config")
LABELS = {"vae": "VAE", "config": "config"}
_FALSE = (None, False, 0, "", "0", "false", "False", "no", "off")


def wanted_companions(with_vae=False, with_config=False) -> tuple:
    """The companion kinds asked for (form values such as "false" count as no)."""
    return tuple(kind for kind, on in (("vae", with_vae), ("config", with_config)) if on not in _FALSE)


class Companions:
    """Downloads a version's VAE / config after its checkpoint, in the checkpoint's queue task.

    ``placement`` (a ``Placement``) says where each goes, ``after`` (an ``AfterDownload``) gives
    their hooks and writes the checkpoint's ``vae`` key; ``client()``, ``index()``, ``config()``
    return the service's current parts."""

    def __init__(self, client: Callable, index: Callable, config: Callable, placement, after):
        self._client = client
        self._index = index
        self._config = config
        self.placement = placement
        self.after = after

    def download(self, request, version, main_file, main, control, cancel, on_conflict) -> None:
        """Download the companions ``request`` asks for after ``main`` (a DownloadResult), adding
        them to ``main.companions``/``warnings``. A companion that fails fails the task, saying
        that the main file is saved (a retry skips it and resumes the companion)."""
        from .download import download_file
        from .download.choice import COMPANION_TYPES, check_safety, companion_file
        from .download.errors import Cancelled, DownloadError

        config = self._config()
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
            if kind == "config" and self.placement.is_webui() and not ours:
                main.warnings.append(f"The {label} {file.name} was not saved: {main_path.name} is not this "
                                     "model's file (on_conflict=skip), so it cannot be named after it.")
                continue
            try:
                check_safety(file, allow_unsafe=bool(request.choices.get("allow_unsafe")))
                dest, name = self.placement.place(request, version, file, main_path=main_path)
                control.update(total=int(file.size_bytes) or None, message=f"{label}: {file.name}")
                result = download_file(self._client(), version, file, dest, progress=control, cancel=cancel,
                                       on_conflict=on_conflict, index=self._index,
                                       hooks=self.after.hooks_for(file), name=name,
                                       connections=config.connections)
            except Cancelled:
                raise
            except Exception as exc:
                reason = error_message(exc, config.api_key, getattr(self.placement.host, "key_hint", None))
                raise DownloadError(f"{main_path.name} is saved in {main_path.parent}, but its {label} "
                                    f"{file.name} is not: {reason}", cause=exc) from exc
            all_skipped = all_skipped and result.skipped
            main.warnings.extend(f"{label}: {w}" for w in result.warnings)
            if kind == "config" and name and Path(result.path).name != name:
                main.warnings.append(f"The {label} was saved as {Path(result.path).name}; the WebUI only "
                                     f"reads {name} as this checkpoint's config.")
            if kind == "vae" and ours and config.write_sidecars and result.sha256 is not None:
                warning = self.after.set_vae_key([main_path], version, Path(result.path))
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
