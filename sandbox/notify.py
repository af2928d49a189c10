"""A DingTalk / WeCom style group robot: `POST /robot/send?access_token=<robot>` with the robot JSON.

Body: `{"msgtype": "markdown", "markdown": {"title", "text"}, "at": {...}, "key", "audience", "subject"}`
(`msgtype: "text"` with `{"text": {"content"}}` is taken too). `key` is the sender's idempotency key (the
real robots have none): one `notification` record per key, a repeat is counted (`received`) and answered
as the first time. Answers are HTTP 200 `{"errcode", "errmsg"}`, errcode 0 on success. UNVERIFIED codes
(DingTalk's published ones): 300001 token is not exist (unknown or revoked robot), 40035 invalid
parameter, 130101 send too fast (the robot's per-minute limit).

Control (`/_sandbox/robots`): `PUT /{access_token}` `{"revoked"?, "per_min"?, "burst"?}` sets one robot's
state and rate limit (default 600 a minute, bursts of 100: generous, so tests and `make dev` are not
throttled; DingTalk's own limit is 20 a minute). Fault endpoint `robot.send`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import structlog
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sandbox.faults import FaultInjectedRoute
from sandbox.platforms.state import TokenBucket
from sandbox.records import RecordStore

log = structlog.get_logger(__name__)

OK = {"errcode": 0, "errmsg": "ok"}
TOKEN_UNKNOWN = 300001
INVALID_PARAMETER = 40035
SEND_TOO_FAST = 130101
DEFAULT_PER_MIN = 600.0
DEFAULT_BURST = 100


@dataclass
class Robot:
    revoked: bool = False
    per_min: float = DEFAULT_PER_MIN
    burst: int = DEFAULT_BURST
    bucket: TokenBucket | None = None

    def take(self) -> bool:
        if self.bucket is None:
            self.bucket = TokenBucket(self.per_min / 60, self.burst)
        return self.bucket.take()


class RobotState:
    """Every robot the sandbox has seen, by access token; lives on `app.state.robots`."""

    def __init__(self) -> None:
        self.robots: dict[str, Robot] = {}

    def reset(self) -> None:
        self.robots.clear()

    def robot(self, access_token: str) -> Robot:
        return self.robots.setdefault(access_token, Robot())


class Markdown(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    text: str = Field(min_length=1, max_length=20_000)


class Text(BaseModel):
    content: str = Field(min_length=1, max_length=20_000)


class RobotMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    msgtype: Literal["markdown", "text"]
    markdown: Markdown | None = None
    text: Text | None = None
    at: dict[str, Any] = Field(default_factory=dict)
    key: str = Field(min_length=1, max_length=200)
    audience: str = Field(default="", max_length=32)
    subject: dict[str, str] = Field(default_factory=dict)


def failure(errcode: int, errmsg: str) -> dict[str, Any]:
    return {"errcode": errcode, "errmsg": errmsg}


router = APIRouter(prefix="/robot", tags=["robot"], route_class=FaultInjectedRoute)


@router.post("/send", name="robot.send")
async def send(request: Request, access_token: str = "") -> dict[str, Any]:
    state: RobotState = request.app.state.robots
    records: RecordStore = request.app.state.records
    if not access_token or state.robot(access_token).revoked:
        return failure(TOKEN_UNKNOWN, "token is not exist")
    robot = state.robot(access_token)
    if not robot.take():
        log.info("robot.throttled", robot=access_token)
        return failure(SEND_TOO_FAST, f"send too fast, exceed {robot.per_min:g} times per minute")
    try:
        message = RobotMessage.model_validate(await request.json())
    except (ValueError, ValidationError) as err:  # not JSON, or not a robot message
        fields = [".".join(str(p) for p in e["loc"]) for e in err.errors()] if isinstance(err, ValidationError) \
            else ["body"]
        return failure(INVALID_PARAMETER, f"invalid parameter: {', '.join(fields)}")
    content = getattr(message, message.msgtype)
    if content is None:
        return failure(INVALID_PARAMETER, f"invalid parameter: {message.msgtype}")

    previous = records.replay("notification", message.key)
    if previous is not None:
        log.info("robot.replayed", robot=access_token, key=message.key)
        return previous.result
    body = {"robot": access_token, "audience": message.audience or access_token, "msgtype": message.msgtype,
            **content.model_dump(), "at": message.at, "subject": message.subject}
    records.add("notification", message.key, body, dict(OK))
    log.info("robot.sent", robot=access_token, key=message.key, subject=message.subject)
    return dict(OK)


class RobotBody(BaseModel):
    revoked: bool = False
    per_min: float = Field(default=DEFAULT_PER_MIN, gt=0)
    burst: int = Field(default=DEFAULT_BURST, ge=1)


control_router = APIRouter(prefix="/_sandbox/robots", tags=["sandbox control"])


@control_router.put("/{access_token}")
async def set_robot(access_token: str, body: RobotBody, request: Request) -> dict[str, Any]:
    """One robot's state: revoked (answers 300001) and its rate limit (answers 130101 beyond it)."""
    state: RobotState = request.app.state.robots
    state.robots[access_token] = Robot(revoked=body.revoked, per_min=body.per_min, burst=body.burst)
    return {"access_token": access_token, **body.model_dump()}
