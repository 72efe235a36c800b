"""Daemons say they are alive, and what they offer, through Redis.

Every `heartbeat_interval` seconds a daemon writes its facts (libvirt URI,
hypervisor, KVM, CPUs, memory, running domains, and what the scheduler and
migrations need) twice: under `mln:heartbeat:<service_host>` with a TTL of
`heartbeat_ttl`, whose presence *is* being alive, and into the hash
`mln:daemons`, which keeps the last word of every daemon, so a dead one still
shows how long it has been silent. Times are Redis's clock, not the
machines': the age of a heartbeat is then right whatever their clocks say.
"""

import json
import os
from dataclasses import dataclass, field

ALIVE = "mln:heartbeat:{}"
LAST = "mln:daemons"


@dataclass
class DaemonStatus:
    service_host: str
    alive: bool
    age: float | None = None  # seconds since the last heartbeat; None: never heard of
    facts: dict = field(default_factory=dict)


def redis_now(connection):
    seconds, micros = connection.time()
    return seconds + micros / 1e6


def facts(conf, hypervisor):
    """This daemon's heartbeat payload, short of the time."""
    return {
        **hypervisor.host_facts(conf.kvm),
        "service_host": conf.service_host,
        "queue": conf.queue_name,
        # On libvirt's test driver the guests live in the daemon's process: its jobs run there, one at a time.
        "jobs_in_parallel": 1 if conf.libvirt_uri.startswith("test:") else conf.jobs_in_parallel,
        "listen_address": conf.listen_address,
        "guest_memory": conf.guest_memory,
        "projects": str(conf.projects),
        "san_path": str(conf.san_path or ""),
        "lvm_vg": conf.lvm_vg or "",
        "transfer": str(conf.transfer),
        "migration_uri": conf.migration_uri or "",
        "pid": os.getpid(),
        "interval": conf.heartbeat_interval,
        "ttl": conf.heartbeat_ttl,
    }


def publish(connection, conf, payload):
    payload = {**payload, "at": redis_now(connection)}
    text = json.dumps(payload)
    with connection.pipeline() as pipe:
        pipe.set(ALIVE.format(conf.service_host), text, px=max(1, int(conf.heartbeat_ttl * 1000)))
        pipe.hset(LAST, conf.service_host, text)
        pipe.execute()


def withdraw(connection, service_host):
    """A daemon that stops cleanly is not alive from that moment, not a TTL later."""
    connection.delete(ALIVE.format(service_host))


def statuses(connection, query=()):
    """One DaemonStatus per service host of `query` and per daemon ever heard of, in that order."""
    now = redis_now(connection)
    last = {k.decode(): json.loads(v) for k, v in connection.hgetall(LAST).items()}
    names = list(dict.fromkeys([*query, *sorted(last)]))
    alive = connection.mget([ALIVE.format(name) for name in names]) if names else []
    rows = []
    for name, marker in zip(names, alive, strict=True):
        facts = json.loads(marker) if marker else last.get(name, {})
        age = now - facts["at"] if "at" in facts else None
        rows.append(DaemonStatus(name, marker is not None, age, facts))
    return rows


def live(connection):
    """service host -> facts, of every daemon alive now."""
    return {s.service_host: s.facts for s in statuses(connection) if s.alive}


def is_alive(connection, service_host):
    return connection.exists(ALIVE.format(service_host)) == 1
