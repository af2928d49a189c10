"""Sandbox settings, read from SANDBOX_* environment variables."""

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class SandboxSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SANDBOX_", extra="ignore")

    # Where `orderhub sandbox` binds uvicorn; the app itself does not read these.
    host: str = "127.0.0.1"
    port: int = 8100

    # Time from a tracking subscription to the SIGNED event.
    delivery_delay_s: float = Field(default=30, ge=0)
    carrier_callback_secret: str = "dev-carrier-secret"
    # 0: refunds succeed synchronously; >0: REFUND_PROCESSING until this much time has passed.
    refund_async_delay_s: float = Field(default=0, ge=0)
    # JSON list of fault rules applied at start (same shape as PUT /_sandbox/faults bodies).
    faults: str = ""
    # Seed for random failure draws, so a fault run can be replayed.
    seed: int | None = None

    # Tracking callback delivery: attempts per event and the first backoff (doubles each retry).
    callback_max_attempts: int = Field(default=10, ge=1)
    callback_backoff_s: float = Field(default=1.0, ge=0)
    callback_backoff_max_s: float = Field(default=60.0, ge=0)
    callback_timeout_s: float = Field(default=5.0, gt=0)

    # Marketplaces (sandbox/platforms): webhooks go to {hub_url}/v1/webhooks/{channel}/{shop}
    # unless the shop was registered with its own webhook_url.
    hub_url: str = "http://127.0.0.1:8000"
    # Per app (channel + app_key) token bucket: calls per second and burst.
    platform_rate_per_s: float = Field(default=50.0, gt=0)
    platform_rate_burst: int = Field(default=100, ge=1)
    # Webhook delivery: attempts per event, first backoff (doubles each retry, capped), timeout.
    webhook_max_attempts: int = Field(default=8, ge=1)
    webhook_backoff_s: float = Field(default=0.5, ge=0)
    webhook_backoff_max_s: float = Field(default=60.0, ge=0)
    webhook_timeout_s: float = Field(default=5.0, gt=0)
    webhook_concurrency: int = Field(default=50, ge=1, description="deliveries in flight at once")
    # Out-of-order fault: how long an event is held back waiting for a later event of the same order.
    webhook_reorder_hold_s: float = Field(default=1.0, ge=0)
