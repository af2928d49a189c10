"""Pull windows and last-page-first paging."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta, timezone

import pytest

from activities.channels import ADAPTERS
from activities.channels.windows import pages_backwards, sync_windows

NOW = datetime(2024, 5, 10, 12, 0, tzinfo=UTC)
OVERLAP = timedelta(minutes=5)


def assert_covering(windows, start, end, max_window):
    assert windows[0][0] == start
    assert windows[-1][1] == end
    for (_, a_end), (b_start, _) in itertools.pairwise(windows):
        assert a_end == b_start  # contiguous: no gap, no overlap between windows
    for w_start, w_end in windows:
        assert w_start < w_end
        if max_window is not None:
            assert w_end - w_start <= max_window


def test_taobao_three_days_of_lag():
    max_window = ADAPTERS["taobao"].max_window
    cursor = NOW - timedelta(days=3)
    windows = sync_windows(cursor, NOW, max_window=max_window, overlap=OVERLAP)
    assert len(windows) == 4  # 3 days + 5 minutes overlap
    assert_covering(windows, cursor - OVERLAP, NOW, timedelta(days=1))
    assert windows[0] == (cursor - OVERLAP, cursor - OVERLAP + timedelta(days=1))
    assert windows[-1] == (cursor - OVERLAP + timedelta(days=3), NOW)


def test_pinduoduo_two_hours_in_half_hour_windows():
    cursor = NOW - timedelta(hours=2)
    windows = sync_windows(cursor, NOW, max_window=ADAPTERS["pinduoduo"].max_window, overlap=OVERLAP)
    assert len(windows) == 5
    assert_covering(windows, cursor - OVERLAP, NOW, timedelta(minutes=30))


def test_exact_multiple_has_no_empty_tail():
    windows = sync_windows(NOW - timedelta(hours=1), NOW, max_window=timedelta(minutes=30), overlap=timedelta(0))
    assert windows == [(NOW - timedelta(hours=1), NOW - timedelta(minutes=30)), (NOW - timedelta(minutes=30), NOW)]


def test_no_maximum_is_one_window():
    cursor = NOW - timedelta(days=40)
    assert sync_windows(cursor, NOW, max_window=None, overlap=OVERLAP) == [(cursor - OVERLAP, NOW)]


def test_cursor_at_now_still_rereads_the_overlap():
    assert sync_windows(NOW, NOW, max_window=timedelta(days=1), overlap=OVERLAP) == [(NOW - OVERLAP, NOW)]
    assert sync_windows(NOW, NOW, max_window=None, overlap=timedelta(0)) == []


@pytest.mark.parametrize("ahead", [timedelta(seconds=1), timedelta(minutes=1), timedelta(days=1)])
def test_cursor_ahead_of_now_yields_nothing(ahead):
    assert sync_windows(NOW + ahead, NOW, max_window=timedelta(days=1), overlap=OVERLAP) == []
    assert sync_windows(NOW + ahead, NOW, max_window=None, overlap=OVERLAP) == []


def test_mixed_offsets_are_fine_and_naive_times_are_refused():
    beijing = timezone(timedelta(hours=8))
    cursor = (NOW - timedelta(hours=1)).astimezone(beijing)
    assert sync_windows(cursor, NOW, max_window=None, overlap=timedelta(0)) == [(cursor, NOW)]
    with pytest.raises(ValueError, match="timezone-aware"):
        sync_windows(datetime(2024, 5, 10), NOW, max_window=None, overlap=OVERLAP)


@pytest.mark.parametrize(("max_window", "overlap"), [(timedelta(0), OVERLAP), (timedelta(days=1), -OVERLAP)])
def test_nonsense_limits_are_refused(max_window, overlap):
    with pytest.raises(ValueError):
        sync_windows(NOW - timedelta(days=1), NOW, max_window=max_window, overlap=overlap)


@pytest.mark.parametrize(
    ("total", "size", "pages"),
    [(230, 100, [3, 2, 1]), (0, 100, []), (1, 100, [1]), (100, 100, [1]), (101, 100, [2, 1]), (200, 50, [4, 3, 2, 1])],
)
def test_pages_backwards(total, size, pages):
    assert pages_backwards(total, size) == pages


@pytest.mark.parametrize(("total", "size"), [(10, 0), (-1, 100)])
def test_pages_backwards_refuses_nonsense(total, size):
    with pytest.raises(ValueError):
        pages_backwards(total, size)
