"""CivkitService, the facade every UI calls, against the Civitai emulator and a real models folder."""

from __future__ import annotations

import json
import os
import shutil
import stat
import threading

import pytest

from civkit.config import load_config
from civkit.hosts.standalone import StandaloneHost
from civkit.service import CivkitService, ServiceError, error_message, error_status

HOSTILE_DESCRIPTION = (
    '<p onclick="steal()">Nice <b>style</b></p><script>fetch("/civkit/key")</script>'
    '<img src=x onerror=alert(1)><a href="javascript:alert(1)">x</a>'
    '<a href="https://civitai.com/models/101">page</a><iframe src="https://evil.example"></iframe>'
)


@pytest.fixture
def models_dir(tmp_path):
    path = tmp_path / "models"
    path.mkdir()
    return path


@pytest.fixture
def service(fake_civitai, models_dir, civkit_home):
    config = load_config(api_base=fake_civitai.base_url, home=civkit_home)
    svc = CivkitService(config, StandaloneHost(models_dir, layout="comfyui"))
    yield svc
    svc.close()


class Recorder:
    """A subscriber that keeps every event and can wait for one that matches."""

    def __init__(self):
        self.events = []
        self.cond = threading.Condition()

    def __call__(self, name, data):
        with self.cond:
            self.events.append((name, data))
            self.cond.notify_all()

    def wait_for(self, predicate, timeout=30):
        with self.cond:
            found = self.cond.wait_for(lambda: any(predicate(n, d) for n, d in self.events), timeout)
        assert found, f"no matching event in {self.events!r}"

    def states(self, task_id):
        return [d["state"] for n, d in self.events if n == "civkit.download" and d["id"] == task_id]


# ----------------------------------------------------------------------------------- search
def test_search_returns_json_safe_summaries_and_pages_with_a_cursor(service):
    first = service.search("anime", limit=2, nsfw=True)
    json.dumps(first)  # everything a UI gets can be sent as it is
    assert len(first["items"]) == 2 and first["next_cursor"]
    item = first["items"][0]
    assert set(item) >= {"id", "name", "type", "nsfw", "nsfw_level", "creator", "stats", "tags", "preview",
                         "versions", "in_library"}
    assert set(item["stats"]) >= {"downloads", "likes"}
    assert item["in_library"] is False
    assert item["versions"] and set(item["versions"][0]) == {"id", "name", "base_model", "published_at"}
    assert item["preview"] is None or set(item["preview"]) >= {"url", "nsfw"}

    # "more" until the end: every page new, and the end is a None cursor
    seen = [i["id"] for i in first["items"]]
    cursor, pages = first["next_cursor"], 1
    while cursor:
        page = service.search("anime", limit=2, nsfw=True, cursor=cursor)
        seen += [i["id"] for i in page["items"]]
        cursor, pages = page["next_cursor"], pages + 1
        assert pages < 20
    assert pages >= 3 and len(seen) == len(set(seen)) and {101, 102, 103} <= set(seen)


def test_search_without_query_pages_too(service):
    first = service.search(limit=5, sort="Most Downloaded", nsfw=True)
    assert len(first["items"]) == 5 and first["next_cursor"]
    second = service.search(limit=5, sort="Most Downloaded", nsfw=True, cursor=first["next_cursor"])
    assert second["items"] and not {i["id"] for i in first["items"]} & {i["id"] for i in second["items"]}


def test_strict_sfw_drops_models_with_mature_levels(service, fake_civitai):
    sfw = service.search(limit=100, nsfw=False)
    ids = {i["id"] for i in sfw["items"]}
    assert {103, 105, 110} <= ids
    # 102 has level 9 (PG | X), 101 level 5 (PG | R): Civitai's nsfw=false still returns them
    # because they include PG content; strict SFW drops them.
    assert not {101, 102, 107, 123, 124} & ids
    assert all(not (i["nsfw_level"] & ~3) for i in sfw["items"])
    assert all(not i["preview"] or i["preview"]["nsfw_level"] in (1, 2) for i in sfw["items"])
    everything = {i["id"] for i in service.search(limit=100, nsfw=True)["items"]}
    assert {101, 102, 107, 123, 124} <= everything


def test_bad_limit_is_refused_with_a_message(service):
    with pytest.raises(ServiceError) as info:
        service.search("x", limit="many")
    assert info.value.message == "limit must be a number from 1 to 100."


