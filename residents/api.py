"""The resident services' HTTP API (OpenAPI at /docs), called by the city app on the resident's behalf.

Every request carries the app's token (``Authorization: Bearer …``, see app_tokens.py) and acts as
that resident only: an owner acts on their own dwellings, grants and passes, anyone else's is a 403.
Each request is one transaction — a refusal writes nothing — and every access to people's data is
written to the audit log in the same transaction. Errors are typed and mapped to one status each:
401 token, 403 not yours / no consent, 404 unknown, 409 cap or duplicate, 422 bad input, 429 rate.
"""
from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

from fastapi import Depends, FastAPI, Header, HTTPException, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from core.config import Settings, settings
from core.errors import AccessDenied, GridPulseError, InvalidInput, NotFound
from core.redis_client import connect
from gate_bridge.face_pipeline import MAX_UPLOAD_BYTES, MODEL_VERSION, BadImage, FaceRejected, shared_pipeline
from gate_bridge.uploads import read_limited
from geodata import audit
from geodata.access_rules import compounds_open_to
from geodata.db import transaction
from geodata.masking import mask_name
from geodata.models import Person
from residents import consent, declarations, grants, passes, rate_limit, resident_codes
from residents.app_tokens import AppIdentity, TokenRejected, verify
from residents.dwellings import owned_dwellings
from residents.errors import Conflict, ConsentRequired, RateLimited
from residents.people import resident
from residents.settings import resident_settings

T = TypeVar("T")
INT4 = 2_147_483_647  # ids are PostgreSQL integers: anything larger is a 422, not a database error
Id = Annotated[int, Path(ge=1, le=INT4)]
STATUS: list[tuple[type[GridPulseError], int]] = [
    (TokenRejected, 401), (ConsentRequired, 403), (AccessDenied, 403), (NotFound, 404), (Conflict, 409),
    (RateLimited, 429), (InvalidInput, 422),
]


# --- request and response bodies ------------------------------------------------------------------

class GrantIn(BaseModel):
    id_number: str = Field(min_length=18, max_length=18, description="the grantee's ID number (hashed, never stored)")
    name: str = Field(min_length=1, max_length=64)
    kind: Literal["family", "tenant"]
    valid_from: dt.datetime | None = Field(None, description="default: now")
    valid_to: dt.datetime | None = Field(None, description="default: open-ended (at most three years)")


class PassIn(BaseModel):
    visitor_name: str = Field(min_length=1, max_length=64)
    visitor_id_number: str | None = Field(None, min_length=18, max_length=18)
    valid_from: dt.datetime | None = Field(None, description="default: now; at most seven days ahead")
    hours: float = Field(ge=passes.MIN_HOURS, le=24, description="validity, 15 minutes to 24 hours")
    entries: int = Field(1, ge=1, le=passes.MAX_ENTRIES)


class DeclarationIn(BaseModel):
    dwelling_id: int = Field(ge=1, le=2_147_483_647)
    period_from: dt.date
    period_to: dt.date | None = None
    relation_to_owner: Literal["tenant", "family", "lodger", "employee"]


class ConsentIn(BaseModel):
    agree: Literal[True] = Field(description="explicit consent to a face template for gate access, given separately")
    notice_version: str = Field(min_length=1, max_length=32, description="the consent notice the resident read")


class TemplateIn(BaseModel):
    embedding: list[float] = Field(min_length=consent.DIM, max_length=consent.DIM)
    model_version: str = Field(min_length=1, max_length=64)


class DwellingOut(BaseModel):
    dwelling_id: int
    code: str
    compound_id: int
    compound_name: str
    building: str
    unit: int
    floor: int
    room: str
    area_m2: float
    cap: int
    active_grants: int
    remaining: int


class GrantOut(BaseModel):
    id: int
    dwelling_id: int
    grantee_name: str
    grantee_id_masked: str
    kind: str
    valid_from: dt.datetime
    valid_to: dt.datetime | None
    revoked_at: dt.datetime | None


class PassOut(BaseModel):
    id: uuid.UUID
    dwelling_id: int
    compound_id: int
    visitor_name: str
    valid_from: dt.datetime
    valid_to: dt.datetime
    entries_allowed: int
    entries_used: int
    revoked_at: dt.datetime | None
    payload: str | None = Field(description="the QR text while the pass can open the gate")


