"""The block-data model (块数据): every person keyed to a household, dwelling, building, grid and map.

People into households, households into dwellings, dwellings into buildings and grids, grids onto
the map (人进户、户进房、房进网、网格进图). Geometry is EPSG:4326; areas and distances are computed in a
metric CRS by the code that needs them. Constraints live in the database, not only in Python, so
that a bulk COPY or a hand-written SQL fix cannot store what the application would have refused.
"""
from __future__ import annotations

import datetime as dt
import enum
import uuid

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, REAL, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from core.viewer import Role
from core.vocab import (
    AccessMethod,
    AddressKind,
    Direction,
    DwellingUse,
    KeySiteCategory,
    PersonTagKind,
    RegionLevel,
    ResidenceKind,
    Severity,
    Sex,
    UtilityKind,
)

SRID = 4326

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# The current transaction's id as a bigint (xid8 has no wraparound; bigint keeps the models plain types).
INGEST_XID = "(pg_current_xact_id())::text::bigint"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    return Enum(cls, name=name, values_callable=lambda e: [m.value for m in e])


def _valid(column: str) -> CheckConstraint:
    return CheckConstraint(f"ST_IsValid({column}) AND NOT ST_IsEmpty({column})", name=f"{column}_valid")


def _now() -> Mapped[dt.datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


# --- enumerations (the labelled vocabulary is core/vocab.py; these have no user-facing label) ------


class GateKind(str, enum.Enum):
    pedestrian = "pedestrian"
    vehicle = "vehicle"
    counter = "counter"  # a people counter at a key site, not a turnstile


class RelationKind(str, enum.Enum):
    owns = "owns"
    lives_in = "lives_in"
    rents = "rents"
    sublets = "sublets"
    employed_by = "employed_by"
    registered_at = "registered_at"
    operates_at = "operates_at"
    family_of = "family_of"


class GrantKind(str, enum.Enum):
    family = "family"
    tenant = "tenant"


class FaceLibrary(str, enum.Enum):
    app = "app"                # the city app's real-name users (consent)
    population = "population"  # the population base (statutory duty)
    stranger = "stranger"      # an unknown face, pseudonymous, short retention


class AccessResult(str, enum.Enum):
    open = "open"
    deny = "deny"


class AlertStatus(str, enum.Enum):
    open = "open"
    dispatched = "dispatched"
    closed = "closed"
    dismissed = "dismissed"


class WorkOrderStatus(str, enum.Enum):
    assigned = "assigned"
    in_progress = "in_progress"
    done = "done"
    cancelled = "cancelled"


# --- places -----------------------------------------------------------------------------------


class Region(Base):
    """City → district → street → community, GB/T 2260 codes extended to 12 digits."""

    __tablename__ = "region"
    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("region.code", ondelete="RESTRICT"), index=True)
    level: Mapped[RegionLevel] = mapped_column(_enum(RegionLevel, "region_level"))
    name: Mapped[str] = mapped_column(String(64))
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=SRID), nullable=True)
    # A point for regions that official lists give only as (code, name, location): no polygon is invented.
    location = mapped_column(Geometry("POINT", srid=SRID), nullable=True)
    __table_args__ = (
        CheckConstraint(r"code ~ '^\d{12}$'", name="code_format"),
        CheckConstraint("geom IS NULL OR (ST_IsValid(geom) AND NOT ST_IsEmpty(geom))", name="geom_valid"),
        CheckConstraint("location IS NULL OR (ST_IsValid(location) AND NOT ST_IsEmpty(location))", name="location_valid"),
        CheckConstraint("(level = 'city') = (parent_code IS NULL)", name="parent_by_level"),
    )


class Account(Base):
    """A user of the platform with one role and a jurisdiction (region or grid codes)."""

    __tablename__ = "account"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(64))
    role: Mapped[Role] = mapped_column(_enum(Role, "account_role"))
    jurisdiction: Mapped[list[str]] = mapped_column(ARRAY(String(15)), server_default="{}")
    password_hash: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, server_default="true")
    created_at: Mapped[dt.datetime] = _now()
    __table_args__ = (
        CheckConstraint(
            r"array_to_string(jurisdiction, ',') ~ '^((\d{12}|\d{15})(,(\d{12}|\d{15}))*)?$'",
            name="jurisdiction_codes",
        ),
        CheckConstraint("role = 'admin' OR cardinality(jurisdiction) > 0", name="jurisdiction_required"),
    )


