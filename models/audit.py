"""The audit trail: one append-only entry per state-changing request and per admin or CLI action,
with who, when, from where, what changed (before and after) and how it ended."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from models.principals import Principal

Outcome = Literal["ok", "accepted", "refused", "failed"]  # 2xx; 202 (answered later); 4xx; 5xx


class AuditDraft(BaseModel):
    """An entry before it is written: routes and CLI commands fill what changed."""

    actor_id: str
    actor_name: str
    role: str
    action: str = Field(description="the operation, e.g. resolve_hold, put_stock, token.issue")
    object_type: str | None = Field(default=None, description="order, ticket, stock, principal, shop, ...")
    object_id: str | None = None
    before: dict[str, Any] | None = Field(default=None, description="the changed fields as they were")
    after: dict[str, Any] | None = Field(default=None, description="the changed fields as they became")
    ip: str | None = None
    request_id: str | None = None
    outcome: Outcome = "ok"

    @classmethod
    def by(cls, principal: Principal, action: str, **fields: Any) -> AuditDraft:
        return cls(actor_id=principal.id, actor_name=principal.name, role=principal.role, action=action, **fields)
