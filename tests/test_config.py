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
