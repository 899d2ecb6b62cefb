"""``civkit download REF...``: verified downloads into the right model folder.

Runs through the same service and download queue as every other UI (one worker, so the files
arrive in the order given). A progress bar on a terminal; ``--json`` prints one object per
download (JSON lines). Exit code 0 when every download ended done or skipped, 1 when any failed,
2 for bad input, 130 when interrupted (the partial file is kept for a resume).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from pathlib import Path

from ..config import DEFAULT_CONNECTIONS, MAX_CONNECTIONS, check_connections
from ..folders import LAYOUTS
from ..refs import TOKEN_REMOVED, clean_ref_text
from ..sizes import human_size
from .batch import add_batch_options, batch_client, run_plan
from .main import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, UsageError, key_hint

# The download machinery (requests, the service) loads in the handler; `download --help` needs only
# the names of the conflict modes (tests/test_cli_startup.py checks they match the download's).
CONFLICT_MODES = ("ask", "skip", "suffix", "replace")

FINAL = ("done", "skipped", "failed", "cancelled")
JSON_KEYS = ("ref", "state", "path", "sha256", "verified_with", "unverified", "bytes", "model_id", "version_id",
             "model_name", "version_name", "trained_words", "warnings", "error", "companions")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "download", help="download models from Civitai, verified, into the right folder",
        description="Download Civitai models (page URLs, AIR URNs, model@version, or ids) into the right model "
                    "folder, verified against Civitai's SHA256 (or BLAKE3; a new file Civitai lists no hash for yet is "
                    "only size-checked and reported as unverified). Interrupted downloads resume.")
    p.add_argument("refs", nargs="*", metavar="REF", help="a Civitai URL, AIR, MODEL@VERSION, or an id")
    where = p.add_argument_group("where to save")
    where.add_argument("--models-dir", metavar="DIR", help="the models folder (default ./models if it exists)")
    where.add_argument("--layout", choices=LAYOUTS, help="folder layout (guessed from the models folder)")
    where.add_argument("--to", metavar="DIR", help="save into exactly this folder, whatever the model type")
    which = p.add_argument_group("which file (default: the primary file)")
    which.add_argument("--file-id", type=int, metavar="N", help="a file id, as `civkit show REF` lists them")
    which.add_argument("--format", metavar="F", help="SafeTensor, PickleTensor, GGUF, ...")
    which.add_argument("--size", metavar="S", help="full or pruned")
    which.add_argument("--fp", metavar="FP", help="fp16, bf16, fp8, ...")
    which.add_argument("--allow-unsafe", action="store_true", help="allow PickleTensor (.ckpt/.pt) files")
    which.add_argument("--include-training-data", action="store_true", help="allow Training Data archives")
    which.add_argument("--with-vae", action="store_true",
                       help="also download the checkpoint's recommended VAE (into the VAE folder; the "
                            "checkpoint's .json then names it)")
    which.add_argument("--with-config", action="store_true",
                       help="also download the checkpoint's config yaml (WebUI: saved as <checkpoint>.yaml "
                            "beside it; ComfyUI: the configs folder)")
    many = p.add_argument_group("many files at once (a plan is printed first)")
    many.add_argument("--all-files", action="store_true",
                      help="every file of each version (Training Data only with --include-training-data)")
    many.add_argument("--all-versions", action="store_true", help="every version of each model, newest first")
    many.add_argument("--favorites", action="store_true",
                      help="the models bookmarked by the account of your API key")
    many.add_argument("--creator", metavar="USERNAME", help="the models of a Civitai creator")
    many.add_argument("--type", dest="types", action="append", metavar="T",
                      help="with --favorites/--creator: only this model type (LORA, Checkpoint, ...; repeatable)")
    many.add_argument("--base-model", dest="base_models", action="append", metavar="B",
                      help="with --favorites/--creator: only this base model (SDXL 1.0, Pony, ...; repeatable)")
    many.add_argument("--limit", type=int, metavar="N", help="with --creator: at most N models")
    add_batch_options(many)
    p.add_argument("--no-sidecars", action="store_true", help="write no .civitai.info/.json sidecars or previews")
    p.add_argument("--connections", type=_connections, metavar="N",
                   help=f"connections per large download (default: the 'connections' setting, {DEFAULT_CONNECTIONS}; "
                        f"1..{MAX_CONNECTIONS}, 1 = one connection). Small files always use one.")
    p.add_argument("--on-conflict", choices=CONFLICT_MODES, default="ask",
                   help="a different file with the same name exists: ask (fail and say so), skip, suffix, replace")
    p.set_defaults(func=handle)


def _connections(text: str) -> int:
    try:
        return check_connections(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _host(args, config):
    from ..hosts import StandaloneHost

    hint = key_hint(config)
    if args.to:
        to = Path(args.to).expanduser()
        models = Path(args.models_dir).expanduser() if args.models_dir else to
        return StandaloneHost(models, args.layout or "plain", target=to, key_hint=hint)
    if args.models_dir:
        models = Path(args.models_dir).expanduser()
    elif Path("models").is_dir():
        models = Path("models")
    else:
        raise UsageError("No models folder: pass --models-dir DIR (your ComfyUI or WebUI models folder), "
                         "or --to DIR for an exact folder. (./models does not exist here.)")
    if models.exists() and not models.is_dir():
        raise UsageError(f"--models-dir {models} is not a folder.")
    return StandaloneHost(models.resolve(), args.layout, key_hint=hint)


class _Bars:
    """tqdm bars on a terminal, fed from queue events (worker threads)."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.bars: dict = {}
        self.lock = threading.Lock()

    def __call__(self, event: str, snap: dict) -> None:
        if not self.enabled or event != "civkit.download":
            return
        with self.lock:
            bar = self.bars.get(snap["id"])
            if snap["state"] in FINAL:
                if bar is not None:
                    bar.close()
                    del self.bars[snap["id"]]
                return
            if snap["state"] != "downloading" and bar is None:
                return
            if bar is None:
                from tqdm import tqdm

                name = snap.get("model_name") or snap.get("ref")
                bar = self.bars[snap["id"]] = tqdm(total=snap.get("total"), unit="B", unit_scale=True,
                                                   unit_divisor=1024, desc=str(name)[:40], file=sys.stderr,
                                                   leave=False, dynamic_ncols=True)
            if snap.get("total") and bar.total != snap["total"]:
                bar.total = snap["total"]
            bar.n = snap.get("bytes") or 0
            bar.set_postfix_str(snap["state"] if snap["state"] != "downloading" else "", refresh=False)
            bar.refresh()

    def close(self) -> None:
        with self.lock:
            for bar in self.bars.values():
                bar.close()
            self.bars.clear()