# ----------------------------------------------------------------------------------- details
def test_model_details_have_versions_files_images_and_a_sanitised_description(service, fake_civitai):
    raw = fake_civitai.catalog.model(101)
    original = raw["description"]
    raw["description"] = HOSTILE_DESCRIPTION
    try:
        details = service.model_details("https://civitai.com/models/101/anime-lineart?modelVersionId=1010")
    finally:
        raw["description"] = original
    json.dumps(details)
    html = details["description_html"]
    assert "<script" not in html and "onclick" not in html and "onerror" not in html
    assert "javascript:" not in html and "<iframe" not in html and "<img" not in html
    assert "<p>Nice <b>style</b></p>" in html
    assert 'href="https://civitai.com/models/101"' in html
    assert details["description_text"].startswith("Nice style")
    assert details["selected_version_id"] == 1010
    v2 = next(v for v in details["versions"] if v["id"] == 1011)
    assert v2["trained_words"] == ["animelineart", "clean lineart"]
    assert v2["description_html"] == "<p>Sharper lines, fewer artifacts.</p>"
    (f,) = v2["files"]
    assert f["name"] == "anime_lineart_v2.safetensors" and f["primary"] is True
    assert f["safe"] is True and f["needs_allow_unsafe"] is False and len(f["sha256"]) == 64
    assert f["size"] > 0 and f["format"] == "SafeTensor"
    assert v2["images"] and all(set(i) >= {"url", "nsfw", "nsfw_level"} for i in v2["images"])
    assert v2["local_path"] is None and v2["in_library"] is False


def test_details_flag_pickles_and_dangerous_files(service):
    retro = service.model_details("108")["versions"][0]["files"][0]
    assert retro["format"] == "PickleTensor" and retro["safe"] is False and retro["needs_allow_unsafe"] is True
    danger = service.model_details("120")["versions"][0]["files"][0]
    assert danger["safe"] is False and danger["needs_allow_unsafe"] is False


def test_a_bare_number_falls_back_to_a_version_id(service):
    details = service.model_details("1010")
    assert details["id"] == 101 and details["selected_version_id"] == 1010


def test_unknown_model_and_bad_reference_have_plain_messages(service):
    with pytest.raises(ServiceError) as bare:
        service.model_details("999999")
    assert bare.value.message == "Civitai has no model and no model version with id 999999."
    assert error_status(bare.value) == 404
    with pytest.raises(Exception) as info:
        service.model_details("https://civitai.com/models/999999")
    assert error_status(info.value) == 404
    assert service.error_message(info.value).startswith("Not found on Civitai")
    with pytest.raises(ValueError) as bad:
        service.model_details("https://evil.example/models/1")
    assert "Cannot tell which Civitai model" in service.error_message(bad.value)
    assert error_status(bad.value) == 400


# ----------------------------------------------------------------------------------- downloads
def test_download_through_the_queue_ends_in_the_library_with_trigger_words(service, models_dir):
    events = Recorder()
    service.subscribe(events)
    task_id = service.start_download("https://civitai.com/models/101")
    done = service.wait_download(task_id, timeout=60)
    assert done["state"] == "done", done
    target = models_dir / "loras" / "anime_lineart_v2.safetensors"
    assert done["path"] == str(target) and target.is_file()
    assert done["trained_words"] == ["animelineart", "clean lineart"]
    assert (models_dir / "loras" / "anime_lineart_v2.civitai.info").is_file()
    a1111 = json.loads((models_dir / "loras" / "anime_lineart_v2.json").read_text())
    assert a1111["activation text"] == "animelineart, clean lineart"
    assert not list((models_dir / "loras").glob("*.part"))

    # the queue wakes waiters before it tells subscribers, so the last event may still be on its way
    events.wait_for(lambda n, d: n == "civkit.download" and d["id"] == task_id and d["state"] == "done")
    states = events.states(task_id)
    assert states[0] == "queued" and "downloading" in states and states[-1] == "done"
    json.dumps(events.events)

    (entry,) = [e for e in service.library() if e["name"] == "anime_lineart_v2.safetensors"]
    assert entry["status"] == "linked" and entry["version_id"] == 1011 and entry["model_id"] == 101
    assert entry["trained_words"] == ["animelineart", "clean lineart"] and entry["base_model"] == "SD 1.5"
    assert service.trigger_words("anime_lineart_v2.safetensors") == ["animelineart", "clean lineart"]
    assert service.trigger_words(str(target)) == ["animelineart", "clean lineart"]
    assert service.trigger_words("loras/anime_lineart_v2.safetensors") == ["animelineart", "clean lineart"]

    # search and details now know it is local
    hit = next(i for i in service.search("Anime Lineart", nsfw=True)["items"] if i["id"] == 101)
    assert hit["in_library"] is True
    details = service.model_details("101")
    assert next(v for v in details["versions"] if v["id"] == 1011)["local_path"] == os.path.realpath(target)
    assert [t["id"] for t in service.downloads()] == [task_id]


