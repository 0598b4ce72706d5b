"""The worker process's interpreter settings: the GIL switch interval and the cyclic GC.

Both are process-wide. The worker sets them once, when its app first starts
(``WeatherApp.on_first_start``): every module is imported and the app is built by then.
Measured with ``bench/worker_throughput.py``.
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


def tune_for_throughput() -> None:
    """Set the switch interval, and freeze the start-up heap out of the cyclic GC.

    A fetch allocates 20,000 record objects that live until the agent has processed them, so
    they survive the young collections and set off full ones: four per 200,000 records, each
    traversing the whole heap for up to 100 ms, most of it the 94,000 objects alive at start
    (Faust, aiokafka, every module). Collections took a quarter of an exactly_once window, in
    whichever thread allocated, holding the GIL; with the start-up heap frozen a full one
    takes about 15 ms. Frozen objects are still freed by reference counting. A reference
    cycle through a frozen object is never collected, though, nor anything it holds, even if
    created later. So a collection runs first, and what is frozen is what the app built
    before it started (its services, consumer, producer, tables and agents, the modules):
    objects that live as long as the process.

    The thresholds stay Python's. Raised to (50,000, 20, 10) they cut the fetcher thread's CPU
    from 1.0 to 0.4 us per record, but RSS over a 2,000,000-record replay grew to 389 MiB
    (against 238-256) in glibc's heap, with no cyclic garbage found by the collections.
    """
    sys.setswitchinterval(SWITCH_INTERVAL_SEC)
    gc.collect()
    gc.freeze()
