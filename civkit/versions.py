"""From what a user pasted to the Civitai model or version it names (for details and downloads).

``VersionResolver`` turns any reference ``parse_ref`` accepts into records, with the two quirks
people hit: a bare number may be a model id or a version id, and an early-access or unlisted
version is missing from its model's version list.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from urllib.parse import urlsplit

from .service_errors import ServiceError


class VersionResolver:
    """``client()`` and ``config()`` return the current client and config (both change with the key)."""

    def __init__(self, client: Callable, config: Callable):
        self._client = client
        self._config = config

    def parse_ref(self, ref):
        from .refs import parse_ref

        if ref is None or not str(ref).strip():
            raise ServiceError("Paste a Civitai model link, an AIR (urn:air:...), 123@456 or a model id.")
        # URLs of the configured site (the emulator, a mirror) are accepted besides civitai.com.
        return parse_ref(str(ref).strip(), extra_hosts=(urlsplit(self._config().api_base).netloc,))

    def model(self, ref):
        """(Model, selected version id or None). A bare number is a model id first, then a version id."""
        from .api.errors import NotFound

        parsed = self.parse_ref(ref)
        client = self._client()
        version = None
        if parsed.model_id is not None:
            try:
                model = client.get_model(parsed.model_id)
            except NotFound:
                if not parsed.bare:
                    raise
                version = self._bare_version(parsed.model_id)  # "12345" may be a version id
                model = None
        else:
            version = client.get_version(parsed.version_id)
            model = None
        if model is None:
            if version.model_id is None:
                raise ServiceError(f"Civitai did not say which model version {version.id} belongs to.",
                                   http_status=502)
            model = client.get_model(version.model_id)
        selected = version.id if version is not None else parsed.version_id
        if selected is not None and all(v.id != selected for v in model.versions):
            # An early-access or unlisted version is missing from the model's list: add it, so the
            # version the user named is the one the details show.
            version = version or client.get_version(selected)
            model = replace(model, versions=(version, *model.versions))
        return model, selected

    def version(self, ref):
        """(ModelVersion, Ref) for a download: the version named, or the model's latest."""
        from .api.errors import NotFound

        parsed = self.parse_ref(ref)
        client = self._client()
        if parsed.version_id is not None:
            return client.get_version(parsed.version_id), parsed
        try:
            model = client.get_model(parsed.model_id)
        except NotFound:
            if not parsed.bare:
                raise
            return self._bare_version(parsed.model_id), parsed
        if not model.versions:
            raise ServiceError(f"{model.name} has no published version with files to download.",
                               http_status=404)
        # The model route lists versions newest first; fetch the version itself for complete data.
        return client.get_version(model.versions[0].id), parsed

    def _bare_version(self, number: int):
        """A bare number that is no model id, read as a version id (or one clear 404)."""
        from .api.errors import NotFound

        try:
            return self._client().get_version(number)
        except NotFound:
            raise ServiceError(f"Civitai has no model and no model version with id {number}.",
                               http_status=404) from None