def test_a_failing_subscriber_never_breaks_a_download(service, models_dir):
    def broken(name, data):
        raise RuntimeError("subscriber bug")

    good = Recorder()
    service.subscribe(broken)
    service.subscribe(good)
    done = service.wait_download(service.start_download("109"), timeout=60)
    assert done["state"] == "done"
    assert (models_dir / "embeddings").is_dir() and any((models_dir / "embeddings").iterdir())
    assert good.events


def test_folder_key_picks_the_folder_and_a_bad_key_is_refused(service, models_dir):
    for bad in ("../../etc", "/tmp", "nonsense"):
        with pytest.raises(ServiceError) as info:
            service.start_download("101", folder_key=bad)
        assert "is not a model folder" in info.value.message and "loras" in info.value.message
        assert error_status(info.value) == 400
    assert service.downloads() == []
    done = service.wait_download(service.start_download("101", folder_key="checkpoints"), timeout=60)
    assert done["state"] == "done"
    assert (models_dir / "checkpoints" / "anime_lineart_v2.safetensors").is_file()


def test_unknown_download_options_are_refused(service):
    with pytest.raises(ServiceError) as info:
        service.start_download("101", path="/etc/passwd")
    assert "Unknown download option" in info.value.message


def test_a_download_needing_a_key_fails_with_the_plain_message(service, models_dir):
    done = service.wait_download(service.start_download("103"), timeout=60)
    assert done["state"] == "failed"
    assert "needs a Civitai API key" in done["message"]
    assert not (models_dir / "loras" / "pony_anime_shading.safetensors").exists()


def test_a_pickle_needs_allow_unsafe(service, models_dir):
    done = service.wait_download(service.start_download("108"), timeout=60)
    assert done["state"] == "failed" and "allow_unsafe" in done["message"]
    done = service.wait_download(service.start_download("108", allow_unsafe=True), timeout=60)
    assert done["state"] == "done" and done["path"].endswith(".ckpt")


def test_cancel_keeps_nothing_under_the_final_name_and_retry_resumes(service, fake_civitai, models_dir):
    fake_civitai.faults.chunk_size = 64 * 1024
    fake_civitai.faults.chunk_delay = 0.05
    events = Recorder()
    service.subscribe(events)
    task_id = service.start_download("107")  # a 3 MiB checkpoint, slowed down
    events.wait_for(lambda n, d: n == "civkit.download" and d["id"] == task_id
                    and d["state"] == "downloading" and d["bytes"] > 0)
    assert service.cancel_download(task_id) is True
    done = service.wait_download(task_id, timeout=60)
    assert done["state"] == "cancelled" and "cancelled" in done["message"].lower()
    folder = models_dir / "checkpoints"
    assert not [p for p in folder.iterdir() if p.suffix == ".safetensors"]
    assert service.cancel_download(task_id) is False  # already finished

    fake_civitai.faults.chunk_delay = 0.0
    assert service.retry_download(task_id) is True
    done = service.wait_download(task_id, timeout=60)
    assert done["state"] == "done" and os.path.isfile(done["path"])


# ----------------------------------------------------------------------------------- library
def test_trigger_words_refuse_files_outside_the_model_roots(service, tmp_path, models_dir):
    outside = tmp_path / "secret.safetensors"
    outside.write_bytes(b"\x00" * 16)
    for attempt in (str(outside), "../secret.safetensors", "loras/../../secret.safetensors", "/etc/passwd"):
        with pytest.raises(ServiceError) as info:
            service.trigger_words(attempt)
        assert "outside the model folders" in info.value.message, attempt
        assert error_status(info.value) == 403
    with pytest.raises(ServiceError) as missing:
        service.trigger_words("nothing_here.safetensors")
    assert missing.value.http_status == 404 and "No model file" in missing.value.message


