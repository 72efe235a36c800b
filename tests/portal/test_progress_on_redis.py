"""The progress stream on the real channels-redis layer, as the site runs it."""

import asyncio

import pytest
from channels.db import database_sync_to_async
from django.conf import settings as django_settings

from daemon.cluster.builds import broadcast

from .conftest import asession, asynchronous, communicator

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def redis_layer(settings, in_memory_layer):
    # Undo the in-memory layer of conftest: these tests are about Redis.
    settings.CHANNEL_LAYERS = REDIS_LAYERS


REDIS_LAYERS = django_settings.CHANNEL_LAYERS


@pytest.mark.slow  # waits out the 5 s read timeout
@asynchronous
async def test_an_idle_stream_outlives_the_redis_read_timeout_and_still_gets_events(world, redis_layer):
    # redis-py 8 gives sockets a 5 s read timeout by default; channels-redis blocks 5 s on each
    # read of its channel, so an idle page used to be cut off after about 5 s.
    build = await database_sync_to_async(world.build)(world.project1)
    ws = communicator(f"/ws/progress/project/{world.project1.pk}/", await asession(world.ada))
    assert (await ws.connect())[0]
    assert (await ws.receive_json_from())["type"] == "builds"
    assert await ws.receive_json_from() == {"type": "replayed"}
    await asyncio.sleep(6.5)
    event = await database_sync_to_async(build.log_event)("storage", "made")
    await database_sync_to_async(broadcast)(world.project1, event)
    message = await ws.receive_json_from(timeout=3)
    assert [(e["build"], e["seq"]) for e in message["events"]] == [(build.pk, 1)]
    await ws.disconnect()
