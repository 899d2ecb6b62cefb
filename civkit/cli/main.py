"""``civkit [global options] COMMAND ...``

Global options come before the command. Exit codes: 0 success, 1 a failure reaching Civitai or
doing the work, 2 bad input. Expected failures print one line to stderr, never a traceback.

Each command module exposes ``register(subparsers)``, which adds its parsers and sets
``func=handler`` on them; a handler takes ``(args, ctx)`` and returns an exit code.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from dataclasses import dataclass
from typing import Optional

from .. import __version__
from ..config import CONFIG_FILE, Config, load_config, redact

# Command modules, in the order their commands appear in --help.
COMMAND_MODULES = ("search", "files", "library", "care", "download", "resources", "ui")

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


def key_hint(config: Config) -> str:
    """Where the API key goes, in the CLI's words (issue 13 item 16)."""
    return ("set CIVITAI_API_KEY or pass --api-key - (the key is then read from stdin), or store it once as "
            f'"api_key" in civkit\'s owner-only config file {config.home / CONFIG_FILE} (the Settings tab of '
            "civkit ui writes it there)")


class UsageError(Exception):
    """Bad input from the user: exit code 2 with this message."""


@dataclass
class Context:
    config: Config
    json: bool
    verbose: bool

    def client(self):
        from ..api import CivitaiClient

        return CivitaiClient(self.config.api_base, self.config.api_key)


def build_parser() -> argparse.ArgumentParser:
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
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f".{name}", __package__)
        except ImportError as exc:  # a command group not built yet must not break the others
            logging.getLogger(__name__).debug("command module %s unavailable: %s", name, exc)
            continue
        module.register(sub)
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


def main(argv: Optional[list] = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on bad usage, 0 on --help
        return int(exc.code or 0)
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_USAGE
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
    sys.exit(importlib.import_module(__spec__.name if __spec__ else "civkit.cli.main").main())
