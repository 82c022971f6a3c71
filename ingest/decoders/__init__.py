"""Payload decoders, one per format, all behind one interface.

A decoder turns a payload into ``Decoded`` values: (name, ts_us, value, unit).
``name`` is the SenML resolved name (None for single-reading formats, whose
quantity comes from the topic); ``ts_us`` is None when the payload carries no
time, and the receive time is used; ``unit`` is None when not given, and the
quantity's canonical unit is assumed. Decoders know nothing of the campus.

- ``single``: a JSON object ``{"value": 612, "ts": ..., "unit": "ppm"}`` or a bare number.
- ``senml``: an RFC 8428 SenML JSON pack.
"""

from campuslab.ingest.decoders.senml import decode_senml
from campuslab.ingest.decoders.single import decode_single
from campuslab.ingest.decoders.timestamps import Decoded, parse_timestamp

__all__ = ["Decoded", "decode_senml", "decode_single", "parse_timestamp"]
