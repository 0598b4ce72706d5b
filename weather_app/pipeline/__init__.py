"""What every runtime does per partition, whatever its Kafka client and its state store.

The runtimes (the Faust worker, ``consume``) drive these through ports they hand in at
construction (``ports.py``: the log view, the state store): the check of a saved partition
against its log and the recount (``log_check.py``), the writer of ``partition-N.json``
(``exporter.py``) and ``consume``'s store (``file_store.py``). The continuity verdicts are pure
and live in ``core/continuity.py``; what a runtime keeps of its own is how its client meets
them (``consume`` compares its positions with the log's bounds every few seconds, the Faust
worker rewinds a partition Faust delivered past its position).
"""
