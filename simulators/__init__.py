"""A plausible simulated campus: occupancy, indoor climate and energy from the registry.

Start with ``campus.CampusSimulator``; ``payloads`` turns readings into MQTT
messages and ``publisher`` sends them. See README.md in this folder.
"""
