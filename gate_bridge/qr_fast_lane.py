"""The common QR scan, answered in front of the FastAPI app.

Why: a well-formed scan from a gate with its right key is nearly all of a busy bridge's traffic,
and FastAPI's routing, parameter resolution and middleware cost more than the decision itself
(bench/gate_bench.py, over HTTP: 3.6 thousand decisions/s through the route, 4.6 thousand with this
lane as a middleware inside FastAPI, 6.0 thousand with it outermost, on the same machine). This ASGI
app, wrapped around the FastAPI app by ``api.create_api``, recognises exactly that case — POST
/v1/gates/{id}/qr, the gate's key right, the body a valid ``QrRequest`` — and answers it with the
decision the route would give (the same ``GatePolicy.qr_async``, the same JSON). Everything else —
other paths, a wrong key, a bad or oversized body — goes on to the app unchanged (the body already
read is handed on), so the documented route stays the one place that refuses and explains.
"""
from __future__ import annotations

import re

from pydantic import BaseModel, Field, ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gate_bridge.policy import GatePolicy

_QR_PATH = re.compile(r"/v1/gates/([0-9]{1,12})/qr")
_MAX_BODY = 4096  # a payload is at most 400 characters: a longer body is the route's to refuse


class QrRequest(BaseModel):
    payload: str = Field(min_length=1, max_length=400, description="the scanned QR text")


class QrFastLane:
    def __init__(self, app: ASGIApp, policy: GatePolicy) -> None:
        self.app, self.policy = app, policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = _QR_PATH.fullmatch(scope["path"]) if scope["type"] == "http" and scope["method"] == "POST" else None
        if match is None or not self.policy.cache.gate_key_ok(int(match[1]), _header(scope, b"x-gate-key")):
            return await self.app(scope, receive, send)
        body, more = await _read(receive)
        try:
            scan = None if more or len(body) > _MAX_BODY else QrRequest.model_validate_json(body)
        except ValidationError:
            scan = None
        if scan is None:
            return await self.app(scope, _replay(body, more, receive), send)
        decision = (await self.policy.qr_async(int(match[1]), scan.payload)).to_json()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(decision)).encode())]})
        await send({"type": "http.response.body", "body": decision})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


async def _read(receive: Receive) -> tuple[bytes, bool]:
    """The request's body (stopping once past _MAX_BODY), and whether more is still to come."""
    body = b""
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away: let the app see it
            return body, True
        body += message.get("body", b"")
        if not message.get("more_body", False):
            return body, False
        if len(body) > _MAX_BODY:
            return body, True


def _replay(body: bytes, more: bool, receive: Receive) -> Receive:
    """``receive`` for the app: first the body already read, then whatever is left."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": more}
    return replay
