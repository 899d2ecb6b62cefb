"""A checkpoint's companion files (HOSTS.md §3, §2.6): its VAE and config yaml, only on request.

Model 107 "Dreamforge XL" (version 1070) has files 10700 (primary fp16), 10701 (fp32), 10702 (VAE)
and 10703 (Config yaml). Everything runs against the emulator with real files.
"""

from __future__ import annotations

import hashlib
import json
import os

import pytest
from comfyui_harness import comfy_fixture  # noqa: F401 - fixture

from civkit.api.records import parse_version
from civkit.cli.main import main
from civkit.config import load_config
from civkit.download.choice import companion_file
from civkit.folders import folder_for, folder_key_for
from civkit.hosts.comfyui import ComfyUIHost
from civkit.hosts.standalone import StandaloneHost
from civkit.service import CivkitService

CKPT = "dreamforgeXL_v10.safetensors"
CKPT_FP32 = "dreamforgeXL_v10_fp32.safetensors"
VAE = "dreamforgeXL_v10.vae.safetensors"
YAML = "dreamforgeXL_v10.yaml"


def sha256_of(path):
    return hashlib.sha256(path.read_bytes()).hexdigest().upper()


def catalog_file(fake, file_id):
    _model, _version, f = fake.catalog.find_file(file_id)
    return f


def catalog_sha(fake, file_id):
    return catalog_file(fake, file_id)["hashes"]["SHA256"]


def civkit(fake, *args):
    return main(["--api-base", fake.base_url, *args])


