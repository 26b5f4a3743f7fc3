"""导入: the admin's import page. Upload a file, read the dry run's report, then apply it with a progress bar.

Admin only: the one page guard (dashboard/page_guard.py) refuses the page and every callback of it to
other roles (a crafted callback is refused and audited). The upload is kept under var/imports/
(never in the repository, mode 600) only until it is applied or replaced, or for
GRIDPULSE_IMPORT_KEEP_MINUTES after its last dry run (intake/upload_store.py). The dry run and the real run are the
same ``intake.importers.run_import`` the command line uses: all rows or none, with the same per-row
report. The real run goes in a thread of this process, reporting its progress through
``run_import(progress=…)``; the page polls it. An applied import is written to the audit log.

The command line's options are here too, each shown only for the kinds it applies to (and ignored for
the others, so a choice left behind by another kind never reaches the import): 方式 ``--mode
insert|upsert`` (regions, compounds, key_sites, buildings), 表类 ``--utility water|electricity|gas``
(a utility company's file without a kind column) and 来源 ``--source osm|file`` (the place kinds).
"""
from __future__ import annotations

import base64
import binascii
import shutil
import threading
import uuid
from pathlib import Path
from typing import Any

import dash
from dash import Input, Output, State, dash_table, dcc, html, no_update
from dash.exceptions import PreventUpdate

from core.config import trust_settings
from core.errors import GridPulseError
from core.viewer import Viewer
from dashboard.roles import ADMIN
from dashboard.session import current_viewer, viewer_or_none
from blockdata import audit
from blockdata.db import transaction
from intake import upload_store
from intake.importers import FEATURE_KINDS, KIND_LABELS, KINDS, UPSERT_KINDS, ImportRefused, Options, Report, run_import

dash.register_page(__name__, path="/imports", name="导入", title="GridPulse 导入", roles=ADMIN)

MAX_BYTES = trust_settings().max_import_bytes
_SUFFIXES = (".geojson", ".json", ".zip", ".gpkg", ".csv", ".xlsx")
MODE_OPTIONS = [{"label": "方式：仅新增（已有编码拒绝）", "value": "insert"}, {"label": "方式：新增或更新", "value": "upsert"}]
UTILITY_OPTIONS = [{"label": "表类：水", "value": "water"}, {"label": "表类：电", "value": "electricity"},
                   {"label": "表类：气", "value": "gas"}]
SOURCE_OPTIONS = [{"label": "来源：自动识别", "value": "auto"}, {"label": "来源：OpenStreetMap 导出", "value": "osm"},
                  {"label": "来源：自有文件（不按 OSM）", "value": "file"}]
_SHOWN, _HIDDEN = {"display": "inline-block"}, {"display": "none"}
COLUMNS = [{"name": n, "id": i} for n, i in
           (("行", "row"), ("记录", "record"), ("字段", "field"), ("状态", "status"), ("原因", "reason"))]

# Real runs in progress or finished, by job id: {owner, done, total, state, report, error}.
_jobs: dict[str, dict[str, Any]] = {}
_jobs_lock = threading.Lock()


def import_options(kind: str, mode: str | None, utility: str | None, source: str | None) -> Options:
    """The CLI's ``Options`` from the page's controls, keeping only those that apply to ``kind``:
    a hidden control keeps its last value, which must not change an import of another kind."""
    return Options(mode=(mode or "insert") if kind in UPSERT_KINDS else "insert",
                   utility=(utility or None) if kind == "utility" else None,
                   source=source if kind in FEATURE_KINDS and source in ("osm", "file") else None)


def _admin() -> Viewer:
    """The session's viewer; the page guard has let only admins reach this page's callbacks."""
    return current_viewer()


