"""Channel adapters: one module per sales platform, the shared mechanisms once.

- `base`: ChannelState, MappingError, ChannelOrder, the ChannelAdapter interface, field readers.
- `signing`: request signing schemes and webhook verification.
- `windows`: incremental pull windows and last-page-first paging.
- `wire`: the HTTP wire's shared shapes and mechanisms (signed router calls, REST helpers); each adapter's
  `wire` and `carrier_codes` hold its platform's facts.
- `transport`: `ChannelTransport`, the I/O: pull pages, ship back, push stock, push refunds,
  `ChannelCallError`.

Adding a platform: one module with a ChannelAdapter subclass (mapping, wire, carrier codes, ship-back,
stock and refund parameters), one line in `_ADAPTER_CLASSES`, its tests (and its name in
`models.order.CHANNELS`); for the sandbox, one module in `sandbox/platforms/` and one line in its `PLATFORMS`.
"""

from __future__ import annotations

from activities.channels.base import (
    ChannelAdapter,
    ChannelOrder,
    ChannelState,
    MappingError,
)
from activities.channels.douyin import DouyinAdapter
from activities.channels.jd import JdAdapter
from activities.channels.own_store import OwnStoreAdapter
from activities.channels.pinduoduo import PinduoduoAdapter
from activities.channels.shopify import ShopifyAdapter
from activities.channels.taobao import TaobaoAdapter

_ADAPTER_CLASSES: tuple[type[ChannelAdapter], ...] = (
    TaobaoAdapter,
    JdAdapter,
    PinduoduoAdapter,
    DouyinAdapter,
    ShopifyAdapter,
    OwnStoreAdapter,
)

ADAPTERS: dict[str, ChannelAdapter] = {cls.channel: cls() for cls in _ADAPTER_CLASSES}


def adapter_for(channel: str) -> ChannelAdapter:
    try:
        return ADAPTERS[channel]
    except KeyError:
        raise LookupError(f"no adapter for channel {channel!r}; known: {', '.join(ADAPTERS)}") from None


__all__ = ["ADAPTERS", "ChannelAdapter", "ChannelOrder", "ChannelState", "MappingError", "adapter_for"]
