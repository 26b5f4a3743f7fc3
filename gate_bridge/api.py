"""The bridge's HTTP API for gate devices (OpenAPI at /docs). Each gate authenticates with its own key
(header X-Gate-Key, issued by `gridpulse gate-key`); an unknown gate or a wrong key gets 401, bad input
a 4xx that says what to fix (413 too large, 415 not a JPEG/PNG, 422 truncated or malformed), never a
500. A face that is there but not good enough is a 200 deny with its reason: the decision is recorded.
Face decisions are rate-limited per gate (429); card and the guard's manual registration have routes of
their own, so face recognition is never the only way through."""
from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from fastapi import FastAPI, Header, HTTPException, Request, Response
from starlette.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from credentials.face_pipeline import MAX_UPLOAD_BYTES, MODEL_VERSION, BadImage, FacePipeline, FaceRejected
from core.config import bridge_settings
from gate_bridge.gate_limits import PerGateLimit
from gate_bridge.matching import DIM
from gate_bridge.policy import Decision, GatePolicy
from gate_bridge.qr_fast_lane import QrFastLane, QrRequest
from credentials.uploads import image_from_multipart, read_limited


class TemplateRequest(BaseModel):
    embedding: list[float] = Field(min_length=DIM, max_length=DIM, description="512-d face embedding")
    model_version: str = Field(min_length=1, max_length=64)


class ExitRequest(BaseModel):
    """How the person left: a count (no identification), or identified by a QR code shown on the way
    out (``payload``) or a face template (``embedding``). Exit always opens."""

    method: Literal["face", "resident_qr", "visitor_qr", "card", "count"] = "count"
    payload: str | None = Field(None, min_length=1, max_length=400, description="a QR code shown on exit")
    embedding: list[float] | None = Field(None, min_length=DIM, max_length=DIM, description="a face template on exit")


class CardRequest(BaseModel):
    """A card tapped at the reader: the reader resolves the card to its holder's person id."""

    person_id: int = Field(gt=0, lt=2**63, description="the person the card was issued to")


class ManualRequest(BaseModel):
    """The guard registers someone by hand (a courier, a visitor without a phone, a resident whose face
    or code failed): always possible, always recorded. ``person_id`` only when the guard checked a
    resident's papers against the register."""

    direction: Literal["in", "out"] = "in"
    person_id: int | None = Field(None, gt=0, lt=2**63, description="a resident the guard identified, if any")


class DecisionOut(BaseModel):
    """``person_id`` and ``score`` only on an open by this compound's gallery, QR or card: a deny never
    carries a score, and a person found through the population library is never named."""

    result: Literal["open", "deny"]
    method: str
    reason: str | None
    person_id: int | None
    pass_id: str | None
    score: float | None
    event_id: str | None
    stranger_id: str | None