class Grid(Base):
    """网格: the smallest management unit; its code is the community code plus a 3-digit sequence."""

    __tablename__ = "grid"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(15), unique=True)
    community_code: Mapped[str] = mapped_column(ForeignKey("region.code", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    supervisor_account_id: Mapped[int | None] = mapped_column(ForeignKey("account.id", ondelete="SET NULL"))
    worker_account_id: Mapped[int | None] = mapped_column(ForeignKey("account.id", ondelete="SET NULL"))
    geom = mapped_column(Geometry("POLYGON", srid=SRID), nullable=False)
    __table_args__ = (
        CheckConstraint(r"code ~ '^\d{15}$' AND left(code, 12) = community_code", name="code_format"),
        _valid("geom"),
    )


class Address(Base):
    """统一地址库: one code per address; non-standard addresses link to their standard one."""

    __tablename__ = "address"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    kind: Mapped[AddressKind] = mapped_column(_enum(AddressKind, "address_kind"))
    full_text: Mapped[str] = mapped_column(Text)
    district: Mapped[str | None] = mapped_column(String(32))
    street: Mapped[str | None] = mapped_column(String(32))
    road: Mapped[str | None] = mapped_column(String(64))
    number: Mapped[str | None] = mapped_column(String(32))
    compound: Mapped[str | None] = mapped_column(String(64))
    building: Mapped[str | None] = mapped_column(String(32))
    unit: Mapped[str | None] = mapped_column(String(16))
    floor: Mapped[str | None] = mapped_column(String(16))
    room: Mapped[str | None] = mapped_column(String(16))
    standard_id: Mapped[int | None] = mapped_column(ForeignKey("address.id", ondelete="SET NULL"), index=True)
    region_code: Mapped[str | None] = mapped_column(ForeignKey("region.code"), index=True)
    geom = mapped_column(Geometry("POINT", srid=SRID), nullable=True)
    __table_args__ = (
        CheckConstraint("standard_id IS NULL OR kind = 'non_standard'", name="only_non_standard_links"),
        CheckConstraint("kind <> 'point' OR geom IS NOT NULL", name="point_has_geom"),
        # 一搜: a typed address is narrowed by its room and building first (intake/search.py)
        Index("ix_address_room_building", "room", "building"),
    )


class ReviewStatus(str, enum.Enum):
    pending = "pending"
    accepted = "accepted"
    rejected = "rejected"


class AddressReview(Base):
    """地址复核: a non-standard address whose best standard match scored below the threshold, waiting for
    a person. Accepting links the address to ``chosen_id`` (the candidate, or another standard address
    the person picked); rejecting leaves it unlinked. Who decided and when are kept on the row."""

    __tablename__ = "address_review"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    address_id: Mapped[int] = mapped_column(ForeignKey("address.id", ondelete="CASCADE"), index=True)
    raw_text: Mapped[str] = mapped_column(Text)
    candidate_id: Mapped[int | None] = mapped_column(ForeignKey("address.id", ondelete="SET NULL"))
    score: Mapped[float] = mapped_column(Float)
    import_run: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), index=True)
    source: Mapped[str | None] = mapped_column(String(256))
    status: Mapped[ReviewStatus] = mapped_column(
        _enum(ReviewStatus, "review_status"), server_default=ReviewStatus.pending.value
    )
    chosen_id: Mapped[int | None] = mapped_column(ForeignKey("address.id"))
    # The deciding account's name, not a foreign key: the record of a decision outlives the account.
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = _now()
    __table_args__ = (
        CheckConstraint("score >= 0 AND score <= 1", name="score_range"),
        CheckConstraint(
            "(status = 'pending') = (decided_by IS NULL AND decided_at IS NULL)", name="decided_iff_not_pending"
        ),
        CheckConstraint("status <> 'accepted' OR chosen_id IS NOT NULL", name="accepted_has_choice"),
        Index("uq_address_review_pending", "address_id", unique=True, postgresql_where="status = 'pending'"),
        Index("ix_address_review_status", "status", "created_at"),
    )


class Compound(Base):
    """小区: a gated residential estate."""

    __tablename__ = "compound"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    community_code: Mapped[str] = mapped_column(ForeignKey("region.code"), index=True)
    address_id: Mapped[int | None] = mapped_column(ForeignKey("address.id"))
    geom = mapped_column(Geometry("POLYGON", srid=SRID), nullable=False)
    __table_args__ = (_valid("geom"),)


class KeySite(Base):
    """重点场所: a school, hospital, station or market whose people flow police query."""

    __tablename__ = "key_site"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    category: Mapped[KeySiteCategory] = mapped_column(_enum(KeySiteCategory, "key_site_category"))
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grid.id"), index=True)
    capacity: Mapped[int | None] = mapped_column(Integer)
    geom = mapped_column(Geometry("POLYGON", srid=SRID), nullable=False)
    __table_args__ = (_valid("geom"), CheckConstraint("capacity IS NULL OR capacity > 0", name="capacity_positive"))


class Gate(Base):
    """A turnstile or counter on the boundary of exactly one compound or key site."""

    __tablename__ = "gate"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(24), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[GateKind] = mapped_column(_enum(GateKind, "gate_kind"))
    compound_id: Mapped[int | None] = mapped_column(ForeignKey("compound.id", ondelete="CASCADE"), index=True)
    key_site_id: Mapped[int | None] = mapped_column(ForeignKey("key_site.id", ondelete="CASCADE"), index=True)
    key_hash: Mapped[bytes | None] = mapped_column(LargeBinary)  # the gate device's key, hashed
    geom = mapped_column(Geometry("POINT", srid=SRID), nullable=False)
    __table_args__ = (
        CheckConstraint("(compound_id IS NULL) <> (key_site_id IS NULL)", name="one_owner"),
        _valid("geom"),
    )


class Building(Base):
    """楼栋: a footprint with floors, in exactly one grid (and in a compound when gated)."""

    __tablename__ = "building"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(24), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    grid_id: Mapped[int] = mapped_column(ForeignKey("grid.id", ondelete="RESTRICT"), index=True)
    compound_id: Mapped[int | None] = mapped_column(ForeignKey("compound.id", ondelete="RESTRICT"), index=True)
    address_id: Mapped[int | None] = mapped_column(ForeignKey("address.id"))
    floors: Mapped[int] = mapped_column(SmallInteger)
    units: Mapped[int] = mapped_column(SmallInteger, server_default="1")
    height_m: Mapped[float] = mapped_column(Float)
    geom = mapped_column(Geometry("POLYGON", srid=SRID), nullable=False)
    __table_args__ = (
        CheckConstraint("floors BETWEEN 1 AND 200", name="floors_range"),
        CheckConstraint("units BETWEEN 1 AND 50", name="units_range"),
        CheckConstraint("height_m > 0", name="height_positive"),
        _valid("geom"),
    )


