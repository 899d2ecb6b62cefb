"""Turn a compact demo spec (``demo_data.M/V/F/I``) into the emulator's raw model JSON.

The raw record is a superset of every route's shape; ``views.py`` cuts the per-route views from it.
Keys starting with ``_`` are emulator-only (login requirement, status, collected count, ...).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from . import files as F
from .shapes_util import air_for, served_name

_EXT = {"lora": ".safetensors", "st": ".safetensors", "emb": ".safetensors", "zip": ".zip", "yaml": ".yaml"}
_BLURHASHES = ["U5IiO6s-4Vn+0~EO^5xa00VsL#IU_O?E7yWC", "U7Am@@$^J3%100R;pLR.M]tQ-ps+?wRiVrof",
               "UKHU@6H?_ND*_3M{t84o^+%MD%xuXSxasAt7"]


def _iso(d: dt.datetime) -> str:
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}Z"


def build_model_json(catalog, spec: dict, file_bytes, images: bool = True) -> tuple[dict, dict[int, Path]]:
    up, downloads, comments, collected, tipped = spec.get("stats", (10, 100, 1, 1, 0))
    creator = spec["creator"]
    model = {
        "id": spec["id"], "name": spec["name"], "description": spec.get("description", "<p>A test model.</p>"),
        "allowNoCredit": True, "allowCommercialUse": list(spec.get("commercial", ["Image", "RentCivit"])),
        "allowDerivatives": True, "allowDifferentLicense": spec["id"] % 2 == 0,
        "type": spec["type"], "minor": False, "sfwOnly": False, "poi": False,
        "nsfw": bool(spec.get("nsfw", False)), "nsfwLevel": 0, "availability": "Public",
        "userId": 1000 + sum(map(ord, creator)) if creator else -1, "cosmetic": None,
        "supportsGeneration": spec["type"] in ("Checkpoint", "LORA"),
        "stats": {"downloadCount": downloads, "thumbsUpCount": up, "thumbsDownCount": up // 50,
                  "commentCount": comments, "tippedAmountCount": tipped},
        "tags": list(spec["tags"]), "modelVersions": [],
        "_status": "Published", "_collectedCount": collected, "_checkpointType": spec.get("checkpoint_type"),
    }
    if spec.get("mode"):
        model["mode"] = spec["mode"]
    if creator:
        user = catalog.users.setdefault(creator, {"username": creator, "image": None,
                                                  "joined": "2024-01-01T00:00:00.000Z"})
        model["creator"] = {"username": creator, "image": user.get("image")}
    disk: dict[int, Path] = {}
    for index, vspec in enumerate(spec["versions"]):
        version = _build_version(catalog, model, vspec, index, file_bytes, disk, images)
        model["modelVersions"].append(version)
    published = [v for v in model["modelVersions"] if v["status"] == "Published"]
    level = spec.get("nsfw_level")
    if level is None:
        level = 0
        for v in published:
            level |= v["nsfwLevel"]
    model["nsfwLevel"] = level
    model["baseModels"] = sorted({v["baseModel"] for v in published})
    return model, disk


def _build_version(catalog, model, vspec, index, file_bytes, disk, with_images) -> dict:
    vid = vspec["id"]
    published = vspec["published"]
    version = {
        "id": vid, "modelId": model["id"], "index": index, "name": vspec["name"], "baseModel": vspec["base"],
        "baseModelType": "Standard", "createdAt": published, "updatedAt": published, "publishedAt": published,
        "status": vspec.get("status", "Published"), "availability": "Public", "nsfwLevel": 1,
        "description": vspec.get("description"), "trainedWords": list(vspec["words"]), "vaeId": None,
        "supportsGeneration": model["supportsGeneration"], "uploadType": "Created",
        "usageControl": vspec.get("usage", "Download"), "licensingFee": None, "paidAccess": None,
        "trainingStatus": None, "trainingDetails": None, "covered": True,
        "air": air_for(model["type"], vspec["base"], model["id"], vid),
        "stats": {"downloadCount": model["stats"]["downloadCount"], "thumbsUpCount": model["stats"]["thumbsUpCount"],
                  "thumbsDownCount": model["stats"]["thumbsDownCount"]},
        "files": [], "images": [],
        "_requiresLogin": bool(vspec.get("requires_login", False)),
    }
    days = vspec.get("early_access_days")
    if days:
        deadline = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) + dt.timedelta(days=days)
        version.update({"availability": "EarlyAccess", "earlyAccessDeadline": _iso(deadline),
                        "earlyAccessEndsAt": _iso(deadline), "earlyAccessTimeFrame": days,
                        "earlyAccessConfig": {"timeframe": days, "chargeForDownload": True, "downloadPrice": 500},
                        "licensingFee": 0})
    specs = vspec["files"]
    primary_at = next((i for i, f in enumerate(specs) if f.get("primary")), 0)
    for i, fspec in enumerate(specs):
        version["files"].append(_build_file(catalog, model, version, fspec, i, i == primary_at, file_bytes, disk))
    if model.get("mode") == "Archived":
        version["_archivedFiles"], version["files"] = version["files"], []
    vae = vspec.get("vae_file")
    if vae is not None:
        version["vaeId"] = version["files"][vae]["id"]
    if with_images and model.get("mode") != "TakenDown":
        for ispec in vspec["images"]:
            version["images"].append(_build_image(catalog, model, version, ispec))
    level = vspec.get("nsfw_level")
    if level is None:
        level = 0
        for img in version["images"]:
            level |= img["nsfwLevel"]
        level = level or 1
    version["nsfwLevel"] = level
    return version


def _build_file(catalog, model, version, fspec, position, primary, file_bytes, disk) -> dict:
    fid = fspec.get("file_id") or version["id"] * 10 + position
    ftype = fspec.get("type", "Model")
    kind = fspec["kind"]
    ext = fspec.get("ext", _EXT.get(kind, ".ckpt"))
    if kind == "given":
        name = fspec["name"]
        path = Path(fspec["path"])
    else:
        name = fspec.get("name") or served_name(model, version, ftype, f"{fid}{ext}", ext,
                                                negative=fspec.get("negative", False),
                                                suffix=fspec.get("suffix", ""))
        path = catalog.files_dir / f"{fid}_{name}"
        F.write_if_changed(path, file_bytes(fspec, model, version, f"civkit-demo-{fid}"))
    disk[fid] = path
    size = path.stat().st_size
    fmt = fspec.get("fmt") or ("SafeTensor" if name.endswith(".safetensors") else "Other")
    scan = fspec.get("scan", "Success")
    record = {
        "id": fid, "sizeKB": size / 1024, "name": name, "type": ftype,
        "metadata": {"format": fmt, "size": fspec.get("size_kind"), "fp": fspec.get("fp")},
        "pickleScanResult": scan,
        "pickleScanMessage": fspec.get("pickle_msg", "No Pickle imports"),
        "virusScanResult": "Success", "virusScanMessage": None, "scannedAt": version["publishedAt"],
        "hashes": catalog.hashes_for(path), "primary": primary,
    }
    if fspec.get("override"):
        record["overrideName"] = fspec["override"]
    return record


def _build_image(catalog, model, version, ispec) -> dict:
    image_id = catalog.allocate("image")
    w, h = ispec["w"], ispec["h"]
    blur = _BLURHASHES[image_id % len(_BLURHASHES)]
    meta = {"prompt": ispec["prompt"], "negativePrompt": "lowres, bad anatomy, easynegplus",
            "steps": 28, "sampler": "DPM++ 2M Karras", "cfgScale": 7, "seed": 1000 + image_id,
            "Size": f"{w}x{h}", "Clip skip": "2"}
    image = {
        "id": image_id, "url": f"/images/{image_id}.png", "nsfwLevel": ispec["level"], "width": w, "height": h,
        "hash": blur, "type": "image", "metadata": {"hash": blur, "size": 1000 + image_id, "width": w, "height": h},
        "minor": False, "poi": False, "meta": meta, "availability": "Public", "hasMeta": True,
        "hasPositivePrompt": True, "onSite": False, "remixOfId": None,
        "_createdAt": version["publishedAt"], "_postId": 90000 + version["id"],
        "_username": (model.get("creator") or {}).get("username", "civitai"),
        "_baseModel": version["baseModel"], "_versionId": version["id"], "_modelId": model["id"],
        "_stats": {"cryCount": image_id % 3, "laughCount": image_id % 5, "likeCount": image_id % 40,
                   "dislikeCount": 0, "heartCount": image_id % 17, "commentCount": image_id % 4},
        "_tags": [{"id": 5000 + i, "name": t} for i, t in enumerate(model["tags"][:2])],
        "_published": version["status"] == "Published",
    }
    catalog.images[image_id] = image
    return image
