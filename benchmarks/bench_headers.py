"""Safetensors header reads of many files of different sizes.

    python benchmarks/bench_headers.py --files 1000 --size-mb 4096

read_header reads the 8-byte length and the JSON header, nothing more, so its cost depends on
the header and not on the file size. The files here are sparse (their tensor data is a hole),
so even thousands of multi-GiB files cost no disk space; sizes spread from 1 MiB to --size-mb,
tensor counts from 1 to 3,000 (a LoRA has ~700, an SDXL checkpoint ~2,500).

Baseline: the `safetensors` package (safe_open(...).metadata() and .keys()), in the same run.
Also shown: the bytes this process actually read (/proc/self/io), against 8 + N per file.

``--process`` (issue 14): what a user waits for to see one file's header, as whole processes in the
same run, alternating: ``civkit --json info FILE`` (a sparse 6.5 GiB checkpoint with 3,000 tensors)
against ``python3 -c`` opening it with the safetensors package (metadata and tensor names), the
baseline. Goal: civkit no slower (<= 1x).
"""

from __future__ import annotations

import argparse
import math
import random
import sys

from _common import (
    MIB,
    bytes_read_by_this_process,
    machine_line,
    make_sparse_safetensors,
    print_table,
    temp_dir,
    timed,
)
from _process import add_process_options, civkit_command, compare, process_env
from safetensors import safe_open

from civkit.safetensors_header import read_header


def with_safetensors_package(paths) -> int:
    count = 0
    for path in paths:
        with safe_open(str(path), framework="np") as f:
            f.metadata()
            count += len(list(f.keys()))
    return count


def with_civkit(paths) -> int:
    return sum(read_header(path).tensor_count for path in paths)


SAFE_OPEN_PROCESS = """import sys
from safetensors import safe_open
with safe_open(sys.argv[1], framework="np") as f:
    print(len(f.metadata() or {}), len(list(f.keys())))
"""


def main_process(args) -> int:
    print(machine_line())
    with temp_dir() as tmp:
        meta = {"ss_network_module": "networks.lora", "ss_tag_frequency": '{"10_x": {"x": 1}}'}
        path = str(make_sparse_safetensors(tmp / "checkpoint.safetensors", int(6.5 * 1024 * MIB), 3000, meta))
        met = compare("one header, 3,000 tensors", [*civkit_command(tmp, args.civkit), "--json", "info", path],
                      [sys.executable, "-c", SAFE_OPEN_PROCESS, path], env=process_env(tmp), runs=args.repeat,
                      goal=lambda c, b: c <= b, goal_text="<= 1x the safetensors package's process",
                      civkit_label="civkit --json info FILE", baseline_label="python3 -c '<safetensors safe_open>'")
    print(machine_line())
    return 0 if met else 1


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=1000, help="number of files (default 1000)")
    ap.add_argument("--size-mb", type=float, default=4096, help="largest file in MiB (default 4096; files are sparse)")
    ap.add_argument("--repeat", type=int, default=3, help="rounds; the best time of each method counts (default 3)")
    add_process_options(ap)
    args = ap.parse_args(argv)
    if args.process:
        return main_process(args)
    rng = random.Random(42)
    print(machine_line())
    with temp_dir() as tmp:
        files = []  # (path, size, header bytes)
        for i in range(args.files):
            size = int(MIB * math.exp(rng.uniform(0, math.log(max(args.size_mb, 1.0)))))
            tensors = rng.choice([1, 10, 100, 700, 1200, 2500, 3000])
            meta = {"ss_network_module": "networks.lora", "ss_tag_frequency": '{"10_x": {"x": 1}}', "n": str(i)}
            path = make_sparse_safetensors(tmp / f"m{i:05d}.safetensors", size, tensors, meta)
            files.append((path, path.stat().st_size))
        paths = [p for p, _ in files]
        total_size = sum(s for _, s in files)
        headers = {p: read_header(p) for p in paths}  # also warms the page cache for the headers
        header_bytes = sum(8 + h.header_size for h in headers.values())
        print(
            f"{len(paths)} files, {total_size / MIB / 1024:.1f} GiB in all (sparse), "
            f"headers {header_bytes / MIB:.1f} MiB in all"
        )

        best: dict = {}
        for _ in range(args.repeat):
            for name, fn in (("safetensors.safe_open", with_safetensors_package), ("civkit read_header", with_civkit)):
                wall, _cpu, count = timed(lambda fn=fn: fn(paths))
                best[name] = min(best.get(name, wall), wall)
                assert count == sum(h.tensor_count for h in headers.values())

        before = bytes_read_by_this_process()
        with_civkit(paths)
        after = bytes_read_by_this_process()

        # Cost per file by file size: flat, because only the header is read.
        buckets = [(0, 16 * MIB, "< 16 MiB"), (16 * MIB, 512 * MIB, "16-512 MiB"), (512 * MIB, float("inf"), ">= 512 MiB")]
        bucket_rows = []
        for lo, hi, label in buckets:
            group = [p for p, s in files if lo <= s < hi]
            if not group:
                continue
            times = []
            for _ in range(args.repeat):
                wall, _cpu, _ = timed(lambda g=group: with_civkit(g))
                times.append(wall)
            mean_header = sum(headers[p].header_size for p in group) / len(group)
            bucket_rows.append([label, str(len(group)), f"{min(times) / len(group) * 1e6:.0f}", f"{mean_header / 1024:.0f}"])

    base = best["safetensors.safe_open"]
    rows = [
        [name, f"{wall:.3f}", f"{len(paths) / wall:.0f}", f"{base / wall:.2f}x"]
        for name, wall in (("safetensors.safe_open", base), ("civkit read_header", best["civkit read_header"]))
    ]
    print()
    print_table(["method", "seconds", "files/s", "vs safe_open"], rows)
    print()
    print_table(["file size", "files", "us per file", "mean header KiB"], bucket_rows)
    print()
    if before is not None and after is not None:
        read = after - before
        print(
            f"bytes read by read_header: {read:,} for {header_bytes:,} bytes of length+header "
            f"({read / header_bytes:.3f}x); the files hold {total_size:,} bytes ({read / total_size:.2e} of it)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
