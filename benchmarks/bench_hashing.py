"""Hashing throughput on cached files, against what A1111 extensions do and against sha256sum.

    python benchmarks/bench_hashing.py --files 4 --size-mb 256

Baseline: a single-threaded loop reading 1 MiB blocks into hashlib.sha256 (the A1111 way).
Compared on the same files, in the same run, page cache warm:
  * sha256sum (coreutils, one subprocess for all files);
  * a first scan: hash_files(paths, SCAN_HASHES) — SHA256 + AutoV1 + AutoV2, files in parallel;
  * `civkit hash`: hash_files(paths, ALL_HASHES) — two SHA256 passes (file, AutoV3 payload),
    BLAKE3 and CRC32, each file read once, hashes fed from parallel threads.
Targets (issue 3): scan >= 1.7x the baseline, all six >= 0.7x, on two cores.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys

from _common import MIB, machine_line, make_safetensors_file, print_table, temp_dir, timed, warm_cache

from civkit.hashing import ALL_HASHES, SCAN_HASHES, default_workers, hash_file, hash_files

TARGETS = {"scan": 1.7, "all six": 0.7}


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


def run_hash_files(paths, want, workers, parallel=None) -> dict:
    results = {}
    for path, outcome in hash_files(paths, want, workers=workers, parallel=parallel):
        if isinstance(outcome, Exception):
            raise outcome
        results[str(path)] = outcome
    return results


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=4, help="number of files (default 4)")
    ap.add_argument("--size-mb", type=float, default=256, help="size of each file in MiB (default 256)")
    ap.add_argument("--workers", type=int, default=None, help="files hashed at once (default: CPU count)")
    args = ap.parse_args(argv)
    workers = args.workers or default_workers()
    size = int(args.size_mb * MIB)
    total = args.files * size
    print(machine_line())
    print(f"{args.files} files x {args.size_mb:g} MiB = {total / MIB:.0f} MiB, cached; workers={workers}")

    with temp_dir() as tmp:
        paths = [make_safetensors_file(tmp / f"model{i}.safetensors", size, seed=i + 1) for i in range(args.files)]
        warm_cache(paths)
        rows = []
        measured = {}

        def record(name, wall, cpu, note=""):
            measured[name] = wall
            rows.append([name, f"{wall:.2f}", f"{total / MIB / wall:.0f}", f"{cpu / wall:.2f}", note])

        wall, cpu, ref = timed(lambda: baseline_loop(paths))
        record("baseline: hashlib 1 MiB loop", wall, cpu, "SHA256")
        if shutil.which("sha256sum"):
            wall, cpu, got = timed(lambda: sha256sum(paths), children=True)
            assert got == ref, "sha256sum disagrees with hashlib"
            record("sha256sum (1 process)", wall, cpu, "SHA256")
        wall, cpu, got = timed(lambda: run_hash_files(paths, SCAN_HASHES, workers=1))
        assert {p: h.sha256 for p, h in got.items()} == ref
        record("scan, 1 file at a time", wall, cpu, "SHA256+AutoV1+AutoV2")
        wall, cpu, got = timed(lambda: run_hash_files(paths, SCAN_HASHES, workers=workers))
        assert {p: h.sha256 for p, h in got.items()} == ref
        record("scan", wall, cpu, f"SHA256+AutoV1+AutoV2, {workers} files at once")
        wall, cpu, simple = timed(lambda: {str(p): hash_file(p, ALL_HASHES, parallel=False) for p in paths})
        record("all six, simple serial path", wall, cpu, "one thread")
        wall, cpu, got = timed(lambda: run_hash_files(paths, ALL_HASHES, workers=1))
        assert got == simple, "pipelined results differ from the simple path"
        record("all six, 1 file at a time", wall, cpu, "per-file pipeline")
        wall, cpu, got = timed(lambda: run_hash_files(paths, ALL_HASHES, workers=workers))
        assert got == simple, "parallel results differ from the simple path"
        record("all six", wall, cpu, f"`civkit hash`: pipeline, {workers} files at once")

        base = measured["baseline: hashlib 1 MiB loop"]
        table = [r[:3] + [f"{base / measured[r[0]]:.2f}x"] + r[3:] for r in rows]
        print()
        print_table(["method", "seconds", "MiB/s", "vs baseline", "CPUs busy", "what"], table)
        print()
        ok = True
        for name, target in TARGETS.items():
            ratio = base / measured[name]
            verdict = "PASS" if ratio >= target else "MISS"
            ok &= ratio >= target
            print(f"target {name}: {ratio:.2f}x (>= {target}x) {verdict}")
        print("all results identical across methods: yes")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
