"""What a workflow, an image, a Civitai image link or a parameters block needs (issue 10).

parse (pure: ``imagemeta``, ``a1111``, ``comfy``, ``sources``) → resolve (``local``, ``resolve``:
index, host folders, Civitai) → fetch (``part.Resources``, through the one download queue).
"""

from .needs import KINDS, Need, dedupe
from .part import Resources, summary
from .resolve import STATUSES, Resolution, Resolver
from .sources import SourceError, SourceResult, image_id_from_link, read_source

__all__ = ["KINDS", "STATUSES", "Need", "Resolution", "Resolver", "Resources", "SourceError", "SourceResult",
           "dedupe", "image_id_from_link", "read_source", "summary"]
