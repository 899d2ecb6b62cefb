"""The core's import rules (ARCHITECTURE.md "Which way the arrows run"), checked by importing it."""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import civkit

REPO = Path(__file__).resolve().parents[1]
HOST_MODULES = {"folder_paths", "server", "comfy", "nodes", "modules", "launch", "execution"}
UI_MODULES = {"gradio"}


def _core_modules():
    """Every module under civkit/ except the UI package (which may import gradio) and testing."""
    names = []
    for info in pkgutil.walk_packages(civkit.__path__, prefix="civkit."):
        if info.name.startswith(("civkit.ui", "civkit.testing")):
            continue
        names.append(info.name)
    return names


def test_core_imports_with_host_and_ui_modules_blocked():
    blocked = sorted(HOST_MODULES | UI_MODULES)
    code = f"""
import importlib, sys
class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {blocked!r}:
            raise ImportError('blocked host module ' + name)
        return None
sys.meta_path.insert(0, Blocker())
for name in {_core_modules()!r}:
    importlib.import_module(name)
print('imported', len({_core_modules()!r}))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert "imported" in result.stdout


def _top_level_imports(path: Path, *, inside_functions: bool = False):
    """Absolute imports executed at module import time (also those inside functions when asked)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in (ast.walk(tree) if inside_functions else tree.body):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name.split(".")[0], node.lineno
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.split(".")[0], node.lineno


def test_no_module_imports_gradio_or_hosts_outside_their_places():
    offenders = []
    for path in (REPO / "civkit").rglob("*.py"):
        rel = path.relative_to(REPO).as_posix()
        for top, line in _top_level_imports(path):
            if top in UI_MODULES and not rel.startswith("civkit/ui/"):
                offenders.append(f"{rel}:{line} imports {top}")
            if top in HOST_MODULES:
                offenders.append(f"{rel}:{line} imports host module {top} at import time")
    assert offenders == []


def test_core_uses_relative_imports_only():
    """ComfyUI loads the pack under a path-derived name, so `import civkit` would not find it."""
    offenders = []
    for path in (REPO / "civkit").rglob("*.py"):
        rel = path.relative_to(REPO).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "civkit":
                offenders.append(f"{rel}:{node.lineno}")
            if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "civkit" for a in node.names):
                offenders.append(f"{rel}:{node.lineno}")
    assert offenders == []


def test_library_code_has_no_print_calls():
    offenders = []
    for path in (REPO / "civkit").rglob("*.py"):
        rel = path.relative_to(REPO).as_posix()
        if rel.startswith(("civkit/cli/", "civkit/testing/fake_civitai.py")):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print":
                offenders.append(f"{rel}:{node.lineno}")
    assert offenders == []


def test_root_init_imports_without_comfyui():
    init, root = str(REPO / "__init__.py"), str(REPO)
    code = f"""
import importlib.util, sys
spec = importlib.util.spec_from_file_location('civkit_pack_root', {init!r}, submodule_search_locations=[{root!r}])
mod = importlib.util.module_from_spec(spec)
sys.modules['civkit_pack_root'] = mod
spec.loader.exec_module(mod)
print(type(mod.NODE_CLASS_MAPPINGS).__name__, mod.WEB_DIRECTORY)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["dict", "./javascript/comfyui"]


def test_only_ui_and_hosts_import_gradio_or_host_modules_even_inside_functions():
    offenders = []
    for path in (REPO / "civkit").rglob("*.py"):
        rel = path.relative_to(REPO).as_posix()
        if rel.startswith(("civkit/ui/", "civkit/hosts/")):
            continue
        for top, line in _top_level_imports(path, inside_functions=True):
            if top in UI_MODULES or top in HOST_MODULES:
                offenders.append(f"{rel}:{line} imports {top}")
    assert offenders == []


def test_no_mixin_classes():
    """Composition, not mixins: a class's behaviour is in one file (issue 9)."""
    offenders = []
    for folder in ("civkit", "nodes", "scripts"):
        for path in (REPO / folder).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.ClassDef):
                    bases = [getattr(b, "id", getattr(b, "attr", "")) for b in node.bases]
                    if node.name.endswith("Mixin") or any(str(b).endswith("Mixin") for b in bases):
                        offenders.append(f"{path.relative_to(REPO).as_posix()}:{node.lineno} {node.name}")
    assert offenders == []
