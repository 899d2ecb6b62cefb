"""Stand-in for the WebUI's ``launch`` module as ``install.py`` sees it (``launch_utils`` names).

``installed`` says which distributions exist; every ``run_pip`` call is recorded in ``pip_calls``.
"""

import argparse

args = argparse.Namespace(skip_install=False)
installed = set()
pip_calls = []


def is_installed(package):
    return package.lower().replace("_", "-") in installed


def run_pip(command, desc=None, live=False):
    if args.skip_install:
        return None
    pip_calls.append((command, desc))
    return ""
