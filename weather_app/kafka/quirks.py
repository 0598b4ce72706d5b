"""The embedded broker's workarounds: what each answers, where it is applied, when it is on.

The development broker (noida-db 0.2.3, ``weather_app/kafka/embedded.py``) differs from Apache
Kafka in a few ways the worker has to live with. Each workaround is listed in :data:`QUIRKS`
with the broker behaviour it answers and the code that applies it, and all of them are
switched together by ``WEATHER_BROKER_QUIRKS``:

* ``auto`` (default): on when the broker is the embedded one. noida-db answers every Metadata
  request with the fixed cluster id :data:`EMBEDDED_CLUSTER_ID` (built into its binary, the same
  for every data folder); Apache Kafka's is random per cluster (``kafka-storage random-uuid``).
  One Metadata round trip when the worker starts tells them apart. When the broker cannot be
  asked, the workarounds stay on: each is harmless against Kafka, only unneeded.
* ``embedded``: always on.
* ``none``: always off (Apache Kafka, or to see the broker's own behaviour).

Only the worker applies them; the other commands never need one.

Not switched, because they are right against any broker (noida-db only made them visible): the
producers are not idempotent (``kafka/producing.py``: a broker that forgets producer ids would
reorder a partition), the runtimes' side reader parses one record of a fetch that returned more
(``kafka/side_log.py``), and both runtimes check their positions against the log's start and
end (a broker that loses acknowledged writes is data loss, said in one line).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from aiokafka.errors import KafkaError
from aiokafka.protocol.metadata import MetadataRequest

from weather_app.kafka.clients import cluster_probe
from weather_app.settings import Settings

log = logging.getLogger(__name__)

#: the cluster id noida-db 0.2.3 reports in every Metadata answer (read from its binary)
EMBEDDED_CLUSTER_ID = "MkU3OEVBNTctOEUyRi00"


@dataclass(frozen=True)
class Quirk:
    """One workaround: the embedded broker's behaviour it answers, and where it is applied."""

    name: str
    behaviour: str
    workaround: str
    applied_in: str


QUIRKS: tuple[Quirk, ...] = (
    Quirk(
        "fetch wait",
        "answers a fetch that finds no records at once instead of holding it for "
        "fetch_max_wait_ms, so a caught-up consumer sends thousands of fetches a second",
        "after an empty answer, the next fetch to that node waits out 20 ms",
        "weather_app.worker.faust_driver.transport.fetch_wait",
    ),
    Quirk(
        "empty SyncGroup rejoin",
        "answers SyncGroup with an empty assignment when members were evicted between "
        "JoinGroup and SyncGroup, which crashes aiokafka's coordinator",
        "an empty assignment makes the member rejoin",
        "weather_app.worker.faust_driver.group",
    ),
    Quirk(
        "member eviction",
        "never expires the session of a member that died without leaving, nor the member id "
        "aiokafka dropped after an error, so the group's rebalance waits for it forever",
        "a worker evicts its previous incarnation right before its first join; beside the "
        "event loop it beats a liveness file and evicts peers whose file went stale, and its "
        "own dropped ids",
        "weather_app.kafka.membership (started by weather_app.worker.app; the member id it "
        "evicts is recorded by weather_app.worker.agents)",
    ),
    Quirk(
        "static rejoin",
        "hands a static member that rejoins under its instance id (a worker restarted after a "
        "SIGKILL) another member's assignment, with no rebalance: both then own those "
        "partitions (seen with two aiokafka members: the restarted one always got the second "
        "member's partitions)",
        "the restarted worker evicts its previous incarnation right before it joins (the "
        "member eviction's first step), so the group rebalances once, with it, instead of "
        "handing out a stale assignment; against Apache Kafka the restart is a static rejoin",
        "weather_app.kafka.membership (evict_previous_member, registered by weather_app.worker.app "
        "with weather_app.worker.faust_driver.group.before_first_join)",
    ),
    Quirk(
        "stale aborted transactions",
        "lists, in a fetch response, aborted transactions that ended before the fetch offset, "
        "so a read_committed reader that fetches after an aborted transaction skips the same "
        "producer's later committed batches (a standby or a recovery lost the changelog "
        "records a new owner committed after a takeover)",
        "a listed transaction that began before the fetch offset is dropped when the "
        "producer's next marker in the response is a commit; a response holding none of "
        "its markers ends before that producer's first batch, so the next fetch decides",
        "weather_app.worker.faust_driver.transport.stale_aborts",
    ),
)


def by_name(name: str) -> Quirk:
    """The workaround called ``name`` (a ``KeyError`` for an unknown one)."""
    found = {quirk.name: quirk for quirk in QUIRKS}
    return found[name]


async def broker_quirks_on(settings: Settings) -> bool:
    """Whether the workarounds are on for ``settings``' broker (``auto`` asks the broker)."""
    if settings.broker_quirks != "auto":
        embedded = settings.broker_quirks == "embedded"
        log.info(
            "the embedded broker's workarounds are %s (WEATHER_BROKER_QUIRKS=%s)",
            "on" if embedded else "off",
            settings.broker_quirks,
        )
        return embedded
    try:
        found = await cluster_id(settings)
    except (KafkaError, OSError, TimeoutError) as error:
        log.warning("broker not identified (%s); the embedded broker's workarounds stay on", error)
        return True
    embedded = found == EMBEDDED_CLUSTER_ID
    log.info(
        "broker cluster id %s: the embedded broker's workarounds are %s",
        found,
        "on" if embedded else "off",
    )
    return embedded


async def cluster_id(settings: Settings) -> str | None:
    """The cluster id the broker reports (one Metadata request, no topics)."""
    timeout = settings.connect_timeout
    client = cluster_probe(settings)
    try:
        await asyncio.wait_for(client.bootstrap(), timeout)
        response = await asyncio.wait_for(
            client.send(client.get_random_node(), MetadataRequest([])), timeout
        )
    finally:
        await client.close()
    return response.cluster_id
