"""In-memory ledger of effects, one record per idempotency key.

The services use it as their idempotency store, and tests read it through
GET /_sandbox/records to assert that each effect happened exactly once.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

# payment and refund: the payment gateway's (key: trade_no, out_request_no); channel_refund: an after-sales
# refund told to a marketplace; notification: a group-robot message (sandbox/notify.py).
RecordKind = Literal["waybill", "subscription", "tracking_callback", "shipback", "payment", "refund", "stock",
                     "webhook", "channel_refund", "notification"]


@dataclass
class Record:
    kind: RecordKind
    key: str
    body: dict[str, Any]
    result: dict[str, Any]
    at: datetime = field(default_factory=lambda: datetime.now(UTC))
    received: int = 1

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "key": self.key,
            "at": self.at.isoformat(),
            "received": self.received,
            "body": self.body,
            "result": self.result,
        }


class RecordStore:
    def __init__(self) -> None:
        self._records: dict[tuple[str, str], Record] = {}

    def find(self, kind: RecordKind, key: str) -> Record | None:
        return self._records.get((kind, key))

    def replay(self, kind: RecordKind, key: str) -> Record | None:
        """Look up an earlier effect for this key and count the repeated request."""
        record = self._records.get((kind, key))
        if record is not None:
            record.received += 1
        return record

    def add(
        self,
        kind: RecordKind,
        key: str,
        body: dict[str, Any],
        result: dict[str, Any],
        received: int = 1,
    ) -> Record:
        if (kind, key) in self._records:
            raise KeyError(f"{kind} record {key!r} already exists")
        record = Record(kind=kind, key=key, body=body, result=result, received=received)
        self._records[(kind, key)] = record
        return record

    def list(self, kind: str | None = None, key: str | None = None, **body: str) -> list[Record]:
        """Records of `kind` / `key` whose body has every given value (e.g. channel="jd")."""
        return [
            r
            for r in self._records.values()
            if (kind is None or r.kind == kind)
            and (key is None or r.key == key)
            and all(r.body.get(name) == value for name, value in body.items() if value is not None)
        ]

    def clear(self) -> None:
        self._records.clear()
