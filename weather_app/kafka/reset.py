"""A topic reset is a fresh start: it also clears everything derived from the topics.

Derived state: the summary tables' changelog topics, the Faust consumer group's committed
offsets for the topics, the worker's local table stores and the snapshot files. Leaving any of
it behind would make the worker treat the new data as duplicates of the old.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable

from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from weather_app.core.topics import APP_ID, CHANGELOGS, SUMMARISED
from weather_app.errors import WeatherError
from weather_app.files.layout import Layout, fingerprint_files, snapshot_files
from weather_app.kafka.topics import TopicSpec, admin_client, delete_topics, ensure_topics
from weather_app.settings import Settings


def reset_everything(
    settings: Settings, specs: list[TopicSpec], report: Callable[[str], None] = print
) -> None:
    """Recreate ``specs`` empty and remove what the worker derived from them."""
    names = [spec.name for spec in specs]
    with admin_client(settings) as admin:
        _forget_group_offsets(admin, names, report)
        changelogs = [log for name in names for log in CHANGELOGS.get(name, ())]
        gone = delete_topics(admin, changelogs, settings.connect_timeout)
        for name in gone:
            report(f"deleted {name}")
    layout = Layout(settings)
    stores = layout.state_dir
    if stores.exists() and any(name in CHANGELOGS for name in names):
        shutil.rmtree(stores)
        report(f"removed local table stores {stores}")
    for name in names:
        if name in SUMMARISED:
            folder = layout.snapshots(name)
            removed = snapshot_files(folder)
            for path in [*removed, *fingerprint_files(folder)]:  # consume's side files
                path.unlink()
            if removed:
                report(f"removed {len(removed)} snapshot files from {folder}")
    ensure_topics(settings, specs, reset=True, report=report)


def _forget_group_offsets(
    admin: KafkaAdminClient, names: list[str], report: Callable[[str], None]
) -> None:
    try:
        committed = admin.list_group_offsets(APP_ID).get(APP_ID, {})
        partitions = [tp for tp in committed if tp.topic in names]
        if partitions:
            admin.delete_group_offsets(APP_ID, partitions)
    except KafkaError as error:
        raise WeatherError(
            f"cannot forget consumer group {APP_ID}'s offsets ({error}); stop the worker first"
        ) from None
    if partitions:
        report(f"forgot consumer group {APP_ID}'s offsets for {', '.join(sorted(set(names)))}")
