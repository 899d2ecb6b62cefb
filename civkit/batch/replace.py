"""``--replace``: once an update is verified, the old copies and their sidecars go to civkit's trash.

Never deleted. civkit's trash (``$CIVKIT_HOME/trash/`` or ``.civkit-trash`` at the model root,
``civkit trash``) is being built for the library-management issue (12). Until a trash module is
importable, ``retire`` keeps both files and says so: this is the one function to switch over.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

TRASH_MISSING = ("kept {name}: civkit's trash is not available in this version, so nothing was moved; "
                 "delete the old file yourself once you have checked the new one")


def _trash_function():
    """The trash's ``move_to_trash(path) -> new path``, or None while civkit has no trash."""
    try:
        from ..library import trash  # issue 12
    except ImportError:
        return None
    return getattr(trash, "move_to_trash", None)


def retire(old_paths, new_path) -> list:
    """Move each old copy (not the new file itself) to the trash; returns one note per copy."""
    notes = []
    move = _trash_function()
    new_real = os.path.realpath(str(new_path)) if new_path else None
    for old in old_paths or ():
        if not old or not os.path.isfile(old) or os.path.realpath(old) == new_real:
            continue
        name = Path(old).name
        if move is None:
            notes.append(TRASH_MISSING.format(name=name))
            continue
        try:
            where = move(old)
        except Exception as exc:  # noqa: BLE001 - the new file is verified; keep the old one and say why
            log.warning("could not move %s to the trash", old, exc_info=True)
            notes.append(f"kept {name}: moving it to the trash failed ({getattr(exc, 'message', None) or exc})")
            continue
        notes.append(f"moved the old {name} and its sidecars to civkit's trash ({where})")
    return notes
