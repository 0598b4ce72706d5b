"""Kafka weather pipeline as a Faust app: ``faust -A weather_app <command>``.

As in Faust's project layout guide, the package exposes ``app`` (which also shadows the
``weather_app.app`` submodule attribute, as Faust's ``-A`` lookup needs); importing the
package registers the agents, tables and commands.
"""

from weather_app import agents, commands, worker_producers  # noqa: F401  (registers them)
from weather_app.app import app, settings

__all__ = ["app", "settings"]
