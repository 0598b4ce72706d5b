"""``faust -A weather_app topics``: create the product's topics, or reset them."""

from __future__ import annotations

from faust.cli import option

from weather_app.commands.runner import command
from weather_app.kafka.reset import reset_everything
from weather_app.kafka.topics import ensure_topics, product_topics
from weather_app.settings import Settings


@command(
    option("--reset", is_flag=True, default=False, help="Delete and recreate the topics"),
    option(
        "--replication-factor",
        type=int,
        default=None,
        help="Replicas per partition [default: WEATHER_REPLICATION_FACTOR, 1]",
    ),
)
async def topics(settings: Settings, reset: bool, replication_factor: int | None) -> None:
    """Create stations (6), stations-json (6) and temperatures (4); --reset recreates them."""
    chosen = settings.override(replication_factor=replication_factor)
    if reset:
        reset_everything(chosen, product_topics(chosen), report=_say)
    else:
        ensure_topics(chosen, product_topics(chosen), report=_say)


def _say(line: str) -> None:
    print(line, flush=True)