class Dwelling(Base):
    """房屋: one unit/floor/room of a building with its floor area; the unit of grants and households."""

    __tablename__ = "dwelling"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    building_id: Mapped[int] = mapped_column(ForeignKey("building.id", ondelete="RESTRICT"), index=True)
    unit: Mapped[int] = mapped_column(SmallInteger)
    floor: Mapped[int] = mapped_column(SmallInteger)
    room: Mapped[str] = mapped_column(String(8))
    area_m2: Mapped[float] = mapped_column(Numeric(7, 2))
    rooms: Mapped[int] = mapped_column(SmallInteger)
    use: Mapped[DwellingUse] = mapped_column(_enum(DwellingUse, "dwelling_use"))
    address_id: Mapped[int | None] = mapped_column(ForeignKey("address.id"), index=True)
    __table_args__ = (
        CheckConstraint("area_m2 > 0", name="area_positive"),
        CheckConstraint("rooms >= 1", name="rooms_positive"),
        CheckConstraint("unit >= 1 AND floor >= -5", name="unit_floor_range"),
        UniqueConstraint("building_id", "unit", "floor", "room", name="uq_dwelling_position"),
    )


# --- people -----------------------------------------------------------------------------------


class Person(Base):
    """A pseudonymous person: the ID number only as a keyed hash (matching) and masked (display)."""

    __tablename__ = "person"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    pid: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), unique=True, server_default=func.gen_random_uuid())
    id_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    id_masked: Mapped[str] = mapped_column(String(18))
    name: Mapped[str] = mapped_column(String(64))
    sex: Mapped[Sex] = mapped_column(_enum(Sex, "sex"))
    birth_date: Mapped[dt.date] = mapped_column(Date)
    residence_kind: Mapped[ResidenceKind] = mapped_column(_enum(ResidenceKind, "residence_kind"), index=True)
    temp_residence_expiry: Mapped[dt.date | None] = mapped_column(Date)
    phone_masked: Mapped[str | None] = mapped_column(String(11))
    home_dwelling_id: Mapped[int | None] = mapped_column(ForeignKey("dwelling.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[dt.datetime] = _now()
    __table_args__ = (
        CheckConstraint("octet_length(id_hash) = 32", name="id_hash_len"),
        # 一搜 and the police workbench find people by the start of their name (LIKE 'prefix%')
        Index("ix_person_name_prefix", "name", postgresql_ops={"name": "text_pattern_ops"}),
        CheckConstraint(r"id_masked ~ '^\d{4}\*{10}[\dX]{4}$'", name="id_masked_format"),
        CheckConstraint(
            "residence_kind NOT IN ('floating', 'overseas') OR temp_residence_expiry IS NOT NULL",
            name="temp_expiry_for_non_local",
        ),
    )


class PersonTag(Base):
    """A tag on a person (elderly living alone, community correction, …) with who set it and when.

    Supervision tags (community correction, key control) carry their legal basis and its expiry:
    rules about such persons run only while that basis is in force.
    """

    __tablename__ = "person_tag"
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[PersonTagKind] = mapped_column(_enum(PersonTagKind, "person_tag_kind"), primary_key=True)
    set_by: Mapped[str] = mapped_column(String(64))
    set_at: Mapped[dt.datetime] = _now()
    legal_basis: Mapped[str | None] = mapped_column(Text)
    legal_basis_expiry: Mapped[dt.date | None] = mapped_column(Date)
    # The department that owns the tag when it came from its list (民政, 残联, 司法, 公安); None: set here.
    source_department: Mapped[str | None] = mapped_column(String(16))
    __table_args__ = (
        CheckConstraint(
            "tag NOT IN ('community_correction', 'key_control') OR (legal_basis IS NOT NULL AND legal_basis_expiry IS NOT NULL)",
            name="supervision_needs_legal_basis",
        ),
        # A blank basis is no basis: whitespace must not satisfy the check above.
        CheckConstraint("legal_basis IS NULL OR btrim(legal_basis) <> ''", name="legal_basis_not_blank"),
        Index("ix_person_tag_tag", "tag"),
        Index("ix_person_tag_basis", "legal_basis_expiry", postgresql_where="legal_basis_expiry IS NOT NULL"),
    )


class Household(Base):
    """户: people registered together at one dwelling."""

    __tablename__ = "household"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    dwelling_id: Mapped[int] = mapped_column(ForeignKey("dwelling.id", ondelete="RESTRICT"), index=True)
    head_person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))


class HouseholdMember(Base):
    __tablename__ = "household_member"
    household_id: Mapped[int] = mapped_column(ForeignKey("household.id", ondelete="CASCADE"), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), primary_key=True, index=True)
    relation_to_head: Mapped[str] = mapped_column(String(16))


class Organisation(Base):
    """单位, identified by its 18-character unified social credit code."""

    __tablename__ = "organisation"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uscc: Mapped[str] = mapped_column(String(18), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(32))
    address_id: Mapped[int | None] = mapped_column(ForeignKey("address.id"))
    dwelling_id: Mapped[int | None] = mapped_column(ForeignKey("dwelling.id", ondelete="SET NULL"))
    __table_args__ = (CheckConstraint(r"uscc ~ '^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$'", name="uscc_format"),)


