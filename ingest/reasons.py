"""Why a message was rejected: the ``reason`` label of ``campuslab_ingest_rejected_total``.

Every rejected message or SenML record goes to the dead-letter record with one
of these reasons and a sentence saying exactly what was wrong.
"""

from enum import StrEnum


class Reason(StrEnum):
    TOO_LARGE = "too_large"  # payload over the size limit
    BAD_TOPIC = "bad_topic"  # topic outside campus/<building>/<sensor>/<quantity|senml>
    UNKNOWN_BUILDING = "unknown_building"
    UNKNOWN_SENSOR = "unknown_sensor"  # no such space or meter in that building
    UNKNOWN_QUANTITY = "unknown_quantity"  # not a quantity, or not one this sensor reports
    UNPARSEABLE = "unparseable"  # payload (or SenML record) that does not parse
    BAD_TIMESTAMP = "bad_timestamp"  # a ts that is not a time, or before 2000
    FUTURE_TIMESTAMP = "future_timestamp"  # too far ahead of the receive time
    BAD_UNIT = "bad_unit"  # a unit that cannot be converted
    NOT_FINITE = "not_finite"  # NaN or infinity
    OUT_OF_RANGE = "out_of_range"  # outside the physical range of the quantity
    UNKNOWN_DEVICE = "unknown_device"  # a network device the registry's devices: lacks
    UNDECODED = "undecoded"  # a network uplink its codec did not decode (no fields)
    SIMULATED_UPLINK = "simulated_uplink"  # a console-simulated uplink, not a measurement
    UNKNOWN_ALIAS = "unknown_alias"  # a Sparkplug metric alias no BIRTH declared (rebirth)
    FRACTIONAL_COUNT = "fractional_count"  # a head count that is not a whole number


class Rejected(ValueError):
    """A message or record that cannot become a valid reading."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
