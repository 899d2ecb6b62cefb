"""``civkit search`` and ``civkit show``: find models on Civitai and look at one.

``--json`` (a global option): ``search`` prints one JSON object per model per line, ``show`` one object.
Bad input (an unknown sort, a reference that names nothing) exits 2; a failure reaching Civitai exits 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from .main import UsageError

if TYPE_CHECKING:  # the API client, its errors and records load when a command runs, not for --help
    from ..api.records import Model, ModelFile, ModelVersion

SORTS = ("Highest Rated", "Most Downloaded", "Most Liked", "Most Discussed", "Most Collected", "Most Images",
         "Newest", "Oldest")
PERIODS = ("AllTime", "Year", "Month", "Week", "Day")
MODEL_TYPES = ("Checkpoint", "TextualInversion", "Hypernetwork", "AestheticGradient", "LORA", "LoCon", "DoRA",
               "Controlnet", "Upscaler", "MotionModule", "VAE", "TextEncoder", "UNet", "CLIPVision", "Poses",
               "Wildcards", "Workflows", "ComfyWorkflows", "Detection", "VisionLanguage", "CLIP", "LLM", "Other")
TYPE_ALIASES = {"lora": "LORA", "embedding": "TextualInversion", "ti": "TextualInversion", "controlnet": "Controlnet",
                "lycoris": "LoCon", "hypernet": "Hypernetwork", "upscale": "Upscaler"}
MAX_LIMIT = 10000
MAX_PAGE_SIZE = 100  # /models answers at most 100 a page


def register(subparsers) -> None:
    p = subparsers.add_parser("search", help="search models on Civitai",
                              description="Search models on Civitai. Without a query, lists models by --sort.")
    p.add_argument("query", nargs="?", help="words to search for")
    p.add_argument("--type", action="append", default=[], metavar="T", dest="types",
                   help="model type (LORA, Checkpoint, TextualInversion, VAE, ...); repeat for several")
    p.add_argument("--base-model", action="append", default=[], metavar="B", dest="base_models",
                   help='base model ("SD 1.5", "SDXL 1.0", "Pony", "Flux.1 D", ...); repeat for several')
    p.add_argument("--sort", metavar="S", help="; ".join(SORTS))
    p.add_argument("--period", metavar="P", help=", ".join(PERIODS))
    p.add_argument("--tag", metavar="T", help="only models with this tag")
    p.add_argument("--user", metavar="U", help="only models by this creator")
    p.add_argument("--nsfw", action="store_true", help="include mature models")
    p.add_argument("--limit", metavar="N", type=int, default=20, help="how many models to list (default 20)")
    p.add_argument("--page-size", type=int, default=None, help=argparse.SUPPRESS)
    _json_option(p)
    p.set_defaults(func=run_search)

    p = subparsers.add_parser("show", help="show a model, its versions and files",
                              description="Show a Civitai model. REF is a model or version URL, an AIR, "
                                          "123@456, or a model or version id.")
    p.add_argument("ref", metavar="REF")
    _json_option(p)
    p.set_defaults(func=run_show)


def _json_option(parser) -> None:
    """``--json`` also after the command (``civkit search anime --json``). SUPPRESS keeps a global
    ``--json`` given before the command from being reset by this parser's default."""
    parser.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="machine-readable output (same as the global --json)")


# -- input ----------------------------------------------------------------------------------------

def _choose(value: str, choices, what: str) -> str:
    key = value.replace("-", " ").replace("_", " ").strip().lower()
    for choice in choices:
        if choice.lower() == key or choice.lower().replace(" ", "") == key.replace(" ", ""):
            return choice
    raise UsageError(f"unknown {what} {value!r}; use one of: {', '.join(choices)}")


def _types(values) -> list[str]:
    out = []
    for value in values:
        for part in (p.strip() for p in value.split(",")):  # a comma list is a 400 on Civitai (§1.4)
            if not part:
                continue
            known = {t.lower(): t for t in MODEL_TYPES}
            out.append(known.get(part.lower()) or TYPE_ALIASES.get(part.lower()) or part)
    return out


# -- output ---------------------------------------------------------------------------------------

def site_url(ctx, model_id: int) -> str:
    return f"{ctx.config.api_base}/models/{model_id}"


def file_dict(f: ModelFile) -> dict:
    return {"id": f.id, "name": f.name, "type": f.type, "primary": f.primary, "sizeKB": f.size_kb,
            "format": f.format, "size": f.size, "fp": f.fp, "pickleScanResult": f.pickle_scan,
            "virusScanResult": f.virus_scan, "hashes": dict(f.hashes), "downloadUrl": f.download_url}


