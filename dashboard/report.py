"""一键生成周报: a place's week of figures as an .xlsx workbook and a printable PDF with charts.

Both are read through ``analytics.figures`` (the same numbers as the 统计 page), for a place the
viewer's jurisdiction covers. A report leaves the system like an export does, so it is treated like
one: the watermark of ``intake.exports`` (who, when, why) is the first row of every sheet, the
workbook's and the PDF's document properties, and a line across every PDF page; and every
generation is written to the audit log (``report.weekly``) in the same transaction as the read.

The PDF is drawn with matplotlib's PDF backend (PyPI, no browser or office suite needed) in the
system's Noto Sans CJK (Debian's fonts-noto-cjk, installed by `make`).

What a report holds follows the viewer's role exactly as the page does (``analytics.audience``): a
police account's report has the population and flow figures only, no work-order sheet, rows or charts.
"""
from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from pathlib import Path

from analytics import figures as F
from analytics.audience import groups_for
from analytics.indicators import BY_KEY, GROUPS, INDICATORS
from analytics.stats_refresh import refresh_if_stale
from blockdata import audit
from blockdata.db import transaction
from core.errors import InvalidInput
from core.viewer import Viewer
from intake.exports import watermark

STALE = dt.timedelta(minutes=5)
SUMMARY_KEYS = ["pop_actual", "pop_floating", "pop_realtime", "density", "arrivals", "departures", "arrival_registered",
                "departure_verified", "cov_credential", "cov_dwellings_known", "orders_opened", "orders_closed",
                "on_time_rate", "orders_overdue", "median_close_h", "precision", "entries", "exits", "peak_hour",
                "keysite_surges"]
CJK_FONTS = ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc")


@dataclass(frozen=True)
class Report:
    basename: str
    xlsx: bytes
    pdf: bytes
    watermark: str
    figures: F.Figures


def weekly(viewer: Viewer, place: str, week: str, *, reason: str = "周报", now: dt.datetime | None = None) -> Report:
    """Build the week's report of ``place`` for ``viewer`` and audit it (nothing is audited on a refusal)."""
    p = F.iso_week(week)
    at = now or dt.datetime.now(dt.timezone.utc)
    with transaction() as session:  # its own transaction: the refresh's lock is not held while the report reads
        refresh_if_stale(session, STALE)
    with transaction() as session:
        where = F.resolve(session, viewer, place)
        this, before = F.compute(session, where, p), F.compute(session, where, p.previous())
        mark = watermark(viewer, at, reason)
        basename = f"weekly-{where.code}-{week}"
        groups = groups_for(viewer)
        report = Report(basename, _xlsx(this, before, mark, groups), _pdf(this, before, mark, groups), mark, this)
        audit.record(session, viewer, "report.weekly", f"place:{where.code}", reason=reason, week=week,
                     files=[basename + ".xlsx", basename + ".pdf"], watermark=mark, groups=groups)
    return report


def write_weekly(viewer: Viewer, place: str, week: str, out_dir: Path, *, reason: str = "周报") -> list[Path]:
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise InvalidInput(f"{out_dir} is not a folder: create it or pass --out an existing one", record="report")
    report = weekly(viewer, place, week, reason=reason)
    paths = [out_dir / f"{report.basename}.xlsx", out_dir / f"{report.basename}.pdf"]
    paths[0].write_bytes(report.xlsx)
    paths[1].write_bytes(report.pdf)
    return paths


# --- the workbook -------------------------------------------------------------------------------

def _summary_keys(groups: list[str]) -> list[str]:
    """The summary's rows of the groups shown: a role that may not see a group sees none of its figures."""
    return [k for k in SUMMARY_KEYS if BY_KEY[k].group in groups]


