"""Login, logout and the server-side guard in front of every page, callback and route.

Sessions live in Redis (dashboard/sessions.py); the cookie is a random token. On every request the
account behind the session is read from the database: a disabled account, or one whose role or
jurisdiction changed, gets its new rights (or none) on its next request. Then the one page guard
(dashboard/page_guard.py) checks the page, callback or route against the role.

The login form carries a CSRF token (double submit: a cookie and a hidden field that must match);
every POST of a logged-in session carries the session's CSRF token (Dash's renderer sends the
``_csrf_token`` cookie back as ``X-CSRFToken`` by itself), so another site cannot log a browser in,
out, or call a callback with its cookie. Failed logins are throttled per account and per address
(dashboard/login_throttle.py), and an unknown username costs the same argon2 check as a known one.
"""
from __future__ import annotations

import hmac
import re
import secrets
import unicodedata
from html import escape
from urllib.parse import quote, urlsplit

import dash
import flask
from sqlalchemy import select

from core.config import trust_settings
from core.passwords import hash_password, verify_password
from core.viewer import Role, Viewer
from blockdata import audit
from blockdata.db import transaction
from blockdata.models import Account
from dashboard import page_guard
from dashboard.login_throttle import LoginThrottle
from dashboard.sessions import SessionRecord, SessionStore

SESSION_COOKIE = "gp_session"
CSRF_COOKIE = "_csrf_token"  # the name Dash's renderer reads and sends back as X-CSRFToken
LOGIN_CSRF_COOKIE = "gp_login_csrf"
# Exactly these paths are open without a session; static files by their folders only.
OPEN_EXACT = frozenset({"/login", "/logout", "/favicon.ico", "/_favicon.ico"})
OPEN_PREFIXES = ("/assets/", "/_dash-component-suites/")
MAX_USERNAME = 64
_USERNAME = re.compile(r"^[A-Za-z0-9._@-]+$")
_SAFE_QUERY = re.compile(r"^[A-Za-z0-9_.~:=&,%+-]*$")
# An argon2 hash nobody's password matches: an unknown username costs the same check as a known one.
_DUMMY_HASH = hash_password(secrets.token_hex(16))

_FORM = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>GridPulse 登录</title><link rel="stylesheet" href="/assets/gridpulse.css"></head>
<body><main class="login"><h1>GridPulse · 一张图</h1><form method="post" action="/login">
<label>用户名 <input name="username" autocomplete="username" maxlength="64" required></label>
<label>密码 <input name="password" type="password" autocomplete="current-password" required></label>
<input type="hidden" name="next" value="{next}"><input type="hidden" name="csrf" value="{csrf}">
<button type="submit">登录</button>{error}</form></main></body></html>"""

store = SessionStore()
throttle = LoginThrottle()


# --- who is asking ------------------------------------------------------------------------------


def _account_role(account_id: int) -> Role | None:
    """The account's current role; None when it is gone or disabled (its session ends)."""
    account = _load_account(account_id)
    return Role(account.role.value) if account is not None else None


def _load_account(account_id: int) -> Account | None:
    cached = flask.g.get("gp_account")
    if cached is not None and cached.id == account_id:
        return cached
    with transaction() as session:
        account = session.get(Account, account_id)
        if account is None or not account.active:
            return None
        session.expunge(account)
    flask.g.gp_account = account
    return account


def current_session() -> SessionRecord | None:
    """The request's live session (looked up once per request)."""
    if "gp_session" not in flask.g:
        flask.g.gp_session = store.load(flask.request.cookies.get(SESSION_COOKIE), _account_role)
    return flask.g.gp_session


def viewer_from_session() -> Viewer | None:
    """The logged-in viewer as the database says now, or None without a valid, unexpired session."""
    record = current_session()
    if record is None:
        return None
    account = _load_account(record.account_id)
    if account is None:
        return None
    return Viewer(account.id, Role(account.role.value), tuple(account.jurisdiction or ()), account.username)


# --- the guard ----------------------------------------------------------------------------------