def files_under(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.fixture
def webui(tmp_path):
    """An A1111 install: <data>/models/{Stable-diffusion,Lora,VAE}."""
    models = tmp_path / "webui" / "models"
    for name in ("Stable-diffusion", "Lora", "VAE"):
        (models / name).mkdir(parents=True)
    return models


@pytest.fixture
def comfy_dir(tmp_path):
    models = tmp_path / "ComfyUI" / "models"
    for name in ("checkpoints", "loras", "vae", "configs"):
        (models / name).mkdir(parents=True)
    return models


def make_service(fake, models, layout, home):
    config = load_config(api_base=fake.base_url, home=home)
    return CivkitService(config, StandaloneHost(models, layout=layout))


@pytest.fixture
def service_for(fake_civitai, civkit_home):
    made = []

    def build(models, layout):
        svc = make_service(fake_civitai, models, layout, civkit_home)
        made.append(svc)
        return svc

    yield build
    for svc in made:
        svc.close()


# ------------------------------------------------------------------------------ choosing and folders
def test_folders_for_a_config_and_a_vae():
    assert folder_key_for("Checkpoint", "comfyui", "Config") == "configs"
    assert folder_key_for("Checkpoint", "plain", "Config") == "configs"
    # the WebUI reads <checkpoint base>.yaml beside the checkpoint
    assert folder_key_for("Checkpoint", "a1111", "Config") == "checkpoints"
    assert folder_key_for("Checkpoint", "forge", "Config") == "checkpoints"
    assert folder_for("Checkpoint", "a1111", "/m", "VAE").as_posix() == "/m/VAE"
    assert folder_for("Checkpoint", "comfyui", "/m", "Config").as_posix() == "/m/configs"


def test_companion_file_picks_the_vae_and_the_config_never_the_main_file(fake_civitai):
    _model, raw = fake_civitai.catalog.find_version(1070)
    version = parse_version(raw)
    assert companion_file(version, "vae").id == 10702
    assert companion_file(version, "config").id == 10703
    assert companion_file(version, "vae", exclude=10702) is None
    with pytest.raises(ValueError):
        companion_file(version, "readme")


# ------------------------------------------------------------------------------ the CLI
def test_a_plain_download_still_fetches_only_the_primary_file(fake_civitai, comfy_dir, capsys):
    assert civkit(fake_civitai, "--json", "download", "107", "--models-dir", str(comfy_dir)) == 0
    line = json.loads(capsys.readouterr().out)
    assert line["state"] == "done" and line["companions"] == []
    assert line["path"] == str(comfy_dir / "checkpoints" / CKPT)
    assert fake_civitai.count("/storage/") == 1
    assert files_under(comfy_dir / "vae") == [] and files_under(comfy_dir / "configs") == []
    assert "vae" not in json.loads((comfy_dir / "checkpoints" / "dreamforgeXL_v10.json").read_text())


def test_cli_a1111_with_vae_and_config(fake_civitai, webui, capsys):
    code = civkit(fake_civitai, "download", "107", "--with-vae", "--with-config", "--models-dir", str(webui))
    out = capsys.readouterr().out
    assert code == 0
    ckpt, vae, yaml = webui / "Stable-diffusion" / CKPT, webui / "VAE" / VAE, webui / "Stable-diffusion" / YAML
    assert f"saved {ckpt}" in out and f"VAE: saved {vae}" in out and f"config: saved {yaml}" in out
    assert sha256_of(ckpt) == catalog_sha(fake_civitai, 10700)
    assert sha256_of(vae) == catalog_sha(fake_civitai, 10702)
    assert sha256_of(yaml) == catalog_sha(fake_civitai, 10703)
    assert not (webui / "Stable-diffusion" / VAE).exists()  # the VAE is never beside the checkpoint
    sidecar = json.loads((webui / "Stable-diffusion" / "dreamforgeXL_v10.json").read_text())
    assert sidecar["vae"] == VAE and sidecar["sd version"] == "SDXL"
    # companions get no A1111 card of their own; the VAE is linked through its .civitai.info
    assert not (webui / "VAE" / "dreamforgeXL_v10.vae.json").exists()
    assert (webui / "VAE" / "dreamforgeXL_v10.vae.civitai.info").is_file()
    assert not list(webui.rglob("*.part"))


def test_cli_comfyui_json_lists_the_companions_in_their_folders(fake_civitai, comfy_dir, capsys):
    code = civkit(fake_civitai, "--json", "download", "107", "--with-vae", "--with-config",
                  "--models-dir", str(comfy_dir))
    assert code == 0
    line = json.loads(capsys.readouterr().out)
    assert line["state"] == "done" and line["path"] == str(comfy_dir / "checkpoints" / CKPT)
    by_kind = {c["kind"]: c for c in line["companions"]}
    assert by_kind["vae"]["path"] == str(comfy_dir / "vae" / VAE) and by_kind["vae"]["state"] == "done"
    assert by_kind["config"]["path"] == str(comfy_dir / "configs" / YAML)  # Civitai's name in configs/
    assert by_kind["config"]["sha256"] == catalog_sha(fake_civitai, 10703)
    assert files_under(comfy_dir / "checkpoints") == sorted(
        ["dreamforgeXL_v10.civitai.info", "dreamforgeXL_v10.json", "dreamforgeXL_v10.preview.png", CKPT])
    assert fake_civitai.count("/storage/") == 3

    # again: nothing is downloaded twice, the task says skipped
    assert civkit(fake_civitai, "--json", "download", "107", "--with-vae", "--with-config",
                  "--models-dir", str(comfy_dir)) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["state"] == "skipped" and [c["state"] for c in again["companions"]] == ["skipped", "skipped"]
    assert fake_civitai.count("/storage/") == 3


def test_a1111_config_is_named_after_the_checkpoint(fake_civitai, webui, capsys):
    code = civkit(fake_civitai, "--json", "download", "107", "--file-id", "10701", "--with-config",
                  "--models-dir", str(webui))
    assert code == 0
    line = json.loads(capsys.readouterr().out)
    yaml = webui / "Stable-diffusion" / "dreamforgeXL_v10_fp32.yaml"
    assert line["path"] == str(webui / "Stable-diffusion" / CKPT_FP32)
    assert line["companions"][0]["path"] == str(yaml)
    assert yaml.read_bytes() == fake_civitai.catalog.files[10703].read_bytes()
    assert not (webui / "Stable-diffusion" / YAML).exists()


def test_a_different_yaml_is_never_overwritten(fake_civitai, webui, capsys):
    mine = webui / "Stable-diffusion" / YAML
    mine.write_text("# my own tuned config\n")
    code = civkit(fake_civitai, "download", "107", "--with-config", "--models-dir", str(webui))
    err = capsys.readouterr().err
    assert code == 1
    assert f"{CKPT} is saved in {webui / 'Stable-diffusion'}, but its config {YAML} is not" in err
    assert "already exists" in err and "--on-conflict" in err
    assert mine.read_text() == "# my own tuned config\n"
    assert sha256_of(webui / "Stable-diffusion" / CKPT) == catalog_sha(fake_civitai, 10700)
    assert not list(webui.rglob("*.part"))

    # suffix keeps both, and says the WebUI will not read the suffixed one
    code = civkit(fake_civitai, "download", "107", "--with-config", "--on-conflict", "suffix",
                  "--models-dir", str(webui))
    captured = capsys.readouterr()
    assert code == 0
    suffixed = webui / "Stable-diffusion" / "dreamforgeXL_v10 (1).yaml"
    assert sha256_of(suffixed) == catalog_sha(fake_civitai, 10703)
    assert f"only reads {YAML}" in captured.err
    assert mine.read_text() == "# my own tuned config\n"


def test_a_corrupt_companion_is_not_saved_and_says_the_checkpoint_is(fake_civitai, comfy_dir, capsys):
    assert civkit(fake_civitai, "download", "107", "--models-dir", str(comfy_dir)) == 0
    fake_civitai.faults.corrupt_bytes = True
    assert civkit(fake_civitai, "download", "107", "--with-vae", "--models-dir", str(comfy_dir)) == 1
    err = capsys.readouterr().err
    assert f"{CKPT} is saved" in err and f"its VAE {VAE} is not" in err and "corrupt" in err
    assert files_under(comfy_dir / "vae") == []  # no .part, nothing under the final name
    fake_civitai.faults.corrupt_bytes = False
    assert civkit(fake_civitai, "download", "107", "--with-vae", "--models-dir", str(comfy_dir)) == 0
    assert sha256_of(comfy_dir / "vae" / VAE) == catalog_sha(fake_civitai, 10702)


def test_no_sidecars_means_no_vae_key(fake_civitai, webui):
    assert civkit(fake_civitai, "download", "107", "--with-vae", "--no-sidecars", "--models-dir", str(webui)) == 0
    assert (webui / "VAE" / VAE).is_file()
    assert not (webui / "Stable-diffusion" / "dreamforgeXL_v10.json").exists()


def test_a_model_without_a_vae_says_so_and_succeeds(fake_civitai, webui, capsys):
    assert civkit(fake_civitai, "download", "1011", "--with-vae", "--models-dir", str(webui)) == 0
    err = capsys.readouterr().err
    assert "lists no VAE file; only anime_lineart_v2.safetensors was downloaded" in err
    assert files_under(webui / "VAE") == []


# ------------------------------------------------------------------------------ the .json "vae" key
def test_the_vae_key_keeps_a_user_value_and_unknown_keys(fake_civitai, webui):
    sidecar = webui / "Stable-diffusion" / "dreamforgeXL_v10.json"
    sidecar.write_text(json.dumps({"vae": "my-favourite.vae.pt", "notes": "keep me", "sha256": "x"}))
    assert civkit(fake_civitai, "download", "107", "--with-vae", "--models-dir", str(webui)) == 0
    data = json.loads(sidecar.read_text())
    assert data["vae"] == "my-favourite.vae.pt"  # never overwritten
    assert data["notes"] == "keep me" and data["sha256"] == "x" and data["sd version"] == "SDXL"
    assert (webui / "VAE" / VAE).is_file()

    # an empty value is not a choice: it gets filled
    sidecar.write_text(json.dumps({"vae": " ", "notes": "keep me"}))
    assert civkit(fake_civitai, "download", "107", "--with-vae", "--models-dir", str(webui)) == 0
    data = json.loads(sidecar.read_text())
    assert data["vae"] == VAE and data["notes"] == "keep me"
    assert not [p for p in sidecar.parent.iterdir() if p.name.endswith(".tmp")]  # atomic write left nothing


@pytest.mark.parametrize("first,second", [(10700, 10702), (10702, 10700)])
def test_the_vae_key_appears_once_both_are_on_disk_in_either_order(fake_civitai, webui, service_for,
                                                                    first, second):
    service = service_for(webui, "a1111")
    sidecar = webui / "Stable-diffusion" / "dreamforgeXL_v10.json"
    one = service.wait_download(service.start_download("107", file_id=first), timeout=60)
    assert one["state"] == "done", one
    assert "vae" not in (json.loads(sidecar.read_text()) if sidecar.exists() else {})
    two = service.wait_download(service.start_download("107", file_id=second), timeout=60)
    assert two["state"] == "done", two
    assert json.loads(sidecar.read_text())["vae"] == VAE
    assert (webui / "VAE" / VAE).is_file() and (webui / "Stable-diffusion" / CKPT).is_file()


# ------------------------------------------------------------------------------ the service
def test_service_downloads_companions_in_one_task(fake_civitai, comfy_dir, service_for):
    service = service_for(comfy_dir, "comfyui")
    task = service.start_download("107", with_vae=True, with_config="true")
    done = service.wait_download(task, timeout=60)
    assert done["state"] == "done", done
    assert done["path"] == str(comfy_dir / "checkpoints" / CKPT) and done["sha256"] == catalog_sha(fake_civitai, 10700)
    assert [c["kind"] for c in done["companions"]] == ["vae", "config"]
    assert "with its VAE and config" in done["message"]
    # the progress numbers are the checkpoint's again, not the last companion's
    assert done["bytes"] == done["total"] == os.path.getsize(done["path"])
    json.dumps(done)
    assert service.downloads()[-1]["companions"] == done["companions"]
    # the VAE is in the library (as Civitai's by-hash would link it); the yaml is not a model
    names = {e["name"]: e for e in service.library()}
    assert names[VAE]["version_id"] == 1070 and YAML not in names
    # ComfyUI ignores the .json, but a folder shared with a WebUI gets the right value
    assert json.loads((comfy_dir / "checkpoints" / "dreamforgeXL_v10.json").read_text())["vae"] == VAE
    # fetch returns the checkpoint, never the VAE indexed under the same version
    got = service.fetch("107", timeout=60)
    assert got["downloaded"] is False and got["path"] == os.path.realpath(comfy_dir / "checkpoints" / CKPT)


def test_service_form_values_and_default(fake_civitai, comfy_dir, service_for):
    service = service_for(comfy_dir, "comfyui")
    done = service.wait_download(service.start_download("107", with_vae="false", with_config=""), timeout=60)
    assert done["state"] == "done" and done["companions"] == []
    assert files_under(comfy_dir / "vae") == [] and files_under(comfy_dir / "configs") == []


def test_service_a1111_config_alone_lands_beside_the_checkpoint(fake_civitai, webui, service_for):
    service = service_for(webui, "a1111")
    assert service.wait_download(service.start_download("107", file_id=10701), timeout=60)["state"] == "done"
    cfg = service.wait_download(service.start_download("107", file_id=10703), timeout=60)
    assert cfg["state"] == "done", cfg
    assert cfg["path"] == str(webui / "Stable-diffusion" / "dreamforgeXL_v10_fp32.yaml")
    assert "dreamforgeXL_v10_fp32.yaml" not in {e["name"] for e in service.library()}  # a yaml is no model


def test_service_vae_conflict_fails_the_task_and_keeps_the_users_file(fake_civitai, comfy_dir, service_for):
    theirs = comfy_dir / "vae" / VAE
    theirs.write_bytes(b"a different vae")
    service = service_for(comfy_dir, "comfyui")
    done = service.wait_download(service.start_download("107", with_vae=True), timeout=60)
    assert done["state"] == "failed"
    assert f"{CKPT} is saved in {comfy_dir / 'checkpoints'}, but its VAE {VAE} is not" in done["message"]
    assert done["path"] == str(comfy_dir / "checkpoints" / CKPT)
    assert theirs.read_bytes() == b"a different vae"
    assert "vae" not in json.loads((comfy_dir / "checkpoints" / "dreamforgeXL_v10.json").read_text())
    # a retry keeps the checkpoint and, with the conflict gone, brings the VAE
    theirs.unlink()
    storage = fake_civitai.count("/storage/")
    assert service.retry_download(done["id"]) is True
    again = service.wait_download(done["id"], timeout=60)
    assert again["state"] == "done" and fake_civitai.count("/storage/") == storage + 1
    assert sha256_of(theirs) == catalog_sha(fake_civitai, 10702)


def test_inside_comfyui_the_yaml_goes_to_the_configs_key_and_comfyui_lists_it(comfy, fake_civitai,
                                                                              civkit_home):
    folder_paths = comfy.folder_paths
    service = CivkitService(load_config(api_base=fake_civitai.base_url, home=civkit_home), ComfyUIHost())
    try:
        done = service.wait_download(service.start_download("107", with_vae=True, with_config=True), timeout=60)
    finally:
        service.close()
    assert done["state"] == "done", done
    paths = {c["kind"]: c["path"] for c in done["companions"]}
    assert os.path.dirname(paths["config"]) == folder_paths.get_folder_paths("configs")[0]
    assert os.path.dirname(paths["vae"]) == folder_paths.get_folder_paths("vae")[0]
    assert YAML in folder_paths.get_filename_list("configs")  # the refresh reached ComfyUI's cache
    assert VAE in folder_paths.get_filename_list("vae")
