"""Authentication: the bearer token's principal, admitted by the route's rule (api.access).

A token is looked up on every request (one indexed read): a revoked or expired token is refused on the
very next request, on every API process. Repeated failures from one client are slowed down (429)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.access import Rule, rule_for
from api.errors import ProblemError
from models.api_errors import ApiError
from models.principals import ROLES, Principal, ensure_dev_principals, hash_token, issue_token, principal_by_token

# issue_token, hash_token, ensure_dev_principals: re-exported for tests, bench and the dev stack.
__all__ = ["ROLES", "authorize", "bearer_token", "caller", "ensure_dev_principals", "hash_token", "issue_token",
           "route_roles"]


async def authorize(request: Request, token: str | None, rule: Rule) -> Principal:
    """The caller, admitted by `rule`, or a ProblemError: 401 (no, unknown, revoked or expired token),
    403 (role, or a scoped principal on a route that is not for it), 429 (repeated failures)."""
    throttle = request.app.state.auth_throttle
    client = request.client.host if request.client else "unknown"
    wait = throttle.blocked(client)
    if wait is not None:
        raise ProblemError(ApiError.TOO_MANY_REQUESTS, "too many failed authentications from this client; retry later",
                           headers={"Retry-After": str(max(1, round(wait)))})
    if token is None:
        principal, why = None, "missing bearer token"
    else:
        principal, why = await principal_by_token(request.app.state.settings.db_url, token, datetime.now(UTC))
    if principal is None:
        if token is not None:  # a wrong token is a guess; a missing one is not
            throttle.failed(client)
        raise ProblemError(ApiError.UNAUTHENTICATED, why, headers={"WWW-Authenticate": "Bearer"})
    throttle.succeeded(client)
    request.state.principal = principal  # known from here: a refused attempt is audited under its name
    if principal.role not in rule.roles:
        raise ProblemError(ApiError.FORBIDDEN, f"role {principal.role} may not do this; needs one of {', '.join(rule.roles)}")
    if principal.scopes and not rule.scoped:
        raise ProblemError(ApiError.FORBIDDEN, "a principal scoped to a channel or shop may not do this")
    return principal


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


_bearer = HTTPBearer(auto_error=False, description="a principal's token (`orderhub token issue`)")


async def caller(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> Principal:
    """The dependency every non-public router carries: the authenticated principal its rule admits.
    Routes that need the principal declare it again; FastAPI runs it once per request. (`_bearer`
    declares the scheme in the OpenAPI document; the 422 handler calls this with the request only.)"""
    token = credentials.credentials if isinstance(credentials, HTTPAuthorizationCredentials) else bearer_token(request)
    rule = rule_for(request.scope.get("route"))
    if rule is None:  # api.access.check_routes makes this unreachable; refuse rather than admit
        raise ProblemError(ApiError.FORBIDDEN, "this route has no access rule")
    return await authorize(request, token, rule)


caller.authenticates = True  # type: ignore[attr-defined]  # the 422 handler runs it before quarantining


def route_roles(route: object) -> tuple[str, ...]:
    """The roles a route admits (none: a public route, no token)."""
    rule = rule_for(route)
    return rule.roles if rule else ()

