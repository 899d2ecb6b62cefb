"""Many files at once on the command line: print the plan, then (unless ``--dry-run``) run it.

Used by ``civkit download --all-files/--all-versions/--favorites/--creator/--dry-run`` and
``civkit updates --download``. The plan is built and run by the service's batch part, through the
same download queue as a single ``civkit download``. ``--json``: with ``--dry-run`` one object per
planned file (``model_id``, ``version_id``, ``file_id``, ``name``, ``path``, ``size``, ``action``,
``message``, ...); otherwise one object per file as ``civkit download --json`` prints it, with its
``status`` (done | have | failed) and ``message``. Exit 0 when every ``download`` row ended verified
(``have`` and a dry run count as success), 1 when any failed or was blocked, 2 for bad input.
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

from ..hosts import StandaloneHost
from ..sizes import human_size
from .main import EXIT_FAILURE, EXIT_OK, key_hint

ROW_MARK = {"download": "download", "have": "have    ", "conflict": "conflict", "blocked": "blocked "}
RUN_JSON_KEYS = ("ref", "state", "path", "sha256", "verified_with", "unverified", "bytes", "model_id", "version_id",
                 "model_name", "version_name", "trained_words", "warnings", "error", "companions")


def add_batch_options(parser) -> None:
    """--dry-run, --rate, --retries: shared by every batch command."""
    parser.add_argument("--dry-run", action="store_true", help="print the plan and stop: nothing is downloaded")
    parser.add_argument("--rate", type=float, default=1.0, metavar="N",
                        help="Civitai API requests per second during the batch (default 1; be kind)")
    parser.add_argument("--retries", type=int, default=5, metavar="N",
                        help="how often a file that hit a rate limit or a dropped connection is tried again "
                             "later in the batch (default 5)")


def batch_client(ctx, rate: float):
    """The client for a batch: the global settings, paced at ``rate`` requests per second."""
    from ..api import CivitaiClient

    if not rate or rate <= 0:
        from .main import UsageError

        raise UsageError("--rate must be more than 0 requests per second.")
    return CivitaiClient(ctx.config.api_base, ctx.config.api_key, rate_per_second=rate, burst=max(1, min(5, int(rate))))


def _label(row: dict) -> str:
    return " ".join(str(x) for x in (row.get("model_name"), row.get("version_name")) if x) or str(row.get("ref"))


def print_plan(plan: dict, as_json: bool) -> None:
    rows, totals = plan["rows"], plan["totals"]
    if as_json:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False), flush=True)
        return
    for note in plan.get("notes") or ():
        print(note)
    for row in rows:
        where = row.get("existing") if row["action"] == "have" else row.get("path")
        print(f"  {ROW_MARK.get(row['action'], row['action'])}  {_label(row)}  {row.get('name') or '-'}  "
              f"{human_size(row.get('size'))}")
        if where:
            print(f"            {where}")
        if row.get("message"):
            print(f"            {row['message']}")
    free = totals.get("free_after")
    free_text = f"; {human_size(free)} free after" if free is not None else ""
    print(f"Plan: {totals['files']} files: {totals['download']} to download "
          f"({human_size(totals['download_bytes'])}), {totals['have']} already in the library, "
          f"{totals['conflict']} name conflicts, {totals['blocked']} blocked{free_text}")
    if not totals.get("space_ok", True):
        print("civkit: not enough free disk space for this plan; free some space or download fewer files.",
              file=sys.stderr)


def plan_ok(plan: dict) -> bool:
    return all(r["action"] in ("download", "have") for r in plan["rows"]) and plan["totals"].get("space_ok", True)


def _print_outcome(n: int, total: int, row: dict, as_json: bool) -> None:
    snap = row.get("snapshot") or {}
    if as_json:
        data = {k: snap.get(k) for k in RUN_JSON_KEYS} if snap else {"ref": f"{row['model_id']}@{row['version_id']}"}
        data.update({k: row.get(k) for k in ("model_id", "version_id", "file_id", "model_name", "version_name",
                                              "name", "size", "action")})
        data["path"] = row.get("path")
        data["status"] = row["status"] if row["status"] in ("done", "have") else "failed"
        data["message"] = row.get("message") or ""
        if not data.get("state"):
            data["state"] = {"have": "skipped", "done": "done"}.get(row["status"], "failed")
        if row["status"] == "failed" and not data.get("error"):
            data["error"] = data["message"]
        print(json.dumps(data, ensure_ascii=False), flush=True)
        return
    prefix = f"[{n}/{total}] {_label(row)}"
    if row["status"] == "done":
        # never "verified" for a file Civitai lists no hash for (issue 13 item 17)
        check = f"{snap['verified_with']} verified" if snap.get("verified_with") else \
            "unverified: Civitai lists no hash for this file yet; only its size was checked"
        print(f"{prefix}: saved {row['path']} ({human_size(row.get('size'))}, {check})")
        if row.get("message"):
            print(f"    {row['message']}")
    elif row["status"] == "have":
        print(f"{prefix}: already in the library: {row.get('path')}")
    else:
        print(f"civkit: {prefix}: {row.get('name') or ''}: {row.get('message') or row['status']}", file=sys.stderr)


def run_plan(service, plan: dict, args, ctx, *, replace: bool = False, trash_roots=None) -> int:
    """Print the plan; unless --dry-run, run it and print one outcome per file. Returns the exit code."""
    if args.dry_run:
        print_plan(plan, ctx.json)
        return EXIT_OK if plan_ok(plan) else EXIT_FAILURE
    if not ctx.json:
        print_plan(plan, False)
    if not plan["totals"].get("space_ok", True):
        return EXIT_FAILURE
    from .download import _Bars

    bars = _Bars(enabled=not ctx.json and sys.stderr.isatty())
    unsubscribe = service.subscribe(bars)
    runner = service.batch_runner(plan["id"], replace=replace, max_rounds=max(0, args.retries),
                                  trash_roots=trash_roots)
    printed: set = set()
    total = len(plan["rows"])
    lock = threading.Lock()

    def on_change(r) -> None:  # from the batch's thread and the queue's workers
        with lock:
            for i, outcome in list(r.outcomes.items()):
                if i in printed or r.plan.rows[i].action != "download" or "snapshot" not in outcome:
                    continue
                printed.add(i)
                bars.close()
                _print_outcome(len(printed), total, r.report()[i], ctx.json)

    runner.on_change = _chain(runner.on_change, on_change)
    try:
        runner.run()
    except KeyboardInterrupt:
        bars.close()
        print("civkit: batch interrupted; the partial file is kept: run the same command again to resume",
              file=sys.stderr)
        raise
    finally:
        unsubscribe()
        bars.close()
    report = runner.report()
    for i, row in enumerate(report):
        if i not in printed:
            printed.add(i)
            _print_outcome(len(printed), total, row, ctx.json)
    failed = [r for r in report if r["status"] not in ("done", "have")]
    if not ctx.json:
        done = sum(1 for r in report if r["status"] == "done")
        have = sum(1 for r in report if r["status"] == "have")
        unverified = sum(1 for r in report if r["status"] == "done" and (r.get("snapshot") or {}).get("unverified"))
        how = f"downloaded ({unverified} unverified: no hash on Civitai yet)" if unverified else \
            "downloaded and verified"
        print(f"{done} {how}, {have} already there, {len(failed)} not downloaded")
        for r in failed:
            print(f"  {r['status']}: {_label(r)} {r.get('name') or ''}: {r.get('message')}")
    return EXIT_OK if not failed else EXIT_FAILURE


def download_updates(dirs, args, ctx) -> int:
    """``civkit updates DIR... --download|--dry-run [--replace]``: scan, plan the updates, run the plan."""
    from ..library import IndexUnavailable, LibraryIndex, scan
    from ..service import CivkitService

    try:
        index = LibraryIndex(ctx.config.index_path)
    except IndexUnavailable as exc:
        print(f"civkit: {exc.message}", file=sys.stderr)
        return EXIT_FAILURE
    client = batch_client(ctx, args.rate)
    service = None
    try:
        report = scan(dirs, index, client, lookup=True, write_sidecars=False, nsfw_previews=ctx.config.nsfw_previews)
        if report.lookup_error:
            print(f"civkit: cannot reach Civitai: {report.lookup_error}", file=sys.stderr)
            return EXIT_FAILURE
        service = CivkitService(ctx.config, DirsHost(args.models_dir or dirs[0], dirs, key_hint(ctx.config)), client=client,
                                index=index, workers=1)
        plan = service.plan_batch("updates", allow_unsafe=args.allow_unsafe)
        # the old copies go to <DIR>/.civkit-trash, where `civkit trash --models-dir DIR` finds them
        return run_plan(service, plan, args, ctx, replace=args.replace,
                        trash_roots=[str(Path(d).resolve()) for d in dirs])
    finally:
        if service is not None:
            service.close()
        index.close()


class DirsHost(StandaloneHost):
    """A standalone host whose roots also include the folders the user named (an update lands beside
    the old file, which must be inside the roots)."""

    def __init__(self, models_dir, dirs, key_hint=None):
        super().__init__(Path(models_dir).resolve(), key_hint=key_hint)
        self.dirs = [Path(d).resolve() for d in dirs]

    def model_roots(self) -> list:
        roots = super().model_roots()
        return roots + [d for d in self.dirs if d not in roots]


def _chain(first, second):
    def both(runner) -> None:
        if first is not None:
            first(runner)
        second(runner)

    return both
