"""CampusLab's shared core: configuration, campus registry, reading model and store port.

The core imports none of the parts (ingest, analytics, api, simulators, cli).
"""
