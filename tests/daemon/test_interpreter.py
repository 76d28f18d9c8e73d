"""The daemon process's interpreter settings (``eventdedup.interpreter.prepare_interpreter``).

Each check runs in a fresh interpreter: the settings are process-wide, and
freezing pytest's own heap would hide what the daemon's start does.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

PROBE = """
import gc, json, sys
import eventdedup.cli  # what `eventdedup run` has imported when it calls prepare_interpreter
from eventdedup.interpreter import GC_THRESHOLDS, SWITCH_INTERVAL, prepare_interpreter

before = len(gc.get_objects())
prepare_interpreter()
print(json.dumps({"before": before, "after": len(gc.get_objects()),
                  "frozen": gc.get_freeze_count(), "interval": sys.getswitchinterval(),
                  "wanted": SWITCH_INTERVAL, "enabled": gc.isenabled(),
                  "thresholds": gc.get_threshold(), "wanted_thresholds": GC_THRESHOLDS}))
"""


def _probe() -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=120
    )
    return json.loads(out.stdout)


def test_the_start_heap_is_frozen_and_the_gil_is_handed_over_sooner() -> None:
    probe = _probe()
    # what imports built is out of the collector's walk ...
    assert probe["frozen"] >= 0.9 * probe["before"]
    assert probe["after"] < 0.05 * probe["before"]
    # ... but garbage made later is still collected
    assert probe["enabled"]
    assert probe["interval"] == probe["wanted"] < 0.005  # CPython's default is 5 ms
    # full collections considered far less often than CPython's default (10)
    assert probe["thresholds"] == probe["wanted_thresholds"]
    assert probe["thresholds"][2] >= 100
