"""Install civkit's missing requirements, and nothing else.

Two ways this runs:

* **A1111 / Forge** run it as a separate process on every launch (unless ``--skip-install``),
  with the WebUI root on ``PYTHONPATH``: then ``launch.is_installed`` decides what is missing and
  ``launch.run_pip`` installs only that. Nothing is installed when all is present, so a launch
  costs no pip call.
* **By hand or by ComfyUI-Manager**: ``python install.py`` installs the missing lines of
  requirements.txt into the running interpreter and exits at once when all are satisfied.

Never upgrades or downgrades torch, gradio or other packages a host pins: those names are never
passed to pip, and an installed package is left alone in the WebUI whatever its version.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REQUIREMENTS = HERE / "requirements.txt"

# Packages a host owns. civkit never asks pip for them, whatever requirements.txt says.
HOST_PINNED = frozenset({
    "torch", "torchvision", "torchaudio", "xformers", "gradio", "gradio-client", "fastapi", "pydantic",
    "pydantic-core", "starlette", "numpy", "pillow", "transformers", "safetensors", "accelerate",
    "protobuf", "httpx", "uvicorn",
})


def _packaging():
    try:
        from packaging.requirements import Requirement
    except ImportError:  # pip always vendors it
        from pip._vendor.packaging.requirements import Requirement
    return Requirement


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_requirements(path: Path = REQUIREMENTS) -> list:
    """The requirements that apply to this interpreter (markers evaluated)."""
    requirement = _packaging()
    reqs = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        req = requirement(line)
        if req.marker is None or req.marker.evaluate():
            reqs.append(req)
    return reqs


def pip_spec(req) -> str:
    """``name>=x`` (or ``name @ url``) without the marker, which was already evaluated."""
    if req.url:
        return f"{req.name} @ {req.url}"
    return f"{req.name}{req.specifier}"


def missing_in_host(reqs, is_installed) -> list:
    """WebUI: what ``launch.is_installed`` says is absent; present packages are never touched."""
    return [r for r in reqs if canonical(r.name) not in HOST_PINNED and not is_installed(r.name)]


def missing_plain(reqs) -> list:
    """Plain Python: absent, or installed at a version the requirement does not accept
    (except host-pinned packages, which are only ever installed when absent)."""
    out = []
    for req in reqs:
        try:
            version = importlib.metadata.version(req.name)
        except importlib.metadata.PackageNotFoundError:
            out.append(req)
            continue
        if canonical(req.name) in HOST_PINNED:
            continue  # present: whatever version the host chose stays
        if req.specifier and not req.specifier.contains(version, prereleases=True):
            out.append(req)
    return out


def skip_install(launch_module) -> bool:
    args = getattr(launch_module, "args", None)
    return bool(getattr(args, "skip_install", False)) or "--skip-install" in sys.argv or (
        "--skip-install" in os.environ.get("COMMANDLINE_ARGS", "").split())


def install_in_webui(launch_module, requirements: Path = REQUIREMENTS) -> list:
    """Install what the WebUI lacks through ``launch.run_pip``; returns the specs installed."""
    if skip_install(launch_module):
        return []
    todo = missing_in_host(read_requirements(requirements), launch_module.is_installed)
    for req in todo:
        spec = pip_spec(req)
        # run_pip builds a shell command line, so the spec (with its > or <) is quoted.
        launch_module.run_pip(f'install "{spec}"', f"civkit requirement: {spec}")
    return [pip_spec(r) for r in todo]


def install_plain(requirements: Path = REQUIREMENTS) -> int:
    todo = missing_plain(read_requirements(requirements))
    if not todo:
        print("civkit: all requirements are installed.")
        return 0
    specs = [pip_spec(r) for r in todo]
    print(f"civkit: installing {', '.join(specs)}")
    return subprocess.call([sys.executable, "-m", "pip", "install", *specs])


def main() -> int:
    try:
        import launch
    except ImportError:
        return install_plain()
    install_in_webui(launch)
    return 0


if __name__ == "__main__":
    sys.exit(main())
