"""Configuration precedence, the private config file, and key redaction."""

from __future__ import annotations

import os
import stat

import pytest

from civkit.config import load_config, normalise_api_base, redact, save_api_key, save_settings


def test_precedence_argument_then_env_then_file(civkit_home):
    save_api_key(civkit_home, "from-file")
    assert load_config(env={"CIVKIT_HOME": str(civkit_home)}).api_key == "from-file"
    env = {"CIVKIT_HOME": str(civkit_home), "CIVITAI_TOKEN": "from-token"}
    assert load_config(env=env).api_key == "from-token"
    env["CIVITAI_API_KEY"] = "from-env"
    assert load_config(env=env).api_key == "from-env"
    assert load_config(env=env, api_key="from-flag").api_key == "from-flag"


def test_key_file_is_owner_only_and_key_is_never_in_repr(civkit_home):
    save_api_key(civkit_home, "sekrit-key-0123456789")
    mode = stat.S_IMODE(os.stat(civkit_home / "config.json").st_mode)
    assert mode == 0o600
    config = load_config(env={"CIVKIT_HOME": str(civkit_home)})
    assert "sekrit" not in repr(config)
    assert "sekrit" not in str(config)
    save_api_key(civkit_home, None)
    assert load_config(env={"CIVKIT_HOME": str(civkit_home)}).api_key is None


def test_api_base_accepts_origin_or_api_v1():
    assert normalise_api_base("https://civitai.com/api/v1/") == "https://civitai.com"
    assert normalise_api_base("http://127.0.0.1:8765") == "http://127.0.0.1:8765"
    with pytest.raises(ValueError, match="must look like"):
        normalise_api_base("civitai")


def test_settings_roundtrip_and_unknown_setting_refused(civkit_home):
    save_settings(civkit_home, nsfw_previews=True, subfolder_template="{base_model}")
    config = load_config(env={"CIVKIT_HOME": str(civkit_home)})
    assert config.nsfw_previews is True and config.subfolder_template == "{base_model}"
    with pytest.raises(ValueError, match="unknown civkit settings"):
        save_settings(civkit_home, api_key="nope")


def test_unreadable_config_file_is_ignored_not_fatal(civkit_home):
    (civkit_home / "config.json").write_text("{not json", encoding="utf-8")
    assert load_config(env={"CIVKIT_HOME": str(civkit_home)}).api_key is None


def test_redact_removes_token_bearer_and_key():
    text = "GET https://civitai.com/api/download/models/1?token=abc123&x=1 Authorization: Bearer abc123 key abc123"
    out = redact(text, key="abc123")
    assert "abc123" not in out
    assert "token=***" in out


# -- issue 13 items 13/18: the API base is parsed as the HTTP library will connect to it ----------------------

@pytest.mark.parametrize("value", [
    "https://evil\\.civitai.com",  # urllib3 connects to "evil"
    "https://civitai.com\\@evil.com",
    "https://user:pw@civitai.com",
    "https://civitai.com@evil.com",
    "https://civitai.com?x=1",
    "https://civitai.com#frag",
    "https://civi tai.com",
    "ftp://civitai.com",
])
def test_api_base_refuses_addresses_parsers_read_differently(value):
    with pytest.raises(ValueError) as info:
        normalise_api_base(value)
    assert "API base" in str(info.value)


@pytest.mark.parametrize("value, expected", [
    ("https://civitai.red", "https://civitai.red"),
    ("civitai.red", "https://civitai.red"),
    ("https://civitai.red/api/v1", "https://civitai.red"),
    ("https://civitai.green", "https://civitai.com"),  # §1.1: the SFW site's earlier name
    ("https://www.civitai.green/api/v1/", "https://civitai.com"),
    ("civitai.green", "https://civitai.com"),
    ("civitai.com", "https://civitai.com"),
    ("HTTPS://CIVITAI.RED", "https://civitai.red"),
])
def test_civitai_red_and_green_work_as_api_base(value, expected):
    assert normalise_api_base(value) == expected


# -- issue 13 item 14: signed storage URLs carry credentials in the query ----------------------------------------

@pytest.mark.parametrize("url, secrets", [
    ("https://f005.backblazeb2.com/file/civitai/x.safetensors?Authorization=3_20260101_abcDEF123&"
     "b2ContentDisposition=attachment%3B%20filename%3D%22x.safetensors%22", ["3_20260101_abcDEF123"]),
    ("https://delivery.r2.cloudflarestorage.com/m/x?X-Amz-Algorithm=AWS4-HMAC-SHA256&"
     "X-Amz-Credential=AKIAEXAMPLE%2F20260101%2Fauto%2Fs3%2Faws4_request&X-Amz-Date=20260101T000000Z&"
     "X-Amz-Expires=86400&X-Amz-Security-Token=FwoGZXIvYXdzEXAMPLE&X-Amz-SignedHeaders=host&"
     "X-Amz-Signature=0f1e2d3c4b5a69788796a5b4c3d2e1f0&response-content-disposition=attachment",
     ["AKIAEXAMPLE", "FwoGZXIvYXdzEXAMPLE", "0f1e2d3c4b5a69788796a5b4c3d2e1f0"]),
    ("https://storage.googleapis.com/b/o?X-Goog-Credential=svc%40p.iam&X-Goog-Signature=deadbeefcafe",
     ["svc%40p.iam", "deadbeefcafe"]),
    ("https://acct.blob.core.windows.net/c/b?sv=2024-01-01&se=2026-01-01&sig=AzureSIG%2Bvalue%3D",
     ["AzureSIG%2Bvalue%3D"]),
    ("https://d111.cloudfront.net/x?Expires=1&Signature=CFsig~abc&Key-Pair-Id=APKAEXAMPLE", ["CFsig~abc"]),
    ("http://127.0.0.1:1/storage/1/x?X-Expires=9&X-Signature=abc123def456", ["abc123def456"]),
    ("failed at /x?token=tok999 and https://h/y?access_token=tok777&api_key=k555", ["tok999", "tok777", "k555"]),
])
def test_redact_scrubs_signed_storage_url_credentials(url, secrets):
    out = redact(f"could not fetch {url} (403)")
    for secret in secrets:
        assert secret not in out
    assert out.startswith("could not fetch ") and out.endswith(" (403)")
    assert url.split("?")[0] in out  # the address itself stays readable
    if "content-disposition" in url.lower():
        assert "ContentDisposition=attachment" in out or "content-disposition=attachment" in out


def test_redact_keeps_harmless_query_parameters():
    text = "https://civitai.com/api/download/models/1?fileId=2&type=Model&format=SafeTensor"
    assert redact(text) == text
