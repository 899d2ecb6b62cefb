"""The Civitai emulator used by civkit's tests and benchmarks (see fake_civitai.py and catalog.py)."""

from .catalog import Catalog, build_bulk_catalog, build_demo_catalog
from .fake_civitai import TEST_KEY, FakeCivitai
from .faults import Faults

__all__ = ["Catalog", "FakeCivitai", "Faults", "TEST_KEY", "build_bulk_catalog", "build_demo_catalog"]
