"""settings.RQ_QUEUES for django-rq's dashboard: the configured queues and every daemon's queue.

The daemons' queues are named at run time (`mln.<service host>`, daemon/conf.py), so no
settings file can list them. django-rq reads RQ_QUEUES each time it draws a page or opens a
queue: this mapping answers with the queues configured here, and with every `mln.` queue RQ
knows in Redis or whose daemon has sent a heartbeat, each read with the JSONSerializer the
daemons use (never pickle). A name it does not know is a KeyError, as with a plain dict.
"""

from collections.abc import Mapping

PREFIX = "mln."
MAX_QUEUES = 1000  # a bound on what one page lists, whatever Redis holds


class DaemonQueues(Mapping):
    def __init__(self, configured: dict):
        self.configured = dict(configured)
        self.daemon_config = {**configured["default"], "SERIALIZER": "rq.serializers.JSONSerializer"}

    def daemon_queue_names(self):
        import django_rq
        from redis.exceptions import RedisError

        from daemon.cluster import heartbeat

        try:
            redis = django_rq.get_connection("default")
            registered = [q.decode() for q in redis.smembers("rq:queues")]
            named = [name.removeprefix("rq:queue:") for name in registered]
            heard = [f"{PREFIX}{host.decode()}" for host in redis.hkeys(heartbeat.LAST)]
        except (RedisError, OSError):
            return []  # Redis is down: the dashboard says so itself
        names = sorted({n for n in [*named, *heard] if n.startswith(PREFIX)})
        return names[:MAX_QUEUES]

    def current(self):
        return {**self.configured, **dict.fromkeys(self.daemon_queue_names(), self.daemon_config)}

    def __getitem__(self, name):
        if name in self.configured:
            return self.configured[name]
        if isinstance(name, str) and name.startswith(PREFIX):
            return self.daemon_config
        raise KeyError(name)

    def __iter__(self):
        return iter(self.current())

    def __len__(self):
        return len(self.current())

    def items(self):
        return self.current().items()
