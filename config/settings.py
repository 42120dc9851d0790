"""One `Settings` for the whole process, read from the environment and `.env`.

Only this package reads the environment. main.py builds `Settings` once and passes the
groups down, so every other package can be tested with plain constructed objects.
Each group is its own BaseSettings with a flat env prefix (AMI_HOST, REDIS_URL, ...)
because operators copy these names from `.env.example` and Asterisk docs, not from
a nested JSON shape.
"""

from __future__ import annotations

from datetime import time
from ipaddress import ip_network
from pathlib import Path
from typing import Annotated, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRETS = frozenset(
    {"change-me", "changeme", "secret", "password", "your-key-here", "sk-...", "xxx", "todo"}
)


def _config(prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(
        env_prefix=prefix,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
    )


def _refuse_placeholder(value: SecretStr | None) -> SecretStr | None:
    if value is not None and value.get_secret_value().strip().lower() in PLACEHOLDER_SECRETS:
        raise ValueError("is a placeholder value; set a real secret")
    return value


Secret = Annotated[SecretStr | None, AfterValidator(_refuse_placeholder)]
Port = Annotated[int, Field(ge=1, le=65535)]


def _check_url(value: str | None, schemes: tuple[str, ...]) -> str | None:
    if value is None or value == "":
        return None
    parts = urlsplit(value)
    scheme = parts.scheme.split("+", 1)[0]
    if scheme not in schemes:
        raise ValueError(f"must start with one of {', '.join(s + '://' for s in schemes)}")
    if scheme != "sqlite" and not parts.hostname:
        raise ValueError("has no host")
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise ValueError(f"has an invalid port ({exc})") from None
    return value


def _api_base_url(value: str) -> str:
    """An HTTP API's base URL, without the trailing slash the clients add paths after."""
    checked = _check_url(value, ("http", "https"))
    if checked is None:
        raise ValueError("must not be empty")
    return checked.rstrip("/")


ApiBaseUrl = Annotated[str, AfterValidator(_api_base_url)]


class DatabaseSettings(BaseSettings):
    """DATABASE_URL: unset means an SQLite file under DATA_DIR."""

    model_config = _config("DATABASE_")

    url: str | None = Field(default=None, description="SQLAlchemy async URL; unset = SQLite")
    echo: bool = Field(default=False, description="log every SQL statement")

    @field_validator("url")
    @classmethod
    def _valid_url(cls, value: str | None) -> str | None:
        return _check_url(value, ("sqlite", "postgresql", "postgres"))


class RedisSettings(BaseSettings):
    """REDIS_URL: unset means the in-process command bus and concurrency limit."""

    model_config = _config("REDIS_")

    url: str | None = Field(default=None, description="redis://host:port/db; unset = in-process")

    @field_validator("url")
    @classmethod
    def _valid_url(cls, value: str | None) -> str | None:
        return _check_url(value, ("redis", "rediss", "unix"))


class AmiSettings(BaseSettings):
    """The Asterisk Manager Interface login (least privilege: see asterisk/manager.conf)."""

    model_config = _config("AMI_")

    host: str = Field(default="127.0.0.1", description="AMI host (keep it on loopback)")
    port: Port = Field(default=5038, description="AMI TCP port")
    username: str = Field(default="opendeep", description="manager.conf user")
    secret: Secret = Field(default=None, description="manager.conf secret (required)")
    ping_interval: float = Field(default=5.0, gt=0, description="seconds between AMI pings")
    ping_timeout: float = Field(default=3.0, gt=0, description="a ping unanswered this long = dead")
    reconnect_max_delay: float = Field(default=2.0, gt=0, description="backoff cap in seconds")


class DialSettings(BaseSettings):
    """How an outbound call is placed and where the answered call goes in the dialplan."""

    model_config = _config("DIAL_")

    channel_template: str = Field(
        default="PJSIP/{number}@trunk", description="outbound channel; {number} is E.164 digits"
    )
    context: str = Field(
        default="opendeep-agent", description="dialplan context running AudioSocket"
    )
    exten: str = Field(default="s", description="extension in that context")
    ring_timeout: float = Field(default=30.0, gt=0, le=300, description="seconds to let it ring")
    caller_id: str = Field(default="", description='CallerID, e.g. "OpenDeep" <15550001111>')
    asterisk_amd: bool = Field(
        default=False,
        description="run Asterisk's AMD() on every call (costs the callee 2-5 s; see README)",
    )

    @field_validator("channel_template")
    @classmethod
    def _has_number(cls, value: str) -> str:
        if "{number}" not in value or "/" not in value:
            raise ValueError("must look like TECH/...{number}..., e.g. PJSIP/{number}@trunk")
        return value


class AudioSocketSettings(BaseSettings):
    """Where our AudioSocket server listens, and the address Asterisk should dial back."""

    model_config = _config("AUDIOSOCKET_")

    listen_host: str = Field(default="127.0.0.1", description="bind address")
    listen_port: Port = Field(default=9092, description="bind port")
    advertise_host: str | None = Field(
        default=None, description="host:port Asterisk connects to (default: listen address)"
    )
    first_frame_timeout: float = Field(
        default=0.5, gt=0, le=10, description="seconds a new connection has to send its call id"
    )
    idle_timeout: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="seconds without caller audio before a call is taken for dead (not on hold)",
    )

    transport: Literal["audiosocket", "websocket"] = Field(
        default="audiosocket",
        description=(
            "how calls we place reach us: AudioSocket(), or Asterisk 22's chan_websocket "
            "(Asterisk keeps the 20 ms clock; the port speaks both; docs/protocols.md)"
        ),
    )
    websocket_client: str = Field(
        default="opendeep-media",
        pattern=r"^[A-Za-z0-9_.-]{1,64}$",
        description=(
            "the websocket_client.conf entry pointing at this port (with --workers N, "
            "worker i uses <name>-<i>)"
        ),
    )

    @property
    def advertised_address(self) -> str:
        return self.advertise_host or f"{self.listen_host}:{self.listen_port}"

    @property
    def media_websocket_client(self) -> str | None:
        """The chan_websocket client Asterisk dials for calls we place (None: AudioSocket)."""
        return self.websocket_client if self.transport == "websocket" else None