class Relation(Base):
    """A typed link from a person to a person, dwelling or organisation, with provenance."""

    __tablename__ = "relation"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    kind: Mapped[RelationKind] = mapped_column(_enum(RelationKind, "relation_kind"))
    other_person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    dwelling_id: Mapped[int | None] = mapped_column(ForeignKey("dwelling.id", ondelete="CASCADE"), index=True)
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id", ondelete="CASCADE"), index=True)
    source: Mapped[str] = mapped_column(String(32))
    confidence: Mapped[float] = mapped_column(Float)
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)
    __table_args__ = (
        CheckConstraint("num_nonnulls(other_person_id, dwelling_id, organisation_id) = 1", name="one_object"),
        CheckConstraint("confidence >= 0 AND confidence <= 1", name="confidence_range"),
        CheckConstraint("valid_to IS NULL OR valid_to >= valid_from", name="validity_order"),
    )


# --- access -----------------------------------------------------------------------------------


class Ownership(Base):
    __tablename__ = "ownership"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dwelling_id: Mapped[int] = mapped_column(ForeignKey("dwelling.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    share: Mapped[float] = mapped_column(Float, server_default="1")
    since: Mapped[dt.date] = mapped_column(Date)
    __table_args__ = (
        UniqueConstraint("dwelling_id", "person_id", name="uq_ownership_dwelling_person"),
        CheckConstraint("share > 0 AND share <= 1", name="share_range"),
    )


class AccessGrant(Base):
    """An owner's authorisation of a family member or tenant for one dwelling (capped by floor area)."""

    __tablename__ = "access_grant"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dwelling_id: Mapped[int] = mapped_column(ForeignKey("dwelling.id", ondelete="CASCADE"), index=True)
    owner_person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"))
    grantee_person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    kind: Mapped[GrantKind] = mapped_column(_enum(GrantKind, "grant_kind"))
    valid_from: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    valid_to: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = _now()
    # The name the owner typed: shown back instead of the base's name, which would reveal a registration.
    grantee_name_entered: Mapped[str | None] = mapped_column(String(64))
    __table_args__ = (
        CheckConstraint("owner_person_id <> grantee_person_id", name="not_self"),
        CheckConstraint("valid_to IS NULL OR valid_to > valid_from", name="validity_order"),
        # grants that start or end between two sweeps (analytics/incremental.py)
        Index("ix_access_grant_valid_from", "valid_from"),
        Index("ix_access_grant_valid_to", "valid_to"),
    )


class VisitorPass(Base):
    """访客二维码: requested by an owner for a dwelling, ≤ 24 h, a number of entries, revocable."""

    __tablename__ = "visitor_pass"
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, server_default=func.gen_random_uuid())
    dwelling_id: Mapped[int] = mapped_column(ForeignKey("dwelling.id", ondelete="CASCADE"), index=True)
    issued_by_person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"))
    visitor_name: Mapped[str] = mapped_column(String(64))
    visitor_id_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    valid_from: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    valid_to: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    entries_allowed: Mapped[int] = mapped_column(SmallInteger)
    entries_used: Mapped[int] = mapped_column(SmallInteger, server_default="0")
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = _now()
    __table_args__ = (
        CheckConstraint("valid_to > valid_from AND valid_to - valid_from <= interval '24 hours'", name="at_most_24h"),
        CheckConstraint("entries_allowed BETWEEN 1 AND 20 AND entries_used BETWEEN 0 AND entries_allowed", name="entries"),
        # passes that start or end between two sweeps (analytics/incremental.py)
        Index("ix_visitor_pass_valid_from", "valid_from"),
        Index("ix_visitor_pass_valid_to", "valid_to"),
    )


class FaceTemplate(Base):
    """A 512-d face embedding (never the photo), for a known person or a pseudonymous stranger."""

    __tablename__ = "face_template"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    stranger_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), index=True)
    library: Mapped[FaceLibrary] = mapped_column(_enum(FaceLibrary, "face_library"))
    compound_id: Mapped[int | None] = mapped_column(ForeignKey("compound.id", ondelete="CASCADE"), index=True)
    model_version: Mapped[str] = mapped_column(String(64))
    embedding: Mapped[list[float]] = mapped_column(ARRAY(REAL))
    consent_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    created_at: Mapped[dt.datetime] = _now()
    __table_args__ = (
        CheckConstraint("cardinality(embedding) = 512", name="dim_512"),
        CheckConstraint("(library = 'stranger') = (stranger_id IS NOT NULL AND person_id IS NULL)", name="owner_by_library"),
        CheckConstraint("library <> 'stranger' OR expires_at IS NOT NULL", name="stranger_expires"),
        CheckConstraint("library <> 'app' OR consent_at IS NOT NULL", name="app_needs_consent"),
    )


class FaceConsent(Base):
    """人脸信息单独同意: a resident's explicit, separate consent to enrol a face template for the gates.

    Withdrawing it deletes every app template of the person (the gate galleries drop it on the next
    refresh, pushed by NOTIFY); the row stays as the record that consent was given and withdrawn.
    """

    __tablename__ = "face_consent"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(128))
    notice_version: Mapped[str] = mapped_column(ForeignKey("consent_notice.version"))
    granted_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    templates_deleted: Mapped[int | None] = mapped_column(Integer)
    __table_args__ = (
        CheckConstraint("withdrawn_at IS NULL OR withdrawn_at >= granted_at", name="withdrawal_order"),
        Index("uq_face_consent_live", "person_id", unique=True, postgresql_where="withdrawn_at IS NULL"),
    )


class ConsentNotice(Base):
    """A face-consent notice the platform published: a consent counts only under one of these (a version the
    app made up, or one never shown to residents, backs no template)."""

    __tablename__ = "consent_notice"
    version: Mapped[str] = mapped_column(String(32), primary_key=True)
    published_at: Mapped[dt.datetime] = _now()
    published_by: Mapped[str] = mapped_column(String(64))


