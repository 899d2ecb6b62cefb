"""``civkit [global options] COMMAND ...``

Global options come before the command. Exit codes: 0 success, 1 a failure reaching Civitai or
doing the work, 2 bad input. Expected failures print one line to stderr, never a traceback.

Adding a command: one line in ``COMMANDS`` below (command name, the module of ``civkit/cli/`` that
registers it, the one-line help ``civkit --help`` shows). The module exposes ``register(subparsers)``,
which adds its commands' parsers (with the same help) and sets ``func=handler`` on them; a handler
takes ``(args, ctx)`` and returns an exit code. A module may register several commands (one line
each here); ``tests/test_cli_startup.py`` checks that the table and the modules agree.

Start-up stays fast because only the module of the command being run is imported (``civkit --help``
imports none), and command modules import the heavy parts (requests, sqlite3, the API client, the
service, tqdm) inside their handlers, never at module level, so ``civkit COMMAND --help`` and
argument errors stay fast too. The same test fails when one of them is imported at start-up.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import sys

from .. import __version__

# command: (module in civkit/cli/, one-line help), in the order of `civkit --help`.
COMMANDS = {
    "search": ("search", "search models on Civitai"),
    "show": ("search", "show a model, its versions and files"),
    "hash": ("files", "compute SHA256, AutoV1, AutoV2, AutoV3, CRC32 and BLAKE3 of local files"),
    "info": ("files", "show a safetensors file's header: tensors, dtypes, training metadata"),
    "scan": ("library", "index model folders and link the files to Civitai"),
    "triggers": ("library", "show a model file's trigger words"),
    "updates": ("library", "list (or download) newer versions of the linked models"),
    "duplicates": ("library", "list identical model files (same SHA256) in several places"),
    "mv": ("care", "move model files with their sidecars"),
    "rename": ("care", "rename a model file with its sidecars"),
    "rm": ("care", "move model files and their sidecars to civkit's trash"),
    "trash": ("care", "list, restore or empty civkit's trash"),
    "organize": ("care", "sort model files into subfolders by a template"),
    "link": ("care", "link a file to a Civitai version by hand"),
    "download": ("download", "download models from Civitai, verified, into the right folder"),
    "resources": ("resources", "list (and download) every model a workflow, image or Civitai image link needs"),
    "ui": ("ui", "open the civkit web UI (search, download, library)"),
}

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


def key_hint(config) -> str:
    """Where the API key goes, in the CLI's words (issue 13 item 16). ``config``: a ``Config``."""
    from ..config import CONFIG_FILE

    return ("set CIVITAI_API_KEY or pass --api-key - (the key is then read from stdin), or store it once as "
            f'"api_key" in civkit\'s owner-only config file {config.home / CONFIG_FILE} (the Settings tab of '
            "civkit ui writes it there)")


class UsageError(Exception):
    """Bad input from the user: exit code 2 with this message."""


class Context:
    """What every handler gets besides its arguments: the settings and the global output options."""

    def __init__(self, config, json: bool, verbose: bool):
        self.config = config
        self.json = json
        self.verbose = verbose

    def client(self):
        from ..api import CivitaiClient

        return CivitaiClient(self.config.api_base, self.config.api_key)