class RecordingSettings(BaseSettings):
    """Where Asterisk writes call recordings, where OpenDeep picks them up, how long kept.

    The dialplan records into RECORDING_ASTERISK_DIR (a path on the Asterisk host); OpenDeep
    reads the same folder as RECORDING_PICKUP_DIR (the same path when both run on one host,
    or a shared mount) and moves each file under DATA_DIR/recordings/<user>/.
    """

    model_config = _config("RECORDING_")

    asterisk_dir: str = Field(
        default="/var/spool/asterisk/monitor/opendeep",
        description="folder Asterisk's MixMonitor writes to (absolute, as Asterisk sees it)",
    )
    pickup_dir: Path | None = Field(
        default=None, description="that folder as OpenDeep sees it (default: the same path)"
    )
    retention_days: int = Field(
        default=90, ge=0, le=36500, description="days a recording is kept (0 = for ever)"
    )

    @field_validator("asterisk_dir")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith("/") or any(c in value for c in ",;|\n\r"):
            raise ValueError("must be an absolute path without , ; | or line breaks")
        return value.rstrip("/")

    @property
    def pickup(self) -> Path:
        return self.pickup_dir or Path(self.asterisk_dir)


DEFAULT_UNKNOWN_MESSAGE = (
    "Hello, you have reached an automated calling assistant. We could not find a call "
    "to your number, so we cannot help on this line. Goodbye."
)


class InboundSettings(BaseSettings):
    """Calls Asterisk sends to [opendeep-inbound]: people ringing back a number we called."""

    model_config = _config("INBOUND_")

    enabled: bool = Field(
        default=True,
        description="answer inbound calls (sets OPENDEEP_AUDIOSOCKET in Asterisk at AMI login)",
    )
    match_days: int = Field(
        default=14, ge=1, le=365, description="days back a call to the caller makes it a call-back"
    )
    unknown_message: str = Field(
        default=DEFAULT_UNKNOWN_MESSAGE,
        min_length=1,
        max_length=500,
        description="what a caller we never called hears before we hang up",
    )


class OpenAISettings(BaseSettings):
    model_config = _config("OPENAI_")

    api_key: Secret = Field(default=None, description="OpenAI API key (required for calls)")
    base_url: ApiBaseUrl = Field(default="https://api.openai.com/v1", description="API base URL")
    realtime_model: str = Field(default="gpt-realtime", description="Realtime (GA) model")
    voice: str = Field(default="marin", description="agent voice")
    chat_model: str = Field(default="gpt-4.1-mini", description="model for chat and analysis")
    turn_detection: Literal["server_vad", "semantic_vad"] = Field(
        default="server_vad", description="how the model decides a turn ended"
    )
    transcription_model: str = Field(
        default="gpt-4o-mini-transcribe", description="input transcription model"
    )
    input_batch_frames: int = Field(
        default=5,
        ge=1,
        le=10,
        description="20 ms caller frames per audio message to the model, and per media read "
        "(1-10; more: less CPU, later audio)",
    )