class PopulationBasis(Base):
    """The recorded legal basis that switches a compound's population-library fallback on (off without one):
    who decided, under which document, until when. Revoking it or letting it expire switches it off."""

    __tablename__ = "population_basis"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    compound_id: Mapped[int] = mapped_column(ForeignKey("compound.id", ondelete="CASCADE"), index=True)
    granted_by: Mapped[str] = mapped_column(String(64))
    document: Mapped[str] = mapped_column(String(256))
    valid_from: Mapped[dt.datetime] = _now()
    valid_until: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    lookups_per_minute: Mapped[int] = mapped_column(Integer, server_default="30")
    created_at: Mapped[dt.datetime] = _now()
    __table_args__ = (
        CheckConstraint("valid_until > valid_from", name="until_after_from"),
        CheckConstraint("length(btrim(granted_by)) > 0 AND length(btrim(document)) > 0", name="who_and_document"),
        CheckConstraint("lookups_per_minute BETWEEN 1 AND 600", name="rate_range"),
    )


class PopulationLookup(Base):
    """Every search of the population library from a gate (matched or not): the per-gate rate limit counts
    these; a match is also in the audit log with its basis."""

    __tablename__ = "population_lookup"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    compound_id: Mapped[int] = mapped_column(ForeignKey("compound.id", ondelete="CASCADE"))
    gate_id: Mapped[int] = mapped_column(ForeignKey("gate.id", ondelete="CASCADE"))
    basis_id: Mapped[int] = mapped_column(ForeignKey("population_basis.id", ondelete="CASCADE"))
    matched: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[dt.datetime] = _now()
    __table_args__ = (Index("ix_population_lookup_gate_at", "gate_id", "at"),)


class AccessEvent(Base):
    """One gate decision. Partitioned by day on ``ts``; ``event_id`` (UUIDv7) makes writes idempotent.

    The primary key must contain the partition key, so it is (event_id, ts); since ts is the
    time encoded in a UUIDv7 event id, the pair is as unique as the id alone.
    """

    __tablename__ = "access_event"
    event_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    ts: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    gate_id: Mapped[int] = mapped_column(Integer)
    compound_id: Mapped[int | None] = mapped_column(Integer)
    key_site_id: Mapped[int | None] = mapped_column(Integer)
    direction: Mapped[Direction] = mapped_column(_enum(Direction, "direction"))
    method: Mapped[AccessMethod] = mapped_column(_enum(AccessMethod, "access_method"))
    result: Mapped[AccessResult] = mapped_column(_enum(AccessResult, "access_result"))
    person_id: Mapped[int | None] = mapped_column(BigInteger)
    pass_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    stranger_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    score: Mapped[float | None] = mapped_column(REAL)
    reason: Mapped[str | None] = mapped_column(String(32))
    # The landing transaction's id (migration 0014): an incremental rules sweep finds what landed since its
    # last run by this, late arrivals too (a bridge's outbox replays events hours old). NULL: landed before.
    ingest_xid: Mapped[int | None] = mapped_column(BigInteger, server_default=text(INGEST_XID))
    __table_args__ = (
        PrimaryKeyConstraint("event_id", "ts", name="pk_access_event"),
        Index("ix_access_event_ingest_xid", "ingest_xid"),
        # one pass's or one unknown face's passages (visitor overstay, 人来登记, incremental sweeps)
        Index("ix_access_event_pass_ts", "pass_id", "ts", postgresql_where="pass_id IS NOT NULL"),
        Index("ix_access_event_stranger_ts", "stranger_id", "ts", postgresql_where="stranger_id IS NOT NULL"),
        Index("ix_access_event_gate_ts", "gate_id", "ts"),
        Index("ix_access_event_person_ts", "person_id", "ts", postgresql_where="person_id IS NOT NULL"),
        Index("ix_access_event_compound_ts", "compound_id", "ts"),
        Index("ix_access_event_ts_brin", "ts", postgresql_using="brin"),
        {"postgresql_partition_by": "RANGE (ts)"},
    )


class RuleWatermark(Base):
    """Where each rule's last sweep left off (analytics/incremental.py): the sweep's ``as_of``; the first
    transaction id not yet begun when it read and the ids still running then (every other change it has
    seen); what its parameters were."""

    __tablename__ = "rule_watermark"
    rule: Mapped[str] = mapped_column(String(48), primary_key=True)
    as_of: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    seen_xid: Mapped[int] = mapped_column(BigInteger)
    running_xids: Mapped[list[int]] = mapped_column(ARRAY(BigInteger), server_default="{}")
    # The subjects its last full sweep found worth a look whatever happens at the gates (utility_anomaly: the
    # dwellings whose readings show an anomaly; they change only with the day or new readings).
    candidates: Mapped[list[int] | None] = mapped_column(ARRAY(BigInteger))
    digest: Mapped[str] = mapped_column(String(32))
    full_as_of: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    swept_at: Mapped[dt.datetime] = _now()


class RuleChange(Base):
    """A change to what the rules read besides events (people, tags, households, relations, ownership,
    grants, passes, rentals, declarations, dwellings; an alert closed or dismissed), written by statement
    triggers (migration 0014) with the writing transaction's id. A row with no subject (``bulk``) stands
    for a statement that changed too many rows to list (a seed, an import) or a utility import: the next
    sweep of the rules that read that table is a full one."""

    __tablename__ = "rule_change"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    xid: Mapped[int] = mapped_column(BigInteger, server_default=text(INGEST_XID))
    tbl: Mapped[str] = mapped_column(String(32))
    person_id: Mapped[int | None] = mapped_column(BigInteger)
    dwelling_id: Mapped[int | None] = mapped_column(Integer)
    pass_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    ref: Mapped[str | None] = mapped_column(String(96))
    bulk: Mapped[bool] = mapped_column(Boolean, server_default="false")
    __table_args__ = (Index("ix_rule_change_xid", "xid"),)


