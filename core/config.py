"""Configuration values shared by every part: MQTT endpoints, durations, topic scheme."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import unquote, urlsplit

DEFAULT_TOPIC_PREFIX = "campus"
DEFAULT_MQTT_PORT = 1883


@dataclass(frozen=True)
class MqttEndpoint:
    host: str
    port: int = DEFAULT_MQTT_PORT
    username: str | None = None
    password: str | None = None
    tls: bool = False

    @property
    def url(self) -> str:
        """The URL without credentials, safe to log."""
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def parse_mqtt_url(url: str) -> MqttEndpoint:
    """Parse ``mqtt://[user:password@]host[:port]`` (or ``mqtts://`` for TLS).

    >>> parse_mqtt_url("mqtt://localhost:1884").port
    1884
    """
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts", "tcp"):
        raise ValueError(
            f"MQTT URL {url!r} must start with mqtt:// or mqtts://, e.g. mqtt://localhost:1883"
        )
    if not parts.hostname:
        raise ValueError(f"MQTT URL {url!r} has no host, e.g. mqtt://localhost:1883")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"MQTT URL {url!r} has an invalid port") from None
    tls = parts.scheme == "mqtts"
    return MqttEndpoint(
        host=parts.hostname,
        port=port or (8883 if tls else DEFAULT_MQTT_PORT),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        tls=tls,
    )


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h|d|w)\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """Parse a duration such as ``15m``, ``1h``, ``7d``, ``30s`` or ``2w``.

    >>> parse_duration("15m")
    datetime.timedelta(seconds=900)
    """
    match = _DURATION.match(text)
    if not match:
        raise ValueError(
            f"{text!r} is not a duration; use a number and a unit "
            "(ms, s, m, h, d, w), e.g. 15m or 7d"
        )
    amount, unit = match.groups()
    seconds = float(amount) * _UNIT_SECONDS[unit]
    if seconds <= 0:
        raise ValueError(f"duration {text!r} must be positive")
    return timedelta(seconds=seconds)


def format_duration(span: timedelta) -> str:
    """The shortest exact form of a duration: ``timedelta(minutes=15)`` -> ``15m``."""
    seconds = span.total_seconds()
    for unit in ("w", "d", "h", "m", "s"):
        size = _UNIT_SECONDS[unit]
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds * 1000)}ms"
