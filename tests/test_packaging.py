"""The package metadata the hosts read: pyproject dependencies and requirements.txt agree."""

from __future__ import annotations

import re
from pathlib import Path

import tomllib

REPO = Path(__file__).resolve().parents[1]


def _normalise(line: str) -> str:
    return re.sub(r"\s+", "", line.replace('"', "'"))


def test_pyproject_dependencies_match_requirements_txt():
    """ComfyUI-Manager and install.py read requirements.txt; pip reads pyproject (HOSTS.md §1.13)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    lines = [
        line.strip()
        for line in (REPO / "requirements.txt").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert sorted(map(_normalise, project["dependencies"])) == sorted(map(_normalise, lines))


def test_requirements_never_pin_host_packages():
    """A node pack or extension must not move the host's torch, gradio or pydantic."""
    text = (REPO / "requirements.txt").read_text(encoding="utf-8").lower()
    for name in ("torch", "gradio", "pydantic", "numpy", "fastapi"):
        assert not re.search(rf"^{name}\b", text, re.MULTILINE), name
