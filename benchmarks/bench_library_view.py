"""How fast the Library views get their rows, for libraries of tens of thousands of files.

Builds an index of N linked entries (each with ~3 KB of raw version JSON, as a real scan stores)
in a temporary CIVKIT_HOME, straight through ``LibraryIndex.upsert_many`` (no model files are
needed: listing never touches them). Then times, in the same run:

* baseline: the old path, ``index.entries(roots)`` (parses every row's version JSON) + the old ``entry_dict``
* ``service.library()``: every row, from the light listing
* ``service.library_page(limit=200)``: the first page and the total
* ``service.library_page(query="anime")``: a filtered first page (the filter runs in SQLite)

    python benchmarks/bench_library_view.py [--files 30000] [--runs 3]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import best_of, machine_line, temp_dir, timed  # noqa: E402

SAMPLE = Path("/work/shared/civitai-samples/model-versions_id__v1255556.json")
BASES = ["SD 1.5", "SDXL 1.0", "Pony", "Illustrious", "Flux.1 D"]
WORDS = ["anime", "lineart", "portrait", "watercolor", "cyberpunk", "landscape", "pixel art", "photoreal"]


def _version_template() -> dict:
    """A real by-hash version object (about 2.4 KB), or a made-up one of the same size."""
    try:
        return json.loads(SAMPLE.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"id": 1, "modelId": 1, "name": "v1", "description": "x" * 2400, "files": [], "images": []}


def make_entries(models_dir: Path, n: int, seed: int = 7) -> list:
    from civkit.library import LibraryEntry

    rng = random.Random(seed)
    template = _version_template()
    pad = max(0, 3000 - len(json.dumps(template)))
    entries = []
    for i in range(n):
        folder = models_dir / ("Lora" if i % 4 else "Stable-diffusion") / f"set{i // 500:03d}"
        theme = rng.choice(WORDS)
        base = rng.choice(BASES)
        words = [theme, f"style{i % 97}", rng.choice(WORDS)]
        version = copy.deepcopy(template)
        version.update({"id": 100000 + i, "modelId": 5000 + i // 3, "name": f"v{i % 5}.0",
                        "baseModel": base, "trainedWords": words, "description": "<p>" + "d" * pad + "</p>"})
        status = "linked" if i % 10 else rng.choice(["not_found", "unknown"])
        linked = status == "linked"
        entries.append(LibraryEntry(
            path=str(folder / f"{theme.replace(' ', '_')}_{i:06d}.safetensors"), size=144 * 1024 * 1024 + i,
            mtime_ns=1_700_000_000_000_000_000 + i, inode=10_000 + i, sha256=f"{i:064X}", autov2=f"{i:010X}",
            status=status, model_id=5000 + i // 3 if linked else None, version_id=100000 + i if linked else None,
            model_name=f"{theme.title()} Model {i // 3}" if linked else None,
            version_name=f"v{i % 5}.0" if linked else None, model_type="LORA" if i % 4 else "Checkpoint",
            base_model=base if linked else None, trained_words=words if linked else [],
            checked_at=1_700_000_000.0, header={"tensor_count": 722, "metadata": {"ss_network_dim": "32"}},
            version_json=version if linked else None,
        ))
    return entries


def old_entry_dict(entry, *, update=None) -> dict:
    """``civkit.summaries.entry_dict`` as it was before the light listing (attribute access on a
    full ``LibraryEntry``), so the baseline is the old code, not today's."""
    path = str(entry.path)
    return {
        "path": path, "name": os.path.basename(path), "folder": os.path.dirname(path), "size": entry.size,
        "status": entry.status, "model_id": entry.model_id, "version_id": entry.version_id,
        "model_name": entry.model_name, "version_name": entry.version_name, "model_type": entry.model_type,
        "base_model": entry.base_model, "trained_words": list(entry.trained_words or ()), "sha256": entry.sha256,
        "air": entry.air, "checked_at": entry.checked_at, "error": entry.error,
        "update_available": bool(update.get("available")) if update is not None else None,
        "latest_version_id": update.get("latest_version_id") if update else None,
        "latest_version_name": update.get("latest_version_name") if update else None,
    }


def fill(index, models_dir: Path, n: int) -> None:
    entries = make_entries(models_dir, n)
    for i in range(0, len(entries), 2000):
        index.upsert_many(entries[i : i + 2000])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=30000, help="entries in the index (default 30000)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each, best one counts (default 3)")
    args = parser.parse_args(argv)
    print(machine_line())
    with temp_dir() as tmp:
        os.environ["CIVKIT_HOME"] = str(tmp / "home")
        from civkit.config import load_config
        from civkit.hosts.standalone import StandaloneHost
        from civkit.library import LibraryIndex
        from civkit.service import CivkitService

        models = tmp / "models"
        for sub in ("Lora", "Stable-diffusion"):
            (models / sub).mkdir(parents=True)
        config = load_config()
        index = LibraryIndex(config.index_path)
        wall, _cpu, _ = timed(lambda: fill(index, models, args.files))
        size_mb = os.path.getsize(config.index_path) / 1e6
        print(f"indexed {args.files} entries in {wall:.1f} s (database {size_mb:.0f} MB)")
        service = CivkitService(config, StandaloneHost(models, "a1111"), index=index)
        roots = service.root_forms()

        def old_path():
            return [old_entry_dict(e) for e in index.entries(roots)]

        old_s, old_rows = best_of(args.runs, old_path)
        all_s, all_rows = best_of(args.runs, service.library)
        page_s, page = best_of(args.runs, lambda: service.library_page(limit=200))
        anime_s, anime = best_of(args.runs, lambda: service.library_page(query="anime"))
        if len(all_rows) != len(old_rows) or [r["path"] for r in all_rows] != [r["path"] for r in old_rows]:
            print(f"UNEXPECTED: library() gave {len(all_rows)} rows, the old path {len(old_rows)}")
            return 1
        print(f"old entries()+entry_dict  (all rows): {old_s * 1000:9.1f} ms  ({len(old_rows)} rows)  = baseline")
        print(f"service.library()         (all rows): {all_s * 1000:9.1f} ms  "
              f"({len(all_rows)} rows)  {old_s / all_s:6.1f}x faster")
        print(f"service.library_page(limit=200)     : {page_s * 1000:9.1f} ms  "
              f"({len(page['items'])} of {page['total']})  {old_s / page_s:6.1f}x faster")
        print(f"service.library_page(query='anime') : {anime_s * 1000:9.1f} ms  "
              f"({len(anime['items'])} of {anime['total']})  {old_s / anime_s:6.1f}x faster")
        service.close()
        index.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
