"""Plotly figures of the indicator set (统计 page, wall trends): Chinese labels, the dark theme, no Dash.

Kept apart from the page so that each figure is a plain function of ``analytics.figures.Figures`` and
can be tested and reused (the wall screen's sparklines use ``sparkline``).
"""
from __future__ import annotations

import datetime as dt
from typing import Any

import plotly.graph_objects as go

from analytics.figures import Figures
from analytics.indicators import BY_KEY
from core.vocab import order_title
from layers.common import ramp

BG, PAPER, INK, MUTED = "#0b1e3a", "#0b1e3a", "#e6eefc", "#9fb6dc"
COLOURS = ["#5b9bff", "#ffd666", "#7fd8a8", "#ff8a65", "#c39bff", "#66d9e8"]
KIND_KEYS = ["pop_registered", "pop_resident", "pop_floating", "pop_overseas"]
# Plotly's zh-CN locale (its dist/plotly-locale-zh-cn.js), handed to each graph's config: dates, months and the
# mode bar in Chinese without loading another script.
ZH_CN = {
    "dictionary": {
        "Autoscale": "自动缩放", "Box Select": "矩形框选择", "Click to enter Colorscale title": "点击输入色阶的标题",
        "Click to enter Component A title": "点击输入组件A的标题", "Click to enter Plot title": "点击输入图表的标题",
        "Click to enter X axis title": "点击输入X轴的标题", "Click to enter Y axis title": "点击输入Y轴的标题",
        "Compare data on hover": "悬停时比较数据", "Double-click on legend to isolate one trace": "双击图例来突显对应轨迹",
        "Double-click to zoom back out": "双击返回缩小显示", "Download plot as a png": "下载图表为PNG格式",
        "Download plot": "下载图表", "Edit in Chart Studio": "在Chart Studio中编辑", "Lasso Select": "套索选择",
        "Pan": "平移", "Produced with Plotly": "由Plotly生成", "Reset axes": "重置轴", "Reset view": "重置视图",
        "Show closest data on hover": "悬停时显示最近的数据", "Snapshot succeeded": "生成快照成功",
        "Taking snapshot - this may take a few seconds": "正在生成快照 - 可能需要几秒钟", "Toggle Spike Lines": "切换显示数据点辅助线",
        "Zoom in": "放大", "Zoom out": "缩小", "Zoom": "缩放", "trace": "轨迹", "max": "最大值", "min": "最小值",
        "median": "中位数", "mean": "平均值",
    },
    "format": {
        "days": ["星期日", "星期一", "星期二", "星期三", "星期四", "星期五", "星期六"],
        "shortDays": ["周日", "周一", "周二", "周三", "周四", "周五", "周六"],
        "months": ["一月", "二月", "三月", "四月", "五月", "六月", "七月", "八月", "九月", "十月", "十一月", "十二月"],
        "shortMonths": ["1月", "2月", "3月", "4月", "5月", "6月", "7月", "8月", "9月", "10月", "11月", "12月"],
        "date": "%Y-%m-%d", "decimal": ".", "thousands": ",",
    },
}


def _theme(fig: go.Figure, title: str, height: int = 320) -> go.Figure:
    fig.update_layout(
        title={"text": title, "font": {"size": 18}}, paper_bgcolor=PAPER, plot_bgcolor=BG, height=height,
        font={"color": INK, "size": 14, "family": "Noto Sans CJK SC, sans-serif"},
        margin={"l": 56, "r": 20, "t": 48, "b": 48}, legend={"orientation": "h", "y": -0.2},
        separators=".,",
    )
    fig.update_xaxes(gridcolor="#1f3b73", color=MUTED)
    fig.update_yaxes(gridcolor="#1f3b73", color=MUTED, rangemode="tozero")
    return fig


def rule_label(rule: str) -> str:
    return order_title(rule)


def _days(f: Figures) -> list[dt.date]:
    return f.period.dates()


def daily_flows(f: Figures) -> go.Figure:
    days = _days(f)
    fig = go.Figure([
        go.Bar(x=days, y=[f.daily.get("entries", {}).get(d, 0) for d in days], name="进入人次", marker_color=COLOURS[0]),
        go.Bar(x=days, y=[f.daily.get("exits", {}).get(d, 0) for d in days], name="离开人次", marker_color=COLOURS[1]),
    ])
    fig.update_xaxes(tickformat="%m-%d", dtick=86400000)
    return _theme(fig, "每日通行（人次）")


