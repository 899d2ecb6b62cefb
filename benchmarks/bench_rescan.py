"""Rescan of an unchanged library against a bare ``os.scandir`` walk with ``stat``.

    python benchmarks/bench_rescan.py --files 30000
    python benchmarks/bench_rescan.py --files 30000 --process

Creates N tiny model files in a temp tree (sizes do not matter: nothing is read on a rescan),
indexes them once, then times a rescan (``civkit.library.scan`` with lookups off) against the
cheapest possible walk that still notices changes: ``os.scandir`` recursively and ``stat`` each
file. Best of several runs each, page cache warm. Target (issue 3): rescan <= 3x the walk.

``--process`` (issue 14) times what a user waits for instead: ``civkit --json scan --no-lookup
--no-sidecars DIR`` and the same without ``--json``, each as a whole process, against the walk run
as a process (``python3 -c``) in the same run, alternating. Goal: <= 3x the walk process.
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import subprocess
import sys
import time

from _common import best_of, machine_line, temp_dir, timed
from _process import add_process_options, civkit_command, compare, process_env, run_once

from civkit.library import LibraryIndex, scan

TARGET = 3.0
EXTENSIONS = (".safetensors", ".ckpt", ".pt", ".gguf")


def _tiny(i: int, ext: str) -> bytes:
    data = i.to_bytes(4, "little")
    if ext != ".safetensors":
        return data
    header = json.dumps({"w": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]}}).encode()
    return struct.pack("<Q", len(header)) + header + data


def make_tree(root, n: int, per_folder: int = 500) -> None:
    """n files spread over folders of ``per_folder``, with a sidecar next to every tenth."""
    for i in range(n):
        folder = root / f"type{i % 4}" / f"group{i // per_folder:03}"
        if i % per_folder < 4:
            folder.mkdir(parents=True, exist_ok=True)
        ext = EXTENSIONS[i % len(EXTENSIONS)]
        name = f"model_{i:06}{ext}"
        (folder / name).write_bytes(_tiny(i, ext))
        if i % 10 == 0:
            (folder / (name.rsplit(".", 1)[0] + ".json")).write_text("{}")


def bare_walk(root) -> int:
    """os.scandir recursively, stat every file: the floor any rescan has to pay."""
    count = 0
    stack = [str(root)]
    while stack:
        with os.scandir(stack.pop()) as it:
            for entry in it:
                if entry.is_dir():
                    stack.append(entry.path)
                else:
                    entry.stat()
                    count += 1
    return count


WALK_PROCESS = """import os, sys
count = 0
stack = [sys.argv[1]]
while stack:
    with os.scandir(stack.pop()) as it:
        for entry in it:
            if entry.is_dir():
                stack.append(entry.path)
            else:
                entry.stat()
                count += 1
print(count)
"""


def main_process(args) -> int:
    """Whole `civkit scan` processes against a walk process, alternating."""
    print(machine_line())
    with temp_dir() as tmp:
        root = tmp / "models"
        make_tree(root, args.files)
        env = process_env(tmp, CIVKIT_HOME=str(tmp / "home"))
        civkit = civkit_command(tmp, args.civkit)
        scan_cmd = [*civkit, "scan", "--no-lookup", "--no-sidecars", str(root)]
        print(f"first scan as a process: {run_once(scan_cmd, env):.2f} s ({args.files} files, every one hashed)")
        out = subprocess.run([*civkit, "--json", "scan", "--no-lookup", "--no-sidecars", str(root)], env=env,
                             capture_output=True, text=True, check=True).stdout.splitlines()
        if len(out) != args.files or any(json.loads(line)["status"] != "unknown" for line in out):
            print(f"UNEXPECTED: --json rescan printed {len(out)} lines for {args.files} files")
            return 1
        walk = [sys.executable, "-c", WALK_PROCESS, str(root)]
        met = True
        for flags, label in ((["--json"], "civkit --json scan --no-lookup --no-sidecars"),
                             ([], "civkit scan --no-lookup --no-sidecars")):
            print()
            met &= compare(f"rescan of {args.files} unchanged files{' with --json' if flags else ''}",
                           [*civkit, *flags, "scan", "--no-lookup", "--no-sidecars", str(root)], walk, env=env,
                           runs=args.runs, goal=lambda c, b: c <= TARGET * b, goal_text=f"<= {TARGET:.0f}x the walk",
                           civkit_label=label, baseline_label="python3 -c '<os.scandir + stat walk>'")
    print()
    print(machine_line())
    return 0 if met else 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=30000, help="model files in the tree (default 30000)")
    parser.add_argument("--runs", type=int, default=5, help="runs of each, best one counts (default 5)")
    add_process_options(parser)
    args = parser.parse_args(argv)
    if args.process:
        return main_process(args)
    print(machine_line())
    with temp_dir() as tmp:
        root = tmp / "models"
        t0 = time.perf_counter()
        make_tree(root, args.files)
        print(f"created {args.files} files in {time.perf_counter() - t0:.1f} s")
        index = LibraryIndex(tmp / "index.sqlite3")
        wall, _cpu, first = timed(lambda: scan([root], index, lookup=False))
        print(f"first scan (hashes every file): {wall:.2f} s, {first.hashed} hashed, {len(first.errors)} errors")

        walk_s, walked = best_of(args.runs, lambda: bare_walk(root))
        rescan_s, report = best_of(args.runs, lambda: scan([root], index, lookup=False))
        if report.unchanged != args.files or report.hashed:
            print(f"UNEXPECTED: rescan saw {report.unchanged} unchanged, hashed {report.hashed}")
            return 1
        ratio = rescan_s / walk_s
        print(f"bare os.scandir walk + stat: {walk_s * 1000:8.1f} ms  ({walked} entries incl. sidecars)")
        print(f"civkit rescan (unchanged):   {rescan_s * 1000:8.1f} ms  ({report.unchanged} files, 0 read)")
        print(f"ratio rescan / walk: {ratio:.2f}x  (target <= {TARGET:.0f}x: {'OK' if ratio <= TARGET else 'MISSED'})")
        index.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
