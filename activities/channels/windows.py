"""Incremental pull planning shared by every pulling adapter.

A pull asks for orders *modified* in a time window. Platforms cap the window (Taobao 1 day,
Pinduoduo 30 minutes), so the span since the cursor is cut into contiguous windows; each pull starts
`overlap` before the cursor because platforms make modifications visible late. Within a window the
pages are read from the last page backwards: an order modified while we page moves to the end of the
result set, and reading backwards means such a move can only make us see it twice, never skip it.
"""

from __future__ import annotations

from datetime import datetime, timedelta


def sync_windows(
    cursor: datetime, now: datetime, *, max_window: timedelta | None, overlap: timedelta
) -> list[tuple[datetime, datetime]]:
    """Contiguous `(start, end)` windows covering `cursor - overlap` .. `now`, none longer than `max_window`.

    A cursor later than `now` (clock skew, or a cursor saved by a faster clock) yields no window:
    there is nothing new to pull and the cursor must not move backwards.
    """
    if cursor.tzinfo is None or now.tzinfo is None:
        raise ValueError("cursor and now must be timezone-aware")
    if overlap < timedelta(0):
        raise ValueError(f"overlap must not be negative, got {overlap}")
    if max_window is not None and max_window <= timedelta(0):
        raise ValueError(f"max_window must be positive, got {max_window}")
    if cursor > now:
        return []
    start = cursor - overlap
    if start >= now:
        return []
    if max_window is None:
        return [(start, now)]
    windows: list[tuple[datetime, datetime]] = []
    while start < now:
        end = min(start + max_window, now)
        windows.append((start, end))
        start = end
    return windows


def pages_backwards(total: int, page_size: int) -> list[int]:
    """1-based page numbers for `total` results, last page first: (230, 100) -> [3, 2, 1]."""
    if page_size <= 0:
        raise ValueError(f"page_size must be positive, got {page_size}")
    if total < 0:
        raise ValueError(f"total must not be negative, got {total}")
    pages = -(-total // page_size)
    return list(range(pages, 0, -1))
