"""Issue #16 item 17, through the real app's import page callbacks (an administrator's session):

- an uploaded import is readable by others on the server, or stays after a dry run nobody applied;
- a zip bomb (by ratio), a zip of too many members or too many bytes, an xlsx bomb;
- zip members whose names leave the archive (``../``, absolute, backslashes) — GDAL would follow them.
"""
from __future__ import annotations

import base64
import io
import json
import os
import stat
import time
import zipfile

import pytest
import requests
from openpyxl import Workbook

from intake.upload_store import ROOT as UPLOAD_ROOT
from tests import places as P
from tests.security.dashboard_app import callback, dashboard, login, make_accounts, shown

pytestmark = pytest.mark.browser
LIMITS = {"GRIDPULSE_ARCHIVE_MAX_MEMBERS": "50", "GRIDPULSE_ARCHIVE_MAX_BYTES": "4000000",
          "GRIDPULSE_ARCHIVE_MAX_RATIO": "100", "GRIDPULSE_IMPORT_KEEP_MINUTES": "0.2"}  # 12 s


@pytest.fixture(scope="module")
def admin(places: P.Places):  # noqa: ANN201
    users = make_accounts()
    with dashboard(**LIMITS) as url:
        http = login(url, users["admin"], "/imports")
        deps = http.get(url + "/_dash-dependencies", timeout=20).json()
        receive = next(d["output"] for d in deps if d["output"].startswith("..imports-token.data...imports-file"))
        yield {"url": url, "http": http, "receive": receive}


def _outs(key: str) -> list[dict]:
    return [{"id": o.split(".")[0], "property": o.split(".", 1)[1]} for o in key.strip(".").split("...")]


def upload(admin: dict, name: str, data: bytes) -> str | None:
    content = "data:application/octet-stream;base64," + base64.b64encode(data).decode()
    answer = callback(admin["http"], admin["url"], admin["receive"], _outs(admin["receive"]),
                      [{"id": "imports-upload", "property": "contents", "value": content}],
                      [{"id": "imports-upload", "property": "filename", "value": name},
                       {"id": "imports-token", "property": "data", "value": None}], ["imports-upload.contents"])
    assert answer.status_code == 200, answer.text[:300]
    return answer.json()["response"]["imports-token"]["data"]


def dry_run(admin: dict, token: str, kind: str) -> str:
    key = "..imports-report.data...imports-summary.children...imports-apply.disabled.."
    answer = callback(admin["http"], admin["url"], key, _outs(key),
                      [{"id": "imports-dry-run", "property": "n_clicks", "value": 1}],
                      [{"id": "imports-token", "property": "data", "value": token},
                       {"id": "imports-kind", "property": "value", "value": kind},
                       {"id": "imports-crs", "property": "value", "value": None},
                       {"id": "imports-mode", "property": "value", "value": "insert"},
                       {"id": "imports-utility", "property": "value", "value": None},
                       {"id": "imports-source", "property": "value", "value": "auto"}], ["imports-dry-run.n_clicks"])
    assert answer.status_code == 200, answer.text[:300]
    return json.dumps(answer.json()["response"]["imports-summary"]["children"], ensure_ascii=False)


EMPTY_REGIONS = json.dumps({"type": "FeatureCollection", "features": []}).encode()


def test_an_upload_is_private_and_gone_soon_after_an_unapplied_dry_run(admin: dict) -> None:
    token = upload(admin, "regions.geojson", EMPTY_REGIONS)
    path = UPLOAD_ROOT / token
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert "试运行" in dry_run(admin, token, "regions")
    deadline = time.monotonic() + 60
    while path.parent.exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not path.parent.exists()  # deleted by the app's sweeper, nobody asked
    again = dry_run(admin, token, "regions")
    assert "无法导入" in again and "upload it again" in again


def _zip(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def _xlsx_bomb() -> bytes:
    wb = Workbook()
    wb.active.append(["code", "full_text"])
    buffer = io.BytesIO()
    wb.save(buffer)
    with zipfile.ZipFile(buffer, "a", zipfile.ZIP_DEFLATED) as zf:  # a sheet of 30 MB of spaces packs to ~30 kB
        zf.writestr("xl/worksheets/sheet9.xml", b" " * 30_000_000)
    return buffer.getvalue()


ATTACKS = {
    "ratio": ("bomb.zip", "buildings", lambda: _zip({"a.shp": b"\0" * 20_000_000}), "zip bomb"),
    "members": ("many.zip", "buildings", lambda: _zip({f"m{i}.dbf": b"x" for i in range(60)}), "at most 50 are accepted"),
    "bytes": ("big.zip", "buildings", lambda: _zip({"a.shp": os.urandom(5_000_000)}, zipfile.ZIP_STORED), "unpacks to"),
    "dotdot": ("dots.zip", "buildings", lambda: _zip({"../../../../etc/passwd.shp": b"x"}), "leave the archive"),
    "absolute": ("abs.zip", "buildings", lambda: _zip({"/etc/hosts.shp": b"x"}), "leave the archive"),
    "backslash": ("bs.zip", "buildings", lambda: _zip({"a\\..\\..\\b.shp": b"x"}), "leave the archive"),
    "xlsx": ("bomb.xlsx", "addresses", _xlsx_bomb, "zip bomb"),
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_archives_over_the_limits_or_leaving_themselves_are_refused_clearly(admin: dict, attack: str) -> None:
    name, kind, make, expected = ATTACKS[attack]
    started = time.monotonic()
    token = upload(admin, name, make())
    shown_text = dry_run(admin, token, kind)
    assert "无法导入" in shown_text and expected in shown_text, shown_text
    assert time.monotonic() - started < 60  # refused before anything was unpacked
    assert requests.get(admin["url"] + "/_dash-layout", cookies=admin["http"].cookies, timeout=20).status_code == 200
