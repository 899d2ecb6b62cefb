"""A model file and everything beside it that belongs to it, moved as one.

The sidecars are found by exact name, never by prefix (``foo.v2.json`` is not ``foo``'s):
``<base>`` + one of ``BASE_SUFFIXES`` (``.civitai.info``, the A1111 ``.json``, previews as
HOSTS.md §2.7/§4.7 lists them, the WebUI ``.yaml`` config, ``.sha256``, ``.metadata.json``,
``.cm-info.json``, descriptions ...) and ``<file>`` + ``.rgthree-info.json``. Example images are
not beside the file: they live in civkit's content-addressed cache, keyed by version
(``images.py``), so a move needs nothing there.

A sidecar named after the base that another model file in the same folder also has (``foo.ckpt``
beside ``foo.safetensors``) is shared: it stays where it is and the result says so.

Each file moves atomically: ``os.rename`` within a file system; across file systems (``EXDEV``)
a copy to a temporary name beside the target, hashed while written and read back to verify,
then renamed into place, and only then is the source removed. A failed copy leaves the source
untouched and no file under the final name.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from .preview import PREVIEW_EXTS
from .scan import MODEL_EXTENSIONS

_PREVIEWS = tuple(f".{e}" for e in PREVIEW_EXTS) + tuple(f".preview.{e}" for e in PREVIEW_EXTS)
BASE_SUFFIXES = (
    ".civitai.info", ".json", ".yaml", ".sha256", ".metadata.json", ".cm-info.json", ".cminfo.json",
    ".civitai.json", ".api_info.json", ".txt", ".description.txt", ".md",
) + _PREVIEWS
FILE_SUFFIXES = (".rgthree-info.json",)
PART_SUFFIX = ".civkit-move"
COPY_BLOCK = 4 * 1024 * 1024


class MoveError(OSError):
    """A file could not be moved; the source is where it was."""


@dataclass
class Bundle:
    """``path`` (a model file) and its sidecars: ``(path, suffix, of_base)`` for each one present."""

    path: Path
    sidecars: list = field(default_factory=list)   # [(Path, suffix, of_base: bool)]
    shared: list = field(default_factory=list)     # sidecars another model file also owns (stay put)

    @property
    def files(self) -> list:
        return [self.path, *(p for p, _, _ in self.sidecars)]

    def sidecar_names(self) -> list:
        return [p.name for p, _, _ in self.sidecars]

    def targets(self, new_path) -> list:
        """``[(old, new)]`` for the file and each sidecar when the file becomes ``new_path``."""
        new_path = Path(new_path)
        new_base = new_path.parent / _stem(new_path.name)
        pairs = [(self.path, new_path)]
        for old, suffix, of_base in self.sidecars:
            pairs.append((old, Path(str(new_base) + suffix) if of_base else Path(str(new_path) + suffix)))
        return pairs


def _stem(name: str) -> str:
    return os.path.splitext(name)[0] if os.path.splitext(name)[1] else name


def bundle_of(path) -> Bundle:
    """The bundle of the model file ``path`` (as it is on disk now)."""
    path = Path(path)
    base = str(path.parent / _stem(path.name))
    others = [base + ext for ext in MODEL_EXTENSIONS if base + ext != str(path) and os.path.isfile(base + ext)]
    bundle = Bundle(path)
    for suffix in BASE_SUFFIXES:
        candidate = Path(base + suffix)
        if candidate != path and candidate.is_file():
            if others:
                bundle.shared.append(candidate)
            else:
                bundle.sidecars.append((candidate, suffix, True))
    for suffix in FILE_SUFFIXES:
        candidate = Path(str(path) + suffix)
        if candidate.is_file():
            bundle.sidecars.append((candidate, suffix, False))
    return bundle


def with_extension(name: str, original: str) -> str:
    """``name`` keeping ``original``'s model extension unless ``name`` already ends with one."""
    if name.lower().endswith(MODEL_EXTENSIONS):
        return name
    return name + os.path.splitext(original)[1]


# ---------------------------------------------------------------------------- moving one file

def _rename(src: str, dst: str) -> None:
    """``os.rename``; a seam so tests can simulate another file system (EXDEV)."""
    os.rename(src, dst)


def _sha256_of(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(COPY_BLOCK), b""):
            h.update(block)
    return h.hexdigest()


def _copy_bytes(src: str, dst_fh) -> str:
    """Copy ``src`` into the open ``dst_fh``; the SHA-256 of what was read."""
    h = hashlib.sha256()
    with open(src, "rb") as fh:
        for block in iter(lambda: fh.read(COPY_BLOCK), b""):
            h.update(block)
            dst_fh.write(block)
    return h.hexdigest()


def copy_verified(src, dst, expected_sha256: Optional[str] = None) -> None:
    """Copy ``src`` to ``dst`` (which must not exist) through a temporary file, verified by SHA-256.

    The copy is read back and compared with the source's hash (and ``expected_sha256``, the
    index's, when known) before it gets its final name. The source is not touched.
    """
    src, dst = str(src), str(dst)
    tmp = dst + PART_SUFFIX
    try:
        with open(tmp, "xb") as out:
            source_hash = _copy_bytes(src, out)
            out.flush()
            os.fsync(out.fileno())
        shutil.copystat(src, tmp)
        copied = _sha256_of(tmp)
        if copied != source_hash or (expected_sha256 and expected_sha256.lower() != source_hash):
            raise MoveError(errno.EIO, f"the copy of {os.path.basename(src)} does not match the original "
                                       "(SHA-256 differs); the original is left where it was")
        if os.path.lexists(dst):
            raise MoveError(errno.EEXIST, f"{dst} appeared while copying; nothing was overwritten")
        os.replace(tmp, dst)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def move_file(src, dst, expected_sha256: Optional[str] = None) -> str:
    """Move one file without overwriting anything; ``"rename"`` or ``"copy"`` (across file systems)."""
    src, dst = str(src), str(dst)
    if os.path.lexists(dst):
        raise MoveError(errno.EEXIST, f"{dst} already exists; civkit never overwrites a file")
    try:
        _rename(src, dst)
        return "rename"
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
    copy_verified(src, dst, expected_sha256)
    os.unlink(src)
    return "copy"


@dataclass
class BundleMove:
    """What happened to one bundle: ``moved`` [(old, new)], ``failed`` [(old, message)]."""

    path: Path
    old_path: Path
    moved: list = field(default_factory=list)
    failed: list = field(default_factory=list)
    shared: list = field(default_factory=list)
    how: str = "rename"


def move_bundle(bundle: Bundle, new_path, index=None) -> BundleMove:
    """Move the file and its sidecars to ``new_path`` (checked by the caller: inside, free).

    The model file goes first; if it fails, nothing moved (MoveError/OSError raised). A sidecar
    that then fails is reported in ``failed`` and left where it was. The index entry follows the
    file without re-hashing.
    """
    new_path = Path(new_path)
    new_path.parent.mkdir(parents=True, exist_ok=True)
    expected = None
    if index is not None:
        entry = index.get(str(bundle.path))
        expected = entry.sha256 if entry is not None else None
    pairs = bundle.targets(new_path)
    result = BundleMove(path=new_path, old_path=bundle.path, shared=list(bundle.shared))
    old, new = pairs[0]
    result.how = move_file(old, new, expected)
    result.moved.append((old, new))
    if index is not None:
        index.move_entry(str(old), os.path.realpath(new), os.stat(new))
    for old, new in pairs[1:]:
        try:
            move_file(old, new)
            result.moved.append((old, new))
        except OSError as exc:
            result.failed.append((old, getattr(exc, "strerror", None) or str(exc)))
    return result
