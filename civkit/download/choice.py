"""Which file of a Civitai version to download (CIVITAI_API.md §5.3, HOSTS.md §3).

The primary file by default. ``file_id`` picks one exactly; ``format``/``size``/``fp`` narrow the
choice. SafeTensor wins over PickleTensor. A file whose pickle or virus scan says ``Danger`` is
always refused; a PickleTensor file needs ``allow_unsafe``; ``Training Data`` archives only when asked.

``companion_file`` picks a checkpoint's companions (HOSTS.md §3 "Files inside a version"): its
recommended ``VAE`` and its ``Config`` yaml, which are downloaded only when asked for.
"""

from __future__ import annotations

from typing import Optional

from .errors import DownloadError, UnsafeFile

PICKLE_EXTENSIONS = (".ckpt", ".pt", ".pth", ".bin", ".pkl")
# companion kind -> Civitai's files[].type
COMPANION_TYPES = {"vae": "VAE", "config": "Config"}


def _describe(f) -> str:
    bits = [b for b in (f.format, f.size, f.fp) if b]
    flag = ", primary" if f.primary else ""
    return f"{f.id} {f.name} ({f.type}{', ' + ' '.join(bits) if bits else ''}{flag})"


def _listing(files) -> str:
    return "; ".join(_describe(f) for f in files) or "none"


def is_pickle(f) -> bool:
    """A pickle if EITHER Civitai's format or the file name's extension says so: a creator-set format
    (``SafeTensor``, ``Other``) never makes a ``.ckpt`` safe to load (issue 13 item 7)."""
    return ((f.format or "").strip().lower() == "pickletensor"
            or name_is_pickle(f.name))


def name_is_pickle(name: Optional[str]) -> bool:
    """By extension alone; used again on the name storage actually serves."""
    return (name or "").strip().rstrip(". ").lower().endswith(PICKLE_EXTENSIONS)


def _eq(a: Optional[str], b: Optional[str]) -> bool:
    return (a or "").lower() == (b or "").lower()


def check_safety(f, *, allow_unsafe: bool = False) -> None:
    """Raise UnsafeFile when a file must not be downloaded (with this permission)."""
    for scan, result in (("pickle", f.pickle_scan), ("virus", f.virus_scan)):
        if _eq(result, "Danger"):
            raise UnsafeFile(
                f"Refusing to download {f.name}: Civitai's {scan} scan of this file says Danger "
                f"(it may run harmful code when loaded). civkit never downloads such files."
            )
    if is_pickle(f) and not allow_unsafe:
        raise UnsafeFile(
            f"{f.name} is a PickleTensor (.ckpt/.pt) file, which can run code when it is loaded. "
            "Pick a SafeTensor file if the version has one, or pass --allow-unsafe (allow_unsafe=True) "
            "to download it anyway."
        )


def choose_file(
    version,
    *,
    file_id: Optional[int] = None,
    format: Optional[str] = None,
    size: Optional[str] = None,
    fp: Optional[str] = None,
    allow_unsafe: bool = False,
    include_training_data: bool = False,
):
    """The ModelFile to download from ``version``; raises DownloadError with a message for people."""
    files = list(version.files or ())
    label = f"version {version.id}" + (f" ({version.name})" if getattr(version, "name", None) else "")
    if not files:
        mode = (getattr(version, "model_mode", None) or "").lower()
        if mode == "archived":  # Civitai hides the files of archived models (the download answers 410)
            raise DownloadError("This model is archived on Civitai and can no longer be downloaded.")
        if mode == "takendown":
            raise DownloadError("This model was taken down on Civitai and can no longer be downloaded.")
        raise DownloadError(f"Civitai lists no files for {label}.")
    if file_id is not None:
        for f in files:
            if f.id == int(file_id):
                check_safety(f, allow_unsafe=allow_unsafe)
                return f
        raise DownloadError(f"{label} has no file with id {file_id}. Its files: {_listing(files)}.")

    candidates = [f for f in files if include_training_data or f.type != "Training Data"]
    if not candidates:
        raise DownloadError(f"{label} only has training data; pass --include-training-data to download it.")
    if format or size or fp:
        picked = [
            f for f in candidates
            if (not format or _eq(f.format, format)) and (not size or _eq(f.size, size)) and (not fp or _eq(f.fp, fp))
        ]
        if not picked:
            wanted = " ".join(f"{k}={v}" for k, v in (("format", format), ("size", size), ("fp", fp)) if v)
            hint = ""
            if any(f.type == "Training Data" for f in files) and not include_training_data:
                hint = " (Training Data archives are left out unless you pass --include-training-data)"
            raise DownloadError(f"{label} has no file with {wanted}{hint}. Its files: {_listing(candidates)}.")
        candidates = picked
        # The most "main" of the matches: primary first, then model files over extras, SafeTensor first.
        candidates.sort(key=lambda f: (not f.primary, f.type not in ("Model", "Pruned Model"), is_pickle(f)))
        chosen = candidates[0]
    else:
        chosen = next((f for f in candidates if f.primary), None)
        if chosen is None:
            chosen = next((f for f in candidates if f.type in ("Model", "Pruned Model")), candidates[0])
        if is_pickle(chosen):
            # Prefer a SafeTensor sibling of the same kind (same type, size and precision if given).
            safer = [
                f for f in candidates
                if not is_pickle(f) and f.type == chosen.type and _eq(f.size, chosen.size) and _eq(f.fp, chosen.fp)
            ] or [f for f in candidates if not is_pickle(f) and f.type == chosen.type]
            if safer:
                chosen = safer[0]
    check_safety(chosen, allow_unsafe=allow_unsafe)
    return chosen


def companion_file(version, kind: str, *, exclude=None):
    """The version's ``kind`` companion ("vae" or "config") as a ModelFile, or None when it has none.

    ``exclude`` is the file already chosen (a companion is never the main file again). For the
    VAE, the file ``vaeId`` names comes first (the emulator points it at the file; on Civitai a
    linked VAE's file is appended to ``files[]``), then SafeTensor before PickleTensor. Safety is
    checked by the caller with ``check_safety`` so the refusal names the file.
    """
    wanted = COMPANION_TYPES.get(kind)
    if wanted is None:
        raise ValueError(f"unknown companion {kind!r}; use one of: {', '.join(COMPANION_TYPES)}")
    skip = getattr(exclude, "id", exclude)
    files = [f for f in version.files or () if f.type == wanted and f.id != skip]
    if not files:
        return None
    raw = getattr(version, "raw", None)
    vae_id = raw.get("vaeId") if isinstance(raw, dict) else None
    files.sort(key=lambda f: (f.id != vae_id, is_pickle(f), not f.primary))
    return files[0]
