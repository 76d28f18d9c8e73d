"""Restart delays.

A child that crashes immediately after every start would otherwise spin the
CPU and flood the logs until the restart intensity limit trips; growing the
delay exponentially gives transient problems (a database restarting, a full
disk being cleaned) time to go away, and jitter keeps several supervised
processes from retrying in lock-step.
"""

from __future__ import annotations

import math
import random

import attrs

__all__ = ["Backoff"]


def _non_negative(_instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not value >= 0:
        raise ValueError(f"{attribute.name} must be >= 0, got {value!r}")


@attrs.frozen
class Backoff:
    """Exponential backoff with proportional jitter.

    For the *n*-th consecutive failure (n >= 1)::

        base  = min(maximum, initial * multiplier ** (n - 1))
        delay = base * (1 + jitter * u),   u ~ Uniform(-1, 1) drawn from ``rng``

    so with ``jitter=0.1`` the delay is within +-10 % of ``base`` (and may
    therefore exceed ``maximum`` by up to that fraction). With ``jitter=0`` no
    random number is drawn at all.
    """

    initial: float = attrs.field(default=0.1, validator=_non_negative)
    maximum: float = attrs.field(default=10.0, validator=_non_negative)
    multiplier: float = 2.0
    jitter: float = 0.1

    def __attrs_post_init__(self) -> None:
        if self.maximum < self.initial:
            raise ValueError(
                f"backoff maximum ({self.maximum}) must be >= initial ({self.initial})"
            )
        if not self.multiplier >= 1:
            raise ValueError(f"backoff multiplier must be >= 1, got {self.multiplier!r}")
        if not 0 <= self.jitter < 1:
            raise ValueError(f"jitter must be in [0, 1), got {self.jitter!r}")

    def base_delay(self, failures: int) -> float:
        """Delay before jitter for the ``failures``-th consecutive failure."""
        if failures < 1:
            raise ValueError(f"failures must be >= 1, got {failures}")
        try:
            raw = self.initial * self.multiplier ** (failures - 1)
        except OverflowError:
            raw = math.inf
        return min(self.maximum, raw)

    def delay(self, failures: int, rng: random.Random) -> float:
        """Jittered delay for the ``failures``-th consecutive failure."""
        base = self.base_delay(failures)
        if self.jitter == 0 or base == 0:
            return base
        return base * (1.0 + self.jitter * rng.uniform(-1.0, 1.0))
