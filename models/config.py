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

    data_dir: Path = Field(default=Path(".orderhub"), description="where SQLite files live, plus the dev stack's Temporal database, `tokens.json` and its copy of the rules file")
    database_url: str = Field(
        default="",
        validation_alias=AliasChoices("DATABASE_URL", "ORDERHUB_DATABASE_URL"), description="SQLAlchemy async URL, e.g. `postgresql+asyncpg://postgres@127.0.0.1:5432/orderhub`; empty: SQLite at <data_dir>/orderhub.db. Migrations are applied at start")

    # Temporal
    temporal_address: str = Field(default="127.0.0.1:7233", description="Temporal frontend, host:port")
    temporal_namespace: str = Field(default="default", description="Temporal namespace (Temporal Cloud: `<namespace>.<account>`)")
    temporal_ui_port: int = Field(default=8233, description="web UI port of the dev server `make dev` starts")
    task_queue: str = Field(default="orderhub-orders", description="the task queue every worker polls and every starter uses; the API and the workers must agree")
    workflow_sandbox: Literal["strict", "passthrough"] = Field(default="strict", description="`strict`: each workflow run imports the workflows package afresh in Temporal's sandbox, so a clock, random or time call in workflow code fails the task (dev, tests). `passthrough` (production): imported once and run outside the sandbox; less worker CPU and memory per order, but those calls are no longer caught at run time")
    # Worker Versioning (docs/versioning.md): both set, the worker is one Worker Deployment Version.
    worker_deployment: str = Field(default="", description="Worker Deployment name (e.g. `orderhub`); with "
                                   "`worker_build_id`, every run a worker starts is pinned to its build")
    worker_build_id: str = Field(default="", description="this build's id (e.g. the git commit); empty: unversioned")
    # A cluster behind TLS, or Temporal Cloud: mTLS (client cert + key) or an API key (implies TLS).
    temporal_tls: bool = Field(default=False, description="TLS to the Temporal frontend with the system's CAs; a client certificate, a CA or an API key turns it on too")
    temporal_tls_cert: Path | None = Field(default=None, description="client certificate (PEM path) for mTLS (Temporal Cloud, or a cluster that asks for one); needs the key")
    temporal_tls_key: Path | None = Field(default=None, description="its private key (PEM path)")
    temporal_tls_ca: Path | None = Field(default=None, description="the server's CA (PEM path) when it is not a public one; default the system's")
    temporal_api_key: str = Field(default="", repr=False, description="Temporal Cloud API key, sent as a bearer token over TLS")

    # HTTP services
    api_host: str = Field(default="127.0.0.1", description="where `orderhub api` listens (`0.0.0.0` in a container)")
    api_port: int = Field(default=8000, description="port `orderhub api` listens on")
    public_api_url: str = Field(default="", description="base URL carriers call back (tracking callbacks), copied into each order; default http://api_host:api_port")
    api_max_body_bytes: int = Field(default=1_048_576, gt=0, description="the largest request body the API reads; a larger one is answered 413 and kept nowhere")
    auth_failure_limit: int = Field(default=10, gt=0, description="bearer tokens refused (unknown, revoked or expired) from one client address within `auth_failure_window_s` before the API refuses that client with 429 and Retry-After for `auth_failure_window_s`; counted per API process")
    auth_failure_window_s: float = Field(default=60.0, gt=0, description="the window `auth_failure_limit` counts in, and how long a client that reached it is refused")
    sandbox_host: str = Field(default="127.0.0.1", description="where `orderhub sandbox` listens")
    sandbox_port: int = Field(default=8100, description="port `orderhub sandbox` listens on")
    sandbox_url: str = Field(default="", description="base URL of the partners the worker calls (carrier, payment gateway, group robot, the platforms' APIs); default http://sandbox_host:sandbox_port; in production the real endpoints")

    # Buyers' data (docs/privacy.md): the key ring that encrypts Temporal payloads and secrets at rest.
    env: Literal["development", "production"] = Field(default="development", description="`production`: the API and workers refuse to start while a secret is at its development default or the payload key ring is missing")
    payload_keys: dict[str, str] = Field(default_factory=dict, repr=False, description="the key ring, JSON `{\"<key id>\": \"<base64 32-byte key>\"}`: AES-256-GCM keys of Temporal payloads and of secrets at rest; every key decrypts, `payload_key_id` encrypts. Empty: read `<data_dir>/payload_keys.json`, which development creates on first use")
    payload_key_id: str = Field(default="", description="the key id that encrypts new payloads and secrets; a retired key stays in `payload_keys` to decrypt what it encrypted. Empty: the key file's current one")

    # Secrets shared with outside parties
    carrier_callback_secret: str = Field(default="dev-carrier-secret", description="HMAC-SHA256 key of carrier tracking callbacks (`X-Carrier-Signature`); the default is for development only")

    # Order policy: written here once, copied into each new order's workflow input (models.order_workflow.order_policy)
    payment_timeout_s: int = Field(default=30 * 60, description="an order still unpaid this long after it arrived is cancelled and its stock released")
    hold_limit_s: int = Field(default=24 * 3600, description="an order short of stock this long after it arrived is cancelled")
    hold_recheck_s: int = Field(default=30 * 60, description="an order held short of stock re-checks stock at least this often")
    tracking_poll_s: int = Field(default=6 * 3600, description="how often a shipped order queries the carrier's tracking when no callback has arrived")
    delivery_deadline_s: int = Field(default=15 * 24 * 3600, description="a shipped order not delivered within this is held for a person")
    default_carrier: str = Field(default="SF", description="carrier code the waybills are printed with")

    # Channel sync and stock push
    sync_interval_s: int = Field(default=300, description="how often a newly registered shop's orders are pulled (each shop's own interval is set with PUT /v1/shops)")
    push_stock: bool = Field(default=True, description="push available-to-sell to every active shop after each stock change; off when the shops' stock is managed elsewhere (e.g. while onboarding)")
    sync_overlap_s: int = Field(default=120, description="each pull starts this far before the last checkpoint, since platforms show changes late")
    sync_initial_lookback_s: int = Field(default=3600, description="a new shop's first pull reaches back this far")
    stock_push_debounce_s: float = Field(default=1.0, description="a burst of stock changes within this is pushed once")

    # After-sales: copied into each new ticket's workflow input (models.after_sales.ticket_policy).
    after_sales_auto_approve_max_fen: int = Field(default=5000, description="a refund up to this is approved without a person")
    after_sales_no_reason_codes: list[str] = Field(default=["no_reason"], description="reason codes of a no-reason return (JSON list)")
    after_sales_no_reason_return_days: int = Field(default=7, description="a no-reason return with goods intact, asked within this many days of delivery, is approved without a person")
    after_sales_support_lead_max_fen: int = Field(default=20000, description="up to this a support lead decides; above it finance and operations both")
    after_sales_first_response_s: int = Field(default=30 * 60, description="per approval tier: unanswered this long, the tier is alerted and the ticket escalates to the next")
    after_sales_approval_deadline_s: int = Field(default=48 * 3600, description="unanswered by every tier this long, `after_sales_on_approval_deadline` decides")
    after_sales_on_approval_deadline: Literal["approve", "reject"] = Field(default="approve", description="what the approval deadline decides: `approve` (the platforms' own rule: silence agrees) or `reject`")
    after_sales_order_cancel_answer_s: int = Field(default=10 * 60, description="a refund before shipping waits this long for the order to confirm it stopped, then alerts operations (repeats)")
    after_sales_return_deadline_s: int = Field(default=7 * 24 * 3600, description="no return parcel scanned in by then: the ticket closes")
    after_sales_inspection_sla_s: int = Field(default=24 * 3600, description="a received return not inspected within this: operations is reminded, again every period")
    after_sales_payout_before_shipping_s: int = Field(default=24 * 3600, description="a refund before shipping must be paid out within this of the ticket opening, else finance is alerted (ticket event payout_overdue)")
    after_sales_payout_after_return_s: int = Field(default=48 * 3600, description="a refund after shipping must be paid out within this of the return being received (a refund without a return: of the ticket opening), else finance is alerted")
    after_sales_payout_compensation_s: int = Field(default=72 * 3600, description="a partial (compensation) refund must be paid out within this of the ticket opening, else finance is alerted")

    # Daily reconciliation (models/reconciliation.py): the Schedule `reconcile-daily` runs the day before.
    reconcile_time: str = Field(default="03:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="when the Schedule `reconcile-daily` reconciles the day before (HH:MM in `reconcile_time_zone`); the platforms' bills of a day are complete by then")
    reconcile_time_zone: str = Field(default="Asia/Shanghai", description="the time zone of the reconciliation's days and of its Schedule (the platforms cut their bills at Beijing midnight)")
    reconcile_schedule: bool = Field(default=True, description="create (or update) the Schedule `reconcile-daily` when a worker starts")

    # The audit trail (models/audit.py): entries older than the retention are purged by the Schedule `audit-retention`.
    audit_retention_days: int = Field(default=180, ge=1, description="how many days an audit entry is kept; the Schedule `audit-retention` deletes older ones every day")
    audit_purge_time: str = Field(default="04:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="when the Schedule `audit-retention` purges (HH:MM in `audit_purge_time_zone`)")
    audit_purge_time_zone: str = Field(default="Asia/Shanghai", description="the time zone of `audit_purge_time`")
    audit_schedule: bool = Field(default=True, description="create (or update) the Schedule `audit-retention` when a worker starts")

    rules_file: Path = Field(default=DEFAULT_RULES_FILE, description="the exception, SLA, health and routing rules file (docs/rules.md), reloaded when it changes; `make dev` uses a copy in data_dir")

    log_level: str = Field(default="INFO", description="log level of every process; logs are JSON lines (structlog)")

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

    @property
    def payload_keys_file(self) -> Path:
        return self.data_dir / "payload_keys.json"


@lru_cache
def get_settings() -> Settings:
    return Settings()
