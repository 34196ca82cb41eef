#!/usr/bin/env bash
# Starts a throwaway PostgreSQL server for the tests that need one and prints the two lines to
# export: DSMPC_TEST_DATABASE (an administrator's URL; each test makes its own database) and
# DSMPC_TEST_PG_RESTART (a script that restarts the server with `pg_ctl -m immediate`, as a
# crash would). Installs Debian's `postgresql` package if initdb is missing (needs root).
# `initdb` refuses root, so the server runs as the `postgres` user, in a folder under /tmp, on
# a free loopback port, trusting local TCP connections.
#
#   eval "$(scripts/pg-test-server.sh)"     # then: cargo test
#   scripts/pg-test-server.sh stop DIR      # stop one started before
set -euo pipefail

if [ "${1:-}" = "stop" ]; then
    : "${2:?usage: scripts/pg-test-server.sh stop DIR (the DSMPC_TEST_PG_DIR it printed)}"
    su postgres -c "$(cat "$2/bin")/pg_ctl -D '$2/data' -m fast stop" >/dev/null || true
    exit 0
fi

find_bin() {
    for d in /usr/lib/postgresql/*/bin; do
        if [ -x "$d/initdb" ]; then echo "$d"; return 0; fi
    done
    return 1
}
if ! bin=$(find_bin); then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null 2>&1 \
        || { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }
    bin=$(find_bin)
fi
id postgres >/dev/null 2>&1 || useradd --system --home /var/lib/postgresql postgres

dir=$(mktemp -d /tmp/dsmpc-pg.XXXXXX)
chown postgres "$dir"
echo "$bin" > "$dir/bin"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
su postgres -c "$bin/initdb -D '$dir/data' -U postgres --auth=trust -E UTF8" >/dev/null
cat >> "$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
fsync = on
max_connections = 200
CONF
su postgres -c "$bin/pg_ctl -D '$dir/data' -l '$dir/log' -w start" >/dev/null
cat > "$dir/restart" <<SH
#!/usr/bin/env bash
# Restarts the test server as a crash would (immediate shutdown: no checkpoint).
su postgres -c "$bin/pg_ctl -D '$dir/data' -l '$dir/log' -m immediate -w restart" >/dev/null
SH
chmod +x "$dir/restart"
echo "export DSMPC_TEST_DATABASE=postgresql://postgres@127.0.0.1:$port/postgres"
echo "export DSMPC_TEST_PG_RESTART=$dir/restart"
echo "export DSMPC_TEST_PG_DIR=$dir"
