"""Principals: who calls the hub. One per person and per integration, each with a role and, for
integrations and shop staff, a scope (a channel, or one shop of a channel). A principal's tokens are
stored only as SHA-256 hashes."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

# support_lead, finance and operations approve after-sales tickets (models.after_sales.TicketPolicy.tiers);
# warehouse prints, scans and counts stock; customer_service answers buyers about the orders of its scope.
ROLES = ("admin", "operator", "channel", "warehouse", "customer_service", "support_lead", "finance", "operations")


class Scope(BaseModel):
    """What a scoped principal may see: one channel's orders, or one shop's (shop set)."""

    model_config = ConfigDict(frozen=True)

    channel: str
    shop: str | None = None

    def admits(self, channel: str, shop: str) -> bool:
        return channel == self.channel and (self.shop is None or shop == self.shop)


class Principal(BaseModel):
    """The authenticated caller, as every route, audit entry and workflow message sees it."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    role: str
    scopes: list[Scope] = Field(default_factory=list, description="empty: every channel and shop")
    created_at: datetime | None = None
    expires_at: datetime | None = None
    revoked_at: datetime | None = None

    @property
    def actor(self) -> str:
        """How the principal is named on timelines, holds and workflow messages: `name@id` (a staff-id
        shaped string, so it fits the fields that take one; the id keeps two people of one name apart)."""
        return f"{self.name}@{self.id}"

    def admits(self, channel: str, shop: str) -> bool:
        """Whether an order or ticket of this channel and shop is within the principal's scope."""
        return not self.scopes or any(s.admits(channel, shop) for s in self.scopes)
