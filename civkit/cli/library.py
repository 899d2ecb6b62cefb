"""``civkit scan``, ``civkit triggers``, ``civkit updates``, ``civkit duplicates``: the local library.

``--json``: ``scan`` prints one object per model file per line (path, sha256, autov2, status,
model_id, version_id, model_name, version_name, base_model, trained_words, ...); ``triggers`` a JSON
list of strings; ``updates`` one object per model with a newer version; ``duplicates`` one object
per group of identical files. Exit codes: 0 done, 1 some files or Civitai failed, 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from .main import UsageError

# Imported in the handlers, not here: civkit.library (sqlite3, the hashing), the API client,
# civkit.triggers. `civkit scan --help` stays fast (tests/test_cli_startup.py).

EXIT_OK = 0
EXIT_FAILURE = 1

SCAN_JSON_KEYS = ("path", "sha256", "autov1", "autov2", "autov3", "size", "status", "model_id", "version_id",
                  "model_name", "version_name", "model_type", "base_model", "trained_words", "air", "error")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "scan", help="index model folders and link the files to Civitai",
        description="Hash the model files under DIR (only new or changed ones), look them up on Civitai in "
                    "bulk, and write .civitai.info, the A1111 .json and a preview next to linked files.",
    )
    p.add_argument("dirs", nargs="+", metavar="DIR")
    p.add_argument("--no-lookup", action="store_true", help="only hash; do not ask Civitai")
    p.add_argument("--no-sidecars", action="store_true", help="write no .civitai.info, .json or preview files")
    p.add_argument("--refresh", action="store_true",
                   help="ask Civitai again about every file, also those already linked or not found")
    p.add_argument("--recheck", action="store_true",
                   help="ask again about files Civitai did not know (otherwise only after 7 days)")
    p.add_argument("--images", type=int, metavar="N", default=None,
                   help="keep up to N example images per linked version in civkit's image cache (setting: example_images)")
    _json_option(p)
    p.set_defaults(func=cmd_scan)

    p = subparsers.add_parser(
        "triggers", help="show a model file's trigger words",
        description="Trigger words of a model file: Civitai's trained words (from the library index, a "
                    "sidecar or a lookup by hash), else the training metadata in its safetensors header.",
    )
    p.add_argument("file", metavar="FILE")
    p.add_argument("--offline", action="store_true", help="do not ask Civitai")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--only", metavar="N,M", help="use only these trained-words groups (numbers as --groups lists)")
    group.add_argument("--all", action="store_true", help="use every group again")
    p.add_argument("--weight", metavar="W", help="the preferred LoRA weight (0 or 'default' = the host's default)")
    p.add_argument("--groups", action="store_true", help="list the groups, which are on, and the weight")
    _json_option(p)
    p.set_defaults(func=cmd_triggers)

    p = subparsers.add_parser(
        "updates", help="list (or download) newer versions of the linked models",
        description="Scan DIR (cheap when nothing changed), then ask Civitai, 100 models per request, "
                    "whether a newer version of each linked model was published. With --download, fetch "
                    "the newest version's file that matches the old file's format, size and fp, beside it.",
    )
    p.add_argument("dirs", nargs="*", metavar="DIR", help="folders to check (default: --models-dir or ./models)")
    p.add_argument("--models-dir", metavar="DIR", help="the models folder (default: the first DIR, or ./models)")
    p.add_argument("--download", action="store_true", help="download the updates (a plan is printed first)")
    p.add_argument("--replace", action="store_true",
                   help="with --download: once the new file is verified, move the old one and its sidecars "
                        "to civkit's trash")
    p.add_argument("--allow-unsafe", action="store_true", help="with --download: allow PickleTensor (.ckpt/.pt) files")
    from .batch import add_batch_options

    add_batch_options(p)
    _json_option(p)
    p.set_defaults(func=cmd_updates)

    p = subparsers.add_parser(
        "duplicates", help="list identical model files (same SHA256) in several places",
        description="Scan DIR without asking Civitai and list files with the same SHA256.",
    )
    p.add_argument("dirs", nargs="+", metavar="DIR")
    _json_option(p)
    p.set_defaults(func=cmd_duplicates)


def _json_option(parser) -> None:
    parser.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="machine-readable output (same as the global --json)")


def _wants_json(args, ctx) -> bool:
    return bool(ctx.json or getattr(args, "json", False))


def _check_dirs(dirs) -> list:
    for d in dirs:
        if not os.path.isdir(d):
            what = "does not exist" if not os.path.exists(d) else "is not a folder"
            raise UsageError(f"{d} {what}: give the folders that hold your models")
    return list(dirs)


def _open_index(ctx):
    from ..library.index import IndexUnavailable, LibraryIndex

    try:
        return LibraryIndex(ctx.config.index_path)
    except IndexUnavailable as exc:
        print(f"civkit: {exc.message}", file=sys.stderr)
        return None


class _ScanBar:
    """A tqdm bar on stderr while files are hashed, only when stderr is a terminal."""

    def __init__(self, enabled: bool):
        self.enabled = enabled and sys.stderr.isatty()
        self.bar = None
        self.shown = 0

    def __call__(self, p) -> None:
        if not self.enabled or p.phase != "hash" or not p.bytes_total:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=p.bytes_total, unit="B", unit_scale=True, unit_divisor=1024,
                            desc="hashing", file=sys.stderr, leave=False)
        if p.bytes_done > self.shown:
            self.bar.update(p.bytes_done - self.shown)
            self.shown = p.bytes_done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _run_scan(dirs, index, client, ctx, **kw):
    from ..library.scan import scan

    bar = _ScanBar(not ctx.json)
    try:
        return scan(dirs, index, client, progress=bar, nsfw_previews=ctx.config.nsfw_previews, **kw)
    finally:
        bar.close()


def _print_records(index, paths) -> None:
    """One JSON object per file per line, read from the index in bulk and written as it comes."""
    write = sys.stdout.write
    for lines in index.json_lines(paths, SCAN_JSON_KEYS):
        if lines:
            write("\n".join(lines) + "\n")


def _describe(entry) -> str:
    if entry.status == "linked":
        base = f" [{entry.base_model}]" if entry.base_model else ""
        return f"linked     {entry.model_name} — {entry.version_name}{base}"
    if entry.status == "not_found":
        return "not found  not on Civitai"
    if entry.status == "error":
        return f"error      {entry.error}"
    return "hashed     not looked up"


def cmd_scan(args, ctx) -> int:
    ctx.json = _wants_json(args, ctx)
    dirs = _check_dirs(args.dirs)
    index = _open_index(ctx)
    if index is None:
        return EXIT_FAILURE
    lookup = not args.no_lookup
    client = ctx.client() if lookup else None
    with index:
        report = _run_scan(dirs, index, client, ctx, lookup=lookup, refresh=args.refresh, recheck=args.recheck,
                           write_sidecars=ctx.config.write_sidecars and not args.no_sidecars)
        images = ctx.config.example_images if args.images is None else args.images
        if images < 0:
            raise UsageError("--images takes a number of images, 0 or more")
        # report.entries (every file with its version JSON) is read only when images are wanted
        kept = _keep_images(report.entries, client, ctx, images) if images and client is not None else 0
        if ctx.json:
            _print_records(index, report.paths)
        else:
            for e in index.entries_for(sorted(set(report.touched))):
                print(f"{_describe(e)}  {e.path}")
            summary = (f"{report.files} model files: {report.new} new, {report.changed} changed, "
                       f"{report.unchanged} unchanged")
            if report.moved or report.removed:
                summary += f", {report.moved} moved, {report.removed} gone"
            print(summary)
            if lookup:
                print(f"Civitai: {report.linked} linked, {report.not_found} not on Civitai "
                      f"({report.requests} requests)")
            if kept:
                print(f"{kept} example images kept in {ctx.config.home / 'images'}")
        for path, message in report.errors:
            print(f"civkit: {path}: {message}", file=sys.stderr)
        for result in report.conflicts:
            print(f"civkit: {result.message}", file=sys.stderr)
        if report.lookup_error:
            print(f"civkit: Civitai lookups stopped: {report.lookup_error}. The files are indexed; "
                  "run the scan again to link them.", file=sys.stderr)
    return EXIT_FAILURE if report.errors or report.lookup_error else EXIT_OK


def _keep_images(entries, client, ctx, limit: int) -> int:
    from ..library.images import keep_version_images

    done, kept = set(), 0
    for e in entries:
        if e.status == "linked" and e.version_id not in done and isinstance(e.version_json, dict):
            done.add(e.version_id)
            kept += len(keep_version_images(ctx.config.home, e.version_json, client.session, limit,
                                            nsfw_allowed=ctx.config.nsfw_previews))
    return kept


def cmd_triggers(args, ctx) -> int:
    ctx.json = _wants_json(args, ctx)
    path = args.file
    if not os.path.isfile(path):
        what = "is a folder, not a model file" if os.path.isdir(path) else "does not exist"
        raise UsageError(f"{path} {what}")
    if args.only is not None or args.all or args.weight is not None or args.groups:
        return _trigger_choices(args, ctx, os.path.realpath(path))
    from ..triggers import trigger_words_for

    index = _open_index(ctx)
    client = None
    if not args.offline:  # few retries: offline, the header's words are better than a long wait
        from ..api import CivitaiClient

        client = CivitaiClient(ctx.config.api_base, ctx.config.api_key, max_attempts=2)
    try:
        words = trigger_words_for(path, index, client)
    except OSError as exc:
        print(f"civkit: cannot read {path}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILURE
    finally:
        if index is not None:
            index.close()
    if ctx.json:
        print(json.dumps(words, ensure_ascii=False))
    elif words:
        print(", ".join(words))
    else:
        print(f"civkit: no trigger words known for {path} (not on Civitai, no training metadata)", file=sys.stderr)
    return EXIT_OK


def _trigger_choices(args, ctx, path: str) -> int:
    from ..library.prefs import PrefsError, groups_of, set_prefs

    index = _open_index(ctx)
    if index is None:
        return EXIT_FAILURE
    weight = args.weight
    clear = weight is not None and weight.strip().lower() in ("default", "0", "none", "")
    try:
        with index:
            if args.only is not None or args.all or weight is not None:
                entry, result = set_prefs(index, path, groups=args.only, all_groups=args.all,
                                          weight=None if clear else weight, clear_weight=clear,
                                          write_json=ctx.config.write_sidecars)
                if result is not None and result.status == "error":
                    print(f"civkit: {result.message}", file=sys.stderr)
            else:
                entry = index.get(path)
                if entry is None:
                    raise UsageError(f"{path} is not in the library index yet; run `civkit scan` on its folder first.")
    except PrefsError as exc:
        raise UsageError(exc.message) from None
    groups = groups_of(entry)
    if ctx.json:
        print(json.dumps({"path": path, "groups": groups, "preferred_weight": entry.preferred_weight},
                         ensure_ascii=False))
        return EXIT_OK
    for g in groups:
        print(f"[{'x' if g['on'] else ' '}] {g['index']}: {g['text']}")
    if not groups:
        print("no trained-words groups (the file is not linked to a Civitai version)")
    print(f"preferred weight: {entry.preferred_weight if entry.preferred_weight is not None else 'the default'}")
    return EXIT_OK


def _update_dirs(args) -> list:
    if args.dirs:
        return _check_dirs(args.dirs)
    if args.models_dir:
        return _check_dirs([args.models_dir])
    if os.path.isdir("models"):
        return ["models"]
    raise UsageError("Give the folders that hold your models (civkit updates DIR...), or --models-dir DIR. "
                     "(./models does not exist here.)")


def cmd_updates(args, ctx) -> int:
    from ..api.errors import CivitaiError
    from ..library.queries import find_updates

    ctx.json = _wants_json(args, ctx)
    dirs = _update_dirs(args)
    if args.replace and not args.download:
        raise UsageError("--replace goes with --download (it retires the old file once the new one is verified).")
    if args.download or args.dry_run:
        from .batch import download_updates

        return download_updates(dirs, args, ctx)
    index = _open_index(ctx)
    if index is None:
        return EXIT_FAILURE
    client = ctx.client()
    with index:
        report = _run_scan(dirs, index, client, ctx, lookup=True, write_sidecars=False)
        if report.lookup_error:
            print(f"civkit: cannot reach Civitai: {report.lookup_error}", file=sys.stderr)
            return EXIT_FAILURE
        try:
            updates = find_updates(report.entries, client)
        except CivitaiError as exc:
            print(f"civkit: cannot check for updates: {exc.message}", file=sys.stderr)
            return EXIT_FAILURE
    linked = [e for e in report.entries if e.status == "linked"]
    for u in updates:
        if ctx.json:
            print(json.dumps(u.to_json(), ensure_ascii=False))
            continue
        have = ", ".join(sorted({c.version_name or str(c.version_id) for c in u.local}))
        when = f", published {u.latest_published_at[:10]}" if u.latest_published_at else ""
        print(f"{u.model_name}: you have {have}; newer: {u.latest_version_name}{when}")
        print(f"    {client.api_base}/models/{u.model_id}?modelVersionId={u.latest_version_id}")
        for c in u.local:
            print(f"    {c.path}")
    if not ctx.json:
        models = len({e.model_id for e in linked})
        print(f"{len(updates)} of {models} linked models have a newer version ({len(linked)} linked files)")
    return EXIT_OK


def cmd_duplicates(args, ctx) -> int:
    from ..library.queries import find_duplicates
    from ..sizes import human_size

    ctx.json = _wants_json(args, ctx)
    dirs = _check_dirs(args.dirs)
    index = _open_index(ctx)
    if index is None:
        return EXIT_FAILURE
    with index:
        report = _run_scan(dirs, index, None, ctx, lookup=False, write_sidecars=False)
        groups = find_duplicates(report.entries)
    for path, message in report.errors:
        print(f"civkit: {path}: {message}", file=sys.stderr)
    for g in groups:
        if ctx.json:
            print(json.dumps(g.to_json(), ensure_ascii=False))
            continue
        name = f" {g.model_name} — {g.version_name}" if g.model_name else ""
        note = " (hard links: no space wasted)" if g.hardlinked else f", {human_size(g.wasted_bytes, byte_word='bytes')} wasted"
        print(f"{len(g.paths)} copies of {human_size(g.size, byte_word='bytes')}{name}{note}")
        for path in g.paths:
            print(f"    {path}")
    if not ctx.json:
        wasted = sum(g.wasted_bytes for g in groups)
        print(f"{len(groups)} groups of identical files; {human_size(wasted, byte_word='bytes')} could be freed")
    return EXIT_FAILURE if report.errors else EXIT_OK
