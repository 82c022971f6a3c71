"""CampusLab: a campus living-lab platform.

The source tree keeps the design card's top-level folders; installed, they
all import under this namespace:

- ``campuslab.core``       <- core/         configuration, registry, readings, store port
- ``campuslab.ingest``     <- ingest/       MQTT ingestor and payload decoders
- ``campuslab.analytics``  <- analytics/    metrics as pure numpy functions
- ``campuslab.simulators`` <- simulators/   a plausible simulated campus
- ``campuslab.api``        <- api/          FastAPI application
- ``campuslab.cli``        <- cli/          the ``campuslab`` command; wires it all together
"""

__version__ = "0.1.0"
