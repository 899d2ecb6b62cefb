"""``civkit organize DIR --template "{base_model}/{type}"``: sort indexed files into subfolders.

Each file's target is ``DIR / <template filled from its index entry> / <its name>``, with the
same fields and sanitising a download uses (``folders.render_subfolder``), kept inside DIR by
``folders.join_inside``. Linked files only unless ``include_all`` (the others have no base model
or type to sort by and land under "unknown").
"""

from __future__ import annotations

import os

from ..folders import TEMPLATE_FIELDS, canonical_type, join_inside, render_subfolder, unknown_template_fields
from .care import CareRefused, Caretaker


def check_template(template: str) -> str:
    text = str(template or "").strip()
    if not text:
        raise CareRefused("Give a template such as \"{base_model}/{type}\".")
    unknown = unknown_template_fields(text)
    if unknown:
        raise CareRefused(f"Unknown template field(s) {', '.join('{' + u + '}' for u in unknown)}; "
                          f"use {', '.join('{' + f + '}' for f in TEMPLATE_FIELDS)}.")
    if "\x00" in text:
        raise CareRefused("A template cannot contain a NUL character.")
    return text


def _creator(entry) -> str:
    raw = entry.version_json if isinstance(entry.version_json, dict) else {}
    creator = raw.get("creator")
    return creator.get("username") if isinstance(creator, dict) else None


def plan_organize(care: Caretaker, folder, template: str, *, include_all: bool = False) -> list:
    """``[(source, new path)]`` for the indexed files under ``folder`` that are not in place yet."""
    template = check_template(template)
    real_folder = os.path.realpath(str(folder))
    if not os.path.isdir(real_folder):
        raise CareRefused(f"{folder} is not a folder.")
    if care.root_of(real_folder) is None:
        raise CareRefused(f"{folder} is outside the model folders ({', '.join(care.roots)}).", status=403)
    plan = []
    for entry in care.index.entries(real_folder):
        if entry.status != "linked" and not include_all:
            continue
        if not os.path.isfile(entry.path):
            continue
        sub = render_subfolder(template, base_model=entry.base_model, type=canonical_type(entry.model_type)
                               if entry.model_type else None, model_name=entry.model_name,
                               version_name=entry.version_name, creator=_creator(entry))
        try:
            target_dir = join_inside(real_folder, sub)
        except ValueError as exc:
            raise CareRefused(f"{exc}; nothing was moved.", status=403) from None
        target = os.path.join(str(target_dir), os.path.basename(entry.path))
        if os.path.realpath(target) != entry.path:
            plan.append((entry.path, target))
    return care._check_plan(plan)


def organize(care: Caretaker, folder, template: str, *, include_all: bool = False, dry_run: bool = False) -> list:
    return care.carry_out(plan_organize(care, folder, template, include_all=include_all), "moved", dry_run)
