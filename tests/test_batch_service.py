"""The service's batch part and the runner (issue 11): politeness under 429s and dropped connections."""

from __future__ import annotations

import hashlib
import threading

import pytest

from civkit.api import CivitaiClient
from civkit.api.errors import NetworkError, NotFound, RateLimited
from civkit.batch import retry_hint
from civkit.config import load_config
from civkit.download.errors import DownloadError, explain
from civkit.hosts import StandaloneHost
from civkit.service import CivkitService, ServiceError


def sha256_of(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest().upper()


@pytest.fixture
def models(tmp_path):
    path = tmp_path / "models"
    (path / "loras").mkdir(parents=True)
    return path


def service_for(fake, models, *, max_attempts=5, key=True):
    config = load_config(api_base=fake.base_url, api_key=fake.api_key if key else None)
    client = CivitaiClient(fake.base_url, fake.api_key if key else None, max_attempts=max_attempts,
                           rate_per_second=None, backoff_base=0.01, backoff_cap=0.05)
    return CivkitService(config, StandaloneHost(models, "comfyui"), client=client, workers=1)


def publish_twenty(fake, tmp_path):
    """20 one-file models of the creator 'batchmaker', each a different small safetensors file."""
    from civkit.testing import files as F

    src = tmp_path / "src"
    src.mkdir()
    for n in range(20):
        path = src / f"batch_{n:02d}.safetensors"
        path.write_bytes(F.safetensors_bytes({"ss_output_name": f"batch{n}"}, 40 * 1024 + n, f"batch-{n}"))
        fake.add_model(path, name=f"Batch Model {n:02d}", creator="batchmaker", model_type="LORA")


def test_retry_hint_tells_passing_failures_from_final_ones():
    assert retry_hint(explain(RateLimited("slow down", status=429, retry_after=7))) == (True, 7)
    assert retry_hint(explain(RateLimited("quota", status=429, quota=True)))[0] is False
    assert retry_hint(explain(NetworkError("reset")))[0] is True
    assert retry_hint(explain(NotFound("gone", status=404)))[0] is False
    assert retry_hint(DownloadError("the hash did not match"))[0] is False
    assert retry_hint(None) == (False, None)


def test_twenty_files_with_a_429_every_fifth_request_and_a_dropped_connection(fake_civitai, models, tmp_path):
    fake = fake_civitai
    publish_twenty(fake, tmp_path)
    # One try per request: every 429 reaches the batch, which must retry the file later, not give up.
    service = service_for(fake, models, max_attempts=1)
    try:
        plan = service.plan_batch("creator", username="batchmaker")
        assert plan["totals"]["download"] == 20 and plan["totals"]["files"] == 20
        fake.faults.rate_limit_every = 5
        fake.faults.rate_limit_retry_after = 1
        fake.faults.drop_after_bytes = 10 * 1024
        fake.faults.drop_count = 1
        runner = service.batch_runner(plan["id"], max_rounds=12, backoff=0.05)
        report = runner.run()
    finally:
        service.close()
    assert [r["status"] for r in report] == ["done"] * 20
    for row in report:
        _m, _v, f = fake.catalog.find_file(row["file_id"])
        assert sha256_of(row["path"]) == f["hashes"]["SHA256"]
    assert runner.rounds >= 1  # some files were put back and retried later
    rate_limited = fake.faults.api_requests // 5
    assert rate_limited >= 4 and fake.faults.drop_count == 0
    assert not list(models.rglob("*.part"))
    status = runner.status()
    assert status["files_done"] == status["files_total"] == 20 and status["files_failed"] == 0
    assert status["bytes_done"] == status["bytes_total"] == sum(r["size"] for r in report)


def test_a_file_that_keeps_failing_is_reported_and_the_rest_finish(fake_civitai, models, tmp_path):
    fake = fake_civitai
    fake.catalog.add_batch_models()
    service = service_for(fake, models, max_attempts=1)
    try:
        plan = service.plan_batch("refs", refs=["126@1261"], all_files=True)
        fake.faults.rate_limit_every = 1  # every request: nothing can get through
        runner = service.batch_runner(plan["id"], max_rounds=2, backoff=0.01)
        report = runner.run()
    finally:
        service.close()
    assert [r["status"] for r in report] == ["failed", "failed"]
    assert all("rate-limiting" in r["message"] for r in report)
    assert runner.rounds == 2 and not runner.succeeded()


def test_start_batch_runs_in_the_background_with_progress_events(fake_civitai, models):
    fake = fake_civitai
    fake.catalog.add_batch_models()
    service = service_for(fake, models)
    events = []
    done = threading.Event()

    def listen(event, data):
        if event == "civkit.batch":
            events.append(data)
            if data["state"] in ("done", "cancelled"):
                done.set()

    service.subscribe(listen)
    try:
        plan = service.plan_batch("refs", refs=["126"], all_versions=True, all_files=True)
        assert [r["action"] for r in plan["rows"]] == ["download"] * 4
        started = service.start_batch(plan["id"], only=[0, 2])  # the user unticked two rows
        assert started["files_total"] == 2 and started["id"].startswith("batch-")
        assert done.wait(60)
        final = service.batch(started["id"])
    finally:
        service.close()
    assert final["state"] == "done" and final["files_done"] == 2 and final["eta"] is None
    assert [r["status"] for r in final["report"]] == ["done", "done"]
    assert sorted(p.name for p in (models / "loras").glob("*.safetensors")) == [
        "pixel_art_kit_v1.safetensors", "pixel_art_kit_v2.safetensors"]
    assert events[-1]["state"] == "done" and all("bytes_done" in e for e in events)


def test_plan_errors_are_for_people(fake_civitai, models):
    service = service_for(fake_civitai, models, key=False)
    try:
        with pytest.raises(ServiceError) as info:
            service.plan_batch("favorites")
        assert info.value.http_status == 401 and "API key" in info.value.message
        with pytest.raises(ServiceError, match="Unknown batch kind"):
            service.plan_batch("everything")
        with pytest.raises(ServiceError, match="Name at least one model"):
            service.plan_batch("refs", refs=[])
        with pytest.raises(ServiceError, match="not a model folder"):
            service.plan_batch("refs", refs=["101"], folder_key="nope")
        with pytest.raises(ServiceError, match="No batch plan"):
            service.start_batch("plan-999")
    finally:
        service.close()
    assert not list(models.rglob("*.*"))


def test_plan_totals_say_when_the_disk_is_too_small(fake_civitai, models):
    from civkit.batch.plan import Planner

    service = service_for(fake_civitai, models)
    try:
        version = service.client.get_version(1011)
        planner = Planner(None, lambda v, f: models / "loras",
                          disk_usage=lambda p: type("U", (), {"free": 1000})())
        plan = planner.plan([(version, version.files[0], None)])
    finally:
        service.close()
    totals = plan.totals()
    assert totals["download"] == 1 and totals["free_after"] == 1000 - version.files[0].size_bytes
    assert totals["space_ok"] is False
