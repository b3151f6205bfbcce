"""Settings read from the environment (``KEEL_`` prefix) and an optional ``.env`` file.

Nothing here opens a connection: factories elsewhere take a ``Settings`` and build clients.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Keel configuration. Every field can be set as ``KEEL_<FIELD>`` or in ``.env``."""

    model_config = SettingsConfigDict(
        env_prefix="KEEL_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    data_dir: Path = Field(
        default_factory=lambda: find_data_dir(),
        description=(
            "Where embedded state lives. Default: the nearest `keel-data` folder in the "
            "current directory or one above it, else ./keel-data."
        ),
    )
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default SQLite file under data_dir."
    )
    chroma_url: str | None = Field(
        default=None, description="Chroma server URL (http://host:port); default embedded."
    )
    # How long a SQLite write waits for another process's lock before failing with a
    # message naming the holder (keel.db and the checkpoint file).
    db_busy_timeout_s: float = Field(default=30.0, ge=0.0)
    # LLM: any OpenAI-compatible endpoint; the offline model when neither is set.
    openai_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("OPENAI_API_KEY", "KEEL_OPENAI_API_KEY")
    )
    llm_base_url: str | None = None
    llm_model: str = "gpt-4o-mini"
    llm_timeout_s: float = 60.0
    llm_max_retries: int = 4
    llm_max_calls: int = 200
    llm_max_tokens: int = 400_000
    # One account's share of a run (a nightly run reviews every account under one budget).
    llm_max_calls_per_account: int = 60
    llm_max_tokens_per_account: int = 120_000
    # Outbound channels: dry_run writes files under data_dir/outbox.
    outbound_channel: str = Field(default="dry_run", description="dry_run | smtp | webhook | crm")
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = "keel@localhost"
    # The From a customer reads: each account's owner CSM (name and address) when the owner
    # record is an address, else this.
    sender_from: str = Field(
        default="Customer Success <success@keel.example>",
        description="From for customer e-mail whose account's owner CSM has no address.",
    )
    smtp_starttls: bool | None = Field(
        default=None,
        description=(
            "Upgrade the SMTP connection with STARTTLS. Unset (or empty, or 'auto'): on "
            "whenever smtp_user is set "
            "(required then: a server without STARTTLS is refused), off otherwise. true: "
            "always, and required. false: never; credentials then need "
            "smtp_allow_plaintext_auth. Ignored when smtp_ssl is true (already encrypted)."
        ),
    )
    smtp_ssl: bool = Field(
        default=False,
        description="SMTPS: TLS from the first byte (implicit TLS, usually port 465).",
    )
    smtp_allow_plaintext_auth: bool = Field(
        default=False,
        description=(
            "Allow sending smtp_user/smtp_password over an unencrypted connection (logged as "
            "a warning). With smtp_starttls unset, STARTTLS is still used when offered."
        ),
    )
    smtp_ca_file: Path | None = Field(
        default=None,
        description=(
            "PEM CA bundle to verify the SMTP server's certificate; default the system CAs. "
            "Certificates are always verified."
        ),
    )
    webhook_url: str | None = None
    # The currency of every amount in the book (ARR, invoices): drafts, notes, briefs and
    # digests say it ("$1,308" for USD, "CHF 1,308" for a code without a symbol here).
    currency: str = Field(
        default="USD", description="ISO 4217 code of the book's amounts (USD, EUR, GBP, ...)."
    )
    link_allowlist: list[str] = Field(default_factory=lambda: ["https://help.keel.example"])
    policy_path: Path | None = Field(default=None, description="Policy YAML; default bundled.")

    @field_validator("smtp_starttls", mode="before")
    @classmethod
    def _starttls_auto(cls, value: object) -> object:
        # KEEL_SMTP_STARTTLS= (as in .env.example) or =auto means "decide from credentials".
        if isinstance(value, str) and value.strip().lower() in ("", "auto"):
            return None
        return value

    @field_validator("currency", mode="before")
    @classmethod
    def _currency_code(cls, value: object) -> object:
        if isinstance(value, str):
            code = value.strip().upper()
            if len(code) != 3 or not code.isalpha():
                raise ValueError(
                    f"KEEL_CURRENCY must be a three-letter code like USD, not {value!r}"
                )
            return code
        return value

    @property
    def data_dir_source(self) -> str:
        """How :attr:`data_dir` was chosen, in words (said beside the path in the output)."""
        if "data_dir" in self.model_fields_set:
            return "set by KEEL_DATA_DIR"
        if self.data_dir.resolve() == (Path.cwd() / DATA_DIR_NAME).resolve():
            return "in the current directory"
        return "found above the current directory"

    @cached_property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file under ``data_dir``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'keel.db').as_posix()}"

    @property
    def chroma_path(self) -> Path:
        return self.data_dir / "chroma"

    @property
    def outbox_dir(self) -> Path:
        return self.data_dir / "outbox"

    @property
    def llm_configured(self) -> bool:
        return self.openai_api_key is not None or self.llm_base_url is not None


DATA_DIR_NAME = "keel-data"


def find_data_dir(start: Path | None = None) -> Path:
    """The workspace a command uses when KEEL_DATA_DIR is not set: the nearest folder named
    ``keel-data`` in ``start`` (default the current directory) or a directory above it,
    else ``./keel-data`` (created on first use). So a command run from a sub-folder of a
    project reads the same book as from its root."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / DATA_DIR_NAME
        if candidate.is_dir():
            # In the current directory: the relative path, as before.
            return Path(DATA_DIR_NAME) if folder == Path.cwd().resolve() else candidate
    return Path(DATA_DIR_NAME)


def get_settings(**overrides: object) -> Settings:
    """Build settings from the environment, with explicit overrides winning."""
    return Settings(**overrides)  # type: ignore[arg-type]
