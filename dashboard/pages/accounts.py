"""账号: the admin's page for accounts and duty areas — create, disable, enable, reset a password, assign.

The same operations and refusals as ``gridpulse accounts`` (blockdata/accounts.py), acted and audited as the
logged-in admin. Admin only: the layout shows nothing else to other roles, and every callback checks the role
again on the server (a crafted callback from another role is refused and audited). A generated password is
shown once in the page's answer and kept nowhere else (not in a store, not in the log); a typed one is typed
twice. Duty areas are picked from the places that exist (streets, communities, grids) by code and name.
"""
from __future__ import annotations

from typing import Any

import dash
from dash import Input, Output, State, ctx, dcc, html, no_update
from sqlalchemy import select

from core.errors import AccessDenied, GridPulseError
from core.viewer import Role, Viewer
from dashboard.session import current_viewer, viewer_or_none
from blockdata import accounts, audit
from blockdata.db import transaction
from blockdata.models import Grid, Region, RegionLevel

dash.register_page(__name__, path="/accounts", name="账号", title="GridPulse 账号", order=7)

ROLE_OPTIONS = [{"label": f"{accounts.ROLE_NAMES[r]} ({r.value})", "value": r.value} for r in Role]
LEVEL_NAMES = {RegionLevel.city: "市", RegionLevel.district: "区", RegionLevel.street: "街道", RegionLevel.community: "社区"}


def _admin() -> Viewer:
    viewer = current_viewer()
    if viewer.role is not Role.admin:
        with transaction() as s:
            audit.record(s, viewer, "access.denied", "page:/accounts", reason="the accounts page is admin only")
        raise AccessDenied("the accounts page is for admins only")
    return viewer


def area_options() -> list[dict[str, str]]:
    """Every place a duty area can be made of: regions below the city, and grids, by code and name."""
    with transaction() as s:
        regions = s.execute(select(Region.code, Region.name, Region.level).where(Region.level != RegionLevel.city)
                            .order_by(Region.code)).all()
        grids = s.execute(select(Grid.code, Grid.name).order_by(Grid.code)).all()
    return ([{"label": f"{c} {n}（{LEVEL_NAMES[lv]}）", "value": c} for c, n, lv in regions]
            + [{"label": f"{c} {n}（网格）", "value": c} for c, n in grids])


def account_table() -> html.Table:
    with transaction() as s:
        rows = accounts.listing(s)
    head = html.Tr([html.Th(h) for h in ("账号", "姓名", "角色", "责任区", "状态")])
    body = [html.Tr([html.Td(r.username), html.Td(r.display_name), html.Td(accounts.ROLE_NAMES[Role(r.role)]),
                     html.Td("、".join(f"{n}（{c}）" for c, n in zip(r.jurisdiction, r.area_names)) or "全部"),
                     html.Td("启用" if r.active else "停用")], className=None if r.active else "disabled",
                    id=f"account-row-{r.username}") for r in rows]
    return html.Table([head, *body], className="grid-table", id="accounts-rows")


def usernames() -> list[dict[str, str]]:
    with transaction() as s:
        return [{"label": f"{r.username}（{accounts.ROLE_NAMES[Role(r.role)]}{'' if r.active else '，已停用'}）",
                 "value": r.username} for r in accounts.listing(s)]


def layout(**_query: str) -> html.Div:
    viewer = viewer_or_none()
    if viewer is None:  # layout validation at start-up; real requests are guarded by dashboard/auth.py
        return html.Div()
    if viewer.role is not Role.admin:
        with transaction() as s:
            audit.record(s, viewer, "access.denied", "page:/accounts", reason="the accounts page is admin only")
        return html.Div(className="refused", id="page-refused", children="无权访问此页面")
    areas = area_options()
    return html.Div(className="orders accounts", style={"maxWidth": "1200px"}, children=[
        html.H2("账号与责任区"),
        html.Div(id="accounts-table", children=account_table()),
        html.H3("新建账号"),
        html.Div(className="timebar", children=[
            dcc.Input(id="new-username", placeholder="账号（字母、数字）"),
            dcc.Input(id="new-name", placeholder="姓名"),
            dcc.Dropdown(id="new-role", options=ROLE_OPTIONS, placeholder="角色", style={"width": "200px"}),
            dcc.Dropdown(id="new-area", options=areas, multi=True, placeholder="责任区：网格员选网格，网格长选社区",
                         style={"minWidth": "360px"}),
        ]),
        html.Div(className="timebar", children=[
            dcc.RadioItems(id="new-password-mode", value="generate", inline=True,
                           options=[{"label": "生成密码（只显示一次）", "value": "generate"},
                                    {"label": "输入密码（两次）", "value": "typed"}]),
            dcc.Input(id="new-password", type="password", placeholder="密码"),
            dcc.Input(id="new-password2", type="password", placeholder="再次输入密码"),
            html.Button("创建", id="accounts-create"),
        ]),
        html.H3("管理账号"),
        html.Div(className="timebar", children=[
            dcc.Dropdown(id="manage-user", options=usernames(), placeholder="选择账号", style={"width": "280px"}),
            html.Button("停用", id="accounts-disable"), html.Button("启用", id="accounts-enable"),
            html.Button("重置密码（生成）", id="accounts-reset"),
        ]),
        html.Div(className="timebar", children=[
            dcc.Dropdown(id="manage-role", options=ROLE_OPTIONS, placeholder="角色（不变）", style={"width": "200px"}),
            dcc.Dropdown(id="manage-area", options=areas, multi=True, placeholder="新的责任区（整体替换）",
                         style={"minWidth": "360px"}),
            html.Button("调整责任区", id="accounts-assign"),
        ]),
        html.Div(id="accounts-message", role="status"),
    ])