class GateFlowMinute(Base):
    """Per-gate per-minute rollup of access events (what the heatmap and the police flow queries read)."""

    __tablename__ = "gate_flow_minute"
    gate_id: Mapped[int] = mapped_column(ForeignKey("gate.id", ondelete="CASCADE"), primary_key=True)
    minute: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    entries: Mapped[int] = mapped_column(Integer, server_default="0")
    exits: Mapped[int] = mapped_column(Integer, server_default="0")
    denied: Mapped[int] = mapped_column(Integer, server_default="0")
    __table_args__ = (
        CheckConstraint("entries >= 0 AND exits >= 0 AND denied >= 0", name="counts_non_negative"),
        CheckConstraint("minute = date_trunc('minute', minute)", name="whole_minute"),
        Index("ix_gate_flow_minute_minute", "minute"),
    )


class CounterOutage(Base):
    """A span in which a gate's counter sent nothing (broken, unplugged, not yet installed).

    Flow rollups only hold minutes with passages, so "no row" cannot tell "nobody passed" from
    "the counter was off": rules that compare against earlier weeks skip hours covered here.
    """

    __tablename__ = "counter_outage"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    gate_id: Mapped[int] = mapped_column(ForeignKey("gate.id", ondelete="CASCADE"), index=True)
    starts_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))  # None: still off
    reason: Mapped[str] = mapped_column(Text)
    recorded_at: Mapped[dt.datetime] = _now()
    __table_args__ = (CheckConstraint("ends_at IS NULL OR ends_at > starts_at", name="outage_order"),)
class GateFlowHour(Base):
    """Per-gate per-hour sums of ``gate_flow_minute``, kept by its statement triggers (migration 0011):
    what the indicators, the wall's trends and the weekly report read, 60× fewer rows than the minutes."""

    __tablename__ = "gate_flow_hour"
    gate_id: Mapped[int] = mapped_column(ForeignKey("gate.id", ondelete="CASCADE"), primary_key=True)
    hour: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    entries: Mapped[int] = mapped_column(Integer, server_default="0")
    exits: Mapped[int] = mapped_column(Integer, server_default="0")
    denied: Mapped[int] = mapped_column(Integer, server_default="0")
    __table_args__ = (
        CheckConstraint("entries >= 0 AND exits >= 0 AND denied >= 0", name="counts_non_negative"),
        Index("ix_gate_flow_hour_hour", "hour"),
    )


class PlaceStatDay(Base):
    """One indicator's value for one local day and one grid or compound (docs/INDICATORS.md).

    Communities and the street are sums of their grids (codes nest by prefix), so only the smallest
    units are stored; shares are stored as their numerator and denominator and divided after summing.
    ``unit_id`` is a grid or compound id by ``unit_kind``, hence no foreign key.
    """

    __tablename__ = "place_stat_day"
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    unit_kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    unit_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    indicator: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[float] = mapped_column(Float)
    __table_args__ = (CheckConstraint("unit_kind IN ('grid', 'compound')", name="unit_kind_values"),)


class StatRefresh(Base):
    """Which local days ``place_stat_day`` holds, when they were last refreshed, and whether the
    day's stock figures (population, coverage: a state, not a count) were snapshot that day."""

    __tablename__ = "stat_refresh"
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    refreshed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    snapshot: Mapped[bool] = mapped_column(Boolean, server_default="false")


class PresencePerson(Base):
    """A person's last open gate passage of the last 48 hours, kept by a trigger on ``access_event``
    (migration 0013): the state the maintained real-time population counts from. No foreign key: an
    event may name a person the base does not (yet) hold."""

    __tablename__ = "presence_person"
    person_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    last_ts: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    last_event: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    is_out: Mapped[bool] = mapped_column(Boolean)
    # The state the last change replaced: the trigger moves the counters by the difference.
    was_out: Mapped[bool] = mapped_column(Boolean, server_default="false")
    __table_args__ = (Index("ix_presence_person_out_ts", "last_ts", postgresql_where="is_out"),)


class PresencePass(Base):
    """A visitor pass's last entry and last exit of the last 24 hours (trigger on ``access_event``)."""

    __tablename__ = "presence_pass"
    pass_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    last_in: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    last_out: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    was_inside: Mapped[bool] = mapped_column(Boolean, server_default="false")


class PopulationLive(Base):
    """Per building: residents, residents whose last passage is an exit, visitor passes inside — the
    counters of the real-time population, moved by triggers in the transaction that lands the event or
    moves the person (analytics/population.py reads them; docs/ANALYTICS.md)."""

    __tablename__ = "population_live"
    building_id: Mapped[int] = mapped_column(ForeignKey("building.id", ondelete="CASCADE"), primary_key=True)
    residents: Mapped[int] = mapped_column(Integer, server_default="0")
    away: Mapped[int] = mapped_column(Integer, server_default="0")
    visitors: Mapped[int] = mapped_column(Integer, server_default="0")