def test_scan_links_files_reports_progress_and_finds_duplicates(service, models_dir, fake_civitai):
    done = service.wait_download(service.start_download("102"), timeout=60)
    assert done["state"] == "done"
    copy = models_dir / "loras" / "eyes_copy.safetensors"
    shutil.copyfile(done["path"], copy)
    events = Recorder()
    service.subscribe(events)
    progress_calls = []
    report = service.scan_library(progress=lambda p: progress_calls.append(p))
    json.dumps(report)
    assert report["files"] == 2 and report["by_status"]["linked"] == 2 and report["errors"] == []
    scan_states = [d["state"] for n, d in events.events if n == "civkit.scan"]
    assert scan_states[0] == "started" and scan_states[-1] == "done" and "running" in scan_states
    assert progress_calls
    (group,) = service.duplicates()
    assert sorted(os.path.basename(p) for p in group["paths"]) == [
        "anime_eyes_detailer_ill.safetensors", "eyes_copy.safetensors"]
    assert service.trigger_words("eyes_copy") == ["detailed eyes", "sparkling eyes"]


def test_updates_show_a_newer_version(service):
    done = service.wait_download(service.start_download("101@1010"), timeout=60)
    assert done["state"] == "done" and done["version_id"] == 1010
    assert service.library()[0]["update_available"] is None  # not asked yet
    (update,) = service.updates()
    assert update["version_id"] == 1010 and update["latest_version_id"] == 1011
    (entry,) = service.library()
    assert entry["update_available"] is True and entry["latest_version_id"] == 1011


# ----------------------------------------------------------------------------------- key & settings
def test_api_key_is_stored_owner_only_and_never_shown(service, fake_civitai, civkit_home, models_dir):
    key = fake_civitai.api_key
    assert service.api_key_is_set() is False
    assert service.check_api_key()["ok"] is False
    events = Recorder()
    service.subscribe(events)
    service.set_api_key(key)
    config_file = civkit_home / "config.json"
    assert stat.S_IMODE(config_file.stat().st_mode) == 0o600
    assert json.loads(config_file.read_text())["api_key"] == key
    assert service.api_key_is_set() is True
    assert service.check_api_key() == {"ok": True, "username": "tester", "message": None}
    assert key not in repr(service) and key not in repr(service.config) and key not in json.dumps(service.settings())

    done = service.wait_download(service.start_download("103"), timeout=60)  # needs the key
    assert done["state"] == "done"
    failed = service.wait_download(service.start_download("120"), timeout=60)
    assert failed["state"] == "failed"
    assert key not in json.dumps(service.downloads()) and key not in json.dumps(events.events)
    for path in models_dir.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".info"):
            assert key not in path.read_text()

    service.set_api_key("not-a-valid-key")
    checked = service.check_api_key()
    assert checked["ok"] is False and checked["username"] is None and checked["message"]
    assert "not-a-valid-key" not in checked["message"]
    service.set_api_key(None)
    assert service.api_key_is_set() is False and "api_key" not in json.loads(config_file.read_text())


def test_a_key_with_spaces_is_refused(service, civkit_home):
    with pytest.raises(ServiceError) as info:
        service.set_api_key("two words")
    assert "does not look like a Civitai API key" in info.value.message
    assert "two words" not in info.value.message
    assert not (civkit_home / "config.json").exists()


def test_settings_change_at_runtime_and_persist(service, civkit_home):
    settings = service.update_settings(nsfw_previews=True, subfolder_template="{base_model}")
    assert settings["nsfw_previews"] is True and settings["subfolder_template"] == "{base_model}"
    assert json.loads((civkit_home / "config.json").read_text())["subfolder_template"] == "{base_model}"
    with pytest.raises(ServiceError) as info:
        service.update_settings(api_key="x")
    assert "Unknown civkit setting" in info.value.message
    with pytest.raises(ServiceError):
        service.update_settings(api_base="not a url")


def test_subfolder_template_stays_inside_the_folder(service, models_dir):
    service.update_settings(subfolder_template="{base_model}/../../{type}", persist=False)
    done = service.wait_download(service.start_download("101"), timeout=60)
    assert done["state"] == "done"
    assert done["path"] == str(models_dir / "loras" / "SD 1.5" / "LORA" / "anime_lineart_v2.safetensors")


def test_error_message_is_plain_for_anything():
    assert error_message(ServiceError("Plain words.")) == "Plain words."
    assert error_message(FileNotFoundError(2, "No such file or directory", "/x/y")) == \
        "No such file or directory: /x/y"
    assert "Something went wrong inside civkit (KeyError)" in error_message(KeyError("x"))
    assert error_message(ServiceError("token=abc123 and secret-key"), api_key="secret-key") == \
        "token=*** and ***"


def test_early_access_shows_in_details_and_the_download_says_until_when(service, models_dir):
    (version,) = service.model_details("104")["versions"]
    assert version["early_access"] is True and version["early_access_deadline"]
    done = service.wait_download(service.start_download("104"), timeout=60)
    assert done["state"] == "failed" and "early access" in done["message"]
    assert not any(p.is_file() for p in models_dir.rglob("*"))


