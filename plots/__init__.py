"""The temperature plots: read the snapshot files, draw them, keep them current.

Depends on the pure core, the settings and file I/O only (never Kafka or Faust), so it runs
the same beside Faust workers or plain ``consume`` processes. ``faust -A weather_app plot``
runs :func:`plots.refresh.keep_refreshing`.
"""
