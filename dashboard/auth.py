"""Login, sessions and the server-side guard in front of every page and every Dash callback.

Dash callbacks are plain HTTP endpoints (POST /_dash-update-component): the guard refuses them
without a session exactly as it refuses pages, so hiding a button is never the only protection.
Sessions are signed cookies (the key file's session secret); the account's role, duty area and state are read
again on each request, so disabling an account or changing its area applies to open sessions at once. They expire after
GRIDPULSE_SESSION_MINUTES of inactivity (the command centre's wall screens get
GRIDPULSE_WALL_SESSION_HOURS, since nobody is there to log in again).
"""
from __future__ import annotations

import datetime as dt
from html import escape

import flask
from sqlalchemy import select

from core.config import load_secrets, settings
from core.passwords import verify_password
from core.viewer import Role, Viewer
from blockdata import audit
from blockdata.db import transaction
from blockdata.models import Account

OPEN_PATHS = ("/login", "/logout", "/assets/", "/_dash-component-suites/", "/_favicon.ico", "/favicon.ico")

_FORM = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>GridPulse 登录</title><link rel="stylesheet" href="/assets/gridpulse.css"></head>
<body><main class="login"><h1>GridPulse · 一张图</h1><form method="post" action="/login">
<label>用户名 <input name="username" autocomplete="username" required></label>
<label>密码 <input name="password" type="password" autocomplete="current-password" required></label>
<input type="hidden" name="next" value="{next}"><button type="submit">登录</button>{error}</form></main></body></html>"""


def install(server: flask.Flask) -> None:
    server.secret_key = load_secrets().session_secret
    server.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax")

    @server.before_request
    def guard():  # noqa: ANN202 - a Flask response or None
        path = flask.request.path
        if path.startswith(OPEN_PATHS):
            return None
        if viewer_from_session() is None:
            if path.startswith("/_dash") or flask.request.method != "GET":
                return flask.jsonify({"error": "login required"}), 401
            return flask.redirect(f"/login?next={escape(flask.request.full_path)}")
        flask.session.modified = True  # sliding expiry
        return None

    @server.route("/login", methods=["GET", "POST"])
    def login():  # noqa: ANN202
        next_url = flask.request.values.get("next", "/")
        if not next_url.startswith("/") or next_url.startswith("//"):
            next_url = "/"
        if flask.request.method == "GET":
            return _FORM.format(next=escape(next_url), error="")
        username = flask.request.form.get("username", "").strip()
        with transaction() as session:
            account = session.scalars(select(Account).where(Account.username == username, Account.active)).first()
            ok = account is not None and verify_password(account.password_hash, flask.request.form.get("password", ""))
            viewer = Viewer(account.id if account else None, Role(account.role.value) if account else Role.worker,
                            tuple(account.jurisdiction or ()) if account else (), username or "anonymous")
            audit.record(session, viewer, "login" if ok else "login.failed", f"account:{username}")
        if not ok:
            return _FORM.format(next=escape(next_url), error='<p class="error">用户名或密码错误</p>'), 401
        flask.session.clear()
        flask.session.permanent = True
        server.permanent_session_lifetime = dt.timedelta(minutes=settings().session_minutes)
        flask.session.update(account_id=account.id, username=account.username, role=account.role.value,
                             jurisdiction=list(account.jurisdiction or ()),
                             expires=(dt.datetime.now(dt.timezone.utc) + _lifetime(account.role.value)).isoformat())
        return flask.redirect(next_url)

    @server.route("/logout")
    def logout():  # noqa: ANN202
        flask.session.clear()
        return flask.redirect("/login")


def _lifetime(role: str) -> dt.timedelta:
    if role == Role.street.value:
        return dt.timedelta(hours=settings().wall_session_hours)
    return dt.timedelta(minutes=settings().session_minutes)


def viewer_from_session() -> Viewer | None:
    """The logged-in viewer, or None when there is no valid, unexpired session."""
    data = flask.session
    if "account_id" not in data:
        return None
    expires = dt.datetime.fromisoformat(data["expires"])
    now = dt.datetime.now(dt.timezone.utc)
    if now > expires:
        flask.session.clear()
        return None
    current = _account_now(data["account_id"])
    if current is None:  # disabled (or deleted) since login: the session ends now, not at its expiry
        flask.session.clear()
        return None
    role, jurisdiction = current
    data["expires"] = (now + _lifetime(role)).isoformat()
    return Viewer(data["account_id"], Role(role), jurisdiction, data["username"])


def _account_now(account_id: int) -> tuple[str, tuple[str, ...]] | None:
    """The account's role and duty area as they are now (None when disabled), read once per request: a
    change made on the 账号 page or by ``gridpulse accounts`` applies to sessions already open."""
    cache = flask.g.setdefault("gp_accounts", {}) if flask.has_app_context() else {}
    if account_id not in cache:
        with transaction() as session:
            row = session.execute(select(Account.role, Account.jurisdiction, Account.active)
                                  .where(Account.id == account_id)).first()
        cache[account_id] = (row.role.value, tuple(row.jurisdiction or ())) if row is not None and row.active else None
    return cache[account_id]
