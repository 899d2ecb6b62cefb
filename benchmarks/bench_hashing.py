"""Hashing throughput on cached files, against what A1111 extensions do and against sha256sum.

    python benchmarks/bench_hashing.py --files 4 --size-mb 256
    python benchmarks/bench_hashing.py --process            # 6 files x 192 MiB, whole processes

Baseline: a single-threaded loop reading 1 MiB blocks into hashlib.sha256 (the A1111 way).
Compared on the same files, in the same run, page cache warm:
  * sha256sum (coreutils, one subprocess for all files);
  * a first scan: hash_files(paths, SCAN_HASHES) — SHA256 + AutoV1 + AutoV2, files in parallel;
  * `civkit hash`: hash_files(paths, ALL_HASHES) — two SHA256 passes (file, AutoV3 payload),
    BLAKE3 and CRC32, each file read once, hashes fed from parallel threads.
Targets (issue 3): scan >= 1.7x the baseline, all six >= 0.7x, on two cores.

``--process`` (issue 14): whole processes (start-up included) against the baseline loop run as a
process (``python3 -c``) on the same cached files, alternating:
  * `civkit --json scan --no-lookup --no-sidecars DIR` from an empty index (a first scan: SHA256,
    AutoV1, AutoV2, files in parallel, plus opening and writing the index). Goal: >= 1.7x the
    baseline's speed.
  * `civkit --json hash --only SHA256,AutoV1,AutoV2 FILE...`: the first scan's hashes without the
    index (the issue's "`civkit --json hash`, first-scan style"). Same goal.
  * `civkit --json hash FILE...` (all six hashes: SHA256 twice, file and AutoV3 payload, plus BLAKE3
    and CRC-32). Shown against the same goal; its CPU work is ~2.3x the baseline's, so two idle
    cores cap it near 0.9x (the in-process target for all six is >= 0.7x).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys

from _common import MIB, machine_line, make_safetensors_file, print_table, temp_dir, timed, warm_cache
from _process import add_process_options, civkit_command, compare, process_env

from civkit.hashing import ALL_HASHES, SCAN_HASHES, default_workers, hash_file, hash_files

TARGETS = {"scan": 1.7, "all six": 0.7}
PROCESS_TARGET = 1.7
BASELINE_PROCESS = """import hashlib, sys
for path in sys.argv[1:]:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            block = fh.read(1024 * 1024)
            if not block:
                break
            h.update(block)
    print(h.hexdigest().upper(), path)
