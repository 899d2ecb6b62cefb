"""A fast start (issue 14): `civkit --help`, `civkit COMMAND --help` and argument errors import none of
the heavy parts. Checked with ``python -X importtime``, which lists every module a process imported;
no timing thresholds (benchmarks/bench_startup.py measures the time)."""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from civkit.cli.main import COMMANDS, build_parser

REPO = Path(__file__).resolve().parents[1]
# Top-level packages that must not load before a command needs them, and civkit's own heavy modules.
HEAVY = ("requests", "urllib3", "sqlite3", "_sqlite3", "gradio", "tqdm", "numpy", "safetensors", "platformdirs",
         "civkit.service", "civkit.api.client", "civkit.library.index", "civkit.download")
# What pip's console script for `civkit = "civkit.cli.main:entry"` runs.
CONSOLE_SCRIPT = "import sys; from civkit.cli.main import entry; sys.exit(entry())"


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    return env


# importtime logs the `import` statement's imports, not importlib.import_module's (the command
# modules, the lazy package names): the modules present at exit are listed too.
AT_EXIT = "import atexit, sys; atexit.register(lambda: print('MODULES', *sorted(sys.modules), file=sys.stderr)); "


def _imported(code: str, *args: str) -> tuple:
    """(modules the process imported, its exit code, stdout, stderr without the module lists)."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", AT_EXIT + code, *args], capture_output=True,
                          text=True, env=_env(), timeout=60, check=False)
    modules, other = set(), []
    for line in proc.stderr.splitlines():
        if line.startswith("import time:"):
            name = line.rsplit("|", 1)[1].strip()
            if name != "package":  # the header line
                modules.add(name)
        elif line.startswith("MODULES "):
            modules.update(line.split()[1:])
        else:
            other.append(line)
    assert "civkit" in modules or "civkit.cli.main" in modules, proc.stderr[-2000:]
    return modules, proc.returncode, proc.stdout, "\n".join(other)


def _heavy(modules: set) -> list:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


def test_importing_the_cli_imports_nothing_heavy():
    modules, code, _out, err = _imported("import civkit.cli.main")
    assert code == 0, err
    assert "civkit.cli.main" in modules
    assert _heavy(modules) == []
    assert not any(m.startswith("civkit.cli.") and m != "civkit.cli.main" for m in modules)  # no command module


def test_help_lists_every_command_without_importing_a_command_module():
    modules, code, out, err = _imported(CONSOLE_SCRIPT, "--help")
    assert code == 0, err
    assert _heavy(modules) == []
    assert not any(m.startswith("civkit.cli.") and m != "civkit.cli.main" for m in modules)
    text = " ".join(out.split())  # argparse wraps the help to the terminal's width
    for name, (_module, help_text) in COMMANDS.items():
        assert f"{name} {help_text}" in text


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_command_help_imports_only_its_own_module(command):
    modules, code, out, err = _imported(CONSOLE_SCRIPT, command, "--help")
    assert code == 0, err
    assert f"usage: civkit {command}" in out
    assert _heavy(modules) == []
    own = f"civkit.cli.{COMMANDS[command][0]}"
    assert own in modules
    command_modules = {f"civkit.cli.{m}" for m, _ in COMMANDS.values()}
    assert modules & command_modules == {own}  # helpers such as cli/batch.py may come along


@pytest.mark.parametrize("argv, message", [
    (["scan"], "the following arguments are required: DIR"),
    (["bogus"], "invalid choice: 'bogus'"),
    (["download", "123", "--on-conflict", "never"], "invalid choice: 'never'"),
    (["--api-key"], "expected one argument"),
])
def test_argument_errors_are_fast_and_clear(argv, message):
    modules, code, out, err = _imported(CONSOLE_SCRIPT, *argv)
    assert code == 2
    assert message in err and "Traceback" not in err
    assert _heavy(modules) == []


def test_no_command_prints_the_help_and_exits_2():
    modules, code, out, err = _imported(CONSOLE_SCRIPT, "--json")
    assert code == 2
    assert "usage: civkit" in out and "scan" in out
    assert _heavy(modules) == []


def test_the_process_entry_spares_the_exit_collection_and_main_leaves_the_collector_alone(tmp_path):
    """pip's script runs entry(), which freezes the collector after the command (the process ends
    next); main(), called in-process by hosts and tests, must not (their garbage still gets collected)."""
    script = (REPO / "pyproject.toml").read_text()
    assert 'civkit = "civkit.cli.main:entry"' in script
    before = gc.get_freeze_count()
    from civkit.cli.main import main

    assert main(["--json"]) == 2
    assert gc.get_freeze_count() == before
    model = tmp_path / "tiny.safetensors"
    model.write_bytes(b"x" * 1000)
    code = ("import gc, sys; from civkit.cli.main import entry; code = entry(); "
            "print('frozen', gc.get_freeze_count() > 0); sys.exit(code)")
    proc = subprocess.run([sys.executable, "-c", code, "--json", "hash", str(model)], capture_output=True, text=True,
                          env=dict(_env(), CIVKIT_HOME=str(tmp_path / "home")), timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.rstrip().endswith("frozen True")
    assert '"SHA256"' in proc.stdout  # the command's whole output came out before the exit


def test_the_table_and_the_command_modules_agree():
    """Each module registers exactly the commands COMMANDS gives it, with the same one-line help."""
    for module in dict.fromkeys(m for m, _ in COMMANDS.values()):
        parser = argparse.ArgumentParser(prog="civkit")
        sub = parser.add_subparsers(dest="command")
        importlib.import_module(f"civkit.cli.{module}").register(sub)
        registered = {a.dest: a.help for a in sub._choices_actions}
        expected = {name: help_text for name, (m, help_text) in COMMANDS.items() if m == module}
        assert registered == expected, module


def test_global_options_before_the_command_are_read_as_before():
    parser = build_parser("scan")
    args = parser.parse_args(["--api-base", "http://127.0.0.1:1", "--json", "scan", "somewhere"])
    assert (args.api_base, args.json, args.command, args.dirs) == ("http://127.0.0.1:1", True, "scan", ["somewhere"])
    # abbreviations of the global options still work, and a value that looks like a command is a value
    args = build_parser("hash").parse_args(["--api-k=scan", "hash", "f"])
    assert (args.api_key, args.command, args.files) == ("scan", "hash", ["f"])


def test_download_conflict_modes_match_the_download_module():
    from civkit.cli import download as cli_download
    from civkit.download import CONFLICT_MODES

    assert tuple(cli_download.CONFLICT_MODES) == tuple(CONFLICT_MODES)


def test_api_names_still_import_from_the_package():
    import civkit.api as api

    assert api.CivitaiClient.__name__ == "CivitaiClient"
    assert issubclass(api.NotFound, api.CivitaiError)
    assert set(api.__all__) <= set(dir(api))
    with pytest.raises(AttributeError):
        api.no_such_name  # noqa: B018


@pytest.mark.parametrize("argv", [
    ["--api-k", "scan", "hash", "--help"],          # an abbreviated option whose value is a command name
    ["--api-base=http://127.0.0.1:1", "hash", "--help"],
    ["-v", "--json", "hash", "--help"],
])
def test_the_command_is_found_behind_any_global_options(argv, capsys):
    from civkit.cli.main import main

    assert main(argv) == 0
    assert "usage: civkit hash" in capsys.readouterr().out


def test_a_scan_without_lookups_imports_no_network_code(tmp_path):
    """`civkit scan --no-lookup` never connects: requests, urllib3 and the client stay unloaded."""
    models = tmp_path / "models"
    models.mkdir()
    (models / "a.ckpt").write_bytes(b"weights")
    env_code = (f"import os; os.environ['CIVKIT_HOME'] = {str(tmp_path / 'home')!r}; "
                "[os.environ.pop(k, None) for k in ('CIVKIT_API_BASE', 'CIVITAI_API_KEY', 'CIVITAI_TOKEN')]; ")
    modules, code, out, err = _imported(env_code + CONSOLE_SCRIPT, "--json", "scan", "--no-lookup", str(models))
    assert code == 0, err
    assert '"status": "unknown"' in out
    network = ("requests", "urllib3", "civkit.api.client", "gradio", "tqdm", "civkit.service")
    assert sorted(m for m in modules if any(m == n or m.startswith(n + ".") for n in network)) == []
