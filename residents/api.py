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
from credentials.face_pipeline import MAX_UPLOAD_BYTES, MODEL_VERSION, BadImage, FaceRejected, shared_pipeline
from credentials.uploads import read_limited
from blockdata import audit
from blockdata.access_rules import compounds_open_to
from blockdata.db import transaction
from blockdata.masking import mask_name
from blockdata.models import Person
from residents import consent, declarations, grants, passes, rate_limit, resident_codes
from residents.app_tokens import AppIdentity, TokenRejected, verify
from residents.dwellings import OwnedDwelling, owned_dwellings
from residents.errors import Conflict, ConsentRequired, RateLimited
from residents.people import resident
from residents.refusal_audit import audit_refusal
from core.config import resident_settings, trust_settings

T = TypeVar("T")
INT4 = 2_147_483_647  # ids are PostgreSQL integers: anything larger is a 422, not a database error
Id = Annotated[int, Path(ge=1, le=INT4)]
STATUS: list[tuple[type[GridPulseError], int]] = [
    (TokenRejected, 401), (ConsentRequired, 403), (AccessDenied, 403), (NotFound, 404), (Conflict, 409),
    (RateLimited, 429), (InvalidInput, 422),
]


# --- request bodies (responses are the domain's own frozen dataclasses) ------------------------------------------------------------------

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


class MeOut(BaseModel):
    name: str
    id_masked: str
    residence_kind: str
    compounds: list[int]


# --- the app ----------------------------------------------------------------------------------------

def identity(request: Request,
             authorization: Annotated[str | None, Header(description="Bearer <app token>")] = None) -> AppIdentity:
    """The resident the city app's token names; every route depends on it (kept on the request for the
    audit of a refusal: residents/refusal_audit.py)."""
    if not authorization or not authorization.lower().startswith("bearer "):
        raise TokenRejected("send the app token as Authorization: Bearer <token>", record="token")
    who = verify(authorization[7:].strip())
    request.state.resident_pid = who.person_pid
    return who


