"""The one exception type that reaches a user as a single line instead of a traceback."""


class WeatherError(Exception):
    """A failure the user can act on: the message says what went wrong and with what."""
