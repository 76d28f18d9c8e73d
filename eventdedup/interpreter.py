"""Process-wide interpreter settings of ``eventdedup run`` and ``eventdedup ingest``.

Called by those entry points only, never by library code: tests run the daemon in-process.
"""

from __future__ import annotations

import gc
import sys

#: How long a thread may run Python before it must hand the GIL over (CPython's
#: default is 5 ms).  The event loop gives the GIL up at every socket call, and
#: answering one HTTP request takes a dozen of them; with the default, each can
#: wait up to 5 ms behind the processor's thread, so ``/health`` would take tens
#: of milliseconds during a backfill.  A tenth of the default keeps it short
#: without slowing the backfill (figures: docs/performance.md).
SWITCH_INTERVAL = 0.0005

#: The garbage collector's thresholds (CPython's default is 700, 10, 10).  A batch keeps its
#: events, records and scores alive for seconds, so young collections promote them to the
#: oldest generation by the hundred thousand and the default third threshold then runs a
#: full collection (walking the whole heap, the record cache included) about twice per
#: batch, though those objects later die by reference count, not in cycles.  Considered
#: a hundred times less often, full collections stop costing a fifth of the commit stage's
#: CPU; young collections are unchanged, and reference cycles are rare enough here that a
#: run with no collection at all held the same memory (figures: docs/performance.md).
GC_THRESHOLDS = (700, 10, 1000)


def prepare_interpreter() -> None:
    """Tune the daemon's process so the event loop stays responsive; call once at start.

    A full (generation 2) garbage collection stops every thread for as long
    as it takes to walk every tracked object, and it does not yield the GIL.
    About two thirds of the daemon's heap is what imports built (functions,
    classes, module dicts), and it never becomes garbage: walking it would
    make every full collection long enough to stall ``/health``.
    ``gc.freeze`` moves everything alive now to a generation the collector
    skips; those objects are still freed by reference counting, and what is
    created later is collected as usual.  A process-wide setting, so it
    belongs to the entry point (``eventdedup run``), not to ``run_daemon``,
    which tests call in-process.
    """
    sys.setswitchinterval(SWITCH_INTERVAL)
    gc.set_threshold(*GC_THRESHOLDS)
    gc.collect()
    gc.freeze()
