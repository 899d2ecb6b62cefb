"""``civkit hash FILE...`` and ``civkit info FILE``: what a local file is, without Civitai.

``hash`` computes the six hashes Civitai knows from one read of each file; ``info`` shows a
safetensors file's header: tensors, dtypes and the trainer's metadata.
"""

from __future__ import annotations

import json
import os
import sys

from ..sizes import human_size

# civkit.hashing and civkit.safetensors_header load in the handlers: `civkit hash --help` stays fast.

EXIT_OK = 0
EXIT_FAILURE = 1

# Metadata values longer than this are cut in the human output (--json shows everything).
MAX_VALUE_CHARS = 200
# Written by trainers, never verified: shown, but labelled, and never used for lookups.
UNVERIFIED_KEYS = ("sshs_model_hash", "sshs_legacy_hash", "modelspec.hash_sha256")
# hashing.ALL_HASHES, spelt out so `civkit hash --help` need not import civkit.hashing
# (tests/test_cli_files.py checks that the two agree).
HASH_NAMES = ("SHA256", "AutoV1", "AutoV2", "AutoV3", "CRC32", "BLAKE3")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "hash",
        help="compute SHA256, AutoV1, AutoV2, AutoV3, CRC32 and BLAKE3 of local files",
        description="Compute every hash Civitai knows (one read per file). With --json: one object per line.",
    )
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--only", metavar="NAMES",
                   help="just these hashes, comma-separated (e.g. SHA256 or SHA256,AutoV2): faster, "
                        f"since each one costs a pass of the CPU; names: {', '.join(HASH_NAMES)}")
    p.set_defaults(func=cmd_hash)

    p = subparsers.add_parser(
        "info",
        help="show a safetensors file's header: tensors, dtypes, training metadata",
        description="Read only the header of a safetensors file and show what it says about the model.",
    )
    p.add_argument("file", metavar="FILE")
    p.set_defaults(func=cmd_info)


def describe_os_error(exc: OSError) -> str:
    """One line for a person, without Python's ``[Errno 2]`` noise."""
    from ..hashing import FileChangedError

    if isinstance(exc, FileNotFoundError):
        return "no such file"
    if isinstance(exc, IsADirectoryError):
        return "is a directory (use `civkit scan DIR` for folders)"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, FileChangedError) or not exc.strerror:
        return str(exc)
    return exc.strerror[:1].lower() + exc.strerror[1:]


def _progress_bar(paths: list):
    """A tqdm bar on stderr, only when stderr is a terminal (never in pipes, logs or tests)."""
    if not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    total = 0
    for path in paths:
        try:
            total += os.path.getsize(path)
        except OSError:
            pass
    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc="hashing", file=sys.stderr, leave=False)


def _hash_record(path: str, hashes, names=HASH_NAMES) -> dict:
    record = {"path": path}
    every = hashes.as_civitai()
    record.update((name, every[name]) for name in names)
    record["size"] = hashes.size
    return record


def _print_hash_table(record: dict, names=HASH_NAMES) -> None:
    print(f"{record['path']}  ({human_size(record['size'], byte_word='bytes')})")
    for name in names:
        value = record[name]
        print(f"  {name:<7} {value if value is not None else '-'}")


def hash_names(text) -> tuple:
    """``--only`` in Civitai's spelling and order; any case is accepted. Raises UsageError."""
    from .main import UsageError

    if text is None:
        return HASH_NAMES
    by_lower = {name.lower(): name for name in HASH_NAMES}
    asked = [word.strip() for word in str(text).split(",") if word.strip()]
    unknown = [word for word in asked if word.lower() not in by_lower]
    if unknown or not asked:
        raise UsageError(f"--only takes hash names separated by commas ({', '.join(HASH_NAMES)}); "
                         f"not a hash name: {', '.join(unknown) or 'nothing given'}")
    wanted = {by_lower[word.lower()] for word in asked}
    return tuple(name for name in HASH_NAMES if name in wanted)