class CodeOut(BaseModel):
    compound_id: int
    payload: str
    expires_at: dt.datetime
    refresh_after_s: int


class DeclarationOut(BaseModel):
    id: int
    dwelling_id: int
    period_from: dt.date
    period_to: dt.date | None
    relation_to_owner: str
    status: str
    work_order_id: int | None


class ConsentOut(BaseModel):
    id: int
    purpose: str
    notice_version: str
    granted_at: dt.datetime
    withdrawn_at: dt.datetime | None
    templates_deleted: int | None
    enrolled: bool


class MeOut(BaseModel):
    name: str
    id_masked: str
    residence_kind: str
    compounds: list[int]


# --- the app ----------------------------------------------------------------------------------------

def identity(authorization: Annotated[str | None, Header(description="Bearer <app token>")] = None) -> AppIdentity:
    """The resident the city app's token names; every route depends on it."""
    if not authorization or not authorization.lower().startswith("bearer "):
        raise TokenRejected("send the app token as Authorization: Bearer <token>", record="token")
    return verify(authorization[7:].strip())


Me = Annotated[AppIdentity, Depends(identity)]


def _dump(obj: Any) -> dict:
    return dict(obj.__dict__) if not isinstance(obj, dict) else obj


def create_api(cfg: Settings | None = None, *, face_pipeline: Callable[[], Any] | None = None) -> FastAPI:
    """``face_pipeline``: a callable returning the face pipeline, for photo enrolment (loaded on first use)."""
    cfg = cfg or settings()
    rcfg = resident_settings()
    redis_client = connect(cfg)
    api = FastAPI(title="GridPulse resident services", version="1",
                  description="Owner grants, visitor passes, resident codes, self-declaration and face consent, "
                              "for the city app acting on a resident's behalf")

    @api.exception_handler(DBAPIError)
    def constraint(_request: Request, exc: DBAPIError) -> JSONResponse:
        """The database's own checks are the last line: a value they refuse is bad input (the
        transaction was rolled back, nothing was written), never a 500."""
        if isinstance(exc, OperationalError):
            return JSONResponse({"detail": "the platform database is unreachable; retry shortly", "record": None},
                                status_code=503, headers={"Retry-After": "5"})
        if not isinstance(exc, (IntegrityError, DataError)):
            raise exc
        diag = getattr(exc.orig, "diag", None)
        what = getattr(diag, "constraint_name", None) or getattr(diag, "message_primary", None) or "a database check"
        return JSONResponse({"detail": f"refused by {what}", "record": None}, status_code=422)

    @api.exception_handler(GridPulseError)
    def refused(_request: Request, exc: GridPulseError) -> JSONResponse:
        status = next((code for kind, code in STATUS if isinstance(exc, kind)), 400)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONResponse({"detail": exc.reason, "record": exc.record}, status_code=status, headers=headers)

    def acting(who: AppIdentity, action: str, subject: str, work: Callable[[Session, Person, dt.datetime], T],
               **detail: Any) -> T:
        """One transaction as the token's resident; audited in it, so a refused request writes nothing."""
        now = dt.datetime.now(dt.timezone.utc)
        with transaction() as session:
            person = resident(session, who.person_pid)
            result = work(session, person, now)
            audit.record_resident(session, who.person_pid, action, subject, token=who.token_id, **detail)
            return result

    @api.get("/v1/me", response_model=MeOut)
    def me(who: Me) -> MeOut:
        def work(s: Session, p: Person, _now: dt.datetime) -> MeOut:
            return MeOut(name=mask_name(p.name), id_masked=p.id_masked, residence_kind=p.residence_kind.value,
                         compounds=sorted(compounds_open_to(s, p.id)))
        return acting(who, "resident.me", "person:self", work)

    @api.get("/v1/me/dwellings", response_model=list[DwellingOut])
    def my_dwellings(who: Me) -> list[DwellingOut]:
        rows = acting(who, "resident.dwellings", "person:self", lambda s, p, now: owned_dwellings(s, p, now))
        return [DwellingOut(**_dump(d), remaining=d.remaining) for d in rows]

    @api.get("/v1/me/dwellings/{dwelling_id}/grants", response_model=list[GrantOut])
    def list_grants(dwelling_id: Id, who: Me) -> list[GrantOut]:
        rows = acting(who, "resident.grants.list", f"dwelling:{dwelling_id}",
                      lambda s, p, _now: grants.grants_of(s, p, dwelling_id))
        return [GrantOut(**_dump(g)) for g in rows]

    @api.post("/v1/me/dwellings/{dwelling_id}/grants", response_model=GrantOut, status_code=201)
    def add_grant(dwelling_id: Id, body: GrantIn, who: Me) -> GrantOut:
        grant = acting(who, "resident.grant", f"dwelling:{dwelling_id}", lambda s, p, now: grants.authorise(
            s, p, dwelling_id, id_number=body.id_number, name=body.name, kind=body.kind,
            valid_from=body.valid_from, valid_to=body.valid_to, now=now), kind=body.kind)
        return GrantOut(**_dump(grant))

    @api.delete("/v1/me/grants/{grant_id}", response_model=GrantOut)
    def revoke_grant(grant_id: Id, who: Me) -> GrantOut:
        grant = acting(who, "resident.grant.revoke", f"grant:{grant_id}", lambda s, p, now: grants.revoke(s, p, grant_id, now))
        return GrantOut(**_dump(grant))

    @api.post("/v1/me/dwellings/{dwelling_id}/visitor-passes", response_model=PassOut, status_code=201)
    def add_pass(dwelling_id: Id, body: PassIn, who: Me) -> PassOut:
        def work(s: Session, p: Person, now: dt.datetime) -> passes.PassView:
            rate_limit.check(redis_client, cfg.redis_prefix, "visitor passes", p.id, rcfg.passes_per_hour)
            return passes.issue(s, p, dwelling_id, visitor_name=body.visitor_name,
                                visitor_id_number=body.visitor_id_number, valid_from=body.valid_from,
                                hours=body.hours, entries=body.entries, now=now)
        return PassOut(**_dump(acting(who, "resident.pass", f"dwelling:{dwelling_id}", work)))

    @api.get("/v1/me/visitor-passes", response_model=list[PassOut])
    def list_passes(who: Me) -> list[PassOut]:
        return [PassOut(**_dump(v)) for v in acting(who, "resident.passes.list", "person:self", passes.passes_of)]

    @api.delete("/v1/me/visitor-passes/{pass_id}", response_model=PassOut)
    def revoke_pass(pass_id: uuid.UUID, who: Me) -> PassOut:
        view = acting(who, "resident.pass.revoke", f"visitor_pass:{pass_id}",
                      lambda s, p, now: passes.revoke(s, p, pass_id, now))
        return PassOut(**_dump(view))

    @api.get("/v1/me/visitor-passes/{pass_id}/qr.{fmt}", response_class=Response,
             responses={200: {"content": {"image/svg+xml": {}, "image/png": {}}}})
    def pass_qr(pass_id: uuid.UUID, fmt: Literal["svg", "png"], who: Me) -> Response:
        view = acting(who, "resident.pass.qr", f"visitor_pass:{pass_id}", lambda s, p, now: passes.get(s, p, pass_id, now))
        if view.payload is None:
            raise Conflict("this visitor pass is revoked, used up or expired: it has no code", record=f"visitor pass {pass_id}")
        return _qr_response(view.payload, fmt)

    @api.get("/v1/me/resident-code", response_model=list[CodeOut])
    def resident_code(who: Me, compound_id: Annotated[int | None, Query(ge=1, le=INT4)] = None) -> list[CodeOut]:
        codes = acting(who, "resident.code", "person:self",
                       lambda s, p, now: resident_codes.codes_for(s, p, now, compound_id))
        return [CodeOut(**_dump(c)) for c in codes]

    @api.get("/v1/me/resident-code.{fmt}", response_class=Response,
             responses={200: {"content": {"image/svg+xml": {}, "image/png": {}}}})
    def resident_code_image(compound_id: Annotated[int, Query(ge=1, le=INT4)], fmt: Literal["svg", "png"], who: Me) -> Response:
        codes = acting(who, "resident.code", "person:self",
                       lambda s, p, now: resident_codes.codes_for(s, p, now, compound_id))
        return _qr_response(codes[0].payload, fmt)

    @api.post("/v1/me/declarations", response_model=DeclarationOut, status_code=201)
    def declare(body: DeclarationIn, who: Me) -> DeclarationOut:
        view = acting(who, "resident.declaration", f"dwelling:{body.dwelling_id}", lambda s, p, now: declarations.declare(
            s, p, dwelling_id=body.dwelling_id, period_from=body.period_from, period_to=body.period_to,
            relation_to_owner=body.relation_to_owner, now=now))
        return DeclarationOut(**_dump(view))

    @api.get("/v1/me/declarations", response_model=list[DeclarationOut])
    def my_declarations(who: Me) -> list[DeclarationOut]:
        rows = acting(who, "resident.declarations.list", "person:self", lambda s, p, _now: declarations.declarations_of(s, p))
        return [DeclarationOut(**_dump(d)) for d in rows]

    @api.get("/v1/me/face-consent", response_model=ConsentOut | None)
    def get_consent(who: Me) -> ConsentOut | None:
        view = acting(who, "resident.consent.read", "person:self", lambda s, p, _now: consent.current(s, p))
        return ConsentOut(**_dump(view)) if view else None

    @api.post("/v1/me/face-consent", response_model=ConsentOut, status_code=201)
    def give_consent(body: ConsentIn, who: Me) -> ConsentOut:
        view = acting(who, "resident.consent.give", "person:self",
                      lambda s, p, now: consent.give(s, p, notice_version=body.notice_version, now=now),
                      notice_version=body.notice_version)
        return ConsentOut(**_dump(view))

    @api.delete("/v1/me/face-consent", response_model=ConsentOut)
    def withdraw_consent(who: Me) -> ConsentOut:
        return ConsentOut(**_dump(acting(who, "resident.consent.withdraw", "person:self", consent.withdraw)))

    @api.put("/v1/me/face-template", response_model=ConsentOut)
    def put_template(body: TemplateIn, who: Me) -> ConsentOut:
        if body.model_version != MODEL_VERSION:
            raise InvalidInput(f"templates must come from {MODEL_VERSION}, got {body.model_version}", record="face template")

        def work(s: Session, p: Person, now: dt.datetime) -> consent.ConsentView:
            consent.enrol(s, p, body.embedding, body.model_version, now)
            return consent.current(s, p)
        return ConsentOut(**_dump(acting(who, "resident.face.enrol", "person:self", work, source="template")))

    @api.post("/v1/me/face", response_model=ConsentOut, openapi_extra={"requestBody": {"required": True, "content": {
        "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
        "image/png": {"schema": {"type": "string", "format": "binary"}}}}})
    async def put_photo(request: Request, who: Me) -> ConsentOut:
        """A selfie (JPEG/PNG body) → template through the face pipeline; the photo is never stored."""
        pipeline = (face_pipeline or shared_pipeline)()
        try:
            data = await read_limited(request, MAX_UPLOAD_BYTES)
            template = await run_in_threadpool(pipeline.snapshot_template, data)
        except BadImage as exc:
            raise HTTPException({"too_large": 413, "not_an_image": 415}.get(exc.record or "", 422),
                                detail=f"{exc.record}: {exc.reason}") from None
        except FaceRejected as exc:
            raise HTTPException(422, detail=f"{exc.record}: {exc.reason}: take another photo, face to the camera") from None

        def work(s: Session, p: Person, now: dt.datetime) -> consent.ConsentView:
            consent.enrol(s, p, template.embedding, MODEL_VERSION, now)
            return consent.current(s, p)
        view = await run_in_threadpool(acting, who, "resident.face.enrol", "person:self", work, source="photo")
        return ConsentOut(**_dump(view))

    @api.get("/v1/health")
    def health() -> dict:
        try:
            redis_ok = bool(redis_client.ping())
        except Exception:  # noqa: BLE001 - health reports, never raises
            redis_ok = False
        return {"redis": redis_ok, "issuer": rcfg.issuer, "audience": rcfg.audience}

    return api


def _qr_response(payload: str, fmt: str) -> Response:
    media = "image/svg+xml" if fmt == "svg" else "image/png"
    return Response(passes.qr_image(payload, fmt), media_type=media, headers={"Cache-Control": "no-store"})
