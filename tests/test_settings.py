"""Settings: defaults, one clear line per bad value, placeholder secrets refused."""

from __future__ import annotations

import pytest

from config.settings import ConfigError, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    import os

    for key in list(os.environ):
        if key.split("_", 1)[0] in {
            "DATABASE",
            "REDIS",
            "AMI",
            "DIAL",
            "AUDIOSOCKET",
            "OPENAI",
            "WEB",
            "TWILIO",
            "SMTP",
            "CALLING",
            "MAX",
            "LOG",
        }:
            monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(tmp_path)


def test_defaults_need_nothing() -> None:
    settings = load_settings(env_file=None)
    assert settings.database.url is None
    assert settings.redis.url is None
    assert settings.ami.port == 5038
    assert settings.calling.max_concurrent_calls == 3
    assert settings.audiosocket.advertised_address == "127.0.0.1:9092"


@pytest.mark.parametrize(
    ("key", "value", "named"),
    [
        ("DATABASE_URL", "mysql://x/y", "DATABASE_URL"),
        ("DATABASE_URL", "postgresql+asyncpg://h:notaport/db", "DATABASE_URL"),
        ("REDIS_URL", "http://localhost:6379", "REDIS_URL"),
        ("REDIS_URL", "redis://localhost:99999/0", "REDIS_URL"),
        ("AMI_PORT", "fifty", "AMI_PORT"),
        ("AMI_PORT", "70000", "AMI_PORT"),
        ("AMI_SECRET", "change-me", "AMI_SECRET"),
        ("DIAL_CHANNEL_TEMPLATE", "PJSIP/trunk", "DIAL_CHANNEL_TEMPLATE"),
        ("CALLING_DAYS", "monday", "CALLING_DAYS"),
        ("MAX_CONCURRENT_CALLS", "0", "MAX_CONCURRENT_CALLS"),
        ("OPENAI_INPUT_BATCH_FRAMES", "0", "OPENAI_INPUT_BATCH_FRAMES"),
        ("OPENAI_INPUT_BATCH_FRAMES", "11", "OPENAI_INPUT_BATCH_FRAMES"),
        ("WEB_FORWARDED_ALLOW_IPS", "127.0.0.1,proxy.example", "WEB_FORWARDED_ALLOW_IPS"),
        ("WEB_MAX_BODY_BYTES", "10", "WEB_MAX_BODY_BYTES"),
        ("WEB_MAX_SOCKETS_PER_USER", "0", "WEB_MAX_SOCKETS_PER_USER"),
        ("WEB_OPS_TOKEN", "change-me", "WEB_OPS_TOKEN"),
        ("OPENAI_BASE_URL", "ftp://api.example/v1", "OPENAI_BASE_URL"),
        ("GOOGLE_PLACES_BASE_URL", "", "GOOGLE_PLACES_BASE_URL"),
    ],
)
def test_bad_value_names_the_setting(
    monkeypatch: pytest.MonkeyPatch, key: str, value: str, named: str
) -> None:
    monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError) as info:
        load_settings(env_file=None)
    assert len(info.value.problems) == 1
    assert info.value.problems[0].startswith(f"{named}: ")


def test_api_base_urls_lose_their_trailing_slash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:8080/v1/")
    monkeypatch.setenv("GOOGLE_PLACES_BASE_URL", "https://places.example/")
    settings = load_settings(env_file=None)
    assert settings.openai.base_url == "http://127.0.0.1:8080/v1"
    assert settings.places.base_url == "https://places.example"


def test_web_guardrail_defaults_and_trusted_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    web = load_settings(env_file=None).web
    assert (web.max_body_bytes, web.max_sockets_per_user) == (1_048_576, 5)
    assert (web.trusted_proxies, web.ops_token) == ([], None)  # trust no proxy by default
    monkeypatch.setenv("WEB_FORWARDED_ALLOW_IPS", " 10.0.0.1 , 192.168.0.0/16,")
    assert load_settings(env_file=None).web.trusted_proxies == ["10.0.0.1", "192.168.0.0/16"]


def test_all_problems_reported_together(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMI_PORT", "x")
    monkeypatch.setenv("REDIS_URL", "nope")
    with pytest.raises(ConfigError) as info:
        load_settings(env_file=None)
    assert {p.split(":")[0] for p in info.value.problems} == {"AMI_PORT", "REDIS_URL"}


def test_env_file_is_read(tmp_path) -> None:
    env = tmp_path / "custom.env"
    env.write_text("AMI_PORT=6000\nMAX_CONCURRENT_CALLS=7\n")
    settings = load_settings(env_file=env)
    assert settings.ami.port == 6000
    assert settings.calling.max_concurrent_calls == 7


def test_secret_is_masked_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-real-looking-key-123")
    settings = load_settings(env_file=None)
    assert "sk-real" not in repr(settings.openai)
    assert settings.openai.api_key is not None
    assert settings.openai.api_key.get_secret_value() == "sk-real-looking-key-123"


def test_every_setting_is_documented_in_env_example_and_readme() -> None:
    from pathlib import Path

    from config.settings import GROUPS, env_name

    root = Path(__file__).resolve().parents[1]
    example = (root / ".env.example").read_text()
    readme = (root / "README.md").read_text()
    for cls in GROUPS.values():
        for field in cls.model_fields:
            name = env_name(cls, field)
            assert f"{name}=" in example, f"{name} missing from .env.example"
            assert f"`{name}`" in readme, f"{name} missing from the README's reference"