Me = Annotated[AppIdentity, Depends(identity)]


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
    def refused(request: Request, exc: GridPulseError) -> JSONResponse:
        status = next((code for kind, code in STATUS if isinstance(exc, kind)), 400)
        audit_refusal(request, status, exc)
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

    @api.get("/v1/me/dwellings", response_model=list[OwnedDwelling])
    def my_dwellings(who: Me) -> list[OwnedDwelling]:
        return acting(who, "resident.dwellings", "person:self", owned_dwellings)

    @api.get("/v1/me/dwellings/{dwelling_id}/grants", response_model=list[grants.GrantView])
    def list_grants(dwelling_id: Id, who: Me) -> list[grants.GrantView]:
        return acting(who, "resident.grants.list", f"dwelling:{dwelling_id}",
                      lambda s, p, _now: grants.grants_of(s, p, dwelling_id))

    @api.post("/v1/me/dwellings/{dwelling_id}/grants", response_model=grants.GrantView, status_code=201)
    def add_grant(dwelling_id: Id, body: GrantIn, who: Me) -> grants.GrantView:
        def work(s: Session, p: Person, now: dt.datetime) -> grants.GrantView:
            # counted before anything is looked up: trying ID numbers one after another is limited like passes
            rate_limit.check(redis_client, cfg.redis_prefix, "grants", p.id, trust_settings().grants_per_hour)
            return grants.authorise(s, p, dwelling_id, id_number=body.id_number, name=body.name, kind=body.kind,
                                    valid_from=body.valid_from, valid_to=body.valid_to, now=now)
        return acting(who, "resident.grant", f"dwelling:{dwelling_id}", work, kind=body.kind)

    @api.delete("/v1/me/grants/{grant_id}", response_model=grants.GrantView)
    def revoke_grant(grant_id: Id, who: Me) -> grants.GrantView:
        return acting(who, "resident.grant.revoke", f"grant:{grant_id}", lambda s, p, now: grants.revoke(s, p, grant_id, now))

    @api.post("/v1/me/dwellings/{dwelling_id}/visitor-passes", response_model=passes.PassView, status_code=201)
    def add_pass(dwelling_id: Id, body: PassIn, who: Me) -> passes.PassView:
        def work(s: Session, p: Person, now: dt.datetime) -> passes.PassView:
            rate_limit.check(redis_client, cfg.redis_prefix, "visitor passes", p.id, rcfg.passes_per_hour)
            return passes.issue(s, p, dwelling_id, visitor_name=body.visitor_name,
                                visitor_id_number=body.visitor_id_number, valid_from=body.valid_from,
                                hours=body.hours, entries=body.entries, now=now)
        return acting(who, "resident.pass", f"dwelling:{dwelling_id}", work)

    @api.get("/v1/me/visitor-passes", response_model=list[passes.PassView])
    def list_passes(who: Me) -> list[passes.PassView]:
        return acting(who, "resident.passes.list", "person:self", passes.passes_of)

    @api.delete("/v1/me/visitor-passes/{pass_id}", response_model=passes.PassView)
    def revoke_pass(pass_id: uuid.UUID, who: Me) -> passes.PassView:
        return acting(who, "resident.pass.revoke", f"visitor_pass:{pass_id}",
                      lambda s, p, now: passes.revoke(s, p, pass_id, now))

    @api.get("/v1/me/visitor-passes/{pass_id}/qr.{fmt}", response_class=Response,
             responses={200: {"content": {"image/svg+xml": {}, "image/png": {}}}})
    def pass_qr(pass_id: uuid.UUID, fmt: Literal["svg", "png"], who: Me) -> Response:
        view = acting(who, "resident.pass.qr", f"visitor_pass:{pass_id}", lambda s, p, now: passes.get(s, p, pass_id, now))
        if view.payload is None:
            raise Conflict("this visitor pass is revoked, used up or expired: it has no code", record=f"visitor pass {pass_id}")
        return _qr_response(view.payload, fmt)

    @api.get("/v1/me/resident-code", response_model=list[resident_codes.ResidentCode])
    def resident_code(who: Me, compound_id: Annotated[int | None, Query(ge=1, le=INT4)] = None) -> list[resident_codes.ResidentCode]:
        return acting(who, "resident.code", "person:self",
                      lambda s, p, now: resident_codes.codes_for(s, p, now, compound_id))

    @api.get("/v1/me/resident-code.{fmt}", response_class=Response,
             responses={200: {"content": {"image/svg+xml": {}, "image/png": {}}}})
    def resident_code_image(compound_id: Annotated[int, Query(ge=1, le=INT4)], fmt: Literal["svg", "png"], who: Me) -> Response:
        codes = acting(who, "resident.code", "person:self",
                       lambda s, p, now: resident_codes.codes_for(s, p, now, compound_id))
        return _qr_response(codes[0].payload, fmt)

    @api.post("/v1/me/declarations", response_model=declarations.DeclarationView, status_code=201)
    def declare(body: DeclarationIn, who: Me) -> declarations.DeclarationView:
        def work(s: Session, p: Person, now: dt.datetime) -> declarations.DeclarationView:
            rate_limit.check(redis_client, cfg.redis_prefix, "declarations", p.id, trust_settings().declarations_per_hour)
            return declarations.declare(s, p, dwelling_id=body.dwelling_id, period_from=body.period_from,
                                        period_to=body.period_to, relation_to_owner=body.relation_to_owner, now=now)
        return acting(who, "resident.declaration", f"dwelling:{body.dwelling_id}", work)

    @api.get("/v1/me/declarations", response_model=list[declarations.DeclarationView])
    def my_declarations(who: Me) -> list[declarations.DeclarationView]:
        return acting(who, "resident.declarations.list", "person:self", lambda s, p, _now: declarations.declarations_of(s, p))

    @api.get("/v1/me/face-consent", response_model=consent.ConsentView | None)
    def get_consent(who: Me) -> consent.ConsentView | None:
        return acting(who, "resident.consent.read", "person:self", lambda s, p, _now: consent.current(s, p))

    @api.post("/v1/me/face-consent", response_model=consent.ConsentView, status_code=201)
    def give_consent(body: ConsentIn, who: Me) -> consent.ConsentView:
        return acting(who, "resident.consent.give", "person:self",
                      lambda s, p, now: consent.give(s, p, notice_version=body.notice_version, now=now),
                      notice_version=body.notice_version)

    @api.delete("/v1/me/face-consent", response_model=consent.ConsentView)
    def withdraw_consent(who: Me) -> consent.ConsentView:
        return acting(who, "resident.consent.withdraw", "person:self", consent.withdraw)

    @api.put("/v1/me/face-template", response_model=consent.ConsentView)
    def put_template(body: TemplateIn, who: Me) -> consent.ConsentView:
        if body.model_version != MODEL_VERSION:
            raise InvalidInput(f"templates must come from {MODEL_VERSION}, got {body.model_version}", record="face template")

        def work(s: Session, p: Person, now: dt.datetime) -> consent.ConsentView:
            consent.enrol(s, p, body.embedding, body.model_version, now)
            return consent.current(s, p)
        return acting(who, "resident.face.enrol", "person:self", work, source="template")

    @api.post("/v1/me/face", response_model=consent.ConsentView, openapi_extra={"requestBody": {"required": True, "content": {
        "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
        "image/png": {"schema": {"type": "string", "format": "binary"}}}}})
    async def put_photo(request: Request, who: Me) -> consent.ConsentView:
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
        return await run_in_threadpool(acting, who, "resident.face.enrol", "person:self", work, source="photo")

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
