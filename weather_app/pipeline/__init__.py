"""What every runtime does per partition, whatever its Kafka client and its state store.

The runtimes (the Faust worker, ``consume``) drive these; they adapt their client and storage
and hold no rule of their own about files or the log's continuity (those verdicts are pure and
live in ``core/continuity.py``).
"""
