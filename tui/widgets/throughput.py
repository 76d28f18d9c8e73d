"""Events per minute as a sparkline, with the numbers that give it a scale."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label, Sparkline


class ThroughputPanel(Vertical):
    """A sparkline alone has no scale; the label says now/peak/total."""

    def __init__(self, minutes: int = 30, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.minutes = minutes

    def compose(self) -> ComposeResult:
        yield Label("", id="throughput-label")
        yield Sparkline([0] * self.minutes, id="throughput-spark")

    def show(self, per_minute: list[int]) -> None:
        now = per_minute[-1] if per_minute else 0
        peak = max(per_minute, default=0)
        self.query_one("#throughput-label", Label).update(
            f"events/min, last {self.minutes} min · now {now} · peak {peak} · "
            f"total {sum(per_minute)}"
        )
        self.query_one("#throughput-spark", Sparkline).data = list(per_minute) or [0]