def layout(**_query: str) -> html.Div:
    viewer = viewer_or_none()
    if viewer is None:  # layout validation at start-up; real requests are guarded by dashboard/auth.py
        return html.Div()
    return html.Div(className="imports", children=[
        html.H2("导入数据"),
        html.Div(className="imports-form", children=[
            dcc.Dropdown(id="imports-kind", options=[{"label": f"{KIND_LABELS[k]} ({k})", "value": k} for k in KINDS],
                         value="addresses", clearable=False, style={"width": "260px"}),
            dcc.Input(id="imports-crs", placeholder="坐标系（可选，如 gcj02、EPSG:4549）", style={"width": "260px"}),
            html.Div(id="imports-mode-box", style=_HIDDEN, children=dcc.Dropdown(
                id="imports-mode", options=MODE_OPTIONS, value="insert", clearable=False, style={"width": "260px"})),
            html.Div(id="imports-utility-box", style=_HIDDEN, children=dcc.Dropdown(
                id="imports-utility", options=UTILITY_OPTIONS, value=None, placeholder="表类：按文件的类型列（水/电/气）",
                style={"width": "260px"})),
            html.Div(id="imports-source-box", style=_SHOWN, children=dcc.Dropdown(
                id="imports-source", options=SOURCE_OPTIONS, value="auto", clearable=False, style={"width": "260px"})),
            dcc.Upload(id="imports-upload", children=html.Div(["拖放文件或", html.A("选择文件")]),
                       max_size=MAX_BYTES, multiple=False,
                       style={"border": "1px dashed #888", "padding": "12px", "width": "320px", "textAlign": "center"}),
        ]),
        html.Div(id="imports-file"),
        html.Button("试运行（不写入）", id="imports-dry-run", disabled=True),
        html.Button("应用", id="imports-apply", disabled=True),
        html.Div(id="imports-summary"),
        html.Progress(id="imports-progress", value="0", max="100", style={"width": "420px", "display": "none"}),
        html.Div(id="imports-progress-text"),
        dash_table.DataTable(id="imports-report", columns=COLUMNS, data=[], page_size=50,
                             style_cell={"textAlign": "left", "whiteSpace": "normal"},
                             style_data_conditional=[
                                 {"if": {"filter_query": "{status} = rejected"}, "backgroundColor": "#fde2e1"},
                                 {"if": {"filter_query": "{status} = review"}, "backgroundColor": "#fff4d6"}]),
        dcc.Store(id="imports-token"),
        dcc.Store(id="imports-job"),
        dcc.Interval(id="imports-poll", interval=500, disabled=True),
    ])


def _upload_path(token: str | None) -> Path:
    if not token:
        raise PreventUpdate
    try:
        return upload_store.path_of(token)
    except GridPulseError:
        raise PreventUpdate from None


def _rows(report: Report) -> list[dict[str, Any]]:
    return [{"row": p.row, "record": p.record, "field": p.field, "status": p.status, "reason": p.reason}
            for p in report.problems]


def _summary(report: Report, *, applied: bool) -> str:
    s = report.summary
    head = f"{report.rows} 行，拒绝 {len(report.rejected_rows)} 行"
    if "match_rate" in s:
        head += f"，非标准地址 {s['non_standard']}，匹配 {s['matched']}（{s['match_rate']:.0%}）"
    if applied:
        return f"已写入 {s.get('written', 0)} 行（{head}）"
    return f"试运行：{head}。" + ("可以应用。" if report.ok else "有被拒绝的行：修正文件后重新上传。")


@dash.callback(
    Output("imports-mode-box", "style"), Output("imports-utility-box", "style"), Output("imports-source-box", "style"),
    Input("imports-kind", "value"),
)
def options_shown(kind: str) -> tuple[dict, dict, dict]:
    """Only the options that apply to the kind: mode for the upsertable kinds, the utility for utility
    readings, the source for the place kinds (the same sets ``run_import`` checks)."""
    _admin()
    return (_SHOWN if kind in UPSERT_KINDS else _HIDDEN, _SHOWN if kind == "utility" else _HIDDEN,
            _SHOWN if kind in FEATURE_KINDS else _HIDDEN)


@dash.callback(
    Output("imports-apply", "disabled", allow_duplicate=True),
    Input("imports-kind", "value"), Input("imports-crs", "value"), Input("imports-mode", "value"),
    Input("imports-utility", "value"), Input("imports-source", "value"),
    prevent_initial_call=True,
)
def settings_changed(_kind: str, _crs: str | None, _mode: str, _utility: str | None, _source: str) -> bool:
    """Another kind, CRS or option than the dry run's: apply waits for a new dry run."""
    _admin()
    return True


@dash.callback(
    Output("imports-token", "data"), Output("imports-file", "children"), Output("imports-dry-run", "disabled"),
    Output("imports-apply", "disabled", allow_duplicate=True), Output("imports-report", "data", allow_duplicate=True),
    Output("imports-summary", "children", allow_duplicate=True),
    Input("imports-upload", "contents"), State("imports-upload", "filename"), State("imports-token", "data"),
    prevent_initial_call=True,
)
def receive(contents: str | None, filename: str | None, old_token: str | None):  # noqa: ANN201
    """A new file: kept under var/imports/; apply waits for its own dry run."""
    _admin()
    if not contents or not filename:
        raise PreventUpdate
    name = Path(filename).name
    if not name.lower().endswith(_SUFFIXES):
        return None, f"不支持的文件类型：{name}（{', '.join(_SUFFIXES)}）", True, True, [], ""
    try:
        data = base64.b64decode(contents.split(",", 1)[1], validate=True)
    except (IndexError, binascii.Error):
        return None, "无法读取上传的文件", True, True, [], ""
    if len(data) > MAX_BYTES:
        return None, f"文件超过 {MAX_BYTES // 1024 // 1024} MB", True, True, [], ""
    upload_store.discard(old_token)
    upload_store.sweep()
    try:
        token = upload_store.save(name, data)  # mode 600 in a 700 folder; swept when left unapplied
    except GridPulseError as exc:
        return None, f"无法保存上传的文件：{exc.reason}", True, True, [], ""
    return token, f"已上传：{name}（{len(data):,} 字节）", False, True, [], ""