def cmd_hash(args, ctx) -> int:
    from ..hashing import hash_files

    names = hash_names(args.only)
    paths = list(args.files)
    bar = _progress_bar(paths)
    results: dict = {}
    next_to_print = 0
    failed = 0

    def emit(line_fn) -> None:
        if bar is not None:
            bar.clear()
        line_fn()
        if bar is not None:
            bar.refresh()

    try:
        # hash_files yields in completion order; print in the order the user gave.
        todo = [_Numbered(i, path) for i, path in enumerate(paths)]
        for item, outcome in hash_files(todo, names, progress=bar.update if bar else None):
            results[item.number] = (item.path, outcome)
            while next_to_print in results:
                path, outcome = results.pop(next_to_print)
                next_to_print += 1
                if isinstance(outcome, Exception):
                    failed += 1
                    emit(lambda p=path, o=outcome: print(f"civkit: cannot hash {p}: {describe_os_error(o)}", file=sys.stderr))
                elif ctx.json:
                    emit(lambda p=path, o=outcome: print(json.dumps(_hash_record(p, o, names)), flush=True))
                else:
                    emit(lambda p=path, o=outcome: _print_hash_table(_hash_record(p, o, names), names))
    finally:
        if bar is not None:
            bar.close()
    return EXIT_FAILURE if failed else EXIT_OK


class _Numbered(os.PathLike):
    """A path that remembers its place on the command line (the same file may be named twice)."""

    def __init__(self, number: int, path: str):
        self.number = number
        self.path = path

    def __fspath__(self) -> str:
        return self.path


def _short(value: str) -> str:
    value = value.replace("\n", " ")
    if len(value) <= MAX_VALUE_CHARS:
        return value
    return value[:MAX_VALUE_CHARS] + f"... ({len(value)} characters; --json shows all)"


def _ordered_metadata(metadata: dict) -> list:
    from ..safetensors_header import NOTABLE_METADATA

    first = [k for k in NOTABLE_METADATA if k in metadata]
    rest = sorted(k for k in metadata if k not in first)
    return first + rest


def _top_tags(freq: dict, limit: int = 10) -> list:
    totals: dict = {}
    for tags in freq.values():
        for tag, count in tags.items():
            totals[tag] = totals.get(tag, 0) + count
    return sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]


def cmd_info(args, ctx) -> int:
    from ..safetensors_header import HeaderError, guess_kind, read_header, tag_frequency

    path = args.file
    try:
        header = read_header(path)
    except HeaderError as exc:
        print(f"civkit: {path} is not a readable safetensors file: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except OSError as exc:
        print(f"civkit: cannot read {path}: {describe_os_error(exc)}", file=sys.stderr)
        return EXIT_FAILURE
    freq = tag_frequency(header.metadata)
    kind = guess_kind(header)
    if ctx.json:
        record = {"path": path, "kind": kind}
        record.update(header.summary())
        record["tag_frequency"] = freq
        print(json.dumps(record, ensure_ascii=False))
        return EXIT_OK
    print(f"file        {path}  ({human_size(header.file_size or 0, byte_word='bytes')})")
    print(f"kind        {kind or 'unknown'} (guessed from tensor names)")
    dtypes = ", ".join(header.dtypes) or "-"
    print(f"tensors     {header.tensor_count} ({dtypes}), {header.parameter_count:,} parameters")
    print(f"header      {header.header_size:,} bytes; tensor data starts at byte {header.data_offset:,}")
    if header.truncated:
        print(
            f"WARNING     the file is {header.file_size:,} bytes but its header describes {header.expected_size:,}:"
            " it is incomplete (interrupted download?)"
        )
    if not header.metadata:
        print("metadata    none")
        return EXIT_OK
    print(f"metadata    {len(header.metadata)} keys")
    width = max(len(k) for k in header.metadata)
    for key in _ordered_metadata(header.metadata):
        if key == "ss_tag_frequency" and freq:
            tags = ", ".join(f"{t} ({c})" for t, c in _top_tags(freq))
            value = f"{len(freq)} folder(s): {', '.join(freq)}; top tags: {tags}"
        else:
            value = _short(header.metadata[key])
        if key in UNVERIFIED_KEYS:
            value += "  (written by the trainer, not verified; civkit hashes the file itself)"
        print(f"  {key:<{width}}  {value}")
    return EXIT_OK