def version_dict(v: ModelVersion, full: bool = False) -> dict:
    d = {"id": v.id, "name": v.name, "baseModel": v.base_model, "publishedAt": v.published_at, "air": v.air,
         "trainedWords": list(v.trained_words)}
    if full:
        d.update({
            "modelId": v.model_id, "baseModelType": v.base_model_type, "nsfwLevel": v.nsfw_level,
            "availability": v.availability, "earlyAccess": v.early_access_active(),
            "earlyAccessDeadline": v.early_access_deadline, "usageControl": v.usage_control,
            "downloadCount": v.stats.download_count, "downloadUrl": v.download_url,
            "files": [file_dict(f) for f in v.files],
            "images": [{"url": i.url, "nsfwLevel": i.nsfw_level, "width": i.width, "height": i.height,
                        "type": i.type} for i in v.images],
        })
    return d


def model_dict(ctx, m: Model, full: bool = False) -> dict:
    d = {"id": m.id, "name": m.name, "type": m.type, "nsfw": m.nsfw, "nsfwLevel": m.nsfw_level,
         "creator": m.creator.username if m.creator else None, "tags": list(m.tags),
         "downloadCount": m.stats.download_count, "thumbsUpCount": m.stats.thumbs_up, "mode": m.mode,
         "url": site_url(ctx, m.id), "versions": [version_dict(v, full) for v in m.versions]}
    if full:
        d.update({"description": m.description, "availability": m.availability, "poi": m.poi,
                  "allowCommercialUse": sorted(m.allow_commercial_use), "allowNoCredit": m.allow_no_credit,
                  "allowDerivatives": m.allow_derivatives, "allowDifferentLicense": m.allow_different_license})
    return d


def _count(n) -> str:
    return "-" if n is None else f"{n:,}"


