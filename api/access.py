"""Who may call what: the one role x route matrix, and what a scoped principal sees.

Every route of the API is named here by its operation id (the route function's name): the roles it
admits, and whether a principal scoped to a channel or shop may call it at all. A route missing from
the table cannot start (`check_routes`, run by create_app), so no route goes out without a rule.
Scoped routes check each order or ticket with `visible_order` / `visible_ticket`, and lists filter
with `order_scope`: another shop's order answers 404, exactly as one that does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI, Request
from fastapi.routing import APIRoute
from sqlalchemy import ColumnElement, and_, or_
from sqlmodel import col

from api.errors import ProblemError
from models.after_sales_errors import TicketError
from models.db import read_scope
from models.order_errors import OrderError
from models.principals import ROLES, Principal
from models.tables import AfterSalesTicketRecord, OrderRecord

ALL = ROLES
STAFF = tuple(r for r in ROLES if r != "channel")
APPROVERS = ("admin", "support_lead", "finance", "operations")  # models.after_sales.TicketPolicy.tiers
RETURNS_DESK = ("admin", "operator", "warehouse", "operations")  # receives and inspects returned parcels


@dataclass(frozen=True)
class Rule:
    roles: tuple[str, ...]
    scoped: bool = False  # a principal scoped to a channel or shop may call it (the route checks each object)

    def __post_init__(self) -> None:
        unknown = set(self.roles) - set(ROLES)
        assert not unknown, f"unknown roles {unknown}"


# The matrix (docs/security.md shows it; each operation's OpenAPI description repeats its line).
RULES: dict[str, Rule] = {
    # orders
    "create_order": Rule(("admin", "channel"), scoped=True),
    "list_orders": Rule(("admin", "operator", "channel", "warehouse"), scoped=True),
    "get_order": Rule(ALL, scoped=True),
    "confirm_payment": Rule(("admin", "channel"), scoped=True),
    "cancel_order": Rule(("admin", "operator", "channel"), scoped=True),
    "scan_shipment": Rule(("admin", "operator", "warehouse")),
    "resolve_hold": Rule(("admin", "operator")),
    # after-sales tickets
    "create_ticket": Rule(("admin", "operator", "channel", "customer_service", "support_lead"), scoped=True),
    "list_tickets": Rule(ALL, scoped=True),
    "ticket_stats": Rule(("admin", "operator", "support_lead", "finance", "operations")),
    "get_ticket": Rule(ALL, scoped=True),
    "approve": Rule(APPROVERS),
    "reject": Rule(APPROVERS),
    "resolve_refund": Rule(("admin", "finance")),
    "return_shipped": Rule(("admin", "operator", "channel", "customer_service"), scoped=True),
    "return_received": Rule(RETURNS_DESK),
    "return_received_by_waybill": Rule(RETURNS_DESK),
    "inspection": Rule(RETURNS_DESK),
    # stock
    "list_warehouses": Rule(("admin", "operator", "channel", "warehouse"), scoped=True),
    "get_stock": Rule(("admin", "operator", "channel", "warehouse"), scoped=True),
    "put_stock": Rule(("admin", "operator", "warehouse")),
    # shops, quarantine, exception queues, rules, SLA, reconciliation
    "create_shop": Rule(("admin",)),
    "list_shops": Rule(("admin", "operator")),
    "update_shop": Rule(("admin",)),
    "sync_shop": Rule(("admin", "operator")),
    "list_quarantine": Rule(("admin", "operator")),
    "retry_quarantined": Rule(("admin", "operator")),
    "list_exceptions": Rule(STAFF),
    "get_rules": Rule(("admin", "operator")),
    "reload_rules": Rule(("admin",)),
    "list_sla_breaches": Rule(("admin", "operator", "support_lead", "finance", "operations")),
    "list_reports": Rule(("admin", "finance")),
    "report": Rule(("admin", "finance")),
    "report_csv": Rule(("admin", "finance")),
    # principals and the audit trail
    "create_principal": Rule(("admin",)),
    "list_principals": Rule(("admin",)),
    "revoke_principal": Rule(("admin",)),
    "list_audit_entries": Rule(("admin",)),
}

# Routes without a token: platforms and carriers sign their calls; health and the API's own documents.
PUBLIC = {"receive_webhook", "tracking_callback", "healthz", "explain_problem",
          "openapi", "swagger_ui_html", "swagger_ui_redirect", "redoc_html"}


def rule_for(route: object) -> Rule | None:
    return RULES.get(getattr(route, "name", ""))


def api_routes(app: FastAPI) -> list[APIRoute]:
    """Every operation of the app (FastAPI keeps an included router whole: its routes are inside)."""
    found, pending = [], list(app.routes)
    while pending:
        route = pending.pop(0)
        if hasattr(route, "original_router"):
            pending.extend(route.original_router.routes)
        elif isinstance(route, APIRoute):
            found.append(route)
    return found


def check_routes(app: FastAPI) -> None:
    """Every route has a rule or is public: a route added without one stops the API from starting."""
    missing = [r.path for r in api_routes(app) if r.name not in RULES and r.name not in PUBLIC]
    if missing:
        raise RuntimeError(f"routes without an access rule in api/access.py: {', '.join(missing)}")


def describe_routes(app: FastAPI) -> None:
    """Each operation's OpenAPI description ends with its line of the matrix."""
    for route in api_routes(app):
        rule = rule_for(route)
        if rule is not None:
            scope = "a principal scoped to a channel or shop sees only its own" if rule.scoped else \
                "not for principals scoped to a channel or shop"
            route.description = f"{route.description}\n\n**Access:** roles {', '.join(rule.roles)}; {scope}.".strip()


def order_scope(principal: Principal, channel_column: object, shop_column: object) -> list[ColumnElement[bool]]:
    """Conditions that keep a list to the principal's scope (none for an unscoped principal)."""
    if not principal.scopes:
        return []
    return [or_(*[and_(col(channel_column) == s.channel, *([col(shop_column) == s.shop] if s.shop else []))
                  for s in principal.scopes])]


async def visible_order(request: Request, principal: Principal, order_id: str) -> OrderRecord:
    """The order's read model row, or 404 when there is none or it is outside the principal's scope
    (answered the same, so a scoped principal cannot learn that another shop's order exists)."""
    async with read_scope(request.app.state.settings.db_url) as session:
        record = await session.get(OrderRecord, order_id)
    if record is None or not principal.admits(record.channel, record.shop):
        raise ProblemError(OrderError.ORDER_NOT_FOUND, f"no order {order_id}")
    return record


async def visible_ticket(request: Request, principal: Principal, ticket_id: str) -> AfterSalesTicketRecord:
    """The ticket's read model row, or 404 as `visible_order`."""
    async with read_scope(request.app.state.settings.db_url) as session:
        record = await session.get(AfterSalesTicketRecord, ticket_id)
    if record is None or not principal.admits(record.channel, record.shop):
        raise ProblemError(TicketError.TICKET_NOT_FOUND, f"no after-sales ticket {ticket_id}")
    return record
