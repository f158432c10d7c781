"""Concurrent reads of single hash fields gathered into one pipelined round trip to Redis.

Each command sent through redis-py's asyncio client costs ~200 µs of the API's CPU on top of Redis's own
work (taking a connection from the pool, packing, awaiting, parsing: docs/performance.md, "The Redis serving
tier measured"); a pipeline pays that once for all its commands. An API replica under load has many GETs
in flight at once, so ``Coalescer`` sends the ``HGET``s asked for while a round trip is under way together
in the next one: at most one round trip in flight, each caller waiting at most for the one before its own.
A failed round trip fails every caller in it with the same error (the API answers 503); a caller that gave
up (a cancelled request) is skipped.
"""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

MAX_BATCH = 256  # commands per round trip: bounds one pipeline's reply held in memory at once


class Coalescer:
    def __init__(self, client: Redis, max_batch: int = MAX_BATCH) -> None:
        self._client = client
        self._max_batch = max_batch
        self._waiting: list[tuple[str, str, asyncio.Future[bytes | None]]] = []
        self._sender: asyncio.Task[None] | None = None

    async def hget(self, key: str, field: str) -> bytes | None:
        """``HGET key field``, sent with whatever other reads are waiting."""
        future: asyncio.Future[bytes | None] = asyncio.get_running_loop().create_future()
        self._waiting.append((key, field, future))
        if self._sender is None:
            self._sender = asyncio.create_task(self._send())
        return await future

    async def _send(self) -> None:
        try:
            while self._waiting:
                batch = self._waiting[: self._max_batch]
                del self._waiting[: self._max_batch]
                try:
                    async with self._client.pipeline(transaction=False) as pipe:
                        for key, field, _ in batch:
                            pipe.hget(key, field)
                        replies = await pipe.execute()
                except asyncio.CancelledError:
                    self._waiting[:0] = batch  # cancelled with the others, below
                    raise
                except Exception as error:  # every caller in the round trip learns why
                    for _, _, future in batch:
                        if not future.done():
                            future.set_exception(error)
                    continue
                for (_, _, future), reply in zip(batch, replies, strict=True):
                    if not future.done():
                        future.set_result(reply)
        finally:
            self._sender = None
            for _, _, future in self._waiting:  # only when cancelled: nobody is left to send them
                if not future.done():
                    future.cancel()
            self._waiting.clear()
