"""What every runtime does per partition, whatever its Kafka client and its state store.

The runtimes (the Faust worker, ``consume``) drive these through ports they hand in at
construction (``ports.py``: the log view, the state store, the cursor): the check of a saved
partition against its log, the recount and the one data-loss line (``log_check.py``), the
writer of ``partition-N.json`` (``exporter.py``), ``consume``'s store (``file_store.py``) and
the rules of each kind of consumer: one the runtime seeks itself (``consume``:
``positions.py``) and one that moves by itself, resetting on an out-of-range fetch and
delivering past the position after a rebalance (the Faust worker: ``summaries.py``). The
continuity verdicts are pure and live in ``core/continuity.py``.
"""