def hourly_flows(f: Figures) -> go.Figure:
    xs = [h for h, _, _ in f.hourly]
    fig = go.Figure([
        go.Scatter(x=xs, y=[e for _, e, _ in f.hourly], name="进入", mode="lines", fill="tozeroy", line={"color": COLOURS[0]}),
        go.Scatter(x=xs, y=[x for _, _, x in f.hourly], name="离开", mode="lines", fill="tozeroy", line={"color": COLOURS[1]}),
    ])
    fig.update_xaxes(tickformat="%m-%d %H时")
    return _theme(fig, "逐小时通行（人次/小时）")


def daily_work(f: Figures) -> go.Figure:
    days = _days(f)
    series = [("orders_opened", "新派工单"), ("orders_closed", "办结工单"), ("orders_closed_on_time", "按期办结")]
    fig = go.Figure([go.Scatter(x=days, y=[f.daily.get(k, {}).get(d, 0) for d in days], name=label, mode="lines+markers",
                                line={"color": COLOURS[i]}) for i, (k, label) in enumerate(series)])
    fig.update_xaxes(tickformat="%m-%d", dtick=86400000)
    return _theme(fig, "工单办理（件/日）")


def population_kinds(f: Figures) -> go.Figure:
    labels = [BY_KEY[k].label for k in KIND_KEYS]
    values = [f.values.get(k) or 0 for k in KIND_KEYS]
    fig = go.Figure(go.Bar(x=labels, y=values, marker_color=COLOURS[:4], text=[f"{int(v):,}" for v in values],
                           textposition="outside"))
    return _theme(fig, "实有人口构成（人）")


def rule_precision(f: Figures) -> go.Figure:
    rules = sorted(r for r, v in f.per_rule.items() if v.get("precision") is not None)
    fig = go.Figure(go.Bar(
        y=[rule_label(r) for r in rules], x=[f.per_rule[r]["precision"] for r in rules], orientation="h",
        marker_color=COLOURS[2], text=[f"{f.per_rule[r]['precision']:.0f}%" for r in rules], textposition="auto"))
    fig.update_xaxes(range=[0, 100], ticksuffix="%")
    fig = _theme(fig, "各规则预警准确率（核查属实+更正 / 全部核查）", height=max(260, 60 + 36 * len(rules)))
    fig.update_layout(margin={"l": 200})
    return fig


def place_map(shapes: list[dict[str, Any]], key: str) -> go.Figure:
    """A thumbnail of the child places, each filled by ``key`` on the wall's blue→red ramp, drawn in
    lon/lat without a base map (nothing is fetched from outside)."""
    ind = BY_KEY[key]
    values = [s["value"] for s in shapes if s["value"] is not None]
    top = max(values, default=0.0)
    fig = go.Figure()
    for s in shapes:
        r, g, b, _ = ramp(s["value"] or 0.0, top)
        for ring in s["rings"]:
            xs, ys = zip(*ring)
            fig.add_trace(go.Scatter(x=xs, y=ys, fill="toself", mode="lines", line={"color": "#cfe0ff", "width": 1},
                                     fillcolor=f"rgba({r},{g},{b},0.85)", hoveron="fills", showlegend=False,
                                     name=s["name"], text=f"{s['name']}：{s['label']}", hoverinfo="text"))
        fig.add_trace(go.Scatter(x=[s["cx"]], y=[s["cy"]], mode="text", text=[f"{s['name']}<br>{s['label']}"],
                                 textfont={"color": "#ffffff", "size": 12}, showlegend=False, hoverinfo="skip"))
    # the colour scale, on an invisible point
    fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", showlegend=False, hoverinfo="skip", marker={
        "colorscale": [[0, "rgb(37,99,160)"], [0.5, "rgb(250,190,60)"], [1, "rgb(230,60,50)"]],
        "cmin": 0, "cmax": top or 1, "color": [0], "showscale": True,
        "colorbar": {"title": {"text": ind.unit}, "thickness": 12}}))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, scaleanchor="x", scaleratio=1.18)  # ≈ 1/cos(32°): metres look square
    return _theme(fig, f"下级区域：{ind.label}", height=360)


def sparkline(xs: list[Any], ys: list[float], colour: str, title: str) -> go.Figure:
    """A wall-screen trend: an area under a line, no axes to read across a room but its last value."""
    fig = go.Figure(go.Scatter(x=xs, y=ys, mode="lines", fill="tozeroy", line={"color": colour, "width": 3},
                               fillcolor=colour + "55", hoverinfo="skip"))
    fig.update_layout(paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)", showlegend=False,
                      margin={"l": 4, "r": 4, "t": 4, "b": 4}, autosize=True,
                      meta={"title": title, "points": len(ys), "last": ys[-1] if ys else None})
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, rangemode="tozero")
    return fig
