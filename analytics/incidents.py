"""事件上报 and photos on orders: what a worker on patrol reports, and the pictures they attach.

An incident is a point on the map (layers/incidents.py) and a work order for the grid's supervisor
(who dispatches or settles it), closed with a finding like any other order. It must lie in a grid of
the reporter's jurisdiction: a point elsewhere is refused and the refusal audited. A photo is
evidence kept with its order, checked to be a JPEG or PNG of at most 5 MB, and never handed to the
face pipeline (no template is made of it).
"""
from __future__ import annotations

import datetime as dt
import hashlib

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.errors import InvalidInput, NotFound
from core.viewer import Role, Viewer
from blockdata import audit, queries
from blockdata.models import SRID, Grid, Incident, WorkOrder, WorkOrderPhoto, WorkOrderStatus

CATEGORIES = {"fire_hazard": "消防隐患", "public_order": "治安隐患", "sanitation": "环境卫生", "facility": "设施损坏",
              "dispute": "矛盾纠纷", "other": "其他"}
INCIDENT_ORDER = "incident"
INCIDENT_DUE = dt.timedelta(hours=72)
MAX_PHOTO_BYTES = 5 * 1024 * 1024
_MAGIC = {b"\xff\xd8\xff": "image/jpeg", b"\x89PNG\r\n\x1a\n": "image/png"}


def report(session: Session, viewer: Viewer, *, category: str, description: str, lon: float, lat: float,
           source: str, now: dt.datetime | None = None) -> Incident:
    """Record an incident at a point of the reporter's grids and open the supervisor's order for it."""
    now = now or dt.datetime.now(dt.timezone.utc)
    if category not in CATEGORIES:
        raise InvalidInput(f"category must be one of {', '.join(CATEGORIES)}", record=viewer.username)
    description = (description or "").strip()
    if not 4 <= len(description) <= 1000:
        raise InvalidInput("describe the incident in 4–1000 characters", record=viewer.username)
    if source not in ("phone", "map", "address"):
        raise InvalidInput("the location comes from the phone, the map or an address", record=viewer.username)
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise InvalidInput("the location is not a longitude/latitude", record=viewer.username)
    grid_info = queries.grid_of_point(session, viewer, lon, lat)  # refuses (audited) a point outside the jurisdiction
    if grid_info is None:
        raise InvalidInput("the location lies in no grid of the street: move the point or type an address",
                           record=viewer.username)
    grid = session.get(Grid, grid_info.id)
    order = WorkOrder(kind=INCIDENT_ORDER, grid_id=grid.id,
                      assignee_account_id=grid.supervisor_account_id or grid.worker_account_id,
                      due_at=now + INCIDENT_DUE, status=WorkOrderStatus.assigned, created_at=now)
    session.add(order)
    session.flush()
    incident = Incident(category=category, description=description, location_source=source, grid_id=grid.id,
                        geom=func.ST_SetSRID(func.ST_MakePoint(lon, lat), SRID), reported_by=viewer.username,
                        work_order_id=order.id, created_at=now)
    session.add(incident)
    session.flush()
    audit.record(session, viewer, "incident.report", f"incident:{incident.id}", category=category,
                 work_order_id=order.id, grid=grid.code)
    return incident


def incident_of_order(session: Session, order_id: int) -> Incident | None:
    return session.scalars(select(Incident).where(Incident.work_order_id == order_id)).first()


def _may_touch(session: Session, viewer: Viewer, order: WorkOrder) -> bool:
    """The order's assignee, its incident's reporter, an admin, or a supervisor of its grid."""
    if viewer.role is Role.admin or (order.assignee_account_id and order.assignee_account_id == viewer.account_id):
        return True
    incident = incident_of_order(session, order.id)
    if incident is not None and incident.reported_by == viewer.username:
        return True
    grid = session.get(Grid, order.grid_id) if order.grid_id else None
    return viewer.role is Role.supervisor and grid is not None and viewer.covers(grid.code)


def image_type(data: bytes) -> str:
    """The content type from the file's own first bytes (never from its name or the browser's word)."""
    for magic, kind in _MAGIC.items():
        if data.startswith(magic):
            return kind
    raise InvalidInput("a photo must be a JPEG or PNG image")


def attach_photo(session: Session, viewer: Viewer, order_id: int, data: bytes) -> WorkOrderPhoto:
    """Keep a photo with its order (evidence only: no face template is ever made of it)."""
    order = session.get(WorkOrder, order_id)
    if order is None:
        raise NotFound(f"no work order {order_id}")
    if not _may_touch(session, viewer, order):
        raise queries.deny(session, viewer, f"work_order:{order_id}", f"work order {order_id} is not yours")
    if not data:
        raise InvalidInput("the photo is empty")
    if len(data) > MAX_PHOTO_BYTES:
        raise InvalidInput(f"a photo may be at most {MAX_PHOTO_BYTES // (1024 * 1024)} MB: take it at a lower resolution")
    photo = WorkOrderPhoto(work_order_id=order_id, content_type=image_type(data), data=data,
                           sha256=hashlib.sha256(data).hexdigest(), uploaded_by=viewer.username)
    session.add(photo)
    session.flush()
    audit.record(session, viewer, "work_order.photo", f"work_order:{order_id}", photo_id=photo.id, bytes=len(data))
    return photo


def photo_count(session: Session, order_id: int) -> int:
    return session.scalar(select(func.count()).select_from(WorkOrderPhoto).where(WorkOrderPhoto.work_order_id == order_id))

