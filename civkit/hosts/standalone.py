"""No host application: a models folder given on the command line (or in settings)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from .. import folders
from .base import HostAdapter

# ``civkit ui``: its own Settings tab (there is no "Settings → civkit" outside the WebUI).
UI_KEY_HINT = ("open the Settings tab of this civkit page, paste it into “API key” and press “Save key” "
               "(or start civkit ui with CIVITAI_API_KEY set)")


class StandaloneHost(HostAdapter):
    """``StandaloneHost(models_dir, layout=None)``: the layout is guessed from the folder when None.

    ``target`` (the CLI's ``--to DIR``) sends every download to that exact folder, whatever its type.
    ``key_hint`` says where the API key goes in the face that built it (the CLI's words, or
    ``UI_KEY_HINT`` for ``civkit ui``).
    """

    name = "standalone"

    def __init__(self, models_dir, layout: Optional[str] = None, *, subfolder_template: str = "",
                 target=None, key_hint: Optional[str] = None):
        # A host ROOT (ComfyUI's or the WebUI's folder) means its models/ folder; ``layout_note`` says
        # which layout was assumed, for the CLI to print (issue 13 item 19).
        models_dir, layout, self.layout_note = folders.resolve_models_dir(Path(models_dir).expanduser(), layout)
        super().__init__(models_dir, layout, subfolder_template=subfolder_template)
        self.target = Path(target).expanduser() if target is not None else None
        if key_hint:
            self.key_hint = key_hint

    def folder_for(self, model_type, file_type=None) -> Path:
        if self.target is not None:
            return self.target
        return super().folder_for(model_type, file_type)

    def model_roots(self) -> list:
        roots = super().model_roots()
        if self.target is not None and self.target not in roots:
            roots.append(self.target)
        return roots
