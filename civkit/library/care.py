"""Looking after the library: move, rename, delete to the trash, organise — one bundle at a time.

``Caretaker(index, roots, home)`` is used by the CLI (roots: ``--models-dir`` or the ones the
index knows) and by the service's ``LibraryCare`` (roots: the host's model folders). Every
source and destination must be inside one of the roots; a plan that would leave them or overwrite
a file is refused as a whole (``CareRefused``) before anything moves.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from ..name_bytes import MAX_NAME_BYTES, NAME_MAX
from ..paths import deepest_root
from .bundle import MODEL_EXTENSIONS, bundle_of, move_bundle, with_extension
from .trash import trash_bundle


class CareRefused(Exception):
    """Bad input or a plan civkit will not carry out (exit 2, HTTP 400/403); nothing was moved."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message = self.user_message = message
        self.status = status


@dataclass
class CareResult:
    """One file's outcome; ``status``: moved, renamed, trashed, planned, unchanged, failed."""

    path: str
    old_path: str
    status: str
    message: str = ""
    sidecars: list = field(default_factory=list)
    trash_id: Optional[str] = None

    def to_json(self) -> dict:
        data = {"path": self.path, "old_path": self.old_path, "status": self.status, "message": self.message,
                "sidecars": list(self.sidecars)}
        if self.trash_id:
            data["trash_id"] = self.trash_id
        return data


def check_name(name: str) -> str:
    """A plain file name: no folders, no ``..``, no hidden or control characters."""
    text = str(name or "").strip()
    if not text:
        raise CareRefused("Give a new name.")
    if "/" in text or "\\" in text or text in (".", "..") or text.startswith("."):
        raise CareRefused(f"{name!r} is not a plain file name (no folders, no leading dot); "
                          "use `civkit mv` to move a file to another folder.")
    if any(ord(c) < 32 or c in '<>:"|?*\x7f' for c in text) or len(text.encode("utf-8")) > NAME_MAX:
        raise CareRefused(f"{name!r} is not a usable file name (control or reserved characters, or too long).")
    return text


def check_fits(name: str) -> str:
    """A model's new name, extension included, leaves room for its sidecars and civkit's temp names
    (``name_bytes.MAX_NAME_BYTES``, issue 13 item 8); a user's name is refused, never cut."""
    size = len(name.encode("utf-8"))
    if size > MAX_NAME_BYTES:
        raise CareRefused(f"The name {name!r} is too long ({size} bytes with its extension): civkit keeps model "
                          f"names to at most {MAX_NAME_BYTES} bytes so their sidecars fit beside them.")
    return name