class UtilityReading(Base):
    __tablename__ = "utility_reading"
    dwelling_id: Mapped[int] = mapped_column(ForeignKey("dwelling.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[UtilityKind] = mapped_column(_enum(UtilityKind, "utility_kind"), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    value: Mapped[float] = mapped_column(REAL)
    account_name: Mapped[str | None] = mapped_column(String(64))  # the name on the utility account
    __table_args__ = (CheckConstraint("value >= 0", name="value_non_negative"),)


class UtilityBaseline(Base):
    """A meter series' figures at its latest reading day, kept by triggers as readings land (migration 0015):
    what 水电气 compares (analytics/rules/utility_anomaly.py), so a sweep need not read every dwelling's month."""

    __tablename__ = "utility_baseline"
    dwelling_id: Mapped[int] = mapped_column(ForeignKey("dwelling.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[UtilityKind] = mapped_column(_enum(UtilityKind, "utility_kind"), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, index=True)
    n_recent: Mapped[int] = mapped_column(Integer)
    mean_recent: Mapped[float | None] = mapped_column(Float)
    max_recent: Mapped[float | None] = mapped_column(Float)
    n_base: Mapped[int] = mapped_column(Integer)
    typical: Mapped[float | None] = mapped_column(Float)  # the baseline's upper quartile (statistics.quantiles)
    n_lived: Mapped[int] = mapped_column(Integer)  # baseline days with at least a fifth of the typical day
    base: Mapped[float | None] = mapped_column(Float)
    sd: Mapped[float | None] = mapped_column(Float)


class UtilityAccount(Base):
    """A water, power or gas company's account number, tied to the dwelling it meters (learned on import)."""

    __tablename__ = "utility_account"
    kind: Mapped[UtilityKind] = mapped_column(_enum(UtilityKind, "utility_kind"), primary_key=True)
    account_number: Mapped[str] = mapped_column(String(32), primary_key=True)
    dwelling_id: Mapped[int] = mapped_column(ForeignKey("dwelling.id", ondelete="CASCADE"), index=True)


class PropertyFee(Base):
    """物业费: a payment for a dwelling and a month, as the property company lists it."""

    __tablename__ = "property_fee"
    dwelling_id: Mapped[int] = mapped_column(ForeignKey("dwelling.id", ondelete="CASCADE"), primary_key=True)
    period: Mapped[dt.date] = mapped_column(Date, primary_key=True)  # the month's first day
    payer_name: Mapped[str] = mapped_column(String(64))
    amount: Mapped[float | None] = mapped_column(Numeric(9, 2))
    paid_on: Mapped[dt.date | None] = mapped_column(Date)
    __table_args__ = (
        CheckConstraint("extract(day FROM period) = 1", name="period_is_month"),
        CheckConstraint("amount IS NULL OR amount >= 0", name="amount_non_negative"),
    )


class Rental(Base):
    """出租屋: who lets a dwelling to whom, through which sublessor or agency; blacklisted with a reason."""

    __tablename__ = "rental"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dwelling_id: Mapped[int] = mapped_column(ForeignKey("dwelling.id", ondelete="CASCADE"), index=True)
    lessor_person_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    sublessor_person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    agency_organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"))
    lessee_person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    start_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date | None] = mapped_column(Date)
    monthly_rent: Mapped[float | None] = mapped_column(Numeric(9, 2))
    blacklisted: Mapped[bool] = mapped_column(Boolean, server_default="false")
    blacklist_reason: Mapped[str | None] = mapped_column(Text)
    __table_args__ = (
        CheckConstraint("NOT blacklisted OR blacklist_reason IS NOT NULL", name="blacklist_reason"),
        CheckConstraint("end_date IS NULL OR end_date >= start_date", name="period_order"),
    )


class SelfDeclaration(Base):
    """A floating resident's own statement of where they live, pending a doorstep verification."""

    __tablename__ = "self_declaration"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    dwelling_id: Mapped[int] = mapped_column(ForeignKey("dwelling.id", ondelete="CASCADE"), index=True)
    period_from: Mapped[dt.date] = mapped_column(Date)
    period_to: Mapped[dt.date | None] = mapped_column(Date)
    relation_to_owner: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), server_default="pending")
    declared_at: Mapped[dt.datetime] = _now()
    # The doorstep verification it opened: a self-declaration changes nothing until a worker confirms it.
    work_order_id: Mapped[int | None] = mapped_column(ForeignKey("work_order.id", ondelete="SET NULL"))
    __table_args__ = (
        CheckConstraint("period_to IS NULL OR period_to >= period_from", name="period_order"),
        CheckConstraint("status IN ('pending', 'verified', 'rejected')", name="status_values"),
    )


# --- governance -------------------------------------------------------------------------------


class Alert(Base):
    """A rule's finding about a subject, with the evidence that fired it; a person decides what follows."""

    __tablename__ = "alert"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    rule: Mapped[str] = mapped_column(String(48), index=True)
    severity: Mapped[Severity] = mapped_column(_enum(Severity, "severity"))
    confidence: Mapped[float] = mapped_column(Float)
    subject_kind: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[int] = mapped_column(BigInteger)
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grid.id"), index=True)
    geom = mapped_column(Geometry("POINT", srid=SRID), nullable=True)
    evidence: Mapped[dict] = mapped_column(JSONB, server_default="{}")
    status: Mapped[AlertStatus] = mapped_column(_enum(AlertStatus, "alert_status"), server_default="open")
    # rule:subject_kind:subject_id — at most one live (open or dispatched) alert per key: re-firing updates it.
    dedup_key: Mapped[str] = mapped_column(String(96))
    # The rule's version that raised it: doorstep findings are counted per rule and version.
    rule_version: Mapped[str | None] = mapped_column(String(16))
    fired_count: Mapped[int] = mapped_column(Integer, server_default="1")
    created_at: Mapped[dt.datetime] = _now()
    updated_at: Mapped[dt.datetime] = _now()
    __table_args__ = (
        CheckConstraint("confidence >= 0 AND confidence <= 1", name="confidence_range"),
        Index("uq_alert_live_dedup", "dedup_key", unique=True, postgresql_where="status IN ('open', 'dispatched')"),
        CheckConstraint("subject_kind IN ('person', 'dwelling', 'building', 'compound', 'key_site', 'gate', 'stranger')", name="subject_kind_values"),
        Index("ix_alert_open", "status", "created_at"),
    )


class WorkOrder(Base):
    """工单: an alert dispatched to a grid worker, with the doorstep finding and the correction it applied."""

    __tablename__ = "work_order"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alert.id", ondelete="SET NULL"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grid.id"), index=True)
    assignee_account_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"), index=True)
    due_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[WorkOrderStatus] = mapped_column(_enum(WorkOrderStatus, "work_order_status"), server_default="assigned")
    finding: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str | None] = mapped_column(String(16))
    correction: Mapped[dict | None] = mapped_column(JSONB)
    escalation_level: Mapped[int] = mapped_column(SmallInteger, server_default="0")
    escalated_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = _now()
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (
        CheckConstraint("status <> 'done' OR (finding IS NOT NULL AND closed_at IS NOT NULL AND outcome IS NOT NULL)", name="done_has_finding"),
        CheckConstraint("outcome IS NULL OR outcome IN ('confirmed', 'corrected', 'dismissed')", name="outcome_values"),
        Index("ix_work_order_due", "status", "due_at"),
    )


