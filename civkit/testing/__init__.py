"""The Civitai emulator used by civkit's tests and benchmarks (see fake_civitai.py and catalog.py)."""

from .catalog import Catalog, build_bulk_catalog, build_demo_catalog
from .faults import Faults

__all__ = ["Catalog", "FakeCivitai", "Faults", "TEST_KEY", "build_bulk_catalog", "build_demo_catalog"]


def __getattr__(name):
    # Imported lazily so that `python -m civkit.testing.fake_civitai` does not load the module twice.
    if name in ("FakeCivitai", "TEST_KEY"):
        from . import fake_civitai

        return getattr(fake_civitai, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
