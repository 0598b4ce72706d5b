"""What every runtime does per partition, whatever its Kafka client and its state store.

The runtimes (the Faust worker, ``consume``) drive these through ports they hand in at
construction (``ports.py``: the log view, the state store, the cursor): the check of a saved
partition against its log, the recount and the one data-loss line (``log_check.py``), the
writer of ``partition-N.json`` (``exporter.py``), ``consume``'s store (``file_store.py``) and
the positions of a runtime that seeks its own consumer (``positions.py``). The continuity
verdicts are pure and live in ``core/continuity.py``; what the Faust worker keeps of its own is
how Faust's consumer meets them (it resets by itself, and may deliver a partition past its
position after a rebalance: ``worker/tables.py`` rewinds it).
"""
