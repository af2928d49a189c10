"""Notifications through a DingTalk / WeCom style group robot: SLA alerts, escalations, buyer notices.

`notify` posts the robot's markdown message to `POST /robot/send?access_token=<robot>` (the sandbox's
`sandbox/notify.py`; the robot of an audience is its access token, by default the audience's own name, as
the sandbox takes it). On top of the robot JSON it sends `key`, `audience` and `subject`, so the receiving
side can drop a repeat of the same key. The robot answers HTTP 200 with `{"errcode", "errmsg"}`:
- errcode 0: sent.
- a rate-limit code (DingTalk 130101 / 410100, WeCom 45009; UNVERIFIED): retryable `notify_rate_limited`.
- any other errcode (unknown or revoked robot, bad message, ...): non-retryable `notify_refused`, the
  errcode in the details.
Transport trouble, 429 and 5xx are `activities.http.PartnerHttp`'s retryable `partner_unavailable`.
Logs carry the key, the audience and the subject's ids; never the title or the text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import structlog
from temporalio import activity

from activities.http import PartnerHttp
from models.notify import Notification
from models.notify_errors import NotifyError
from models.partner_errors import PartnerError

log = structlog.get_logger(__name__)

RATE_LIMIT_CODES = frozenset({130101, 410100, 45009})  # UNVERIFIED: "send too fast" (DingTalk), freq limit (WeCom)


def robot_message(n: Notification) -> dict[str, Any]:
    """The robot's markdown message: the title as a heading, the text, the subject's ids last."""
    title = n.title or n.audience
    ids = " · ".join(f"{name}: {value}" for name, value in n.subject.items())
    text = "\n\n".join(part for part in (f"### {title}", n.text, f"> {ids}" if ids else "") if part)
    return {
        "msgtype": "markdown",
        "markdown": {"title": title, "text": text},
        "at": {"atMobiles": [], "atUserIds": [], "isAtAll": False},  # no phone numbers, ever
        "key": n.key,
        "audience": n.audience,
        "subject": dict(n.subject),
    }


class NotifierActivities:
    def __init__(self, http: PartnerHttp, *, robots: Mapping[str, str] | None = None) -> None:
        """`robots`: audience -> the robot's access token; an audience not in it is its own token."""
        self.http = http
        self.robots = dict(robots or {})

    @activity.defn(name="notify")
    async def notify(self, n: Notification) -> None:
        token = self.robots.get(n.audience, n.audience)
        answer = await self.http.request("POST", f"/robot/send?access_token={quote(token, safe='')}",
                                         json=robot_message(n), partner=f"notify robot {n.audience}")
        errcode = answer.get("errcode")
        if isinstance(errcode, bool) or not isinstance(errcode, int):
            log.warning("notify.failed", key=n.key, audience=n.audience, errcode=None, subject=n.subject)
            raise PartnerError.PARTNER_UNAVAILABLE.failure(f"notify robot {n.audience}: no errcode in the answer",
                                                           non_retryable=False)
        if errcode == 0:
            log.info("notify.sent", key=n.key, audience=n.audience, subject=n.subject)
            return
        errmsg = str(answer.get("errmsg") or "")[:200]
        details = {"audience": n.audience, "key": n.key, "errcode": errcode, "errmsg": errmsg}
        log.warning("notify.failed", key=n.key, audience=n.audience, errcode=errcode, subject=n.subject)
        if errcode in RATE_LIMIT_CODES:
            raise NotifyError.NOTIFY_RATE_LIMITED.failure(
                f"notify robot {n.audience} rate limited: {errcode}: {errmsg}", details, non_retryable=False)
        raise NotifyError.NOTIFY_REFUSED.failure(f"notify robot {n.audience} refused: {errcode}: {errmsg}", details)
