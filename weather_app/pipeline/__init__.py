"""What every runtime does per partition, whatever its Kafka client and its state store.

The runtimes (the Faust worker, ``consume``) drive these through ports they hand in at
construction (``ports.py``: the log view): the check of a saved partition against its log and
the recount (``log_check.py``), and the writer of ``partition-N.json`` (``exporter.py``). They
adapt their client and storage and hold no rule of their own about files or the log's
continuity (those verdicts are pure and live in ``core/continuity.py``).
"""
