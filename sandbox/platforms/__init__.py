"""Sandbox marketplaces: Taobao, JD, Pinduoduo, Douyin, Shopify and the own store over HTTP.

One module per platform (its protocol, payload shape, error codes, carrier codes) over shared pieces:
`state` (shops, tokens, neutral orders, ship-back/stock effects, rate limits, fake buyers), `base` (the
Platform interface and the signed router protocol), `signing` (request and webhook signatures, the
sandbox's own, written from the platform reference), `rest` (token-authenticated REST platforms),
`webhooks` (background, at-least-once delivery), `control` (the `/_sandbox/platforms` test API).
Adding a platform: one module with a Platform subclass and one line in PLATFORMS.
"""

from __future__ import annotations

from sandbox.platforms.base import Platform
from sandbox.platforms.douyin import Douyin
from sandbox.platforms.jd import Jd
from sandbox.platforms.own_store import OwnStore
from sandbox.platforms.pinduoduo import Pinduoduo
from sandbox.platforms.shopify import Shopify
from sandbox.platforms.taobao import Taobao

PLATFORMS: dict[str, Platform] = {p.channel: p for p in (Taobao(), Jd(), Pinduoduo(), Douyin(), Shopify(), OwnStore())}

__all__ = ["PLATFORMS", "Platform"]