def _too_big() -> flask.Response | None:
    """Refuse a body over the limit before anyone parses it (Content-Length is required for a body)."""
    request = flask.request
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return None
    length = request.content_length
    if length is None:
        if request.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return _json({"error": "a request body needs a Content-Length"}, 411)
        return None
    cfg = trust_settings()
    limit = cfg.max_request_bytes
    if length > limit and request.path == "/_dash-update-component":
        viewer = viewer_from_session()
        if viewer is not None and viewer.role is Role.admin:  # the import page's upload (base64)
            limit = cfg.max_import_bytes * 4 // 3 + 64 * 1024
    if length > limit:
        return _json({"error": f"request body of {length} bytes is over the limit of {limit} bytes"}, 413)
    return None


def _json(body: dict, status: int) -> flask.Response:
    return flask.Response(flask.json.dumps(body, ensure_ascii=False), status=status, content_type="application/json")


def _is_open(path: str) -> bool:
    return path in OPEN_EXACT or path.startswith(OPEN_PREFIXES)


def guard() -> flask.Response | None:
    """Runs before every request: size, session, CSRF, then the page guard."""
    refused = _too_big()
    if refused is not None:
        return refused
    path = flask.request.path
    if _is_open(path):
        return None
    viewer = viewer_from_session()
    if viewer is None:
        if path.startswith("/_dash") or flask.request.method != "GET":
            return _json({"error": "login required"}, 401)
        target = flask.request.full_path if flask.request.query_string else path
        return flask.redirect("/login?next=" + quote(safe_next(target), safe="/"))
    if flask.request.method not in ("GET", "HEAD") and not _csrf_ok(current_session()):
        return _json({"error": "missing or wrong CSRF token (X-CSRFToken): reload the page"}, 403)
    return page_guard.check(viewer)


def _csrf_ok(record: SessionRecord | None) -> bool:
    sent = flask.request.headers.get("X-CSRFToken") or flask.request.form.get("csrf", "")
    return record is not None and bool(sent) and hmac.compare_digest(sent, record.csrf)


# --- login and logout ---------------------------------------------------------------------------


def safe_next(raw: str | None) -> str:
    """Where to go after login: only one of this app's pages, with a plain query; anything else → "/".

    An allow-list, not a deny-list: escapes, backslashes, whitespace, control characters, schemes and
    hosts all fail it, whatever a browser would make of them."""
    if not raw or len(raw) > 512:
        return "/"
    try:
        parts = urlsplit(raw)
    except ValueError:
        return "/"
    if parts.scheme or parts.netloc or parts.fragment or not _SAFE_QUERY.match(parts.query):
        return "/"
    if parts.path not in {page["path"] for page in dash.page_registry.values()}:
        return "/"
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _username_problem(username: str) -> str | None:
    if not username:
        return "请输入用户名"
    if len(username) > MAX_USERNAME:
        return f"用户名过长（最多 {MAX_USERNAME} 个字符）"
    if not _USERNAME.match(username):
        return "用户名只能包含字母、数字和 . _ @ -"
    return None


def _printable(value: str, limit: int = 100) -> str:
    """A username as the audit log may hold it: control characters escaped, length capped."""
    shown = "".join(c if unicodedata.category(c)[0] != "C" else f"\\x{ord(c):02x}" for c in value[:limit])
    return shown + ("…" if len(value) > limit else "")


def _audit_login(action: str, username: str, account: Account | None, **detail: object) -> None:
    viewer = Viewer(account.id if account else None, Role(account.role.value) if account else Role.worker,
                    tuple(account.jurisdiction or ()) if account else (), _printable(username, 60) or "anonymous")
    with transaction() as session:
        audit.record(session, viewer, action, f"account:{_printable(username, 100)}"[:128],
                     address=flask.request.remote_addr, **detail)


