#!/usr/bin/env bash
# `make run` after set-up: Redis, libvirtd (or libvirt's test driver), migrations, the demo,
# this service host's daemon and the web server (mlnweb/server.py) on http://$HOST:$PORT/. Ctrl-C
# stops what this script started: the web server, the daemon, and Redis, virtlogd and libvirtd if
# they were not running before
# (guests outlive libvirtd: qemu keeps them running, and libvirtd finds them again when it starts).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
VAR=${MLN_VAR_DIR:-$PWD/var}
REDIS_PORT=${REDIS_PORT:-6390}
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
export DJANGO_SETTINGS_MODULE=mlnweb.settings MLN_VAR_DIR=$VAR
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:$REDIS_PORT/0}
mkdir -p "$VAR/redis" "$VAR/log"

started_redis=
started_libvirt=()
pids=()
stop() {
    trap - INT TERM EXIT
    echo
    echo "stopping what make run started"
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [ -n "$started_redis" ]; then redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true; fi
    for daemon in "${started_libvirt[@]}"; do pkill -x "$daemon" 2>/dev/null || true; done
}
# Ctrl-C (or a TERM) is how this script is meant to end: stop everything, say nothing more, exit.
trap 'stop; exit 130' INT
trap 'stop; exit 143' TERM
trap stop EXIT

# --- Redis: ours, on a private port, data under var/ ---------------------------------------
if ! redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then
    redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$VAR/redis" \
        --pidfile "$VAR/redis/redis-$REDIS_PORT.pid" --logfile "$VAR/redis/redis-$REDIS_PORT.log" --save "" --appendonly no
    started_redis=1
    for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
fi

# --- libvirtd, or the test driver -----------------------------------------------------------
# MLN_CONF is this checkout's mln.conf (`make tiny` wrote the kernel and initrd into it). Without
# libvirtd the daemon and the site read a copy that says `libvirt_uri test:///default`, and every
# page says so in a banner (projects/banners.py reads it from the daemon's heartbeat).
CONF=${MLN_CONF:-$VAR/mln.conf}
if virsh -c qemu:///system uri >/dev/null 2>&1 || {
        for daemon in virtlogd libvirtd; do
            pgrep -x "$daemon" >/dev/null || { "$daemon" -d 2>/dev/null && started_libvirt=("$daemon" "${started_libvirt[@]}"); }
        done
        for _ in $(seq 100); do virsh -c qemu:///system uri >/dev/null 2>&1 && break; sleep 0.1; done
        virsh -c qemu:///system uri >/dev/null 2>&1; }; then
    export MLN_CONF=$CONF
    echo "libvirt: qemu:///system"
else
    grep -v '^libvirt_uri' "$CONF" > "$VAR/mln-test-driver.conf" 2>/dev/null || true
    echo "libvirt_uri test:///default" >> "$VAR/mln-test-driver.conf"
    export MLN_CONF=$VAR/mln-test-driver.conf
    echo "libvirt: libvirtd could not be started; the daemon uses libvirt's test driver (simulated guests)"
fi

# --- database and demo ------------------------------------------------------------------------
"$VENV/bin/python" manage.py migrate --noinput -v 0
# The demo accounts' passwords are made on the first run and printed once, below: kept in a
# variable, never in a file (SECRET_KEY is var/secret_key, made by `make setup`, mode 0600).
rm -f "$VAR/log/demo.txt"  # earlier versions kept the demo's logins there
demo=$("$VENV/bin/python" manage.py demo --base-url "http://$HOST:$PORT")

# --- the daemon of service host localhost, and the web site ---------------------------------------
"$VENV/bin/mln" daemon > "$VAR/log/daemon.log" 2>&1 &
pids+=($!)
"$VENV/bin/python" -m mlnweb.server --host "$HOST" --port "$PORT" > "$VAR/log/web.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
    curl -fsS -o /dev/null "http://$HOST:$PORT/login/" 2>/dev/null && break
    kill -0 "${pids[1]}" 2>/dev/null || { echo "the web server did not start:"; tail -20 "$VAR/log/web.log"; exit 1; }
    sleep 0.2
done

echo
echo "MLN web: http://$HOST:$PORT/"
echo "$demo"
echo "logs: $VAR/log/daemon.log, $VAR/log/web.log. Ctrl-C stops the site and the daemon."
# Only a process that ended on its own gets here (Ctrl-C runs the INT trap, which exits first).
status=0
wait -n "${pids[@]}" || status=$?
echo "the daemon or the web server stopped by itself (exit status $status): see $VAR/log/daemon.log and $VAR/log/web.log"
exit 1