def create_api(policy: GatePolicy, pipeline: FacePipeline | None = None, model_version: str = MODEL_VERSION,
               face_per_minute: int | None = None) -> QrFastLane:
    """The bridge's ASGI app: the FastAPI app below, with the QR fast lane in front of it (outermost,
    so the common scan skips FastAPI's middleware too; ``.app`` is the FastAPI app). ``face_per_minute``:
    face decisions per gate per minute (default GRIDPULSE_GATE_FACE_PER_MINUTE)."""
    api = FastAPI(title="GridPulse gate bridge", version="1", description="Face and QR verification at the compound gates")

    limit = PerGateLimit(face_per_minute or bridge_settings().face_per_minute)

    def authorise(gate_id: int, key: str | None) -> None:
        if not policy.cache.gate_key_ok(gate_id, key):
            raise HTTPException(status_code=401, detail="unknown gate or wrong gate key")

    def throttle(gate_id: int) -> None:
        """Face decisions per gate per minute (GRIDPULSE_GATE_FACE_PER_MINUTE); QR, card and guard are not limited."""
        if not limit.allow(gate_id):
            raise HTTPException(status_code=429, headers={"Retry-After": str(limit.retry_after_s())},
                                detail=f"more than {limit.per_minute} face decisions a minute from this gate: "
                                       "wait, or let the person use QR, card or the guard")

    def out(decision: Decision) -> Response:
        """The decision as DecisionOut's JSON, written directly: FastAPI's validate-then-encode of a
        returned model cost more than a QR decision itself (bench/gate_bench.py)."""
        return Response(decision.to_json(), media_type="application/json")

    @api.post("/v1/gates/{gate_id}/qr", response_model=DecisionOut)
    async def qr(gate_id: int, body: QrRequest, x_gate_key: Annotated[str | None, Header()] = None) -> Response:
        """A scanned code → decision. Awaited on the event loop: the scan joins the batch being decided
        (qr_batcher.py) without a thread of its own. A scan from a gate with its right key and a
        well-formed body is answered by the fast lane in front of this app, with the same decision."""
        authorise(gate_id, x_gate_key)
        return out(await policy.qr_async(gate_id, body.payload))

    @api.post("/v1/gates/{gate_id}/face", response_model=DecisionOut, openapi_extra={"requestBody": {"required": True, "content": {
        "multipart/form-data": {"schema": {"type": "object", "required": ["image"],
                                           "properties": {"image": {"type": "string", "format": "binary"}}}},
        "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
        "image/png": {"schema": {"type": "string", "format": "binary"}}}}})
    async def face(gate_id: int, request: Request, x_gate_key: Annotated[str | None, Header()] = None) -> Response:
        """A JPEG/PNG snapshot (multipart field `image`, or the raw body) → decision. Never stored.
        Rate-limited per gate (429)."""
        authorise(gate_id, x_gate_key)
        throttle(gate_id)
        if pipeline is None:
            raise HTTPException(status_code=503, detail="this bridge runs without the face pipeline; send templates or QR")
        try:
            data = await read_limited(request, MAX_UPLOAD_BYTES)
            content_type = request.headers.get("content-type", "")
            if content_type.lower().startswith("multipart/"):
                data = image_from_multipart(data, content_type)
            template = await run_in_threadpool(pipeline.snapshot_template, data)
        except BadImage as exc:
            status = {"too_large": 413, "not_an_image": 415}.get(exc.record or "", 422)
            raise HTTPException(status_code=status, detail=f"{exc.record}: {exc.reason}") from None
        except FaceRejected as exc:
            return out(policy.face_rejected(gate_id, exc.record or "no_face"))
        return out(await run_in_threadpool(policy.face_template, gate_id, template.embedding))

    @api.post("/v1/gates/{gate_id}/face-template", response_model=DecisionOut)
    def face_template(gate_id: int, body: TemplateRequest, x_gate_key: Annotated[str | None, Header()] = None) -> Response:
        """A 512-d embedding from a smart terminal → decision. Rate-limited per gate (429); a deny carries no score."""
        authorise(gate_id, x_gate_key)
        throttle(gate_id)
        if body.model_version != model_version:
            raise HTTPException(status_code=422, detail=f"embeddings must come from {model_version}, got {body.model_version}")
        vector = np.asarray(body.embedding, dtype=np.float32)
        if not np.isfinite(vector).all() or float(np.linalg.norm(vector)) == 0.0:
            raise HTTPException(status_code=422, detail="the embedding must be finite and non-zero")
        return out(policy.face_template(gate_id, vector))

    @api.post("/v1/gates/{gate_id}/card", response_model=DecisionOut)
    def card(gate_id: int, body: CardRequest, x_gate_key: Annotated[str | None, Header()] = None) -> Response:
        """An access card → decision: opens for people allowed in this compound now; denied with the reason
        otherwise. Face recognition is never the only way in."""
        authorise(gate_id, x_gate_key)
        return out(policy.card(gate_id, body.person_id))

    @api.post("/v1/gates/{gate_id}/manual", response_model=DecisionOut)
    def manual(gate_id: int, body: ManualRequest, x_gate_key: Annotated[str | None, Header()] = None) -> Response:
        """The guard's manual registration → always open, recorded as a `manual` event."""
        authorise(gate_id, x_gate_key)
        return out(policy.manual(gate_id, body.direction, person_id=body.person_id))

    @api.post("/v1/gates/{gate_id}/exit", response_model=DecisionOut)
    def exit_(gate_id: int, body: ExitRequest, x_gate_key: Annotated[str | None, Header()] = None) -> Response:
        authorise(gate_id, x_gate_key)
        if body.payload is not None:
            return out(policy.exit_qr(gate_id, body.payload))
        if body.embedding is not None:
            vector = np.asarray(body.embedding, dtype=np.float32)
            if not np.isfinite(vector).all() or float(np.linalg.norm(vector)) == 0.0:
                raise HTTPException(status_code=422, detail="the embedding must be finite and non-zero")
            return out(policy.exit_face(gate_id, vector))
        return out(policy.exit(gate_id, body.method))

    @api.get("/v1/health")
    def health() -> dict:
        snap = policy.cache.snapshot
        try:
            redis_ok = bool(policy.publisher.client.ping())
        except Exception:  # noqa: BLE001 - health reports, never raises
            redis_ok = False
        return {"compound_id": policy.compound_id, "allowed_people": len(snap.allowed), "gallery_size": len(snap.gallery),
                "passes": len(snap.passes),
                "gallery_age_s": round(policy.cache.age_s(), 1), "redis": redis_ok,
                "outbox_depth": policy.publisher.outbox_depth(),
                "face_models_loaded": pipeline is not None, "model_version": model_version}

    return QrFastLane(api, policy)
