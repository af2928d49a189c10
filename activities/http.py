"""One HTTP mechanism for every outside party (carriers, payment gateway, channels).

Transient trouble (connection errors, timeouts, 429, 5xx) raises a retryable error and Temporal's
retry policy backs off (`partner_unavailable`, models.partner_errors); a 4xx is the partner saying
no, which no retry will change, so it is raised non-retryable with the partner's error code as the
failure type.
"""

from __future__ import annotations

from typing import Any

import httpx
from temporalio.exceptions import ApplicationError

from models.partner_errors import PartnerError

RETRYABLE_STATUS = {408, 425, 429}


class PartnerHttp:
    def __init__(self, base_url: str, *, timeout_s: float = 10.0, client: httpx.AsyncClient | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = client or httpx.AsyncClient(base_url=self.base_url, timeout=timeout_s)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def request(self, method: str, path: str, *, json: Any = None, partner: str) -> dict[str, Any]:
        try:
            response = await self._client.request(method, path, json=json)
        except httpx.TransportError as err:
            raise PartnerError.PARTNER_UNAVAILABLE.failure(f"{partner} unreachable: {type(err).__name__}",
                                                           non_retryable=False) from err
        if response.status_code >= 500 or response.status_code in RETRYABLE_STATUS:
            raise PartnerError.PARTNER_UNAVAILABLE.failure(f"{partner} answered {response.status_code}",
                                                           non_retryable=False)
        body = _json(response)
        if response.status_code >= 400:
            code = str(body.get("error_code") or body.get("code") or response.status_code)
            raise ApplicationError(
                f"{partner} refused: {code}: {body.get('message') or body.get('msg') or response.text[:200]}",
                body,
                type=code,
                non_retryable=True,
            )
        return body


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {"items": body}
