"""``civkit mv|rename|rm|trash|organize|link``: looking after the library from the command line.

Roots: the folders given with ``--models-dir DIR`` (repeatable), else every model folder the
index knows from earlier scans and downloads. Every source and destination stays inside them;
a plan that would leave them or overwrite a file exits 2 with nothing moved. ``--json``: one
object per file and line with ``path`` (new), ``old_path``, ``status``, ``message``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from ..sizes import human_size
from .main import UsageError

# civkit.library (sqlite3, ...) loads in the handlers: `civkit mv --help` stays fast (tests/test_cli_startup.py).

EXIT_OK = 0
EXIT_FAILURE = 1


def register(subparsers) -> None:
    p = subparsers.add_parser("mv", help="move model files with their sidecars",
                              description="Move FILE(s) and everything beside them (.civitai.info, .json, "
                                          "previews, .yaml, ...) to DEST: a folder, or a new path for one file. "
                                          "The index follows; nothing is re-hashed.")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("dest", metavar="DEST")
    _common(p)
    p.add_argument("--dry-run", action="store_true", help="show what would move")
    p.set_defaults(func=cmd_mv)

    p = subparsers.add_parser("rename", help="rename a model file with its sidecars",
                              description="Rename FILE and its sidecars; NEWNAME keeps the extension unless it "
                                          "ends with a model extension itself.")
    p.add_argument("file", metavar="FILE")
    p.add_argument("new_name", metavar="NEWNAME")
    _common(p)
    p.set_defaults(func=cmd_rename)

    p = subparsers.add_parser("rm", help="move model files and their sidecars to civkit's trash",
                              description="Move FILE(s) and their sidecars to civkit's trash (see `civkit trash`).")
    p.add_argument("files", nargs="+", metavar="FILE")
    _common(p)
    p.set_defaults(func=cmd_rm)

    p = subparsers.add_parser("trash", help="list, restore or empty civkit's trash",
                              description="civkit trash [list | restore ID... | empty [--older-than DAYS] [ID...]]")
    p.add_argument("action", nargs="?", default="list", choices=("list", "restore", "empty"))
    p.add_argument("ids", nargs="*", metavar="ID")
    p.add_argument("--older-than", type=float, metavar="DAYS", help="empty: only items trashed before that")
    _common(p)
    p.set_defaults(func=cmd_trash)

    p = subparsers.add_parser("organize", help="sort model files into subfolders by a template",
                              description="Move indexed files under DIR to DIR/<template>/ (fields: {base_model}, "
                                          "{type}, {model_name}, {version_name}, {creator}); linked files only "
                                          "unless --all.")
    p.add_argument("dir", metavar="DIR")
    p.add_argument("--template", required=True, metavar="TEMPLATE")
    p.add_argument("--dry-run", action="store_true", help="show what would move, move nothing")
    p.add_argument("--all", action="store_true", help="also files not linked to Civitai")
    _common(p)
    p.set_defaults(func=cmd_organize)

    p = subparsers.add_parser("link", help="link a file to a Civitai version by hand",
                              description="Link FILE (which Civitai does not know by hash) to REF (a URL, AIR or "
                                          "model@version); the link is kept in the index, never replaced by a "
                                          "lookup, and the sidecars are written from that version.")
    p.add_argument("file", metavar="FILE")
    p.add_argument("ref", nargs="?", metavar="REF")
    p.add_argument("--clear", action="store_true", help="forget the link; the next scan asks Civitai again")
    _common(p)
    p.set_defaults(func=cmd_link)


def _common(p) -> None:
    p.add_argument("--models-dir", action="append", metavar="DIR", default=None,
                   help="a model folder civkit may touch (repeatable; default: the folders it has scanned)")
    p.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable output")


def _open(args, ctx):
    from ..library.care import CareRefused, Caretaker
    from ..library.index import IndexUnavailable, LibraryIndex

    try:
        index = LibraryIndex(ctx.config.index_path)
    except IndexUnavailable as exc:
        raise UsageError(exc.message) from None
    roots = args.models_dir or index.known_roots()
    try:
        return Caretaker(index, roots, ctx.config.home)
    except CareRefused as exc:
        index.close()
        raise UsageError(exc.message) from None


def _wants_json(args, ctx) -> bool:
    return bool(ctx.json or getattr(args, "json", False))


def _print_results(results, as_json: bool) -> int:
    failed = False
    for r in results:
        failed = failed or r.status == "failed"
        if as_json:
            print(json.dumps(r.to_json(), ensure_ascii=False))
        elif r.status == "failed":
            print(f"civkit: {r.old_path}: {r.message}", file=sys.stderr)
        else:
            arrow = f"{r.old_path} -> {r.path}" if r.path != r.old_path else r.path
            print(f"{r.status:9}  {arrow}  ({r.message})")
    return EXIT_FAILURE if failed else EXIT_OK


def _run(args, ctx, work) -> int:
    from ..library.care import CareRefused

    as_json = _wants_json(args, ctx)
    care = _open(args, ctx)
    try:
        results = work(care)
    except CareRefused as exc:
        raise UsageError(exc.message) from None
    finally:
        care.index.close()
    return _print_results(results, as_json)


def cmd_mv(args, ctx) -> int:
    return _run(args, ctx, lambda care: care.move(args.files, args.dest, dry_run=args.dry_run))


def cmd_rename(args, ctx) -> int:
    return _run(args, ctx, lambda care: care.rename(args.file, args.new_name))


def cmd_rm(args, ctx) -> int:
    return _run(args, ctx, lambda care: care.remove(args.files))


def cmd_organize(args, ctx) -> int:
    from ..library.organize import organize

    return _run(args, ctx, lambda care: organize(care, args.dir, args.template, include_all=args.all,
                                                 dry_run=args.dry_run))


def cmd_trash(args, ctx) -> int:
    from ..library.trash import TrashError, empty_trash, find_items, list_trash, restore_item

    as_json = _wants_json(args, ctx)
    care = _open(args, ctx)
    try:
        if args.action == "list":
            items = list_trash(care.roots, care.home)
            for item in items:
                if as_json:
                    print(json.dumps(item.to_json(), ensure_ascii=False))
                else:
                    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(item.trashed_at))
                    extra = f" + {len(item.files) - 1} sidecars" if len(item.files) > 1 else ""
                    print(f"{item.id}  {when}  {human_size(item.size, byte_word='bytes')}  {item.path}{extra}")
            if not as_json and not items:
                print("The trash is empty.")
            return EXIT_OK
        if args.action == "restore":
            if not args.ids:
                raise UsageError("Say which items to restore: civkit trash restore ID... (ids from `civkit trash list`)")
            items = find_items(args.ids, care.roots, care.home)
            code = EXIT_OK
            for item in items:
                try:
                    path = restore_item(item, care.index)
                except TrashError as exc:
                    if len(items) == 1:
                        raise UsageError(exc.message) from None
                    print(f"civkit: {exc.message}", file=sys.stderr)
                    code = EXIT_FAILURE
                    continue
                record = {"path": path, "old_path": item.folder, "status": "restored", "id": item.id,
                          "message": f"restored with {len(item.files) - 1} sidecar(s)"}
                print(json.dumps(record) if as_json else f"restored  {path}  ({record['message']})")
            return code
        if args.older_than is not None and args.older_than < 0:
            raise UsageError("--older-than takes a number of days, 0 or more")
        gone = empty_trash(care.roots, care.home, ids=args.ids or None, older_than_days=args.older_than)
        for item in gone:
            record = {"path": None, "old_path": item.path, "status": "deleted", "id": item.id,
                      "message": "deleted for good"}
            print(json.dumps(record) if as_json else f"deleted   {item.id}  {item.path}")
        if not as_json:
            print(f"{len(gone)} item(s) deleted for good.")
        return EXIT_OK
    except TrashError as exc:
        raise UsageError(exc.message) from None
    finally:
        care.index.close()


def cmd_link(args, ctx) -> int:
    from ..library.care import CareRefused
    from ..library.prefs import PrefsError, clear_link, link_by_hand
    from ..versions import VersionResolver

    as_json = _wants_json(args, ctx)
    if bool(args.ref) == bool(args.clear):
        raise UsageError("Give either REF (a Civitai URL, AIR or model@version) or --clear.")
    care = _open(args, ctx)
    try:
        path = care.source(args.file)
        if args.clear:
            clear_link(care.index, path)
            record = {"path": path, "old_path": path, "status": "unlinked",
                      "message": "link forgotten; the next scan asks Civitai again (sidecars left as they are)"}
        else:
            client = ctx.client()
            version, _ = VersionResolver(lambda: client, lambda: ctx.config).version(args.ref)
            entry, results = link_by_hand(care.index, path, version, write_sidecars=ctx.config.write_sidecars)
            notes = [r.message for r in results if r.status in ("error", "conflict")]
            record = {"path": path, "old_path": path, "status": "linked",
                      "message": f"linked by hand to {entry.model_name} — {entry.version_name}"
                                 + (f"; {'; '.join(notes)}" if notes else "")}
    except (CareRefused, PrefsError, ValueError) as exc:
        raise UsageError(getattr(exc, "message", None) or str(exc)) from None
    finally:
        care.index.close()
    print(json.dumps(record, ensure_ascii=False) if as_json else f"{record['status']:9}  {path}  ({record['message']})")
    return EXIT_OK