def _report(snap: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps({k: snap.get(k) for k in JSON_KEYS}, ensure_ascii=False), flush=True)
        return
    state = snap["state"]
    name = " ".join(x for x in (snap.get("model_name"), snap.get("version_name")) if x) or snap["ref"]
    if state == "done":
        # never "verified" for a file Civitai lists no hash for (issue 13 item 17); the message says why
        check = f"{snap.get('verified_with')} verified" if snap.get("verified_with") else \
            (snap.get("message") or "unverified").replace("downloaded, ", "")
        print(f"{name}: saved {snap['path']} ({human_size(snap.get('bytes'))}, {check})")
    elif state == "skipped":
        print(f"{name}: {snap.get('message') or 'already there'}: {snap['path']}")
    elif state == "cancelled":
        print(f"civkit: {snap['ref']}: cancelled; the partial file is kept, run the same command again to resume",
              file=sys.stderr)
    else:
        print(f"civkit: {snap['ref']}: {snap.get('error') or snap.get('message')}", file=sys.stderr)
    for companion in snap.get("companions") or ():
        how = "already there" if companion.get("state") == "skipped" else "saved"
        kind = "VAE" if companion.get("kind") == "vae" else "config"
        print(f"  {kind}: {how} {companion.get('path')}")
    if state in ("done", "skipped") and snap.get("trained_words"):
        print(f"  trigger words: {', '.join(snap['trained_words'])}")
    for warning in snap.get("warnings") or ():
        print(f"  warning: {warning}", file=sys.stderr)


def _is_batch(args) -> bool:
    return bool(args.all_files or args.all_versions or args.favorites or args.creator or args.dry_run)


