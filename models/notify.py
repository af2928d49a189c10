"""Notifications to people (SLA alerts, escalations, buyer notices) through a group-chat robot."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Notification(BaseModel):
    """One message to one audience. `key` makes a retried send one message (derive it from workflow data,
    e.g. `<ticket_id>-sla-breach`); `subject` carries ids only (ticket_id, order_id, workflow_id)."""

    key: str = Field(min_length=1, max_length=200)  # idempotency key derived from workflow data
    audience: str = Field(min_length=1, max_length=32)  # a role ("support_lead", "finance", ...) or "buyer"
    title: str = Field(max_length=200)
    text: str = Field(max_length=2000)  # never personal data (names, phones, addresses)
    subject: dict[str, str] = Field(default_factory=dict)  # ids: ticket_id, order_id, workflow_id
