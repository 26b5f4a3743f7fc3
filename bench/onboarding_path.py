"""The onboarding path of docs/ONBOARDING.md as commands: an empty database to a street office at work.

Each step is a ``gridpulse`` command line, run in-process through ``cli.main`` (the same parser and
code as the console command, without a new interpreter per step). The files are the raw public ones in
``../shared/geodata``; the three lists a street office brings from elsewhere (people, one department's
tags, one utility's readings) are written here from the dwellings the path generated (``gridpulse
export dwellings``), as the office would fill them in. No SQL anywhere: what the path needs to know
(street codes, grid codes, dwelling codes) it reads from the source files or from exports.

Used by ``bench/onboarding_bench.py`` (timing, shares) and ``tests/intake/test_onboarding.py`` (the proof).
"""
from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import json
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GEO = ROOT.parent / "shared" / "geodata"
OVERPASS = GEO / "osm" / "nanjing_osm_overpass_2018_gulou_xuanwu.geojson"
LANDUSE = GEO / "osm" / "poi86_osm_landuse_gulou_xuanwu.geojson"
VONNG_POINTS = GEO / "admin" / "vonng_adcode_320100_320102_320106_points_wgs84.geojson"
VONNG_FENCES = GEO / "admin" / "vonng_fences_320100_320102_320106_wgs84.geojson"
MODOOD = GEO / "admin" / "modood_streets_320102_320106.csv"
DISTRICTS = {"320106": "鼓楼区", "320102": "玄武区"}


@dataclass
class StepResult:
    name: str
    argv: list[str]
    rc: int
    seconds: float
    out: str
    err: str

    @property
    def summary(self) -> dict:
        """The JSON summary an import prints last (empty for other commands)."""
        for line in reversed(self.out.strip().splitlines()):
            if line.startswith("{"):
                try:
                    return json.loads(line)
                except ValueError:
                    return {}
        return {}


@dataclass
class Path_:
    """What a run of the path produced: each step, the passwords shown once, codes for the roles."""

    work: Path
    steps: list[StepResult] = field(default_factory=list)
    passwords: dict[str, str] = field(default_factory=dict)
    community: str = ""
    grid: str = ""
    failed: list[str] = field(default_factory=list)  # steps allowed to fail (a street's grids) that did

    def step(self, name: str) -> StepResult:
        return next(s for s in self.steps if s.name == name)


# The passwords of the accounts this path created (shown once by `accounts create --generate`): a command
# run ``--user ACCOUNT`` proves it as a person would at the prompt, here through --password-stdin.
PASSWORDS: dict[str, str] = {}


def run(argv: list[str]) -> tuple[int, str, str, float]:
    """One ``gridpulse`` command in-process: exit code, stdout, stderr, seconds."""
    from cli import main

    out, err = io.StringIO(), io.StringIO()
    stdin = io.StringIO("")
    if "--user" in argv and argv[argv.index("--user") + 1] in PASSWORDS:
        stdin = io.StringIO(PASSWORDS[argv[argv.index("--user") + 1]] + "\n")
        argv = [*argv, "--password-stdin"]
    start = time.perf_counter()
    saved_stdin, sys.stdin = sys.stdin, stdin
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(argv)
        except SystemExit as exc:  # argparse's refusals
            rc = int(exc.code or 0)
        except Exception as exc:  # noqa: BLE001 - a crash of the command (the console would show a traceback)
            err.write(f"{type(exc).__name__}: {exc}\n")
            rc = 1
    sys.stdin = saved_stdin
    return rc, out.getvalue(), err.getvalue(), time.perf_counter() - start


def streets_of(district: str) -> list[str]:
    """Street codes of a district as the Vonng list gives them (rank 4), from the file, not the database."""
    doc = json.loads(VONNG_POINTS.read_text(encoding="utf-8"))
    return sorted(f["properties"]["code"] for f in doc["features"]
                  if f["properties"].get("rank") == "4" and f["properties"]["code"].startswith(district))


def _check_digit(first17: str) -> str:
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return "10X98765432"[sum(int(c) * w for c, w in zip(first17, weights)) % 11]


def id_number(district: str, seq: int, born: dt.date) -> str:
    first17 = f"{district}{born:%Y%m%d}{seq % 1000:03d}"
    return first17 + _check_digit(first17)


def _read_export(path: Path) -> list[dict]:
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    return list(csv.DictReader(lines[1:]))  # the first line is the watermark