"""


def baseline_loop(paths) -> dict:
    out = {}
    for path in paths:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            while True:
                block = fh.read(1024 * 1024)
                if not block:
                    break
                h.update(block)
        out[str(path)] = h.hexdigest().upper()
    return out


def sha256sum(paths) -> dict:
    proc = subprocess.run(["sha256sum", *map(str, paths)], capture_output=True, text=True, check=True)
    out = {}
    for line in proc.stdout.splitlines():
        digest, name = line.split(maxsplit=1)
        out[name.lstrip("*")] = digest.upper()
    return out


def run_hash_files(paths, want, workers) -> dict:
    results = {}
    for path, outcome in hash_files(paths, want, workers=workers):
        if isinstance(outcome, Exception):
            raise outcome
        results[str(path)] = outcome
    return results


def main_process(args) -> int:
    """`civkit --json hash` as a process against the hashlib loop as a process, alternating."""
    size = int(args.size_mb * MIB)
    print(machine_line())
    print(f"{args.files} files x {args.size_mb:g} MiB = {args.files * size / MIB:.0f} MiB, cached")
    with temp_dir() as tmp:
        paths = [str(make_safetensors_file(tmp / f"model{i}.safetensors", size, seed=i + 1)) for i in range(args.files)]
        warm_cache(paths)
        env = process_env(tmp, CIVKIT_HOME=str(tmp / "home"))
        command = civkit_command(tmp, args.civkit)
        civkit = [*command, "--json", "hash", *paths]
        baseline = [sys.executable, "-c", BASELINE_PROCESS, *paths]
        ours = {r["path"]: r["SHA256"] for r in map(json.loads, subprocess.run(
            civkit, env=env, capture_output=True, text=True, check=True).stdout.splitlines())}
        theirs = dict(line.split(" ", 1)[::-1] for line in subprocess.run(
            baseline, env=env, capture_output=True, text=True, check=True).stdout.splitlines())
        if ours != theirs:
            print("UNEXPECTED: civkit hash and hashlib disagree")
            return 1
        print("SHA256 of civkit hash == hashlib's: yes")
        home = tmp / "home"
        scan = [*command, "--json", "scan", "--no-lookup", "--no-sidecars", str(tmp)]

        def empty_index() -> None:
            shutil.rmtree(home, ignore_errors=True)

        met = True
        scan_hashes = [*command, "--json", "hash", "--only", ",".join(SCAN_HASHES), *paths]
        for title, cmd, label, prepare in (
            (f"first scan of {args.files} cached files", scan, "civkit --json scan --no-lookup (empty index)",
             empty_index),
            (f"civkit --json hash --only {','.join(SCAN_HASHES)} of {args.files} cached files", scan_hashes,
             "civkit --json hash (the scan's hashes)", None),
            (f"civkit --json hash of {args.files} cached files", civkit, "civkit --json hash (all six hashes)", None),
        ):
            print()
            met &= compare(title, cmd, baseline, env=env, runs=args.repeat, prepare=prepare,
                           goal=lambda c, b: b / c >= PROCESS_TARGET,
                           goal_text=f">= {PROCESS_TARGET}x the baseline's speed", civkit_label=label,
                           baseline_label="python3 -c '<hashlib 1 MiB loop>'", faster_is_ratio=True)
    print()
    print(machine_line())
    return 0 if met else 1


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=None, help="number of files (default 4; 6 with --process)")
    ap.add_argument("--size-mb", type=float, default=None, help="size of each file in MiB (default 256; 192 with --process)")
    ap.add_argument("--workers", type=int, default=None, help="files hashed at once (default: CPU count)")
    ap.add_argument("--repeat", type=int, default=3, help="rounds; the best time of each method counts (default 3)")
    add_process_options(ap)
    args = ap.parse_args(argv)
    if args.process:
        args.files = args.files or 6
        args.size_mb = args.size_mb or 192
        return main_process(args)
    args.files = args.files or 4
    args.size_mb = args.size_mb or 256
    workers = args.workers or default_workers()
    size = int(args.size_mb * MIB)
    total = args.files * size
    print(machine_line())
    print(f"{args.files} files x {args.size_mb:g} MiB = {total / MIB:.0f} MiB, cached; workers={workers}")

    with temp_dir() as tmp:
        paths = [make_safetensors_file(tmp / f"model{i}.safetensors", size, seed=i + 1) for i in range(args.files)]
        warm_cache(paths)
        ref = baseline_loop(paths)
        simple = {str(p): hash_file(p, ALL_HASHES, parallel=False) for p in paths}

        def check_sha(got):
            assert {p: h.sha256 for p, h in got.items()} == ref, "SHA256 differs from hashlib"

        def check_all(got):
            assert got == simple, "results differ from the simple serial path"

        def check_sum(got):
            assert got == ref, "sha256sum disagrees with hashlib"

        methods = [
            ("baseline: hashlib 1 MiB loop", "SHA256", lambda: baseline_loop(paths), None, False),
            ("sha256sum (1 process)", "SHA256, coreutils", lambda: sha256sum(paths), check_sum, True),
            ("scan, 1 file at a time", "SHA256+AutoV1+AutoV2", lambda: run_hash_files(paths, SCAN_HASHES, 1), check_sha, False),
            ("scan", f"SHA256+AutoV1+AutoV2, {workers} files at once",
             lambda: run_hash_files(paths, SCAN_HASHES, workers), check_sha, False),
            ("all six, simple serial path", "one thread",
             lambda: {str(p): hash_file(p, ALL_HASHES, parallel=False) for p in paths}, check_all, False),
            ("all six, 1 file at a time", "per-file pipeline", lambda: run_hash_files(paths, ALL_HASHES, 1), check_all, False),
            ("all six", f"`civkit hash`: pipelines, {workers} files at once",
             lambda: run_hash_files(paths, ALL_HASHES, workers), check_all, False),
        ]
        if not shutil.which("sha256sum"):
            methods = [m for m in methods if not m[0].startswith("sha256sum")]
        # Interleaved rounds, best time per method: other programs slow some runs down, and
        # they should not favour whichever method happened to run in a quiet moment.
        best: dict = {}
        for _ in range(args.repeat):
            for name, _what, fn, check, children in methods:
                wall, cpu, got = timed(fn, children=children)
                if check is not None:
                    check(got)
                if name not in best or wall < best[name][0]:
                    best[name] = (wall, cpu)

    base, base_cpu = best["baseline: hashlib 1 MiB loop"]
    rows = []
    for name, what, *_ in methods:
        wall, cpu = best[name]
        rows.append([
            name, f"{wall:.2f}", f"{total / MIB / wall:.0f}", f"{base / wall:.2f}x", f"{cpu / wall:.2f}",
            f"{cpu * 1000 / (total / MIB):.2f}", what,
        ])
    print()
    print_table(["method", "seconds", "MiB/s", "vs baseline", "CPUs busy", "CPU ms/MiB", "what"], rows)
    print()
    ok = True
    ncpu = os.cpu_count() or 1
    for name, target in TARGETS.items():
        wall, cpu = best[name]
        ratio = base / wall
        ok &= ratio >= target
        # What the same CPU work would give if every core were free for it (the baseline uses one
        # core whatever else runs): a ceiling that tells "too much work" from "too little CPU".
        ceiling = (base_cpu / (total / MIB)) * ncpu / (cpu / (total / MIB))
        print(
            f"target {name}: {ratio:.3f}x the baseline (goal >= {target}x) {'PASS' if ratio >= target else 'MISS'}"
            f"   [CPU-work ceiling on {ncpu} idle cores: {ceiling:.2f}x]"
        )
    print("results identical across methods: yes (checked every run)")
    print(machine_line())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
