#!/bin/sh
# Healthy when the broker accepts a password login and serves a retained $SYS
# topic within 5 s. The password is the one entrypoint.sh made at start.
set -eu
auth_dir="${MOSQUITTO_AUTH_DIR:-/mosquitto/auth}"
mosquitto_sub -h 127.0.0.1 -p "${MOSQUITTO_PORT:-1883}" \
    -u campuslab-healthcheck -P "$(cat "$auth_dir/healthcheck.password")" \
    -t '$SYS/broker/uptime' -C 1 -W 5 > /dev/null