def test_the_same_file_twice_is_skipped_not_downloaded_again(service, fake_civitai):
    first = service.wait_download(service.start_download("109"), timeout=60)
    storage_requests = fake_civitai.count("/storage/")
    assert first["state"] == "done" and storage_requests == 1
    again = service.wait_download(service.start_download("109"), timeout=60)
    assert again["state"] == "skipped" and again["path"] == first["path"]
    assert fake_civitai.count("/storage/") == storage_requests
    assert [t["state"] for t in service.downloads()] == ["done", "skipped"]
    assert service.clear_download(again["id"]) is True and len(service.downloads()) == 1


def test_fetch_downloads_once_then_uses_the_library_copy(service, models_dir):
    got = service.fetch("urn:air:sd1:lora:civitai:101@1011", folder_key="loras", timeout=60)
    assert got["downloaded"] is True and got["trained_words"] == ["animelineart", "clean lineart"]
    assert got["path"] == str(models_dir / "loras" / "anime_lineart_v2.safetensors")
    again = service.fetch("101@1011", folder_key="loras", timeout=60)
    assert again["downloaded"] is False and again["path"] == os.path.realpath(got["path"])
    with pytest.raises(Exception) as info:
        service.fetch("103", timeout=60)  # needs a key
    assert "needs a Civitai API key" in service.error_message(info.value)


def test_unknown_task_ids(service):
    with pytest.raises(ServiceError) as info:
        service.download("dl-999")
    assert info.value.http_status == 404 and "No download with id dl-999" in info.value.message
    assert service.cancel_download("dl-999") is False and service.retry_download("dl-999") is False


def test_details_without_nsfw_images(service):
    everything = service.model_details("124")["versions"][0]["images"]
    assert {i["nsfw_level"] for i in everything} == {1, 4, 8}
    sfw = service.model_details("124", nsfw=False)["versions"][0]["images"]
    assert [i["nsfw_level"] for i in sfw] == [1] and sfw[0]["nsfw"] is False


class RecordingHost(StandaloneHost):
    """The standalone host, remembering what it was told after each download."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.downloaded = []

    def after_download(self, path):
        self.downloaded.append(path)


def test_host_is_told_and_sidecars_follow_the_setting(fake_civitai, models_dir, civkit_home):
    config = load_config(api_base=fake_civitai.base_url, home=civkit_home).with_changes(write_sidecars=False)
    host = RecordingHost(models_dir, layout="a1111")
    svc = CivkitService(config, host)
    try:
        done = svc.wait_download(svc.start_download("101"), timeout=60)
    finally:
        svc.close()
    assert done["state"] == "done"
    target = models_dir / "Lora" / "anime_lineart_v2.safetensors"
    assert done["path"] == str(target) and host.downloaded == [target]
    assert sorted(p.name for p in target.parent.iterdir()) == ["anime_lineart_v2.safetensors"]
    svc = CivkitService(config, host)
    try:
        (entry,) = svc.library()  # indexed even without sidecars
        assert entry["status"] == "linked" and entry["path"] == str(target)
    finally:
        svc.close()


def test_offline_scan_indexes_without_asking_civitai(service, models_dir, fake_civitai):
    lora = models_dir / "loras"
    lora.mkdir()
    (lora / "mine.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    before = len(fake_civitai.request_log)
    report = service.scan_library(lookup=False)
    assert report["files"] == 1 and report["by_status"]["unknown"] == 1
    assert len(fake_civitai.request_log) == before
    (entry,) = service.library()
    assert entry["name"] == "mine.safetensors" and entry["sha256"] and entry["model_id"] is None


def test_trigger_words_ask_civitai_once_then_fall_back_to_the_file_metadata(service, models_dir, fake_civitai):
    """An interactive lookup (a node run, a click) must not sit through a scan's retries when
    Civitai is busy: one request, then the training metadata in the file's header."""
    from civkit.safetensors_header import read_header
    from civkit.triggers import words_from_metadata

    loras = models_dir / "loras"
    loras.mkdir()
    local = loras / "unindexed_eyes.safetensors"
    shutil.copyfile(fake_civitai.catalog.files[10200], local)  # model 102's file, not in the index
    fake_civitai.faults.busy_count = 10
    words = service.trigger_words("loras/unindexed_eyes.safetensors")
    assert fake_civitai.count("/api/v1/model-versions/by-hash") == 1
    assert words and words == words_from_metadata(read_header(local).metadata, 10)
