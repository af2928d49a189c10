"""Principals over HTTP, for admins: issue one (its token shown once), list them, revoke one.
The same as `orderhub token issue|list|revoke` (workers/tokens.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from api.audit import note_change
from api.auth import caller
from api.errors import problem
from models import principals as registry
from models.api_errors import ApiError
from models.order import Channel, ShopName
from models.principals import ROLES, Principal

router = APIRouter(prefix="/v1/principals", tags=["principals"], dependencies=[Depends(caller)])


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


@router.post("", status_code=201, response_model=IssuedPrincipal)
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
    note_change(request, object_type="principal", object_id=principal.id, action="token.issue",
                after={"name": principal.name, "role": principal.role,
                       "scopes": [scope.model_dump() for scope in principal.scopes],
                       "expires_at": principal.expires_at.isoformat() if principal.expires_at else None})
    return IssuedPrincipal(**principal.model_dump(), token=token)


@router.get("", response_model=PrincipalPage)
async def list_principals(request: Request) -> PrincipalPage:
    """Every principal, revoked and expired ones too, oldest first; never a token or its hash. Admin only."""
    return PrincipalPage(items=await registry.list_principals(request.app.state.settings.db_url))


@router.delete("/{principal_id}", response_model=Principal)
async def revoke_principal(principal_id: str, request: Request) -> Principal | JSONResponse:
    """Revoke a principal's token: refused (401) from the next request on, on every API process.
    Revoking again answers the principal with its first `revoked_at`. Admin only."""
    db_url = request.app.state.settings.db_url
    before = await registry.get_principal(db_url, principal_id)
    principal = await registry.revoke_principal(db_url, principal_id, datetime.now(UTC))
    if before is None or principal is None:
        return problem(ApiError.NOT_FOUND, f"no principal {principal_id}", principal_id=principal_id)
    note_change(request, object_type="principal", object_id=principal_id, action="token.revoke",
                before={"revoked_at": before.revoked_at.isoformat() if before.revoked_at else None},
                after={"revoked_at": principal.revoked_at.isoformat() if principal.revoked_at else None})
    return principal
