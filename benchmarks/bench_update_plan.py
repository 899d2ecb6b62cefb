"""API requests needed to plan `civkit updates --download` for a library of N linked models.

    python benchmarks/bench_update_plan.py --models 1000

Publishes N one-file models in a fresh emulator catalog, scans (and so links) the files, then
gives every model a newer version and runs ``civkit updates DIR --dry-run --json`` — the whole
command: the rescan (nothing changed, so no lookups) and the plan. Counts the API requests the
emulator saw. Baseline: one ``GET /models/{id}`` per model, what a model-at-a-time updater needs.
Bound (issue 11): ceil(N/100) + 1 requests (``/models?ids=`` takes 100 ids at a time).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import math
import os
from collections import Counter

from _common import machine_line, temp_dir, timed

from civkit.api import CivitaiClient
from civkit.cli.main import main as civkit_main
from civkit.library import LibraryIndex, scan
from civkit.testing import Catalog, FakeCivitai
from civkit.testing.bulk import publish_bulk


def add_newer_versions(catalog) -> int:
    """A v2.0 for every published model (a new file id and hash; the bytes are never fetched)."""
    n = 0
    for model in catalog.models:
        old = model["modelVersions"][0]
        new = copy.deepcopy(old)
        new["id"] = catalog.allocate("version")
        new["name"], new["publishedAt"] = "v2.0", "2026-01-01T00:00:00.000Z"
        f = new["files"][0]
        f["id"] = catalog.allocate("file")
        f["name"] = f["name"].replace(".ckpt", "-v2.ckpt")
        f["hashes"] = {"SHA256": f"{n:064X}", "AutoV2": f"{n:010X}"}
        model["modelVersions"].insert(0, new)
        n += 1
    return n


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", type=int, default=1000, help="linked models in the library (default 1000)")
    args = parser.parse_args(argv)
    print(machine_line())
    with temp_dir() as tmp:
        catalog = Catalog(tmp / "catalog")
        lib = tmp / "lib"
        publish_bulk(catalog, lib, args.models)
        os.environ["CIVKIT_HOME"] = str(tmp / "home")
        with FakeCivitai(catalog=catalog) as fake:
            index = LibraryIndex(tmp / "home" / "library.sqlite3")
            report = scan([lib], index, CivitaiClient(fake.base_url, rate_per_second=None), write_sidecars=False)
            index.close()
            add_newer_versions(catalog)
            fake.request_log.clear()
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                wall, _cpu, code = timed(lambda: civkit_main(
                    ["--api-base", fake.base_url, "updates", str(lib), "--dry-run", "--json", "--allow-unsafe",
                     "--rate", "1000"]))
            rows = [json.loads(x) for x in out.getvalue().splitlines() if x.strip()]
            routes = Counter(f"{m} {p.split('?')[0]}" for m, p, _a in fake.request_log)
            used = fake.count("/api/")
        actions = Counter(r["action"] for r in rows)
        print(f"{args.models} files linked ({report.linked}); `civkit updates --dry-run` exit {code} in {wall:.2f} s")
        print(f"plan: {len(rows)} rows, {dict(actions)}")
        for route, n in sorted(routes.items()):
            print(f"  {n:5d}  {route}")
        bound = math.ceil(args.models / 100) + 1
        baseline = args.models
        print(f"requests used: {used} (one GET /models/{{id}} per model would be {baseline}: "
              f"{baseline / max(used, 1):.0f}x more)")
        print(f"bound ceil({args.models}/100)+1 = {bound}: {'OK' if used <= bound else 'MISSED'}")
    return 0 if used <= bound else 1


if __name__ == "__main__":
    raise SystemExit(main())
