"""How a server may tell the gateway that a request's client has gone, without a task.

ASGI says it through ``receive()``: once the body is read, ``http.disconnect`` comes when the
client leaves. Learning it that way needs a task waiting on ``receive()`` for every request,
created and cancelled each time (``dispatch._Watch``: ~15 µs warm, several times that on a cold
vCPU, issue 17). A server that hears of its connection's end itself (the local server's
protocol: ``llm_agg_local.http_limits``) puts under ``DEPARTURE`` in each HTTP request's scope an
object that says it directly:

- ``gone``: True once the client has gone (before its request's answer was whole; a request
  answered in full never makes it True for the next one on the connection);
- ``on_gone``: set by the app while it watches (None when it stops): called once, from the
  event loop, when the client goes; never called for a client gone before it was set, so
  the app reads ``gone`` after setting it.

Any other server (Mangum on Lambda, test transports) leaves the key out, and the app waits on
``receive()`` as ASGI says.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

DEPARTURE = "llm_agg.departure"  # the request scope's key


class Departure(Protocol):
    gone: bool
    on_gone: Callable[[], None] | None
