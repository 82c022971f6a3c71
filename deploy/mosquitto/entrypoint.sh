#!/bin/sh
# Mosquitto's entrypoint in the CampusLab stack: write the hashed password file
# from the passwords in the environment (.env), copy the ACL beside it, both
# owned by the broker's user, then start the broker ("$@").
#
# The paths can be overridden for tests/test_compose.py, which runs this very
# script against the real Mosquitto.
set -eu

auth_dir="${MOSQUITTO_AUTH_DIR:-/mosquitto/auth}"
acl_source="${MOSQUITTO_ACL_SOURCE:-/mosquitto/deploy/acl}"
data_dir="${MOSQUITTO_DATA_DIR:-/mosquitto/data}"
# Mosquitto starts as root and drops to this user before it reads the files.
broker_user="${MOSQUITTO_RUN_AS:-mosquitto}"
broker_group="${MOSQUITTO_RUN_AS_GROUP:-$broker_user}"

for name in MQTT_INGEST_PASSWORD MQTT_SIMULATOR_PASSWORD; do
    eval "value=\${$name:-}"
    if [ -z "$value" ]; then
        echo "mosquitto: $name is not set; copy .env.example to .env and set it" >&2
        exit 64
    fi
done

umask 077
mkdir -p "$auth_dir"
passwd_file="$auth_dir/passwd"
rm -f "$passwd_file.new"
: > "$passwd_file.new"
# Passwords go on mosquitto_passwd's command line (-b): visible only inside this
# container's own process namespace, for the few milliseconds it runs.
mosquitto_passwd -b "$passwd_file.new" campuslab-ingest "$MQTT_INGEST_PASSWORD"
mosquitto_passwd -b "$passwd_file.new" campuslab-simulator "$MQTT_SIMULATOR_PASSWORD"

# The healthcheck logs in with a password nobody needs to know: new at every
# start, readable by root only (healthchecks run as root in this image).
health_password="$(tr -dc 'A-Za-z0-9' < /dev/urandom | head -c 32)"
mosquitto_passwd -b "$passwd_file.new" campuslab-healthcheck "$health_password"
printf '%s\n' "$health_password" > "$auth_dir/healthcheck.password"

mv "$passwd_file.new" "$passwd_file"
cp "$acl_source" "$auth_dir/acl"
# Mosquitto 2.0.16+ warns (and "future versions will refuse") when these files
# are readable by others or owned by another user than the broker's.
chown "$broker_user:$broker_group" "$auth_dir" "$passwd_file" "$auth_dir/acl"
chmod 0700 "$auth_dir"
chmod 0600 "$passwd_file" "$auth_dir/acl" "$auth_dir/healthcheck.password"
if [ -d "$data_dir" ]; then
    chown -R "$broker_user:$broker_group" "$data_dir"
fi

exec "$@"
