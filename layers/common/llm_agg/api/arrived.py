"""How a server may hand the app a request's body that has already arrived whole, without a
round of ASGI's ``receive()``.

A chat request comes whole with its head nearly always: by the time the app reads it, its
server holds all of it. ``receive()`` still costs a coroutine, a message dict and the server's
checks around them, on a cold vCPU several µs of every request (issue 17). A server whose
``receive`` is a bound method of an object with ``TAKE`` (the local server's request cycle,
``llm_agg_local.http_limits``) offers the body directly:

- ``take_body()``: the request's whole body when all of it has arrived and none of it has been
  received, else None (then the app reads it with ``receive()`` as ASGI says). Once it has
  given the body, the request is as after ``receive()`` gave the body's last message: the next
  ``receive()`` waits for the client's going.

Any other server (Mangum on Lambda, test transports) has no such method, and the app reads
the body with ``receive()``.
"""

from __future__ import annotations

TAKE = "take_body"  # the method's name, on ``receive.__self__``