def _size(kb: float) -> str:
    size = kb * 1024
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return ""  # pragma: no cover


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _print_table(rows: list[list[str]], header: list[str]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


# -- commands -------------------------------------------------------------------------------------

def _wants_json(args, ctx) -> bool:
    return bool(ctx.json or getattr(args, "json", False))


def _show(ctx, model, rows: list) -> None:
    if ctx.json:
        print(json.dumps(model_dict(ctx, model), ensure_ascii=False), flush=True)
        return
    latest = model.versions[0] if model.versions else None
    rows.append([str(model.id), _clip(model.name, 40), model.type, (latest.base_model or "-") if latest else "-",
                 _clip(model.creator.username if model.creator else "-", 20),
                 _count(model.stats.download_count), str(len(model.versions))])


def run_search(args, ctx) -> int:
    from ..api.errors import BadRequest
    from ..summaries import hidden_note, is_sfw_level

    ctx.json = _wants_json(args, ctx)
    if args.limit is None or not 1 <= args.limit <= MAX_LIMIT:
        raise UsageError(f"--limit must be between 1 and {MAX_LIMIT}")
    filters = {
        "types": _types(args.types),
        "base_models": [b for b in (s.strip() for s in args.base_models) if b],
        "sort": _choose(args.sort, SORTS, "sort") if args.sort else None,
        "period": _choose(args.period, PERIODS, "period") if args.period else None,
        "tag": args.tag or None,
        "username": args.user or None,
        "nsfw": bool(args.nsfw),
    }
    client = ctx.client()
    rows = []
    shown = hidden = 0
    # Strict SFW, the same rule as the UIs (summaries.is_sfw_level): Civitai's nsfw=false still returns
    # models that merely include PG content. Hidden ones are counted and the limit is filled with the rest,
    # looking a bounded distance further.
    page_size = args.page_size or min(args.limit, MAX_PAGE_SIZE)
    try:
        for model in client.iter_models(args.query or None, page_size=page_size, **filters):
            if not args.nsfw and not is_sfw_level(model.nsfw_level):
                hidden += 1
            else:
                shown += 1
                _show(ctx, model, rows)
            if shown >= args.limit or hidden >= 5 * args.limit + 100:
                break
    except BadRequest as exc:  # the server's validation message: the input was wrong
        raise UsageError(exc.message) from None
    note = hidden_note(hidden, "pass --nsfw") if hidden else None
    if not ctx.json:
        if rows:
            _print_table(rows, ["ID", "NAME", "TYPE", "BASE MODEL", "CREATOR", "DOWNLOADS", "VERSIONS"])
        else:
            print("No models found.")
        if note:
            print(note)
    elif note:
        print(f"civkit: {note}", file=sys.stderr)
    return 0


def _ref_hosts(ctx) -> tuple:
    from urllib.parse import urlsplit

    return (urlsplit(ctx.config.api_base).netloc,)


def fetch_ref(client, ref) -> tuple[Model | None, ModelVersion | None]:
    """(model, selected version) for a Ref. A bare number is a model id first, then a version id."""
    from ..api.errors import NotFound

    if ref.bare:
        try:
            return client.get_model(ref.model_id), None
        except NotFound:
            try:
                ref = ref.as_version()
                version = client.get_version(ref.version_id)
            except NotFound:
                raise NotFound(f"Not found on Civitai: no model or version with id {ref.version_id}.",
                               status=404) from None
    elif ref.model_id is not None:
        model = client.get_model(ref.model_id)
        if ref.version_id is None:
            return model, None
        version = next((v for v in model.versions if v.id == ref.version_id), None)
        return model, version or client.get_version(ref.version_id)
    else:
        version = client.get_version(ref.version_id)
    if version.model_id is None:
        return None, version
    try:
        model = client.get_model(version.model_id)
    except NotFound:
        return None, version
    return model, next((v for v in model.versions if v.id == version.id), version)


def _print_version(v: ModelVersion, selected: bool) -> None:
    mark = "*" if selected else " "
    bits = [b for b in (v.base_model, f"published {v.published_at[:10]}" if v.published_at else None) if b]
    print(f" {mark} version {v.id}  {v.name}  ({', '.join(bits)})")
    if v.early_access_active():
        print(f"     early access until {v.early_access_deadline or 'unknown'}")
    if v.trained_words:
        print(f"     trigger words: {', '.join(v.trained_words)}")
    if v.air:
        print(f"     AIR: {v.air}")
    for f in v.files:
        fmt = " ".join(x for x in (f.format, f.fp, f.size) if x)
        flags = " ".join(x for x in ("primary" if f.primary else "", "" if f.pickle_scan in (None, "Success")
                                     else f"scan:{f.pickle_scan}") if x)
        print(f"     file {f.id}  {f.name}  {_size(f.size_kb)}  {f.type}  {fmt}  {flags}".rstrip())
        if f.sha256:
            print(f"          SHA256 {f.sha256}")


def run_show(args, ctx) -> int:
    from ..api.errors import BadRequest
    from ..refs import TOKEN_REMOVED, RefError, parse_ref

    ctx.json = _wants_json(args, ctx)
    try:
        ref = parse_ref(args.ref, extra_hosts=_ref_hosts(ctx))
    except RefError as exc:
        raise UsageError(str(exc)) from None
    if ref.secret_removed:
        print(f"civkit: {TOKEN_REMOVED}", file=sys.stderr)
    client = ctx.client()
    try:
        model, version = fetch_ref(client, ref)
    except BadRequest as exc:
        raise UsageError(exc.message) from None
    if ctx.json:
        if model is not None:
            out = model_dict(ctx, model, full=True)
            if version is not None and all(v["id"] != version.id for v in out["versions"]):
                out["versions"].append(version_dict(version, full=True))
        else:
            out = {"id": version.model_id, "name": version.model_name, "type": version.model_type,
                   "nsfw": version.model_nsfw, "creator": None, "versions": [version_dict(version, full=True)]}
        out["selectedVersionId"] = version.id if version is not None else None
        print(json.dumps(out, ensure_ascii=False))
        return 0
    if model is None:
        print(f"{version.model_name or 'Unknown model'}  ({version.model_type or '?'}, model {version.model_id})")
        _print_version(version, True)
        return 0
    creator = f"  by {model.creator.username}" if model.creator else ""
    print(f"{model.name}  ({model.type}, model {model.id}){creator}")
    print(site_url(ctx, model.id))
    if model.mode:
        print(f"Status: {model.mode}")
    if model.tags:
        print(f"Tags: {', '.join(model.tags)}")
    print(f"Downloads {_count(model.stats.download_count)}  ·  likes {_count(model.stats.thumbs_up)}"
          f"  ·  NSFW {'yes' if model.nsfw else 'no'} (level {model.nsfw_level})")
    versions = list(model.versions)
    if version is not None and all(v.id != version.id for v in versions):
        versions.append(version)
    print("Versions:")
    for v in versions:
        _print_version(v, selected=version is not None and v.id == version.id)
    return 0
