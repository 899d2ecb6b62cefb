"""Issue 13, CLI side: the API key off the command line (item 15)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from civkit.cli.main import build_parser, main

REPO = Path(__file__).resolve().parents[1]


def run_cli(args, stdin_text, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO), CIVKIT_HOME=str(tmp_path / "home"))
    for name in ("CIVITAI_API_KEY", "CIVITAI_TOKEN", "CIVKIT_API_BASE"):
        env.pop(name, None)
    return subprocess.run([sys.executable, "-m", "civkit.cli.main", *args], input=stdin_text, env=env,
                          capture_output=True, text=True, timeout=120, cwd=str(tmp_path))


def test_api_key_dash_reads_the_key_from_stdin(fake_civitai, tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    args = ["--api-base", fake_civitai.base_url, "--api-key", "-", "download", "103", "--models-dir", str(models)]
    done = run_cli(args, fake_civitai.api_key + "\n", tmp_path)  # 103 needs a key
    assert done.returncode == 0, done.stderr
    assert [p.name for p in models.rglob("*.safetensors")]
    assert fake_civitai.api_key not in done.stdout + done.stderr


def test_api_key_dash_with_nothing_on_stdin_is_a_usage_error(fake_civitai, tmp_path, capsys, monkeypatch):
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    code = main(["--api-base", fake_civitai.base_url, "--api-key", "-", "search", "anime"])
    assert code == 2
    err = capsys.readouterr().err
    assert "--api-key -" in err and "stdin" in err
    assert fake_civitai.count("/api/") == 0


def test_help_says_a_key_on_the_command_line_is_visible_to_others():
    text = " ".join(build_parser().format_help().split())
    assert "ps" in text and "visible" in text and "--api-key -" in text and "CIVITAI_API_KEY" in text


def test_readme_says_so_too():
    readme = " ".join((REPO / "README.md").read_text(encoding="utf-8").split())
    assert "--api-key -" in readme and "`ps`" in readme
