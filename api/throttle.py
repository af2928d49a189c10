"""Slowing down token guessing: a client (an IP address) whose bearer tokens fail too often is told to wait.

In memory, per API process: each process counts its own clients' failures. That bounds a guesser to
`max_failures` tries per `window_s` per process without a database write per failed request (which
would let unauthenticated callers grow the database), and tokens are 192 random bits, so the limit
is about noise and speed, not the only defence.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Client:
    window_start: float
    failures: int = 0
    blocked_until: float = 0.0


class AuthThrottle:
    """`max_failures` failed authentications within `window_s` block the client for `block_s`.

    A success does not wipe the client's failures: a caller holding one valid token could otherwise
    interleave it with guesses and never be slowed down. The window does: a client's count starts
    again `window_s` after its first failure. At most `max_clients` are remembered; beyond that the
    one that failed least recently is forgotten, so a flood of addresses cannot exhaust memory.
    """

    def __init__(self, max_failures: int = 10, window_s: float = 60.0, block_s: float | None = None, *,
                 max_clients: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        if max_failures < 1 or window_s <= 0:
            raise ValueError("max_failures must be at least 1 and window_s positive")
        self.max_failures, self.window_s = max_failures, window_s
        self.block_s = window_s if block_s is None else block_s
        self.max_clients, self.clock = max_clients, clock
        self._clients: OrderedDict[str, _Client] = OrderedDict()  # least recently failed first

    def blocked(self, client: str) -> float | None:
        """Seconds the client must still wait before its token is looked at again; None: not blocked."""
        state = self._clients.get(client)
        if state is None:
            return None
        left = state.blocked_until - self.clock()
        return left if left > 0 else None

    def failed(self, client: str) -> float | None:
        """Count a failed authentication; returns the seconds to wait when this failure blocks the client."""
        now = self.clock()
        state = self._clients.pop(client, None)
        if state is None or now - state.window_start >= self.window_s:
            state = _Client(window_start=now, blocked_until=state.blocked_until if state else 0.0)
        state.failures += 1
        self._clients[client] = state  # now the most recently failed
        while len(self._clients) > self.max_clients:
            self._clients.popitem(last=False)
        if state.failures >= self.max_failures:
            state.blocked_until = now + self.block_s
            state.window_start, state.failures = state.blocked_until, 0  # counting starts again after the block
            return self.block_s
        return None

    def succeeded(self, client: str) -> None:
        """A successful authentication: forgets the client only once its window and any block have passed."""
        state = self._clients.get(client)
        if state is not None and self.clock() >= max(state.window_start + self.window_s, state.blocked_until):
            del self._clients[client]

    def __len__(self) -> int:
        return len(self._clients)
