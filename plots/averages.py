"""Monthly averages from the ``temperatures`` snapshot files (a missing or torn file is skipped)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from weather_app.core.records import MONTHS
from weather_app.files.layout import snapshot_files

log = logging.getLogger(__name__)

#: month -> year -> average max temperature
MonthlyAverages = dict[str, dict[str, float]]


def read_averages(folder: Path) -> MonthlyAverages:
    """Averages from every readable ``partition-N.json`` in ``folder``."""
    averages: MonthlyAverages = {}
    for path in snapshot_files(folder):
        try:
            snapshot: dict[str, Any] = json.loads(path.read_bytes())
        except (OSError, ValueError) as error:
            log.warning("skipping %s until the next refresh: %s", path, error)
            continue
        for month in MONTHS:
            years = snapshot.get(month)
            if isinstance(years, dict):
                averages.setdefault(month, {}).update(
                    {year: stats["avg"] for year, stats in years.items()}
                )
    return averages