def _form(next_url: str, error: str = "", status: int = 200) -> flask.Response:
    token = flask.request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)
    if len(token) > 64:
        token = secrets.token_urlsafe(24)
    page = _FORM.format(next=escape(next_url), csrf=escape(token),
                        error=f'<p class="error" id="login-error">{escape(error)}</p>' if error else "")
    response = flask.Response(page, status=status, content_type="text/html; charset=utf-8")
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="Strict", secure=flask.request.is_secure,
                        path="/login")
    return response


def login() -> flask.Response:
    next_url = safe_next(flask.request.values.get("next"))
    if flask.request.method == "GET":
        return _form(next_url)
    form = flask.request.form
    cookie, sent = flask.request.cookies.get(LOGIN_CSRF_COOKIE, ""), form.get("csrf", "")
    if not cookie or not sent or not hmac.compare_digest(cookie, sent):
        return _form(next_url, "登录表单已过期，请重新输入后提交", 403)
    username = form.get("username", "").strip()
    problem = _username_problem(username)
    if problem:
        _audit_login("login.refused", username, None, why=problem)
        return _form(next_url, problem, 400)
    address = flask.request.remote_addr or "unknown"
    blocked = throttle.blocked(username, address)
    if blocked is not None:
        _audit_login("login.throttled", username, None, scope=blocked.scope, retry_s=blocked.retry_s)
        return _form(next_url, blocked.message, 429)
    with transaction() as session:
        account = session.scalars(select(Account).where(Account.username == username)).first()
        if account is not None:
            session.expunge(account)
    # The same argon2 work whether or not the username exists, or the account is disabled.
    password_ok = verify_password(account.password_hash if account and account.password_hash else _DUMMY_HASH,
                                  form.get("password", ""))
    ok = password_ok and account is not None and account.active
    if not ok:
        throttle.failed(username, address)
        _audit_login("login.failed", username, account if account and account.active else None)
        return _form(next_url, "用户名或密码错误", 401)
    throttle.succeeded(username, address)
    _audit_login("login", username, account)
    token, record = store.create(account.id, Role(account.role.value))
    response = flask.redirect(next_url)
    _set_session_cookies(response, token, record)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


def _set_session_cookies(response: flask.Response, token: str, record: SessionRecord) -> None:
    secure = flask.request.is_secure
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="Lax", secure=secure, path="/")
    # Read by Dash's renderer (so not HttpOnly) and sent back as X-CSRFToken: useless without the session.
    response.set_cookie(CSRF_COOKIE, record.csrf, httponly=False, samesite="Strict", secure=secure, path="/")


def logout() -> flask.Response:
    """POST with the session's CSRF token: the session ends in Redis, so every copy of the cookie dies."""
    if flask.request.method == "GET":
        return flask.Response("退出请使用页面上的“退出”按钮（POST）", status=405,
                              headers={"Allow": "POST"}, content_type="text/plain; charset=utf-8")
    record = current_session()
    if record is not None:
        if not _csrf_ok(record):
            return _json({"error": "missing or wrong CSRF token: log out from the page's button"}, 403)
        account = _load_account(record.account_id)
        store.end(flask.request.cookies.get(SESSION_COOKIE))
        if account is not None:
            with transaction() as session:
                audit.record(session, Viewer(account.id, Role(account.role.value), tuple(account.jurisdiction or ()),
                                             account.username), "logout", f"account:{account.username}")
    response = flask.redirect("/login")
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response


def csrf_token() -> str:
    """The session's CSRF token, for forms the app renders (the logout button)."""
    record = current_session() if flask.has_request_context() else None
    return record.csrf if record is not None else ""


def install(server: flask.Flask) -> None:
    cfg = trust_settings()
    # Werkzeug's own cap, for bodies streamed without a length: the largest any request may send.
    server.config["MAX_CONTENT_LENGTH"] = max(cfg.max_request_bytes, cfg.max_import_bytes * 4 // 3 + 64 * 1024)
    server.before_request(guard)
    server.add_url_rule("/login", "login", login, methods=["GET", "POST"])
    server.add_url_rule("/logout", "logout", logout, methods=["GET", "POST"])
