"""Many small published models at once, for linking tests and the identify benchmark."""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path


def publish_bulk(catalog, folder, n: int) -> list:
    """Write ``n`` small distinct model files into ``folder`` and publish each as a one-version model.

    The models are cloned from one published through ``add_file_model`` (which hashes every file
    and rewrites its cache: too slow for thousands); only ids, names and hashes differ.
    Returns the written paths.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    first = folder / "bulk-00000.ckpt"
    first.write_bytes(b"bulk model 0")
    template = catalog.add_file_model(first, name="Bulk 0")
    paths = [first]
    for i in range(1, n):
        path = folder / f"bulk-{i:05}.ckpt"
        data = f"bulk model {i}".encode()
        path.write_bytes(data)
        sha = hashlib.sha256(data).hexdigest().upper()
        model = copy.deepcopy(template)
        mid, vid, fid = catalog.allocate("model"), catalog.allocate("version"), catalog.allocate("file")
        model["id"], model["name"] = mid, f"Bulk {i}"
        version = model["modelVersions"][0]
        version["id"], version["modelId"], version["air"] = vid, mid, f"urn:air:sd1:lora:civitai:{mid}@{vid}"
        for image in version["images"]:
            image["_versionId"], image["_modelId"] = vid, mid
        version["files"][0].update(id=fid, name=path.name, sizeKB=len(data) / 1024,
                                   hashes={"SHA256": sha, "AutoV2": sha[:10]})
        catalog.add_model(model, {fid: path})
        paths.append(path)
    return paths
