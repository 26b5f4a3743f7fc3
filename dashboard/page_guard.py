"""The one page guard: a page's path and roles, declared once in its ``register_page`` metadata, decide
who may open the page, call its callbacks and use its routes.

Dash callbacks are plain HTTP endpoints (POST /_dash-update-component) that anyone with a session can
call with any output; checking the role inside a page's layout alone left its callbacks open to
every role. Here the request is matched before Dash runs anything:

- Dash's own page router (the callback that renders ``_pages_content``) is checked by the path it is
  asked to render: a refused role gets a rendered refusal (``#page-refused``) instead of the layout;
- any other callback by the page module that defined it: a refused role gets HTTP 403;
- the app's own routes by the page they serve (``ROUTE_PAGES``).

Callbacks of shared components (``SHARED_MODULES``) are open to every logged-in viewer; a callback
of no page and no shared module is refused (default deny). Every refusal is written to the audit log.
"""
from __future__ import annotations

import json
from typing import Any

import dash
import flask
from dash import html

from core.viewer import Viewer
from blockdata import audit
from blockdata.db import transaction
from dashboard.roles import page_roles

ROUTER_OUTPUT = ".._pages_content.children..._pages_store.data.."
# the map component, and the search box in every page's header (its own jurisdiction filter: intake/search.py)
SHARED_MODULES = frozenset({"dashboard.components.deckmap", "dashboard.search_box"})
# The app's own routes → the page whose data they serve (prefix match).
ROUTE_PAGES = {"/drill/prefetch": "/drill", "/layers/": "/"}
REFUSAL_TEXT = "无权访问此页面"


def refuse(viewer: Viewer, path: str, what: str) -> None:
    """Audit a refused page, callback or route: a forged link or call is worth knowing about."""
    with transaction() as session:
        audit.record(session, viewer, "access.denied", f"page:{path}",
                     reason=f"role {viewer.role.value} may not use {path}", via=what)


_owners: dict[str, str] = {}


def _scan_callbacks() -> dict[str, str]:
    """Each server callback's output key → the path of the page module that defined it ('' if shared)."""
    by_module = {page["module"]: page["path"] for page in dash.page_registry.values()}
    owners: dict[str, str] = {}
    for key, entry in dash.get_app().callback_map.items():
        module = getattr(entry.get("callback"), "__module__", "")
        if module in by_module:
            owners[key] = by_module[module]
        elif module in SHARED_MODULES:
            owners[key] = ""
    return owners


def _owner_of(output: str) -> str | None:
    """The page path of a callback's output key, '' for a shared one, None for an unknown one."""
    if output not in _owners:
        _owners.update(_scan_callbacks())
    return _owners.get(output)


def _router_path(body: dict[str, Any]) -> str:
    for item in body.get("inputs", []):
        if isinstance(item, dict) and item.get("id") == "_pages_location" and item.get("property") == "pathname":
            path = str(item.get("value") or "/")
            return path.rstrip("/") or "/"
    return "/"


def _refused_page_response() -> flask.Response:
    """What Dash's page router would return, with the refusal in place of the page."""
    refusal = html.Div(REFUSAL_TEXT, className="refused", id="page-refused").to_plotly_json()
    body = {"multi": True, "response": {"_pages_content": {"children": refusal},
                                        "_pages_store": {"data": {"title": "GridPulse 无权访问"}}}}
    return flask.Response(json.dumps(body, default=_plotly_default, ensure_ascii=False), status=200,
                          content_type="application/json")


def _plotly_default(obj: Any) -> Any:
    if hasattr(obj, "to_plotly_json"):
        return obj.to_plotly_json()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def _denied(message: str, status: int = 403) -> flask.Response:
    return flask.Response(json.dumps({"error": message}, ensure_ascii=False), status=status,
                          content_type="application/json")


def check(viewer: Viewer) -> flask.Response | None:
    """None when the viewer may go on; otherwise the refusal to send (already audited)."""
    path = flask.request.path
    if path == "/_dash-update-component" and flask.request.method == "POST":
        return _check_callback(viewer)
    for prefix, page in ROUTE_PAGES.items():
        if path == prefix or (prefix.endswith("/") and path.startswith(prefix)):
            if viewer.role not in page_roles(page):
                refuse(viewer, page, f"route {path}")
                return _denied(f"role {viewer.role.value} may not use {page}")
    return None


def _check_callback(viewer: Viewer) -> flask.Response | None:
    body = flask.request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("output"), str):
        return _denied("not a Dash callback request: a JSON body with an 'output' is required", 400)
    output = body["output"]
    if output == ROUTER_OUTPUT:
        page = _router_path(body)
        if viewer.role not in page_roles(page) and _is_page(page):
            refuse(viewer, page, "page")
            return _refused_page_response()
        return None
    owner = _owner_of(output)
    if owner is None:
        return _denied(f"unknown callback output {output[:80]!r}", 400)
    if owner and viewer.role not in page_roles(owner):
        refuse(viewer, owner, f"callback {output[:80]}")
        return _denied(f"role {viewer.role.value} may not use the page {owner} or its callbacks")
    return None


def _is_page(path: str) -> bool:
    """Unknown paths are left to Dash's 404: refusing them would say nothing more."""
    return any(page["path"] == path for page in dash.page_registry.values())
