"""Runtime configuration, from environment variables (prefix ORDERHUB_) or a .env file.

`DATABASE_URL` is read without the prefix because every tool in the ecosystem expects that name.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from models.rules import DEFAULT_RULES_FILE


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ORDERHUB_", env_file=".env", extra="ignore")

    data_dir: Path = Path(".orderhub")
    database_url: str = Field(
        default="",
        validation_alias=AliasChoices("DATABASE_URL", "ORDERHUB_DATABASE_URL"),
        description="SQLAlchemy async URL; empty means SQLite at <data_dir>/orderhub.db",
    )

    # Temporal
    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    temporal_ui_port: int = 8233
    task_queue: str = "orderhub-orders"
    # strict: each workflow run imports the workflows package afresh inside Temporal's sandbox, so a
    # clock, random or time call in workflow code fails the task (dev, tests, CI). passthrough: the
    # package is imported once and runs execute it outside the sandbox (workers/worker.py
    # workflow_runner), less worker CPU and memory per order, but those calls are no longer caught at
    # run time: for code the strict suite has passed (production).
    workflow_sandbox: Literal["strict", "passthrough"] = "strict"
    # Worker Versioning (docs/versioning.md): both set, the worker is one Worker Deployment Version.
    worker_deployment: str = Field(default="", description="Worker Deployment name (e.g. `orderhub`); with "
                                   "`worker_build_id`, every run a worker starts is pinned to its build")
    worker_build_id: str = Field(default="", description="this build's id (e.g. the git commit); empty: unversioned")
    # A cluster behind TLS, or Temporal Cloud: mTLS (client cert + key) or an API key (implies TLS).
    temporal_tls: bool = False
    temporal_tls_cert: Path | None = Field(default=None, description="client certificate (PEM) for mTLS")
    temporal_tls_key: Path | None = Field(default=None, description="its private key (PEM)")
    temporal_tls_ca: Path | None = Field(default=None, description="CA of the server; default the system's")
    temporal_api_key: str = Field(default="", repr=False, description="Temporal Cloud API key")

    # HTTP services
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    public_api_url: str = Field(default="", description="URL carriers call back; default http://api_host:api_port")
    api_token_cache_s: float = Field(default=30.0, description="a confirmed bearer token's role is kept this long")
    sandbox_host: str = "127.0.0.1"
    sandbox_port: int = 8100
    sandbox_url: str = Field(default="", description="Base URL of carriers, gateway and own store")

    # Secrets shared with outside parties
    carrier_callback_secret: str = "dev-carrier-secret"

    # Order policy defaults, copied into each new order's workflow input
    payment_timeout_s: int = 30 * 60
    hold_limit_s: int = 24 * 3600
    hold_recheck_s: int = 30 * 60
    tracking_poll_s: int = 6 * 3600
    delivery_deadline_s: int = 15 * 24 * 3600
    default_carrier: str = "SF"

    # Channel sync: each pull starts this far before the last checkpoint (platforms show changes
    # late); a new shop's first pull looks back this far. Stock pushes wait this long for a burst
    # of changes to settle.
    sync_interval_s: int = 300  # a newly registered shop's poll interval (PUT /v1/shops changes it)
    push_stock: bool = True  # off: the shops' stock is managed elsewhere (e.g. while onboarding)
    sync_overlap_s: int = 120
    sync_initial_lookback_s: int = 3600
    stock_push_debounce_s: float = 1.0

    # After-sales: copied into each new ticket's workflow input (models.after_sales.TicketPolicy).
    after_sales_auto_approve_max_fen: int = 5000
    after_sales_no_reason_codes: list[str] = ["no_reason"]
    after_sales_no_reason_return_days: int = 7
    after_sales_support_lead_max_fen: int = 20000
    after_sales_first_response_s: int = 30 * 60
    after_sales_approval_deadline_s: int = 48 * 3600
    after_sales_on_approval_deadline: Literal["approve", "reject"] = "approve"
    after_sales_order_cancel_answer_s: int = 10 * 60
    after_sales_return_deadline_s: int = 7 * 24 * 3600
    after_sales_inspection_sla_s: int = 24 * 3600

    # Exception, SLA, health and routing rules (deploy/RULES.md); reloaded when the file changes.
    rules_file: Path = DEFAULT_RULES_FILE

    log_level: str = "INFO"

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'orderhub.db').as_posix()}"

    @property
    def sandbox_base_url(self) -> str:
        return self.sandbox_url or f"http://{self.sandbox_host}:{self.sandbox_port}"

    @property
    def api_base_url(self) -> str:
        return self.public_api_url or f"http://{self.api_host}:{self.api_port}"

    @property
    def tokens_file(self) -> Path:
        return self.data_dir / "tokens.json"


@lru_cache
def get_settings() -> Settings:
    return Settings()
