"""``--replace``: once an update is verified, the old copies and their sidecars go to civkit's trash.

Never deleted: ``library.trash.trash_bundle`` moves the file and everything beside it into a
``.civkit-trash`` folder at its model root (or ``$CIVKIT_HOME/trash/``), from where
``civkit trash restore ID`` gives it back. A copy that cannot be moved stays, and the note says why.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)


def retire(old_paths, new_path, *, roots, home, index=None) -> list:
    """Move each old copy (never the new file itself) to the trash; returns one note per copy."""
    from ..library.trash import TrashError, trash_bundle

    notes = []
    new_real = os.path.realpath(str(new_path)) if new_path else None
    for old in old_paths or ():
        if not old or not os.path.isfile(old) or os.path.realpath(old) == new_real:
            continue
        name = Path(old).name
        try:
            item = trash_bundle(old, roots, home, index)
        except TrashError as exc:
            notes.append(f"kept {name}: {exc.message}")
            continue
        except OSError as exc:  # the new file is verified; keep the old one and say why
            log.warning("could not move %s to the trash", old, exc_info=True)
            notes.append(f"kept {name}: moving it to the trash failed ({exc.strerror or exc})")
            continue
        notes.append(f"moved the old {name} and its sidecars to civkit's trash "
                     f"(`civkit trash restore {item.id}` gives it back)")
    return notes