class WorkOrderPhoto(Base):
    """A photo a grid worker attached to a work order (the doorstep, an incident): kept with the order as
    evidence, never turned into a face template. JPEG or PNG, at most 5 MB (checked on the way in)."""

    __tablename__ = "work_order_photo"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    work_order_id: Mapped[int] = mapped_column(ForeignKey("work_order.id", ondelete="CASCADE"), index=True)
    content_type: Mapped[str] = mapped_column(String(16))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = _now()
    __table_args__ = (
        CheckConstraint("content_type IN ('image/jpeg', 'image/png')", name="image_type"),
        CheckConstraint("octet_length(data) BETWEEN 1 AND 5242880", name="size"),
    )


class Incident(Base):
    """事件上报: an incident a grid worker reported on patrol. It is an event on the map (its own layer)
    and a work order for the grid's supervisor, closed with a finding like any other order."""

    __tablename__ = "incident"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    category: Mapped[str] = mapped_column(String(24))
    description: Mapped[str] = mapped_column(Text)
    geom = mapped_column(Geometry("POINT", srid=SRID), nullable=False)
    location_source: Mapped[str] = mapped_column(String(16))  # phone, map, address
    grid_id: Mapped[int] = mapped_column(ForeignKey("grid.id"), index=True)
    reported_by: Mapped[str] = mapped_column(String(64))
    work_order_id: Mapped[int | None] = mapped_column(ForeignKey("work_order.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[dt.datetime] = _now()
    __table_args__ = (
        CheckConstraint("category IN ('fire_hazard', 'public_order', 'sanitation', 'facility', 'dispute', 'other')",
                        name="category_known"),
        CheckConstraint("length(description) BETWEEN 4 AND 1000", name="description_length"),
        CheckConstraint("location_source IN ('phone', 'map', 'address')", name="location_source_known"),
        _valid("geom"),
    )


class AuditLog(Base):
    """留痕: every access to personal data. Append-only: a trigger refuses UPDATE and DELETE."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[dt.datetime] = _now()
    # No foreign key on purpose: the log must outlive (and never block) changes to accounts.
    account_id: Mapped[int | None] = mapped_column(Integer, index=True)
    username: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict] = mapped_column(JSONB, server_default="{}")
    __table_args__ = (Index("ix_audit_log_at", "at"),)


class ImportRun(Base):
    """One applied import: who, which file, what it wrote; enough to take it back (``gridpulse import undo``).

    ``created`` lists the primary keys of the rows the run inserted, per table, in insertion order;
    ``updated`` the rows an upsert changed, each with its columns' values before the change.
    """

    __tablename__ = "import_run"
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(256))
    file_sha256: Mapped[str] = mapped_column(String(64))
    mode: Mapped[str] = mapped_column(String(8))
    account_id: Mapped[int | None] = mapped_column(Integer)  # no foreign key: the record outlives the account
    username: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = _now()
    counts: Mapped[dict] = mapped_column(JSONB, server_default="{}")
    created: Mapped[dict] = mapped_column(JSONB, server_default="{}")
    updated: Mapped[dict] = mapped_column(JSONB, server_default="{}")
    undone_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    undone_by: Mapped[str | None] = mapped_column(String(64))
    __table_args__ = (
        CheckConstraint("mode IN ('insert', 'upsert')", name="mode_values"),
        CheckConstraint("(undone_at IS NULL) = (undone_by IS NULL)", name="undone_with_who"),
        Index("ix_import_run_created_at", "created_at"),
    )


class InjectedAnomaly(Base):
    """Ground truth of the seeder's injected anomalies, in schema ``truth`` that no rule may read."""

    __tablename__ = "injected_anomaly"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    subject_kind: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[int] = mapped_column(BigInteger)
    starts_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    detail: Mapped[dict] = mapped_column(JSONB, server_default="{}")
    __table_args__ = ({"schema": "truth"},)


class SeedInfo(Base):
    """What the seeder built, with the digest that says two seeds built the same street."""

    __tablename__ = "seed_info"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    preset: Mapped[str] = mapped_column(String(16))
    seed: Mapped[int] = mapped_column(Integer)
    days: Mapped[int] = mapped_column(Integer)
    anchor_date: Mapped[dt.date] = mapped_column(Date)
    digest: Mapped[str] = mapped_column(String(64))
    counts: Mapped[dict] = mapped_column(JSONB)
    created_at: Mapped[dt.datetime] = _now()