def _ok(text: str, secret: str | None = None) -> html.Div:
    children: list[Any] = [html.P(text, className="ok")]
    if secret:
        children.append(html.P(["密码（只显示这一次，请当面交给本人）：", html.Code(secret, id="accounts-secret")]))
    return html.Div(children)


@dash.callback(
    Output("accounts-message", "children"), Output("accounts-table", "children"), Output("manage-user", "options"),
    Input("accounts-create", "n_clicks"), Input("accounts-disable", "n_clicks"), Input("accounts-enable", "n_clicks"),
    Input("accounts-reset", "n_clicks"), Input("accounts-assign", "n_clicks"),
    State("new-username", "value"), State("new-name", "value"), State("new-role", "value"), State("new-area", "value"),
    State("new-password-mode", "value"), State("new-password", "value"), State("new-password2", "value"),
    State("manage-user", "value"), State("manage-role", "value"), State("manage-area", "value"),
    prevent_initial_call=True,
)
def act(_c: Any, _d: Any, _e: Any, _r: Any, _a: Any, username: str | None, name: str | None, role: str | None,
        area: list[str] | None, mode: str, password: str | None, password2: str | None, target: str | None,
        new_role: str | None, new_area: list[str] | None) -> tuple[Any, Any, Any]:
    """One admin action; a refusal shows its one-line reason and changes nothing."""
    try:
        admin = _admin()
        message = _apply(admin, ctx.triggered_id, username=(username or "").strip(), name=name, role=role, area=area,
                         mode=mode, password=password, password2=password2, target=target, new_role=new_role,
                         new_area=new_area)
    except AccessDenied:
        return html.P("无权管理账号（已记录）", className="error", id="accounts-refused"), no_update, no_update
    except GridPulseError as exc:
        return html.P(str(exc), className="error", id="accounts-error"), no_update, no_update
    return message, account_table(), usernames()


def _apply(admin: Viewer, action: str, *, username: str, name: str | None, role: str | None, area: list[str] | None,
           mode: str, password: str | None, password2: str | None, target: str | None, new_role: str | None,
           new_area: list[str] | None) -> html.Div:
    from core.errors import InvalidInput

    if action == "accounts-create":
        if not role:
            raise InvalidInput("choose a role", record="角色")
        typed = None
        if mode == "typed":
            typed = accounts.check_password(password or "", password2 or "")
        with transaction() as s:
            account, generated = accounts.create(s, admin, username=username, role=Role(role), area=area or [],
                                                 display_name=name, password=typed)
        return _ok(f"已创建 {account.username}（{accounts.ROLE_NAMES[account.role]}）", generated)
    if not target:
        raise InvalidInput("choose an account first", record="账号")
    with transaction() as s:
        if action in ("accounts-disable", "accounts-enable"):
            accounts.set_active(s, admin, target, action == "accounts-enable")
            return _ok(f"{target} 已{'启用' if action == 'accounts-enable' else '停用'}")
        if action == "accounts-reset":
            return _ok(f"{target} 的密码已重置", accounts.reset_password(s, admin, target))
        if action == "accounts-assign":
            account = accounts.assign(s, admin, target, new_area or [], Role(new_role) if new_role else None)
            return _ok(f"{target} 的责任区已调整为：{'、'.join(account.jurisdiction) or '全部'}")
    raise InvalidInput(f"unknown action {action}", record="账号")
