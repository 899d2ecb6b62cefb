"""Requests needed to identify a library of N files against the Civitai emulator.

    python benchmarks/bench_identify.py --files 1000

Publishes N small distinct files in a fresh emulator catalog (plus --unknown files Civitai does
not know, as .ckpt, and --edited safetensors whose header was rewritten so only AutoV3 finds
them), scans them with lookups on, and counts the requests the emulator saw. Baseline: one
``GET by-hash/<sha256>`` per file, what single-file tools do. Target (issue 3): <= 12 for 1,000.

``--process`` (issue 14): the scan runs as the user runs it, ``civkit --api-base EMULATOR --json scan
--no-sidecars DIR`` in its own process (its own client, with the default rate limit); the requests
are counted the same way and the whole command's wall time is shown. The baseline here is a request
count, not a command, so there is no second process to time.
"""

from __future__ import annotations

import argparse
import json
import struct
import subprocess
import time
from collections import Counter

from _common import machine_line, temp_dir, timed
from _process import add_process_options, civkit_command, process_env

from civkit.api import CivitaiClient
from civkit.library import LibraryIndex, scan
from civkit.testing import Catalog, FakeCivitai
from civkit.testing.bulk import publish_bulk
from civkit.testing.files import safetensors_bytes

TARGET_PER_1000 = 12


def publish_edited(catalog, folder, n: int) -> None:
    """n safetensors published as-is, then written locally with a rewritten header."""
    for i in range(n):
        src = folder.parent / f"orig-{i}.safetensors"
        src.write_bytes(safetensors_bytes({"ss_output_name": f"e{i}"}, 256, f"edited{i}"))
        catalog.add_file_model(src, name=f"Edited {i}")
        raw = src.read_bytes()
        (size,) = struct.unpack("<Q", raw[:8])
        header = json.loads(raw[8 : 8 + size])
        header["__metadata__"]["edited"] = "by a metadata editor"
        body = json.dumps(header).encode()
        (folder / f"edited-{i}.safetensors").write_bytes(struct.pack("<Q", len(body)) + body + raw[8 + size :])


class _CliReport:
    """The counts of a ScanReport, from `civkit --json scan` lines."""

    def __init__(self, records: list):
        self.linked = sum(r["status"] == "linked" for r in records)
        self.not_found = sum(r["status"] == "not_found" for r in records)
        self.errors = [r for r in records if r["status"] == "error"]


def _route(path: str) -> str:
    path = path.split("?")[0]
    if "/by-hash/" in path and not path.endswith("/ids"):
        return path.rsplit("/", 1)[0] + "/<hash>"
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=1000, help="files known to Civitai (default 1000)")
    parser.add_argument("--unknown", type=int, default=0, help="extra files Civitai does not know")
    parser.add_argument("--edited", type=int, default=0, help="extra safetensors only AutoV3 can find")
    add_process_options(parser)
    args = parser.parse_args(argv)
    print(machine_line())
    with temp_dir() as tmp:
        catalog = Catalog(tmp / "catalog")
        lib = tmp / "lib"
        publish_bulk(catalog, lib, args.files)
        publish_edited(catalog, lib, args.edited)
        for i in range(args.unknown):
            (lib / f"unknown-{i}.ckpt").write_bytes(f"nobody knows {i}".encode())
        total = args.files + args.edited + args.unknown
        with FakeCivitai(catalog=catalog) as fake:
            index = LibraryIndex(tmp / "index.sqlite3")
            if args.process:
                cmd = [*civkit_command(tmp, args.civkit), "--api-base", fake.base_url, "--json", "scan",
                       "--no-sidecars", str(lib)]
                t0 = time.perf_counter()
                out = subprocess.run(cmd, env=process_env(tmp, CIVKIT_HOME=str(tmp / "home")), capture_output=True,
                                     text=True, check=False).stdout.splitlines()
                wall = time.perf_counter() - t0
                report = _CliReport([json.loads(line) for line in out])
            else:
                client = CivitaiClient(fake.base_url, rate_per_second=None)
                wall, _cpu, report = timed(lambda: scan([lib], index, client, write_sidecars=False))
            routes = Counter(f"{m} {_route(p)}" for m, p, _a in fake.request_log)
            used = fake.count("/api/")
        how = "by `civkit --json scan` as a process" if args.process else "in this process"
        print(f"{total} files ({args.files} known, {args.edited} header-edited, {args.unknown} unknown) "
              f"scanned and looked up {how} in {wall:.2f} s")
        print(f"linked {report.linked}, not found {report.not_found}, errors {len(report.errors)}")
        for route, n in sorted(routes.items()):
            print(f"  {n:5d}  {route}")
        baseline = total
        print(f"requests used: {used} (one GET by-hash per file would be {baseline}: {baseline / max(used, 1):.0f}x more)")
        if args.edited == 0 and args.unknown == 0:
            target = TARGET_PER_1000 * max(1, -(-args.files // 1000))
            print(f"target <= {target} for {args.files} files: {'OK' if used <= target else 'MISSED'}")
        index.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
