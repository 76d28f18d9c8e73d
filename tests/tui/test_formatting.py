"""Dates as the console shows them (event and review pages)."""

from __future__ import annotations

import pytest

from tui.formatting import human_date, human_dates


def _entry(
    date: str, start: str | None = None, end: str | None = None, end_date: str | None = None
) -> dict:
    return {"date": date, "start_time": start, "end_time": end, "end_date": end_date}


@pytest.mark.parametrize(
    ("entry", "shown"),
    [
        (_entry("2026-02-09", "19:00:00", "21:00:00"), "Mo 09.02.2026 19:00–21:00"),
        (_entry("2026-02-10", "19:30:00"), "Di 10.02.2026 19:30"),
        (_entry("2026-02-15"), "So 15.02.2026"),
        (_entry("2026-02-14", None, "23:00:00"), "Sa 14.02.2026 bis 23:00"),
        (_entry("2026-02-09", end_date="2026-02-11"), "09.–11.02.2026"),
        (_entry("2026-02-28", end_date="2026-03-02"), "28.02.–02.03.2026"),
        (_entry("2026-12-30", end_date="2027-01-02"), "30.12.2026–02.01.2027"),
        (_entry("2026-02-09", "10:00:00", "18:00:00", "2026-02-11"), "09.–11.02.2026 10:00–18:00"),
        (_entry("2026-02-09", end_date="2026-02-09"), "Mo 09.02.2026"),
    ],
)
def test_one_date_line(entry: dict, shown: str) -> None:
    assert human_date(entry) == shown


def test_several_lines_and_odd_values() -> None:
    lines = [_entry("2026-02-09", "19:00:00"), _entry("2026-02-10", "19:00:00")]
    assert human_dates(lines) == "Mo 09.02.2026 19:00, Di 10.02.2026 19:00"
    assert human_dates([]) == ""
    assert human_dates(None) == ""
    assert human_dates(["2026-02-09 19:00"]) == "2026-02-09 19:00"  # not a date object: as is
    assert human_date({"date": "sometime"}) == "sometime"
