"""Run the gradio build-and-handler tests under the gradio versions the hosts ship.

    python tests/gradio_matrix.py            # make missing venvs, then run tests/test_ui_build.py in each
    python tests/gradio_matrix.py --setup    # only make (or check) the venvs
    python tests/gradio_matrix.py --only gradio3

The current gradio (whatever the main environment has) is tested by the normal pytest run;
this script adds the two pinned host stacks:

* ``.venvs/gradio3`` — A1111 1.10: gradio 3.41.2 with pydantic 1.10 and fastapi 0.94;
* ``.venvs/gradio4`` — Forge f2: gradio 4.40.0 with pydantic 2.8.

A venv is reused while its stamp file matches the pins below, so a second run only runs the
tests. pip's own cache makes a rebuild cheap. Exit code: 0 when every stack passed.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VENVS = REPO / ".venvs"

# Pins chosen to match what the hosts install, and to import on Python 3.11 from PyPI.
# huggingface_hub 1.x and httpx 0.28 removed names these old gradio releases import.
STACKS = {
    "gradio3": [
        "gradio==3.41.2",
        "gradio_client==0.5.0",
        "fastapi==0.94.0",
        "pydantic==1.10.15",
        "starlette==0.26.1",
        "httpx==0.24.1",
        "huggingface_hub==0.24.7",
        "numpy==1.26.4",
        "pillow==9.5.0",
        "pandas==2.2.3",
        "matplotlib==3.8.4",
        "altair==5.4.1",
        "websockets==11.0.3",
        "uvicorn==0.30.6",
    ],
    "gradio4": [
        "gradio==4.40.0",
        "gradio_client==1.2.0",
        "pydantic==2.8.2",
        "fastapi==0.112.4",
        "httpx==0.27.2",
        "huggingface_hub==0.24.7",
        "numpy==1.26.4",
        "pillow==10.4.0",
        "pandas==2.2.3",
        "matplotlib==3.8.4",
        "uvicorn==0.30.6",
    ],
}
TEST_DEPS = ["pytest>=8", "pytest-timeout>=2.2"]
TESTS = ["tests/test_ui_build.py", "tests/test_a1111_tab.py"]


def _stamp(pins: list[str]) -> str:
    return hashlib.sha256("\n".join(pins + TEST_DEPS).encode()).hexdigest()[:16]


def _python(env_dir: Path) -> Path:
    return env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _run(cmd: list, **kw) -> int:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    return subprocess.call([str(c) for c in cmd], **kw)


def ensure_venv(name: str) -> Path:
    """Create ``.venvs/<name>`` with its pins and civkit (editable) unless it is already current."""
    pins = STACKS[name]
    env_dir = VENVS / name
    stamp_file = env_dir / "civkit-stamp.txt"
    py = _python(env_dir)
    if py.exists() and stamp_file.exists() and stamp_file.read_text().strip() == _stamp(pins):
        # civkit is installed editable, so code changes need no reinstall.
        return py
    print(f"== building {env_dir} ({pins[0]})", flush=True)
    venv.EnvBuilder(with_pip=True, clear=py.exists()).create(env_dir)
    pip = [py, "-m", "pip", "install", "--disable-pip-version-check", "--prefer-binary"]
    if _run(pip + pins + TEST_DEPS) != 0:
        raise SystemExit(f"could not install the {name} stack into {env_dir}")
    # civkit itself: its runtime dependencies, without letting them move the pins above.
    constraints = env_dir / "pins.txt"
    constraints.write_text("\n".join(pins) + "\n")
    if _run(pip + ["-c", constraints, "-e", REPO]) != 0:
        raise SystemExit(f"could not install civkit into {env_dir}")
    check = "import gradio, civkit; print('gradio', gradio.__version__)"
    if _run([py, "-c", check]) != 0:
        raise SystemExit(f"gradio does not import in {env_dir}")
    stamp_file.write_text(_stamp(pins) + "\n")
    return py


def run_tests(name: str, py: Path, extra: list[str]) -> int:
    print(f"== {name}: pytest {' '.join(TESTS)}", flush=True)
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    return _run([py, "-m", "pytest", "-q", "-p", "no:cacheprovider", *TESTS, *extra], cwd=REPO, env=env)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setup", action="store_true", help="only create the venvs")
    parser.add_argument("--only", choices=sorted(STACKS), action="append", help="one stack (repeatable)")
    args, extra = parser.parse_known_args(argv)
    names = args.only or list(STACKS)
    failed = []
    for name in names:
        py = ensure_venv(name)
        if not args.setup and run_tests(name, py, extra) != 0:
            failed.append(name)
    if failed:
        print(f"gradio matrix FAILED on: {', '.join(failed)}", flush=True)
        return 1
    print(f"gradio matrix ok: {', '.join(names)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
