"""``civkit resources SOURCE... [--download] [--accept-guesses]``: every model a workflow or image needs.

SOURCE: an image (.png/.jpg/.jpeg/.webp with A1111 or ComfyUI metadata), a ComfyUI workflow
``.json`` (UI or API format), a Civitai image link (https://civitai.com/images/N), or ``-`` to read
an A1111 parameters block from stdin. Exit 0 when every need is present (or downloaded), 1 when
anything is missing, ambiguous, unresolved or failed, 2 for bad input.
"""

from __future__ import annotations

import json
import sys

from ..folders import LAYOUTS
from ..sizes import human_size
from .main import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, UsageError

JSON_KEYS = ("source", "kind", "name", "status", "path", "model_id", "version_id", "file_id", "sha256", "size",
             "weight", "node_id", "widget", "folder_key", "model_name", "version_name", "file_name", "url",
             "verified", "guess", "candidates", "message")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "resources", help="list (and download) every model a workflow, image or Civitai image link needs",
        description="Read a ComfyUI workflow, a PNG/JPEG/WebP made by A1111, Forge or ComfyUI, a Civitai image "
                    "link, or a pasted parameters block (-), find every checkpoint, LoRA, VAE, embedding, ... it "
                    "uses, check what is already on disk, and find the rest on Civitai (by id, then hash, then "
                    "name). With --download the missing files are fetched, verified, into the right folders.")
    p.add_argument("sources", nargs="+", metavar="SOURCE",
                   help="an image, a workflow .json, a Civitai image link, or - (parameters from stdin)")
    p.add_argument("--download", action="store_true", help="download what is missing (verified, into the "
                   "host's folder for each kind)")
    p.add_argument("--accept-guesses", action="store_true",
                   help="also download the best match for needs found only by name (otherwise they are "
                        "listed as ambiguous with their candidates)")
    p.add_argument("--models-dir", metavar="DIR", help="the models folder (default ./models if it exists)")
    p.add_argument("--layout", choices=LAYOUTS, help="folder layout (guessed from the models folder)")
    p.set_defaults(func=handle)


def _where(item: dict) -> str:
    status = item["status"]
    if status in ("present", "downloaded"):
        note = "" if item.get("verified") else " (unverified: no hash confirms it)"
        return f"{item['path']}{note}"
    if status == "missing":
        what = " ".join(x for x in (item.get("model_name"), item.get("version_name")) if x)
        guess = " [guess]" if item.get("guess") else ""
        return f"{what}: {item.get('file_name')} -> {item.get('folder_key') or '?'}{guess}"
    if status == "ambiguous":
        cands = item.get("candidates") or []
        best = cands[0] if cands else {}
        return (f"{len(cands)} candidate(s), best: {best.get('model_name')} {best.get('version_name')} "
                f"({best.get('file_name')}, confidence {best.get('confidence')})")
    return item.get("message") or ""


def _table(items: list) -> None:
    rows = [(i["kind"], i["name"] or "?", i["status"], _where(i),
             human_size(i["size"]) if i.get("size") and i["status"] in ("missing", "downloaded") else "")
            for i in items]
    head = ("KIND", "NAME", "STATUS", "WHERE / WHAT", "SIZE")
    rows = [tuple(str(x)[:90] if c == 3 else str(x)[:60] for c, x in enumerate(r)) for r in rows]
    w = [max([len(h)] + [len(r[c]) for r in rows]) for c, h in enumerate(head)]
    for r in [head] + rows:
        print(f"{r[0]:<{w[0]}}  {r[1]:<{w[1]}}  {r[2]:<{w[2]}}  {r[3]:<{w[3]}}  {r[4]:>{w[4]}}".rstrip())


def _totals(items: list, downloaded: bool) -> None:
    missing = [i for i in items if i["status"] == "missing"]
    other = [i for i in items if i["status"] in ("ambiguous", "unresolved", "failed")]
    present = sum(1 for i in items if i["status"] in ("present", "downloaded"))
    parts = [f"{present} of {len(items)} on disk"]
    if missing:
        size = sum(i.get("size") or 0 for i in missing)
        parts.append(f"{len(missing)} missing ({human_size(size)})" + ("" if downloaded else
                                                                         ": run again with --download"))
    for status in ("ambiguous", "unresolved", "failed"):
        n = sum(1 for i in other if i["status"] == status)
        if n:
            parts.append(f"{n} {status}")
    print("; ".join(parts))


def handle(args, ctx) -> int:
    from ..resources import SourceError
    from ..service import CivkitService

    host = _host(args)
    service = CivkitService(ctx.config, host, client=ctx.client(), workers=1)
    part = service.resources_part
    code = EXIT_OK
    try:
        if sum(1 for s in args.sources if s == "-") > 1:
            raise UsageError("- (stdin) can be given once.")
        for source in args.sources:
            try:
                result = part.read(source, stdin=sys.stdin)
            except SourceError as exc:
                if ctx.json:
                    print(json.dumps({"source": source, "status": "error", "message": exc.message}), flush=True)
                else:
                    print(f"civkit: {exc.message}", file=sys.stderr)
                code = max(code, EXIT_USAGE)
                continue
            resolutions = part.resolve(result, accept_guesses=args.accept_guesses)
            if args.download:
                def started(r):
                    if not ctx.json:
                        print(f"downloading {r.file.name} ({human_size(r.size)}) -> {r.folder_key or 'its folder'}",
                              file=sys.stderr, flush=True)
                part.fetch(resolutions, on_start=started)
            items = [r.to_json() for r in resolutions]
            if ctx.json:
                for item in items:
                    print(json.dumps({k: item.get(k) for k in JSON_KEYS}, ensure_ascii=False), flush=True)
            else:
                if len(args.sources) > 1:
                    print(f"== {result.source}")
                if items:
                    _table(items)
                else:
                    print("it needs no model files")
                _totals(items, args.download)
                for note in result.notes:
                    print(f"  note: {note}", file=sys.stderr)
            if any(i["status"] not in ("present", "downloaded") for i in items):
                code = max(code, EXIT_FAILURE)
    finally:
        service.close()
    return code


def _host(args):
    from pathlib import Path

    from ..hosts import StandaloneHost

    if args.models_dir:
        models = Path(args.models_dir).expanduser()
    elif Path("models").is_dir():
        models = Path("models")
    else:
        raise UsageError("No models folder: pass --models-dir DIR (your ComfyUI or WebUI models folder; "
                         "./models does not exist here).")
    if models.exists() and not models.is_dir():
        raise UsageError(f"--models-dir {models} is not a folder.")
    return StandaloneHost(models.resolve(), args.layout)