class Caretaker:
    def __init__(self, index, roots, home):
        self.index = index
        self.roots = [os.path.realpath(str(r)) for r in roots]
        self.home = Path(home)
        if not self.roots:
            raise CareRefused("No model folders known: give --models-dir DIR, or scan your folders first "
                              "(civkit scan DIR).")

    # ------------------------------------------------------------------ checks
    def root_of(self, path: str) -> Optional[str]:
        return deepest_root(path, self.roots)

    def source(self, path) -> str:
        """The real path of a model file inside the roots, or CareRefused."""
        text = str(path)
        if "\x00" in text:
            raise CareRefused("A path cannot contain a NUL character.")
        real = os.path.realpath(os.path.abspath(text))
        if self.root_of(real) is None:
            raise CareRefused(f"{path} is outside the model folders ({', '.join(self.roots)}); civkit leaves it alone.",
                              status=403)
        if not os.path.isfile(real):
            raise CareRefused(f"{path} is not a file" + (" (it is a folder)" if os.path.isdir(real) else ""), status=404)
        if not real.lower().endswith(MODEL_EXTENSIONS):
            raise CareRefused(f"{path} is not a model file ({', '.join(MODEL_EXTENSIONS)}); move sidecars "
                              "together with their model.")
        return real

    def destination(self, path) -> str:
        """The real form of a new path (its folder may not exist yet), which must stay inside a root."""
        absolute = os.path.abspath(str(path))
        parent, name = os.path.split(absolute)
        real = os.path.join(os.path.realpath(parent), name)
        if self.root_of(real) is None or self.root_of(real) == real:
            raise CareRefused(f"{path} is outside the model folders ({', '.join(self.roots)}); nothing was moved.",
                              status=403)
        return real

    def _check_plan(self, plan: list) -> list:
        """``[(source, new path)]`` checked as a whole: inside, no overwrite, no two onto one name."""
        claimed: dict = {}
        for source, new in plan:
            bundle = bundle_of(source)
            for old, target in bundle.targets(new):
                target = str(target)
                if target == str(old):
                    continue
                if self.root_of(target) is None:
                    raise CareRefused(f"{target} would be outside the model folders; nothing was moved.", status=403)
                if os.path.lexists(target) or target in claimed:
                    raise CareRefused(f"{target} already exists; civkit never overwrites a file, so nothing was "
                                      "moved (rename or remove that file first).")
                claimed[target] = old
        return plan

    # ------------------------------------------------------------------ operations
    def plan_move(self, sources, dest) -> list:
        sources = [self.source(s) for s in sources]
        if not sources:
            raise CareRefused("Give at least one model file to move.")
        dest_text = str(dest)
        into_folder = os.path.isdir(dest_text) or dest_text.endswith(("/", os.sep)) or len(sources) > 1
        if into_folder:
            folder = os.path.realpath(os.path.abspath(dest_text))
            if self.root_of(folder) is None:
                raise CareRefused(f"{dest} is outside the model folders ({', '.join(self.roots)}); "
                                  "nothing was moved.", status=403)
            if os.path.exists(folder) and not os.path.isdir(folder):
                raise CareRefused(f"{dest} is a file, not a folder; nothing was moved.")
            plan = [(s, os.path.join(folder, os.path.basename(s))) for s in sources]
        else:
            parent, name = os.path.split(os.path.abspath(dest_text))
            check_name(name)
            plan = [(sources[0], self.destination(os.path.join(parent, check_fits(with_extension(name, sources[0])))))]
        return self._check_plan([(s, n) for s, n in plan])

    def plan_rename(self, source, new_name) -> list:
        real = self.source(source)
        name = check_fits(with_extension(check_name(new_name), real))
        return self._check_plan([(real, os.path.join(os.path.dirname(real), name))])

    def carry_out(self, plan: list, status: str = "moved", dry_run: bool = False) -> list:
        """Move each planned bundle; one result per file (later files still go if one fails)."""
        results = []
        for source, new in plan:
            bundle = bundle_of(source)
            names = bundle.sidecar_names()
            if os.path.realpath(new) == source:
                results.append(CareResult(new, source, "unchanged", "already there", names))
                continue
            if dry_run:
                results.append(CareResult(new, source, "planned", "would move" + _with(names), names))
                continue
            try:
                moved = move_bundle(bundle, new, self.index)
            except OSError as exc:
                results.append(CareResult(source, source, "failed", f"not moved: {exc.strerror or exc}", names))
                continue
            message = ("moved" if status == "moved" else "renamed") + _with(names)
            if moved.how == "copy":
                message += " (copied to the other disk, verified, original removed)"
            if moved.failed:
                message += "; left behind: " + ", ".join(f"{Path(p).name} ({m})" for p, m in moved.failed)
            if moved.shared:
                message += "; shared with another model file, left in place: " + ", ".join(p.name for p in moved.shared)
            results.append(CareResult(str(new), source, status, message, names))
        return results

    def move(self, sources, dest, dry_run: bool = False) -> list:
        return self.carry_out(self.plan_move(sources, dest), "moved", dry_run)

    def rename(self, source, new_name, dry_run: bool = False) -> list:
        return self.carry_out(self.plan_rename(source, new_name), "renamed", dry_run)

    def remove(self, sources) -> list:
        """Move each file and its sidecars to the trash."""
        reals = [self.source(s) for s in sources]
        results = []
        for real in reals:
            names = bundle_of(real).sidecar_names()
            try:
                item = trash_bundle(real, self.roots, self.home, self.index)
            except Exception as exc:  # noqa: BLE001 - TrashError or OSError: report, go on with the rest
                results.append(CareResult(real, real, "failed", getattr(exc, "message", None) or str(exc), names))
                continue
            results.append(CareResult(os.path.join(item.folder, item.files[0]["stored"]), real, "trashed",
                                      f"moved to the trash as {item.id}" + _with(names), names, trash_id=item.id))
        return results


def _with(names: list) -> str:
    return f" with {', '.join(names)}" if names else ""
