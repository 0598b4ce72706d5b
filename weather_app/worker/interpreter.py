"""The worker process's interpreter settings: the GIL switch interval and the cyclic GC.

Both are process-wide. The worker sets them once, when its app first starts
(``WeatherApp.on_first_start``): every module is imported and the app is built by then.
Measured with ``bench/worker_throughput.py`` on a 200,000-record exactly_once backlog.
"""

from __future__ import annotations

import gc
import sys

#: Python's is 5 ms. The agent (the main thread) and aiokafka's fetcher (Faust's consumer
#: thread) share the GIL. A thread that wants it waits a switch interval before the holder is
#: asked to let go, and an agent's batch holds it for tens of milliseconds: each fetch
#: response and hand-over waited that long. At 1 ms, a 1M-record exactly_once backlog ran at
#: a median 205,000 rec/s against 169,000 (4 runs each, alternating; single runs range about
#: 20 %).
SWITCH_INTERVAL_SEC = 0.001

#: Python's are (700, 10, 10): a young collection every 700 allocations of container objects,
#: a middle one every 10 young ones, a full one every 10 middle ones (and only once the
#: objects waiting for it are a quarter of the old generation). A fetch allocates 20,000
#: record objects that live until the agent has processed them, so at 700 they survived the
#: young and middle collections, reached the old generation and set off full collections:
#: four per 200,000 records, each traversing the whole heap (Faust, aiokafka, every module:
#: 94,000 objects at start) for up to 100 ms. GC took a quarter of the processing time, and
#: it runs in whichever thread allocates, holding the GIL. At 50,000 and 20 the records are
#: processed and freed before a middle collection comes, so they no longer reach the old
#: generation.
GC_THRESHOLDS = (50_000, 20, 10)


def tune_for_throughput() -> None:
    """Set the switch interval and GC thresholds, and freeze the start-up heap.

    Frozen objects (everything alive now) are left out of every later collection: they live
    as long as the process, and traversing them was most of a full collection's cost. They
    are still freed by reference counting; only cyclic garbage among them would stay, so a
    collection runs first.
    """
    sys.setswitchinterval(SWITCH_INTERVAL_SEC)
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