def _rest_of_command(parser) -> None:
    parser.add_argument("_rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``civkit`` parser. Only ``command``'s module is imported and registered (with its other
    commands); every other command is a placeholder that knows just its name and help."""
    parser = argparse.ArgumentParser(
        prog="civkit",
        description="Search Civitai, download verified models, and link your local model library.",
    )
    parser.add_argument("--version", action="version", version=f"civkit {__version__}")
    parser.add_argument("--api-base", metavar="URL", help="Civitai site (default https://civitai.com; env CIVKIT_API_BASE)")
    parser.add_argument("--api-key", metavar="KEY",
                        help="Civitai API key. A key typed here is visible to other users of this computer "
                             "(ps, /proc) and lands in your shell history: prefer the CIVITAI_API_KEY (or "
                             "CIVITAI_TOKEN) environment variable, or --api-key - to read it from stdin")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    real = COMMANDS[command][0] if command in COMMANDS else None
    registered = False
    for name, (module, help_text) in COMMANDS.items():
        if module != real:
            _rest_of_command(sub.add_parser(name, help=help_text, add_help=False))
        elif not registered:
            importlib.import_module(f".{module}", __package__).register(sub)
            registered = True
    return parser


def _key_from_stdin() -> str:
    """``--api-key -``: the first line of stdin (a prompt without echo when stdin is a terminal)."""
    if sys.stdin is None:
        raise ValueError("--api-key - reads the key from stdin, but there is no stdin.")
    if sys.stdin.isatty():
        import getpass

        key = getpass.getpass("Civitai API key: ")
    else:
        key = sys.stdin.readline()
    if not key.strip():
        raise ValueError("--api-key - reads the key from stdin, but stdin was empty: pipe the key in, "
                         "e.g. civkit --api-key - download 123 < keyfile")
    return key.strip()


def _guess_command(argv) -> str | None:
    """The command word in ``argv`` at a glance: the first word that is not an option or the value of
    ``--api-base``/``--api-key``. Only a guess of which module to import: ``main`` checks it against
    the real parse (an abbreviated option, say) and parses again if it was wrong."""
    values = iter(argv)
    for word in values:
        if word in ("--api-base", "--api-key"):
            next(values, None)
        elif not word.startswith("-"):
            return word
    return None


def main(argv: list | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        command = _guess_command(argv)
        parser = build_parser(command)
        found, _rest = parser.parse_known_args(argv)
        if found.command and COMMANDS[found.command][0] != COMMANDS.get(command, ("",))[0]:
            command = found.command  # the guess read an option's value as the command
            parser = build_parser(command)
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on bad usage, 0 on --help
        return int(exc.code or 0)
    except ImportError as exc:  # a broken install must not end in a traceback
        print(f"civkit: the {command} command cannot start: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_USAGE
    return _run(args)


def entry() -> int:
    """The ``civkit`` command as a process (the console script and ``python -m civkit.cli.main``).

    After the command, everything it imported and built is frozen out of the garbage collector: the
    interpreter's last collections at exit would otherwise walk it all for nothing (with requests
    loaded that is ~20 ms of every command, measured). Only here, never in ``main()``, which tests
    and hosts call in a process that goes on living. civkit closes its files and databases itself;
    the standard streams are flushed at exit as always."""
    code = main()
    gc.freeze()
    return code


def _run(args) -> int:
    import logging

    from ..config import load_config, redact

    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        api_key = _key_from_stdin() if args.api_key == "-" else args.api_key
        config = load_config(api_base=args.api_base, api_key=api_key)
    except ValueError as exc:
        print(f"civkit: {exc}", file=sys.stderr)
        return EXIT_USAGE
    ctx = Context(config=config, json=args.json, verbose=args.verbose)
    try:
        return int(args.func(args, ctx) or 0)
    except UsageError as exc:
        print(f"civkit: {redact(str(exc), config.api_key)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("civkit: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # expected failures carry a message for people
        from ..api.errors import CivitaiError

        if isinstance(exc, CivitaiError) or getattr(exc, "user_message", None) or isinstance(exc, OSError):
            from ..service_errors import error_message

            text = error_message(exc, config.api_key, key_hint(config))  # a 401 says where the key goes
            print(f"civkit: {text}", file=sys.stderr)
            return EXIT_FAILURE
        raise


if __name__ == "__main__":  # pragma: no cover
    # Under ``python -m civkit.cli.main`` this file runs as ``__main__``, while command modules import
    # ``.main`` (a second copy, with its own UsageError). Run that copy so the except clauses match.
    sys.exit(importlib.import_module(__spec__.name if __spec__ else "civkit.cli.main").entry())