def write_lists(work: Path, dwellings_csv: Path, district: str, people_per: int = 2, every: int = 20) -> dict[str, Path]:
    """The office's own lists from its dwellings: people (2 in every 20th dwelling), 民政's tag list for the
    eldest, and the water company's readings (by standard address, written the way a bill writes it)."""
    dwellings = _read_export(dwellings_csv)
    chosen = dwellings[::every]
    people, tags, water = [], [], []
    for i, d in enumerate(chosen):
        for k in range(people_per):
            born = dt.date(1940 + (i * 7 + k * 13) % 60, 1 + (i + k) % 12, 1 + (i * 3 + k) % 28)
            number = id_number(district, i * people_per + k, born)
            sex = "男" if int(number[16]) % 2 else "女"
            people.append([number, f"居民{i}-{k}", sex, "户籍", d["code"]])
            if born.year < 1950 and k == 0:
                tags.append([number, "独居老人", "民政", f"民政局独居老人认定 {dt.date.today():%Y}-{i:03d}",
                             f"{dt.date.today().year + 1}-12-31"])
        water.append([f"W{district}{i:05d}", d["address_text"], f"{dt.date.today():%Y-%m}", f"{5 + i % 17}.5"])
    water.append([f"W{district}99999", "南京市某区不存在路999号", f"{dt.date.today():%Y-%m}", "7"])  # nowhere here
    files = {
        "people": (["身份证号", "姓名", "性别", "人口类型", "房屋编码"], people),
        "tags": (["身份证号", "标签", "部门", "依据", "有效期至"], tags),
        "water": (["户号", "用水地址", "账期", "读数"], water),
    }
    out = {}
    for name, (header, rows) in files.items():
        path = work / f"{name}_{district}.csv"
        with path.open("w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(header)
            w.writerows(rows)
        out[name] = path
    return out


def _address_texts(work: Path, district: str) -> dict[str, str]:
    """Standard address code → its text, from ``gridpulse export addresses``."""
    path = work / f"addresses_{district}.csv"
    rc, _, err, _ = run(["export", "addresses", str(path), "--user", "admin"])
    if rc != 0:
        raise RuntimeError(err)
    return {r["code"]: r["full_text"] for r in _read_export(path)}


def _password(out: str) -> str:
    m = re.search(r"\(shown once[^)]*\):\s*(\S+)", out)
    if not m:
        raise RuntimeError(f"no password in: {out!r}")
    return m.group(1)


def onboard(work: Path, districts: list[str], *, streets_per_district: int | None = None,
            on_step: Callable[[StepResult], None] | None = None) -> Path_:
    """Run the whole path into the (empty) database of GRIDPULSE_DATABASE_URL; raise on the first failed step."""
    result = Path_(work=work)

    def step(name: str, argv: list[str], *, may_fail: bool = False) -> StepResult:
        rc, out, err, seconds = run(argv)
        r = StepResult(name, argv, rc, seconds, out, err)
        result.steps.append(r)
        if on_step:
            on_step(r)
        if rc != 0 and may_fail:
            result.failed.append(f"{name}: {err.strip().splitlines()[-1] if err.strip() else rc}")
        elif rc != 0:
            raise RuntimeError(f"step {name} ({' '.join(argv)}) failed with {rc}:\n{err[-3000:]}\n{out[-2000:]}")
        return r

    step("migrate", ["migrate"])
    r = step("first admin", ["accounts", "create", "admin", "--role", "admin", "--generate"])
    result.passwords["admin"] = PASSWORDS["admin"] = _password(r.out)
    step("regions: Vonng points", ["import", "regions", str(VONNG_POINTS), "--user", "admin"])
    step("regions: Vonng fences", ["import", "regions", str(VONNG_FENCES), "--mode", "upsert", "--user", "admin"])
    step("regions: modood streets", ["import", "regions", str(MODOOD), "--mode", "upsert", "--user", "admin"])
    for district in districts:
        for street in streets_of(district)[:streets_per_district]:
            # a street whose grids cannot be generated is reported and left without grids (its features are
            # then skipped as outside the jurisdiction); the path goes on with the others
            step(f"grids {street}", ["grids", "generate", "--in", street, "--from", str(OVERPASS), str(LANDUSE),
                                     "--boundary", str(VONNG_FENCES), "--write"], may_fail=True)
    step("compounds", ["import", "compounds", str(LANDUSE), "--user", "admin",
                       "--report", str(work / "compounds_report.csv")])
    step("key sites", ["import", "key_sites", str(OVERPASS), "--user", "admin",
                       "--report", str(work / "key_sites_report.csv")])
    step("buildings", ["import", "buildings", str(OVERPASS), "--user", "admin",
                       "--report", str(work / "buildings_report.csv")])
    for district in districts:
        step(f"dwellings {district}", ["dwellings", "generate", "--in", district + "000000"], may_fail=True)
    for district in districts:
        dw = work / f"dwellings_{district}.csv"
        step(f"export dwellings {district}", ["export", "dwellings", str(dw), "--user", "admin"])
        texts = _address_texts(work, district)
        grids = _grids_of_buildings(work)
        rows = [r for r in _read_export(dw) if grids.get(r["building_code"], "").startswith(district)]
        if not rows:
            continue
        with dw.open("w", encoding="utf-8", newline="") as fh:  # the office's working copy, with each address
            w = csv.DictWriter(fh, fieldnames=list(rows[0]) + ["address_text"])
            fh.write("# working copy\n")
            w.writeheader()
            for row in rows:
                w.writerow({**row, "address_text": texts.get(row["address_code"], "").replace("南京市", "", 1)})
        lists = write_lists(work, dw, district)
        step(f"people {district}", ["import", "people", str(lists["people"]), "--user", "admin"])
        step(f"tags {district}", ["import", "tags", str(lists["tags"]), "--user", "admin"])
        step(f"water {district}", ["import", "utility", str(lists["water"]), "--utility", "water", "--user", "admin"])
        if not result.grid:
            result.grid = grids[rows[0]["building_code"]]
            result.community = result.grid[:12]
    r = step("supervisor", ["accounts", "create", "sup-onboard", "--role", "supervisor", "--area", result.community,
                            "--generate", "--as", "admin"])
    result.passwords["sup-onboard"] = PASSWORDS["sup-onboard"] = _password(r.out)
    r = step("worker", ["accounts", "create", "worker-onboard", "--role", "worker", "--area", result.grid,
                        "--generate", "--as", "admin"])
    result.passwords["worker-onboard"] = PASSWORDS["worker-onboard"] = _password(r.out)
    return result


def _grids_of_buildings(work: Path) -> dict[str, str]:
    """Building code → the grid it lies in, from ``gridpulse export buildings``."""
    path = work / "buildings_export.csv"
    if not path.exists():
        rc, _, err, _ = run(["export", "buildings", str(path), "--user", "admin"])
        if rc != 0:
            raise RuntimeError(err)
    return {r["code"]: r["grid_code"] for r in _read_export(path)}