class CallingSettings(BaseSettings):
    """Limits and defaults of the task engine."""

    model_config = _config("")

    max_concurrent_calls: int = Field(default=3, ge=1, le=10_000, description="global call limit")
    max_calls_per_user: int = Field(
        default=0, ge=0, le=10_000, description="calls one user may have at once (0: no own cap)"
    )
    max_calls_per_user_per_day: int = Field(
        default=0, ge=0, le=1_000_000, description="calls one user may place in 24 h (0: no cap)"
    )
    calling_hours_start: time = Field(default=time(9, 0), description="callee-local window start")
    calling_hours_end: time = Field(default=time(20, 0), description="callee-local window end")
    calling_days: str = Field(default="mon,tue,wed,thu,fri", description="days calls may be placed")
    default_region: str = Field(default="US", description="phone number region without +prefix")

    @field_validator("calling_days")
    @classmethod
    def _valid_days(cls, value: str) -> str:
        days = {d.strip().lower() for d in value.split(",") if d.strip()}
        unknown = days - {"mon", "tue", "wed", "thu", "fri", "sat", "sun"}
        if not days or unknown:
            raise ValueError("must be a comma list of mon,tue,wed,thu,fri,sat,sun")
        return ",".join(sorted(days, key=["mon", "tue", "wed", "thu", "fri", "sat", "sun"].index))

    @field_validator("default_region")
    @classmethod
    def _valid_region(cls, value: str) -> str:
        if len(value) != 2 or not value.isalpha():
            raise ValueError("must be a two-letter region code such as US or GB")
        return value.upper()


class WebSettings(BaseSettings):
    model_config = _config("WEB_")

    host: str = Field(default="127.0.0.1", description="web bind address")
    port: Port = Field(default=8000, description="web port")
    secret_key: Secret = Field(
        default=None, description="session signing key (unset: generated into DATA_DIR)"
    )
    max_body_bytes: int = Field(
        default=1_048_576, ge=1024, le=1 << 30, description="larger request bodies get 413"
    )
    max_sockets_per_user: int = Field(
        default=5, ge=1, le=1000, description="live pages per person; a new one closes the oldest"
    )
    forwarded_allow_ips: str = Field(
        default="", description="proxies trusted for X-Forwarded-For (comma list; empty: none)"
    )
    ops_token: Secret = Field(
        default=None, description="bearer token for /metrics and /readyz details off loopback"
    )

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _valid_proxies(cls, value: str) -> str:
        entries = [e.strip() for e in value.split(",") if e.strip()]
        for entry in entries:
            try:
                ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"must be IP addresses or networks, not {entry!r}") from None
        return ",".join(entries)

    @property
    def trusted_proxies(self) -> list[str]:
        return [e for e in self.forwarded_allow_ips.split(",") if e]


class WebhookSettings(BaseSettings):
    """Signed webhooks to the person's endpoints (task_manager/webhook_delivery.py)."""

    model_config = _config("WEBHOOK_")

    allow_private_targets: bool = Field(
        default=False,
        description="let endpoints resolve to loopback/private addresses (receivers on your LAN)",
    )
    timeout: float = Field(default=10.0, gt=0, le=60, description="seconds one POST may take")
    retry_base: float = Field(
        default=10.0, gt=0, le=3600, description="seconds before the first retry (then doubling)"
    )
    retry_max: float = Field(
        default=3600.0, gt=0, le=86400, description="longest wait between two tries"
    )
    give_up_after: float = Field(
        default=86400.0, gt=0, le=7 * 86400, description="seconds of retries before giving up"
    )
    poll: float = Field(default=1.0, gt=0, le=60, description="seconds between outbox looks")
    concurrency: int = Field(default=8, ge=1, le=100, description="POSTs in flight per process")


class SmsSettings(BaseSettings):
    """Twilio REST credentials; SMS is off when unset."""

    model_config = _config("TWILIO_")

    account_sid: str | None = Field(default=None, description="Twilio account SID")
    auth_token: Secret = Field(default=None, description="Twilio auth token")
    from_number: str | None = Field(default=None, description="sender number, E.164")
    base_url: str = Field(default="https://api.twilio.com", description="Twilio API base URL")


