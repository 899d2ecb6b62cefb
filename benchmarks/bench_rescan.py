"""Rescan of an unchanged library against a bare ``os.scandir`` walk with ``stat``.

    python benchmarks/bench_rescan.py --files 30000

Creates N tiny model files in a temp tree (sizes do not matter: nothing is read on a rescan),
indexes them once, then times a rescan (``civkit.library.scan`` with lookups off) against the
cheapest possible walk that still notices changes: ``os.scandir`` recursively and ``stat`` each
file. Best of several runs each, page cache warm. Target (issue 3): rescan <= 3x the walk.
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import time

from _common import best_of, machine_line, temp_dir, timed

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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=30000, help="model files in the tree (default 30000)")
    parser.add_argument("--runs", type=int, default=5, help="runs of each, best one counts (default 5)")
    args = parser.parse_args(argv)
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
