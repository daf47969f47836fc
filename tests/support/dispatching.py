"""A dispatch with no attempts: ``Dispatcher.send``'s streamed path around any work."""

from __future__ import annotations

from collections.abc import Awaitable
from types import SimpleNamespace
from typing import Any

from llm_agg.dispatch import Dispatcher
from tests.support.routing import chat


class Guarding(Dispatcher):
    """``Dispatcher.send``'s streamed path around ``work`` in place of the attempts: the
    client's going cancels it as a 499, its watch goes on to the relay (the scope's
    ``dispatch._WATCH``) or is stopped when it fails."""

    def __init__(self, work: Awaitable[Any]) -> None:
        settings = SimpleNamespace(deadline=60.0)
        super().__init__(SimpleNamespace(accounting=None, adapters={}, settings=settings))  # type: ignore[arg-type]
        self.work = work

    async def _try_each(self, req: Any, targets: Any, once: Any) -> Any:
        return await self.work


def streamed(work: Awaitable[Any], scope: dict[str, Any], receive: Any) -> Awaitable[Any]:
    """``work`` as a streamed request's dispatch, for a client of ``scope`` and ``receive``."""
    request = SimpleNamespace(scope=scope, _receive=receive)
    return Guarding(work).send(chat(stream=True), [], request=request)  # type: ignore[arg-type]
