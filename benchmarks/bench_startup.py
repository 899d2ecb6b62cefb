"""Start-up of the `civkit` command as a process, against `python3 -c pass` in the same run.

    python benchmarks/bench_startup.py [--runs 15] [--civkit PATH]

Always a whole-process measurement (so --process is accepted and changes nothing). Times
`civkit --help`, `civkit scan --help` and an argument error (`civkit scan` without a folder), each
against the bare interpreter, alternating. Goal (issue 14): `civkit --help` <= 0.06 s; the other two
are shown for information. The modules they import are checked by tests/test_cli_startup.py.
"""

from __future__ import annotations

import argparse
import sys

from _common import machine_line, temp_dir
from _process import add_process_options, civkit_command, compare, process_env

GOAL_SECONDS = 0.06


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="runs of each (default 15)")
    add_process_options(parser)
    args = parser.parse_args(argv)
    print(machine_line())
    bare = [sys.executable, "-c", "pass"]
    met = True
    with temp_dir() as tmp:
        env = process_env(tmp)
        civkit = civkit_command(tmp, args.civkit)
        cases = [(["--help"], "civkit --help", (0,), True),
                 (["scan", "--help"], "civkit scan --help", (0,), False),
                 (["scan"], "civkit scan (argument error, exit 2)", (2,), False)]
        for argv_, label, codes, counts in cases:
            print()
            ok = compare(f"start-up: {label}", [*civkit, *argv_], bare, env=env, runs=args.runs,
                         goal=lambda c, b: c <= GOAL_SECONDS,
                         goal_text=f"<= {GOAL_SECONDS:.2f} s (median){'' if counts else ', for information'}",
                         civkit_label=label, baseline_label="python3 -c pass", ok_codes=codes)
            met &= ok or not counts
    print()
    print(machine_line())
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