def _xlsx(this: F.Figures, before: F.Figures, mark: str, groups: list[str]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    head_fill, head_font = PatternFill("solid", fgColor="1F3B73"), Font(bold=True, color="FFFFFF")
    thin = Side(style="thin", color="9FB6DC")
    box = Border(left=thin, right=thin, top=thin, bottom=thin)

    def header(ws, row: int, titles: list[str]) -> None:  # noqa: ANN001
        for col, title in enumerate(titles, 1):
            cell = ws.cell(row=row, column=col, value=title)
            cell.fill, cell.font, cell.border = head_fill, head_font, box
            cell.alignment = Alignment(horizontal="center")

    def widths(ws, cols: list[int]) -> None:  # noqa: ANN001
        for i, w in enumerate(cols, 1):
            ws.column_dimensions[get_column_letter(i)].width = w

    ws = wb.active
    ws.title = "汇总"
    ws.append([mark])
    ws["A1"].font = Font(italic=True, color="C00000", size=9)
    ws.append([f"{this.place.name} 周报"])
    ws["A2"].font = Font(bold=True, size=16)
    ws.append([f"统计周期：{this.period.label()}；对比上期：{before.period.label()}"])
    ws.append([])
    header(ws, 5, ["指标", "本周", "上周", "变化", "单位"])
    for key in _summary_keys(groups):
        ind = BY_KEY[key]
        a, b = this.values.get(key), before.values.get(key)
        ws.append([ind.label, a, b, (a - b) if a is not None and b is not None else None, ind.unit])
        for cell in ws[ws.max_row]:
            cell.border = box
        _number_format(ws, ws.max_row, key)
    widths(ws, [28, 14, 14, 14, 10])
    ws.freeze_panes = "A6"

    for group in groups:
        title = GROUPS[group]
        sheet = wb.create_sheet(title)
        sheet.append([mark])
        sheet["A1"].font = Font(italic=True, color="C00000", size=9)
        days = this.period.dates()
        header(sheet, 2, ["指标", "代码", "本周", "上周", "单位", "定义"] + [d.strftime("%m-%d") for d in days])
        for ind in INDICATORS:
            if ind.group != group:
                continue
            daily = [this.daily.get(ind.key, {}).get(d) if ind.kind in ("count", "flow", "stock") else None for d in days]
            sheet.append([ind.label, ind.key, this.values.get(ind.key), before.values.get(ind.key), ind.unit, ind.definition]
                         + [v if v is not None else (0 if ind.kind == "count" else None) for v in daily])
            _number_format(sheet, sheet.max_row, ind.key)
        if group == "work":
            sheet.append([])
            start = sheet.max_row + 1
            header(sheet, start, ["规则", "代码", "新派工单", "核查属实", "核查更正", "核查不属实", "准确率(%)"])
            from dashboard.stats_charts import rule_label

            for rule in sorted(this.per_rule):
                got = this.per_rule[rule]
                sheet.append([rule_label(rule), rule, got.get("orders_opened", 0), got.get("findings_confirmed", 0),
                              got.get("findings_corrected", 0), got.get("findings_dismissed", 0), got.get("precision")])
        widths(sheet, [26, 24, 12, 12, 9, 60] + [9] * len(days))
        sheet.freeze_panes = "C3"
    wb.properties.creator = "GridPulse"
    wb.properties.title = f"{this.place.name} 周报 {this.period.label()}"
    wb.properties.description = mark
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _number_format(ws, row: int, key: str) -> None:  # noqa: ANN001
    ind = BY_KEY[key]
    fmt = "0.0" if ind.kind == "share" or ind.kind == "median" else "#,##0"
    for cell in ws[row][1:4]:
        if isinstance(cell.value, (int, float)):
            cell.number_format = fmt


# --- the printable PDF --------------------------------------------------------------------------

def _font() -> None:
    import matplotlib
    from matplotlib import font_manager

    for path in CJK_FONTS:
        if Path(path).exists():
            font_manager.fontManager.addfont(path)
    matplotlib.rcParams["font.family"] = ["Noto Sans CJK SC", "DejaVu Sans"]
    matplotlib.rcParams["axes.unicode_minus"] = False


def _page(fig, mark: str, n: int) -> None:  # noqa: ANN001
    fig.text(0.5, 0.5, "GridPulse 内部资料 · 注意保密", fontsize=46, color="#d0d7e6", alpha=0.35, rotation=30,
             ha="center", va="center", zorder=0)
    fig.text(0.02, 0.012, mark, fontsize=6.5, color="#a03030")
    fig.text(0.98, 0.012, f"第 {n} 页", fontsize=8, ha="right")


def _pdf(this: F.Figures, before: F.Figures, mark: str, groups: list[str]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    from dashboard.stats_charts import KIND_KEYS, rule_label

    _font()
    buf = io.BytesIO()
    with PdfPages(buf, metadata={"Title": f"{this.place.name} 周报 {this.period.label()}", "Author": "GridPulse",
                                 "Subject": mark, "Keywords": "watermark"}) as pdf:
        fig = plt.figure(figsize=(8.27, 11.69))  # A4 portrait
        fig.text(0.5, 0.95, f"{this.place.name} 周报", fontsize=22, ha="center", weight="bold")
        fig.text(0.5, 0.92, f"统计周期：{this.period.label()}    对比上期：{before.period.label()}", fontsize=10, ha="center")
        ax = fig.add_axes((0.07, 0.06, 0.86, 0.83))
        ax.axis("off")
        rows = [[BY_KEY[k].label, F.fmt(k, this.values.get(k)), F.fmt(k, before.values.get(k)),
                 F.change(this.values.get(k), before.values.get(k)), BY_KEY[k].unit] for k in _summary_keys(groups)]
        table = ax.table(cellText=rows, colLabels=["指标", "本周", "上周", "变化", "单位"], loc="upper center",
                         colWidths=[0.34, 0.16, 0.16, 0.2, 0.14], cellLoc="center")
        table.auto_set_font_size(False)
        table.set_fontsize(10)
        table.scale(1, 1.6)
        for (r, _c), cell in table.get_celld().items():
            if r == 0:
                cell.set_facecolor("#1f3b73")
                cell.get_text().set_color("white")
        _page(fig, mark, 1)
        pdf.savefig(fig)
        plt.close(fig)

        work = "work" in groups
        fig, axes = plt.subplots(2, 2, figsize=(11.69, 8.27))  # A4 landscape, four charts (two without the work)
        if not work:
            axes[0][1].remove()
            axes[1][1].remove()
        days = this.period.dates()
        labels = [d.strftime("%m-%d") for d in days]
        x = range(len(days))
        a = axes[0][0]
        a.bar([i - 0.2 for i in x], [this.daily.get("entries", {}).get(d, 0) for d in days], 0.4, label="进入人次", color="#2f6fd6")
        a.bar([i + 0.2 for i in x], [this.daily.get("exits", {}).get(d, 0) for d in days], 0.4, label="离开人次", color="#e0a020")
        a.set_xticks(list(x), labels)
        a.set_title("每日通行（人次）")
        a.legend()
        a = axes[1][0]
        values = [this.values.get(k) or 0 for k in KIND_KEYS]
        a.bar([BY_KEY[k].label for k in KIND_KEYS], values, color=["#2f6fd6", "#e0a020", "#2a9d5c", "#d0503a"])
        a.set_title("实有人口构成（人）")
        if work:
            a = axes[0][1]
            for key, label, colour in (("orders_opened", "新派工单", "#2f6fd6"), ("orders_closed", "办结工单", "#e0a020"),
                                       ("orders_closed_on_time", "按期办结", "#2a9d5c")):
                a.plot(labels, [this.daily.get(key, {}).get(d, 0) for d in days], marker="o", label=label, color=colour)
            a.set_title("工单办理（件/日）")
            a.legend()
            a = axes[1][1]
            rules = sorted(r for r, v in this.per_rule.items() if v.get("precision") is not None)
            a.barh([rule_label(r) for r in rules], [this.per_rule[r]["precision"] for r in rules], color="#2a9d5c")
            a.set_xlim(0, 100)
            a.set_title("各规则预警准确率（%）")
        fig.suptitle(f"{this.place.name} · {this.period.label()}", fontsize=14)
        fig.tight_layout(rect=(0, 0.03, 1, 0.96))
        _page(fig, mark, 2)
        pdf.savefig(fig)
        plt.close(fig)
    return buf.getvalue()
