"""Principals over HTTP, for admins: issue one (its token shown once), list them, revoke one.
The same as `orderhub token issue|list|revoke` (workers/tokens.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from api.auth import require
from api.errors import problem
from models import principals as registry
from models.api_errors import ApiError
from models.order import Channel, ShopName
from models.principals import ROLES, Principal

router = APIRouter(prefix="/v1/principals", tags=["principals"])


class PrincipalDraft(BaseModel):
    """A principal to issue. Unscoped without `channel`; `channel` alone scopes it to that channel's
    shops, with `shop` to one shop. Without `expires_in_days` its token does not expire."""

    model_config = ConfigDict(extra="forbid", strict=True)

    role: str = Field(json_schema_extra={"enum": list(ROLES)}, examples=["channel"])
    name: str = Field(min_length=1, max_length=100, description="who or what uses it: a person, an integration",
                      examples=["douyin-app"])
    channel: Channel | None = None
    shop: ShopName | None = Field(default=None, description="needs `channel`")
    expires_in_days: int | None = Field(default=None, ge=1, le=3650,
                                        description="the token is refused this many days after issuing")


class IssuedPrincipal(Principal):
    token: str = Field(description="the bearer token: shown in this answer only, the hub keeps its hash")


class PrincipalPage(BaseModel):
    items: list[Principal]


# Where issue_principal's field names differ from the body's.
_BODY_FIELD = {"expires_in": "expires_in_days"}


def _caller(request: Request) -> str | None:
    """Who issues, as recorded on the principal: the authenticated caller once `request.state.principal` is set."""
    principal = getattr(request.state, "principal", None)
    return principal.actor if isinstance(principal, Principal) else None


@router.post("", status_code=201, response_model=IssuedPrincipal, dependencies=[Depends(require("admin"))])
async def create_principal(draft: PrincipalDraft, request: Request) -> Any:
    """Issue a principal and its bearer token. The token is in this answer only; it is stored as its
    SHA-256 hash. Admin only."""
    try:
        principal, token = await registry.issue_principal(
            request.app.state.settings.db_url, role=draft.role, name=draft.name, channel=draft.channel,
            shop=draft.shop, created_by=_caller(request),
            expires_in=timedelta(days=draft.expires_in_days) if draft.expires_in_days is not None else None)
    except registry.InvalidPrincipal as err:
        return problem(ApiError.VALIDATION_FAILED, "the request is invalid",
                       errors=[{"field": _BODY_FIELD.get(err.field, err.field), "reason": err.reason}])
    return IssuedPrincipal(**principal.model_dump(), token=token)


@router.get("", response_model=PrincipalPage, dependencies=[Depends(require("admin"))])
async def list_principals(request: Request) -> PrincipalPage:
    """Every principal, revoked and expired ones too, oldest first; never a token or its hash. Admin only."""
    return PrincipalPage(items=await registry.list_principals(request.app.state.settings.db_url))


@router.delete("/{principal_id}", response_model=Principal, dependencies=[Depends(require("admin"))])
async def revoke_principal(principal_id: str, request: Request) -> Principal | JSONResponse:
    """Revoke a principal's token: refused (401) from the next request on, on every API process.
    Revoking again answers the principal with its first `revoked_at`. Admin only."""
    principal = await registry.revoke_principal(request.app.state.settings.db_url, principal_id, datetime.now(UTC))
    if principal is None:
        return problem(ApiError.NOT_FOUND, f"no principal {principal_id}", principal_id=principal_id)
    return principal
