"""Stand-in for ComfyUI 0.8.0's ``folder_paths`` (same names and signatures, stdlib only).

Tests call ``_standin_reset(base_dir)`` to point every key at ``<base_dir>/models/<key>``, the way
``--base-directory`` does; everything else behaves like the real module, including the
``filename_list_cache`` that is only rebuilt when a scanned folder's mtime changes.
"""

from __future__ import annotations

import logging
import os
import time

supported_pt_extensions: set[str] = {".ckpt", ".pt", ".pt2", ".bin", ".pth", ".safetensors", ".pkl", ".sft"}

folder_names_and_paths: dict[str, tuple[list[str], set[str]]] = {}
filename_list_cache: dict[str, tuple[list[str], dict[str, float], float]] = {}

base_path = os.path.dirname(os.path.realpath(__file__))
models_dir = os.path.join(base_path, "models")

_KEYS = {
    "checkpoints": ["checkpoints"],
    "configs": ["configs"],
    "loras": ["loras"],
    "vae": ["vae"],
    "text_encoders": ["text_encoders", "clip"],
    "diffusion_models": ["unet", "diffusion_models"],
    "clip_vision": ["clip_vision"],
    "style_models": ["style_models"],
    "embeddings": ["embeddings"],
    "diffusers": ["diffusers"],
    "vae_approx": ["vae_approx"],
    "controlnet": ["controlnet", "t2i_adapter"],
    "gligen": ["gligen"],
    "upscale_models": ["upscale_models"],
    "latent_upscale_models": ["latent_upscale_models"],
    "hypernetworks": ["hypernetworks"],
    "photomaker": ["photomaker"],
    "classifiers": ["classifiers"],
    "model_patches": ["model_patches"],
    "audio_encoders": ["audio_encoders"],
}


def _standin_reset(base_dir: str) -> None:
    """Test helper (not in the real module): lay out the default keys under ``base_dir/models``."""
    global base_path, models_dir
    base_path = str(base_dir)
    models_dir = os.path.join(base_path, "models")
    folder_names_and_paths.clear()
    filename_list_cache.clear()
    for key, subdirs in _KEYS.items():
        exts = {".yaml"} if key == "configs" else ({""} if key == "diffusers" else set(supported_pt_extensions))
        folder_names_and_paths[key] = ([os.path.join(models_dir, d) for d in subdirs], exts)
    folder_names_and_paths["custom_nodes"] = ([os.path.join(base_path, "custom_nodes")], set())


_standin_reset(base_path)


def map_legacy(folder_name: str) -> str:
    legacy = {"unet": "diffusion_models", "clip": "text_encoders"}
    return legacy.get(folder_name, folder_name)


def add_model_folder_path(folder_name: str, full_folder_path: str, is_default: bool = False) -> None:
    folder_name = map_legacy(folder_name)
    if folder_name in folder_names_and_paths:
        paths, _exts = folder_names_and_paths[folder_name]
        if full_folder_path in paths:
            if is_default and paths[0] != full_folder_path:
                paths.remove(full_folder_path)
                paths.insert(0, full_folder_path)
        elif is_default:
            paths.insert(0, full_folder_path)
        else:
            paths.append(full_folder_path)
    else:
        folder_names_and_paths[folder_name] = ([full_folder_path], set())


def get_folder_paths(folder_name: str) -> list[str]:
    folder_name = map_legacy(folder_name)
    return folder_names_and_paths[folder_name][0][:]


def recursive_search(directory: str, excluded_dir_names: list[str] | None = None) -> tuple[list[str], dict[str, float]]:
    if not os.path.isdir(directory):
        return [], {}
    excluded_dir_names = excluded_dir_names or []
    result: list[str] = []
    dirs: dict[str, float] = {directory: os.path.getmtime(directory)}
    for dirpath, subdirs, filenames in os.walk(directory, followlinks=True, topdown=True):
        subdirs[:] = [d for d in subdirs if d not in excluded_dir_names]
        for name in filenames:
            result.append(os.path.relpath(os.path.join(dirpath, name), directory))
        for d in subdirs:
            path = os.path.join(dirpath, d)
            dirs[path] = os.path.getmtime(path)
    return result, dirs


def filter_files_extensions(files, extensions):
    return sorted(f for f in files if os.path.splitext(f)[-1].lower() in extensions or len(extensions) == 0)


def get_full_path(folder_name: str, filename: str) -> str | None:
    folder_name = map_legacy(folder_name)
    if folder_name not in folder_names_and_paths:
        return None
    folders = folder_names_and_paths[folder_name]
    filename = os.path.relpath(os.path.join("/", filename), "/")
    for x in folders[0]:
        full_path = os.path.join(x, filename)
        if os.path.isfile(full_path):
            return full_path
        if os.path.islink(full_path):
            logging.warning("path %s exists but doesn't link anywhere, skipping.", full_path)
    return None


def get_full_path_or_raise(folder_name: str, filename: str) -> str:
    full_path = get_full_path(folder_name, filename)
    if full_path is None:
        raise FileNotFoundError(f"Model in folder '{folder_name}' with filename '{filename}' not found.")
    return full_path


def get_filename_list_(folder_name: str) -> tuple[list[str], dict[str, float], float]:
    folder_name = map_legacy(folder_name)
    output_list: set[str] = set()
    folders = folder_names_and_paths[folder_name]
    output_folders: dict[str, float] = {}
    for x in folders[0]:
        files, folders_all = recursive_search(x, excluded_dir_names=[".git"])
        output_list.update(filter_files_extensions(files, folders[1]))
        output_folders = {**output_folders, **folders_all}
    return sorted(output_list), output_folders, time.perf_counter()


def cached_filename_list_(folder_name: str):
    folder_name = map_legacy(folder_name)
    if folder_name not in filename_list_cache:
        return None
    out = filename_list_cache[folder_name]
    for folder, time_modified in out[1].items():
        if not os.path.isdir(folder) or os.path.getmtime(folder) != time_modified:
            return None
    for x in folder_names_and_paths[folder_name][0]:
        if os.path.isdir(x) and x not in out[1]:
            return None
    return out


def get_filename_list(folder_name: str) -> list[str]:
    folder_name = map_legacy(folder_name)
    out = cached_filename_list_(folder_name)
    if out is None:
        out = get_filename_list_(folder_name)
        filename_list_cache[folder_name] = out
    return list(out[0])
