"""install.py under A1111/Forge (a stand-in ``launch``) and as plain ``python install.py``."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
STANDINS = Path(__file__).resolve().parent / "a1111_standins"


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def install():
    return _load("civkit_install_under_test", REPO / "install.py")


@pytest.fixture
def launch():
    module = _load("launch", STANDINS / "launch.py")
    module.installed.clear()
    module.pip_calls.clear()
    module.args.skip_install = False
    return module


def _all_requirement_names(install) -> set:
    return {install.canonical(r.name) for r in install.read_requirements()}


def test_webui_installs_only_what_is_missing(install, launch):
    names = _all_requirement_names(install)
    assert {"requests", "tqdm", "platformdirs"} <= names
    launch.installed.update(names - {"tqdm"})
    done = install.install_in_webui(launch)
    assert done == ["tqdm>=4.60"]
    assert launch.pip_calls == [('install "tqdm>=4.60"', "civkit requirement: tqdm>=4.60")]


def test_webui_with_everything_present_calls_pip_never(install, launch):
    launch.installed.update(_all_requirement_names(install))
    assert install.install_in_webui(launch) == []
    assert launch.pip_calls == []


def test_webui_never_installs_host_pins_even_when_listed(install, launch, tmp_path):
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("torch>=2.0\ngradio==4.40.0\ntorchvision\npydantic<2\nrequests>=2.28\n# comment\n\n"
                    "nothing-here>=1; python_version < '3'\n")
    done = install.install_in_webui(launch, reqs)  # nothing is "installed" in the stand-in
    assert done == ["requests>=2.28"]
    commands = " ".join(c for c, _ in launch.pip_calls)
    for pinned in ("torch", "gradio", "pydantic"):
        assert pinned not in commands
    assert "nothing-here" not in commands  # its marker does not apply


def test_webui_skip_install_is_honoured(install, launch):
    launch.args.skip_install = True
    assert install.install_in_webui(launch) == []
    assert launch.pip_calls == []


def test_plain_present_host_pins_are_left_at_their_version(install, tmp_path):
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("requests>=999\npydantic>=999\n")  # pydantic is present: never moved
    todo = [install.pip_spec(r) for r in install.missing_plain(install.read_requirements(reqs))]
    assert todo == ["requests>=999"]


def test_plain_run_in_this_interpreter_exits_fast_when_all_present():
    result = subprocess.run([sys.executable, str(REPO / "install.py")], capture_output=True, text=True,
                            cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "all requirements are installed" in result.stdout


def _tiny_wheel(folder: Path) -> Path:
    """A real, dependency-free wheel on disk, so pip installs it without any index."""
    name, version = "civkit_probe", "1.0"
    files = {
        f"{name}/__init__.py": b"VALUE = 42\n",
        f"{name}-{version}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: civkit-probe\nVersion: {version}\n".encode(),
        f"{name}-{version}.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record_lines = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record_lines.append(f"{path},sha256={digest},{len(data)}")
    record_lines.append(f"{name}-{version}.dist-info/RECORD,,")
    files[f"{name}-{version}.dist-info/RECORD"] = ("\n".join(record_lines) + "\n").encode()
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, data in files.items():
            zf.writestr(path, data)
    return wheel


def test_plain_run_installs_a_missing_requirement_into_the_running_interpreter(tmp_path):
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = env_dir / "bin" / "python"
    pack = tmp_path / "pack"
    pack.mkdir()
    shutil.copy(REPO / "install.py", pack / "install.py")
    wheel = _tiny_wheel(tmp_path)
    (pack / "requirements.txt").write_text(f"civkit-probe @ {wheel.as_uri()}\n")

    first = subprocess.run([str(py), "install.py"], capture_output=True, text=True, cwd=pack, timeout=300)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "installing civkit-probe" in first.stdout
    probe = subprocess.run([str(py), "-c", "import civkit_probe; print(civkit_probe.VALUE)"],
                           capture_output=True, text=True)
    assert probe.stdout.strip() == "42"

    second = subprocess.run([str(py), "install.py"], capture_output=True, text=True, cwd=pack, timeout=120)
    assert second.returncode == 0
    assert "all requirements are installed" in second.stdout