@dash.callback(
    Output("imports-report", "data"), Output("imports-summary", "children"), Output("imports-apply", "disabled"),
    Input("imports-dry-run", "n_clicks"),
    State("imports-token", "data"), State("imports-kind", "value"), State("imports-crs", "value"),
    State("imports-mode", "value"), State("imports-utility", "value"), State("imports-source", "value"),
    prevent_initial_call=True,
)
def dry_run(_n: int | None, token: str | None, kind: str, crs: str | None, mode: str | None = None,  # noqa: ANN201
            utility: str | None = None, source: str | None = None):
    _admin()
    if not token:
        raise PreventUpdate
    try:
        path = upload_store.path_of(token)
        report = run_import(kind, path, crs=(crs or "").strip() or None, dry_run=True,
                            options=import_options(kind, mode, utility, source))
    except GridPulseError as exc:
        return [], f"无法导入：{exc}", True
    return _rows(report), _summary(report, applied=False), not report.ok


def _run(job: str, kind: str, path: Path, crs: str | None, options: Options, viewer: Viewer) -> None:
    def progress(done: int, total: int) -> None:
        with _jobs_lock:
            _jobs[job].update(done=done, total=total)

    try:
        # The run is recorded (undoable) and audited as ``import`` by the viewer inside the import's transaction.
        report = run_import(kind, path, crs=crs, progress=progress, options=options, viewer=viewer)
        state: dict[str, Any] = {"state": "done", "report": report}
    except ImportRefused as exc:
        state = {"state": "refused", "report": exc.report}
    except Exception as exc:  # noqa: BLE001 - shown to the admin, the import rolled back
        state = {"state": "failed", "error": str(exc)}
    finally:
        shutil.rmtree(path.parent, ignore_errors=True)
    with _jobs_lock:
        _jobs[job].update(state)


@dash.callback(
    Output("imports-job", "data"), Output("imports-poll", "disabled"), Output("imports-apply", "disabled", allow_duplicate=True),
    Output("imports-progress", "style"), Output("imports-token", "data", allow_duplicate=True),
    Input("imports-apply", "n_clicks"),
    State("imports-token", "data"), State("imports-kind", "value"), State("imports-crs", "value"),
    State("imports-mode", "value"), State("imports-utility", "value"), State("imports-source", "value"),
    prevent_initial_call=True,
)
def apply(_n: int | None, token: str | None, kind: str, crs: str | None, mode: str | None = None,  # noqa: ANN201
          utility: str | None = None, source: str | None = None):
    viewer = _admin()
    path = _upload_path(token)
    job = uuid.uuid4().hex
    with _jobs_lock:
        _jobs[job] = {"owner": viewer.username, "done": 0, "total": 0, "state": "running"}
    options = import_options(kind, mode, utility, source)
    threading.Thread(target=_run, args=(job, kind, path, (crs or "").strip() or None, options, viewer), daemon=True,
                     name=f"import-{job[:8]}").start()
    return job, False, True, {"width": "420px", "display": "block"}, None


@dash.callback(
    Output("imports-progress", "value"), Output("imports-progress-text", "children"),
    Output("imports-poll", "disabled", allow_duplicate=True),
    Output("imports-report", "data", allow_duplicate=True), Output("imports-summary", "children", allow_duplicate=True),
    Input("imports-poll", "n_intervals"), State("imports-job", "data"),
    prevent_initial_call=True,
)
def poll(_n: int, job: str | None):  # noqa: ANN201
    viewer = _admin()
    with _jobs_lock:
        state = dict(_jobs.get(job or "", {}))
    if not state or state["owner"] != viewer.username:
        raise PreventUpdate
    pct = round(100 * state["done"] / state["total"]) if state["total"] else 0
    if state["state"] == "running":
        return str(pct), f"导入中… {state['done']}/{state['total']}", False, no_update, no_update
    with _jobs_lock:
        _jobs.pop(job, None)
    if state["state"] == "failed":
        return str(pct), "导入失败，未写入任何数据", True, [], state["error"]
    report: Report = state["report"]
    if state["state"] == "refused":
        return str(pct), "导入被拒绝，未写入任何数据", True, _rows(report), _summary(report, applied=False)
    return "100", "完成", True, _rows(report), _summary(report, applied=True)