def _check_batch_args(args) -> str:
    """Which batch this is; UsageError for combinations that make no sense."""
    sources = [name for name, on in (("REF", bool(args.refs)), ("--favorites", args.favorites),
                                     ("--creator", bool(args.creator))) if on]
    if not sources:
        raise UsageError("Name what to download: REF..., --favorites or --creator USERNAME.")
    if len(sources) > 1:
        raise UsageError(f"Use one of {' / '.join(sources)} at a time.")
    if (args.types or args.base_models) and not (args.favorites or args.creator):
        raise UsageError("--type and --base-model filter --favorites or --creator; for REF... leave them out.")
    if args.limit is not None and not args.creator:
        raise UsageError("--limit goes with --creator.")
    if args.limit is not None and args.limit < 1:
        raise UsageError("--limit must be at least 1.")
    if args.with_vae or args.with_config:
        raise UsageError("--with-vae/--with-config download one checkpoint's companions; with --all-files "
                         "every file of the version is planned anyway.")
    if args.file_id is not None and (args.all_files or args.all_versions):
        raise UsageError("--file-id names one file; leave out --all-files/--all-versions.")
    return "favorites" if args.favorites else "creator" if args.creator else "refs"


def handle(args, ctx) -> int:
    from ..refs import RefError
    from ..service import CivkitService, ServiceError

    if _is_batch(args):
        return _handle_batch(args, ctx)
    if not args.refs:
        raise UsageError("Name what to download: REF..., --favorites or --creator USERNAME.")
    host = _host(args, ctx.config)
    if host.target is None and host.layout_note:
        print(f"civkit: {host.layout_note}", file=sys.stderr)
    config = ctx.config
    if args.no_sidecars:
        config = config.with_changes(write_sidecars=False)
    if args.to:
        config = config.with_changes(subfolder_template="")
    if args.connections is not None:
        config = config.with_changes(connections=args.connections)
    service = CivkitService(config, host, client=ctx.client(), workers=1)
    bars = _Bars(enabled=not ctx.json and sys.stderr.isatty())
    service.subscribe(bars)
    choices = {"format": args.format, "size": args.size, "fp": args.fp, "allow_unsafe": args.allow_unsafe,
               "include_training_data": args.include_training_data, "on_conflict": args.on_conflict}
    code = EXIT_OK
    try:
        for ref in args.refs:
            ref, had_token = clean_ref_text(ref)  # never queued, printed or kept (issue 13 item 12)
            if had_token:
                print(f"civkit: {TOKEN_REMOVED}", file=sys.stderr)
            try:
                task_id = service.start_download(ref, file_id=args.file_id, with_vae=args.with_vae,
                                                 with_config=args.with_config, **choices)
            except (RefError, ServiceError) as exc:
                message = getattr(exc, "message", None) or str(exc)
                if ctx.json:
                    print(json.dumps({"ref": ref, "state": "failed", "error": message}), flush=True)
                else:
                    print(f"civkit: {message}", file=sys.stderr)
                code = max(code, EXIT_USAGE if isinstance(exc, RefError) else EXIT_FAILURE)
                continue
            snap = _wait(service, task_id)
            bars.close()
            _report(snap, ctx.json)
            if snap["state"] not in ("done", "skipped"):
                code = max(code, EXIT_FAILURE)
    finally:
        bars.close()
        service.close()
    return code


def _handle_batch(args, ctx) -> int:
    from ..refs import RefError
    from ..service import CivkitService, ServiceError

    kind = _check_batch_args(args)
    host = _host(args, ctx.config)
    config = ctx.config
    if args.no_sidecars:
        config = config.with_changes(write_sidecars=False)
    if args.to:
        config = config.with_changes(subfolder_template="")
    service = CivkitService(config, host, client=batch_client(ctx, args.rate), workers=1)
    try:
        try:
            plan = service.plan_batch(kind, refs=args.refs, all_files=args.all_files,
                                      all_versions=args.all_versions,
                                      include_training_data=args.include_training_data, types=args.types or (),
                                      base_models=args.base_models or (), username=args.creator,
                                      limit=args.limit, allow_unsafe=args.allow_unsafe, format=args.format,
                                      size=args.size, fp=args.fp, file_id=args.file_id)
        except RefError as exc:
            raise UsageError(getattr(exc, "message", None) or str(exc)) from None
        except ServiceError as exc:
            if exc.http_status == 400:
                raise UsageError(exc.message) from None
            print(f"civkit: {exc.message}", file=sys.stderr)
            return EXIT_FAILURE
        return run_plan(service, plan, args, ctx)
    finally:
        service.close()


def _wait(service, task_id) -> dict:
    """Wait for one task; Ctrl-C cancels it (its .part is kept) and re-raises."""
    try:
        while True:
            snap = service.wait_download(task_id, timeout=0.5)
            if snap["state"] in FINAL:
                return snap
    except KeyboardInterrupt:
        service.cancel_download(task_id)
        service.wait_download(task_id, timeout=30)
        raise