class EmailSettings(BaseSettings):
    """SMTP for summaries; email is off when SMTP_HOST is unset."""

    model_config = _config("SMTP_")

    host: str | None = Field(default=None, description="SMTP server")
    port: Port = Field(default=587, description="SMTP port")
    username: str | None = Field(default=None, description="SMTP login")
    password: Secret = Field(default=None, description="SMTP password")
    sender: str = Field(default="opendeep@localhost", description="From address")
    starttls: bool = Field(default=True, description="use STARTTLS")


class PlacesSettings(BaseSettings):
    """Google Places API (New) for the assistant's business lookup; off without a key."""

    model_config = _config("GOOGLE_PLACES_")

    api_key: Secret = Field(default=None, description="Places API key (unset: no lookup tool)")
    base_url: ApiBaseUrl = Field(
        default="https://places.googleapis.com", description="Places API base URL"
    )


class AppSettings(BaseSettings):
    model_config = _config("")

    data_dir: Path = Field(default=Path("data"), description="where SQLite and generated keys live")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="log level"
    )
    log_format: Literal["text", "json"] = Field(default="text", description="text or json lines")
    node_id: str | None = Field(
        default=None, description="this process's name (default: host:AudioSocket port)"
    )
    shutdown_grace: float = Field(default=4.0, gt=0, le=60, description="seconds to finish calls")
    event_loop: Literal["asyncio", "uvloop"] = Field(
        default="uvloop", description="uvloop (default: 5x the calls per process) or asyncio"
    )


GROUPS: dict[str, type[BaseSettings]] = {
    "app": AppSettings,
    "database": DatabaseSettings,
    "redis": RedisSettings,
    "ami": AmiSettings,
    "dial": DialSettings,
    "audiosocket": AudioSocketSettings,
    "inbound": InboundSettings,
    "recording": RecordingSettings,
    "openai": OpenAISettings,
    "calling": CallingSettings,
    "web": WebSettings,
    "sms": SmsSettings,
    "email": EmailSettings,
    "places": PlacesSettings,
    "webhook": WebhookSettings,
}


_G = TypeVar("_G", bound=BaseSettings)


def _pick(groups: dict[str, BaseSettings], name: str, cls: type[_G]) -> _G:
    group = groups[name]
    if not isinstance(group, cls):
        raise TypeError(f"settings group {name!r} must be {cls.__name__}")
    return group


class Settings:
    """All groups, built together. Construct with `load_settings()`."""

    def __init__(self, **groups: BaseSettings) -> None:
        self.app = _pick(groups, "app", AppSettings)
        self.database = _pick(groups, "database", DatabaseSettings)
        self.redis = _pick(groups, "redis", RedisSettings)
        self.ami = _pick(groups, "ami", AmiSettings)
        self.dial = _pick(groups, "dial", DialSettings)
        self.audiosocket = _pick(groups, "audiosocket", AudioSocketSettings)
        self.inbound = _pick(groups, "inbound", InboundSettings)
        self.recording = _pick(groups, "recording", RecordingSettings)
        self.openai = _pick(groups, "openai", OpenAISettings)
        self.calling = _pick(groups, "calling", CallingSettings)
        self.web = _pick(groups, "web", WebSettings)
        self.sms = _pick(groups, "sms", SmsSettings)
        self.email = _pick(groups, "email", EmailSettings)
        self.places = _pick(groups, "places", PlacesSettings)
        self.webhook = _pick(groups, "webhook", WebhookSettings)


class ConfigError(Exception):
    """Bad configuration: one line per offending setting, no traceback for the operator."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def env_name(group: type[BaseSettings], field: str) -> str:
    return f"{group.model_config.get('env_prefix', '')}{field}".upper()


def describe_errors(group: type[BaseSettings], error: ValidationError) -> dict[str, str]:
    """Map pydantic's errors to {ENV_NAME: reason} so messages name what the operator sets."""
    out: dict[str, str] = {}
    for item in error.errors():
        field = str(item["loc"][0]) if item["loc"] else "?"
        reason = item["msg"].removeprefix("Value error, ")
        out[env_name(group, field)] = reason
    return out


def load_settings(env_file: str | Path | None = ".env", **overrides: BaseSettings) -> Settings:
    """Build every group; collect all problems and raise one ConfigError naming each."""
    groups: dict[str, BaseSettings] = {}
    problems: list[str] = []
    for name, cls in GROUPS.items():
        if name in overrides:
            groups[name] = overrides[name]
            continue
        try:
            groups[name] = cls(_env_file=env_file)
        except ValidationError as exc:
            problems += [f"{key}: {reason}" for key, reason in describe_errors(cls, exc).items()]
    if problems:
        raise ConfigError(problems)
    return Settings(**groups)
