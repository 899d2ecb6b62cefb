"""``civkit ui``: the command's options and its message when it is not told where the models are."""

from __future__ import annotations

from civkit.cli.main import main


def test_ui_without_a_models_folder_says_what_to_do(capsys):
    assert main(["ui"]) == 2
    err = capsys.readouterr().err
    assert "civkit ui --models-dir DIR" in err and "civkit ui --demo" in err
    assert "Traceback" not in err


def test_ui_help_lists_the_options(capsys):
    assert main(["ui", "--help"]) == 0
    out = capsys.readouterr().out
    for option in ("--models-dir", "--layout", "--host", "--port", "--demo"):
        assert option in out
