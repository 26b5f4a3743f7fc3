"""Import benchmark: buildings/s against a bare COPY of the same rows, parse accuracy, GCJ-02 error.

    .venv/bin/python -m bench.import_bench [--quick]

Its own database (gridpulse_bench_import). Buildings are a synthetic grid of footprints written
as GeoJSON, imported through run_import (read, per-row checks, grid lookup, COPY, commit); the
ceiling is a bare COPY of the very rows the importer produced, in the same database. Address
accuracy is on shared/geodata/addresses/ncap_dev.csv (the tagger trained on ncap_train.csv only, and the rules); the GCJ-02 error is the distance of converted
DataV vertices to the poi86 WGS84 boundaries. The last line printed is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

URL = os.environ.setdefault("GRIDPULSE_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/gridpulse_bench_import")
ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("GRIDPULSE_KEY_FILE", str(ROOT / "var" / "test-secrets.json"))
SHARED = ROOT.parent / "shared" / "geodata"


def _street(n_side: int) -> None:
    from shapely.geometry import box

    from blockdata import registry
    from blockdata.db import transaction
    from blockdata.models import RegionLevel

    with transaction(URL) as s:
        registry.add_region(s, code="320100000000", name="南京市", level=RegionLevel.city, parent_code=None)
        registry.add_region(s, code="320102000000", name="玄武区", level=RegionLevel.district, parent_code="320100000000")
        registry.add_region(s, code="320102001000", name="街道", level=RegionLevel.street, parent_code="320102000000")
        registry.add_region(s, code="320102001001", name="社区", level=RegionLevel.community, parent_code="320102001000")
        for i in range(4):  # four grids in a row, 0.0125° wide
            registry.add_grid(s, community_code="320102001001", sequence=f"{i + 1:03d}", name=f"网格{i + 1}",
                              geom=box(118.80 + i * 0.0125, 32.04, 118.80 + (i + 1) * 0.0125, 32.09))


def _buildings_file(path: Path, n_side: int) -> int:
    step = 0.05 / n_side
    features = []
    for i in range(n_side):
        for j in range(n_side):
            x, y = 118.80 + i * step + step * 0.2, 32.04 + j * step + step * 0.2
            ring = [[x, y], [x + step * 0.5, y], [x + step * 0.5, y + step * 0.5], [x, y + step * 0.5], [x, y]]
            features.append({"type": "Feature", "properties": {"code": f"BB-{i}-{j}", "name": f"{i}-{j}幢", "floors": 6 + (i + j) % 20},
                             "geometry": {"type": "Polygon", "coordinates": [ring]}})
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return len(features)


def bench_buildings(n_side: int) -> dict[str, float]:
    from sqlalchemy import text

    from bench.common import fresh_database
    from blockdata.db import session_factory
    from intake.importers import run_import
    from intake.importers.buildings import _COLUMNS

    fresh_database(URL)
    _street(n_side)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "buildings.geojson"
        n = _buildings_file(path, n_side)
        start = time.perf_counter()
        report = run_import("buildings", path, url=URL)
        seconds = time.perf_counter() - start
    assert report.ok and report.summary["written"] == n, report.headline()
    # Ceiling: the stored rows copied out and back in by a bare COPY (no reading, no checks), rolled back.
    with session_factory(URL)() as s, s.begin():
        rows = s.execute(text(f"SELECT {', '.join(_COLUMNS[:-1])}, ST_AsEWKB(geom) FROM building")).all()
        conn = s.connection().connection.driver_connection
        conn.execute("DELETE FROM building")
        t0 = time.perf_counter()
        with conn.cursor() as cur, cur.copy(f"COPY building ({', '.join(_COLUMNS)}) FROM STDIN") as copy:
            for r in rows:
                copy.write_row((*r[:-1], bytes(r[-1]).hex()))
        ceiling_s = time.perf_counter() - t0
        s.rollback()
    rate, ceiling = n / seconds, n / ceiling_s
    return {"buildings": n, "buildings_per_s": round(rate), "copy_ceiling_per_s": round(ceiling),
            "ratio_to_ceiling": round(rate / ceiling, 3)}


def bench_parser(limit: int | None) -> dict[str, object]:
    """Both engines on the dev split (the corpus's held-out test split here): the CRF tagger, trained at
    run time on ncap_train.csv only (or loaded from its var/ cache), and the hand-written rules."""
    from intake.addresses import tagger as tagger_mod
    from intake.addresses.evaluate import evaluate
    from intake.addresses.parser import from_spans, parse_rules

    path = SHARED / "addresses" / "ncap_dev.csv"
    train = SHARED / "addresses" / "ncap_train.csv"
    if not path.exists():
        return {"parse_skipped": f"{path} missing"}
    out: dict[str, object] = {}
    start = time.perf_counter()
    tagger = tagger_mod.tagger(train)
    out["tagger_ready_s"] = round(time.perf_counter() - start, 1)  # training, or loading the cached model
    engines = {"rules": parse_rules}
    if tagger is not None:
        engines = {"tagger": lambda text: from_spans(tagger.tag(text)), **engines}
    for name, fn in engines.items():
        start = time.perf_counter()
        result = evaluate(path, limit=limit, parser=fn)
        result["addresses_per_s"] = round(result["addresses"] / (time.perf_counter() - start))
        out[name] = result
    return out


def bench_gcj02() -> dict[str, float]:
    import numpy as np
    import shapely
    from shapely.geometry import shape

    from intake import coords as C
    from blockdata.geometry import to_metric

    admin = SHARED / "admin"
    if not admin.exists():
        return {}

    def load(name: str, key: str) -> dict:
        return {str(f["properties"][key]): shape(f["geometry"]) for f in json.loads((admin / name).read_text())["features"]}

    gcj, poi86 = load("datav_320100_full_gcj02.json", "adcode"), load("poi86_nanjing_districts_320100_wgs84.geojson", "id")
    dists, raw = [], []
    for code, geom in gcj.items():
        xy = shapely.get_coordinates(geom)
        boundary = to_metric(poi86[code].boundary)
        for coords, out in ((C.convert_xy(xy, C.GCJ02), dists), (xy, raw)):
            pts = shapely.points(shapely.get_coordinates(to_metric(shapely.multipoints(coords))))
            out.append(shapely.distance(pts, boundary))
    d, r = np.concatenate(dists), np.concatenate(raw)
    return {"gcj02_vertices": int(d.size), "gcj02_error_median_m": round(float(np.median(d)), 2),
            "gcj02_error_p90_m": round(float(np.percentile(d, 90)), 2), "unconverted_median_m": round(float(np.median(r)), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="5,000 buildings and 500 addresses instead of 40,000 and all")
    args = parser.parse_args()
    result: dict[str, object] = {"bench": "import", "quick": args.quick}
    result.update(bench_buildings(71 if args.quick else 200))
    print(f"buildings: {result['buildings_per_s']}/s, ceiling {result['copy_ceiling_per_s']}/s", flush=True)
    result.update(bench_gcj02())
    parse = bench_parser(500 if args.quick else None)
    for engine in ("tagger", "rules"):
        if engine in parse:
            r = parse[engine]
            result[f"parse_{engine}_whole_address"] = r["whole_address"]
            result[f"parse_{engine}_per_part"] = r["per_part"]
            result[f"parse_{engine}_per_s"] = r["addresses_per_s"]
            result["parse_addresses"] = r["addresses"]
    result["tagger_ready_s"] = parse.get("tagger_ready_s")
    print(f"parse: {json.dumps({k: v for k, v in result.items() if k.startswith('parse_') and 'whole' in k})}", flush=True)
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
