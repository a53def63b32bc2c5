"""synth and sweep on a small MLP: real Verilator, Yosys and nextpnr runs.

One sweep over three foldings (PE = 1, 2, 4 in the first layer), placed and routed on ECP5 (the
default), gives: the CSV columns, every point bit-exact with measured cycles equal to the bound,
LUTs growing with PE, ``fmax_mhz`` and ``inferences_per_s`` = Fmax / measured cycles, a valid
PNG; a second run reuses the cache; an impossible point is reported while the others run; the
Dask path (LocalCluster on loopback), area only (``pnr="none"``), gives the same area rows as
the local pool for the grid's first two points and no timing columns. (Place and route rides on this sweep rather than a
separate one: a Verilator build per point costs more than nextpnr on these designs.)
"""
from __future__ import annotations

import csv
import fcntl
import json
import os
import shutil

import numpy as np
import pytest

import fastinference as fi
from fastinference.sweep import CSV_COLUMNS, sweep
from fastinference.testing.graphs import GraphBuilder, pm1

TIME_COLUMNS = {"compile_s", "sim_s", "synth_s", "ecp5_synth_s", "pnr_s", "cpu_s", "stages"}
PNR_COLUMNS = {"fmax_mhz", "inferences_per_s", "ecp5_LUT4"}


@pytest.fixture(scope="module")
def small_mlp(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sweep_model")
    rng = np.random.default_rng(3)
    g = GraphBuilder((16,))
    g.gemm(pm1(rng, 8, 16))
    g.bn(rng.uniform(-1, 1, 8), rng.normal(0, 1, 8), rng.normal(0, 10, 8), rng.uniform(0.5, 2, 8))
    g.sign()
    g.gemm(pm1(rng, 4, 8))
    g.logsoftmax()
    return g.save(tmp / "small_mlp.onnx")


@pytest.fixture(scope="module")
def grid(small_mlp, tmp_path_factory):
    names = [l.name for l in fi.load(small_mlp).layers]
    pts = [{names[0]: {"pe": pe, "simd": 16}, names[1]: {"pe": 4, "simd": 8}} for pe in (1, 2, 4)]
    pts.append({names[0]: {"pe": 9, "simd": 16}})  # impossible: M = 8
    path = tmp_path_factory.mktemp("grid") / "grid.json"
    path.write_text(json.dumps(pts))
    return str(path)


@pytest.fixture(scope="module")
def swept(small_mlp, grid, tmp_path_factory):
    # one sweep for all xdist workers (its place and route is the slowest fixture of the suite):
    # under a lock, the first worker sweeps and leaves a copy; the others start from that copy,
    # whose point cache (keyed by the model's bytes: small_mlp is seeded) serves every point.
    # Each worker keeps its own folder, so no test reads a file another worker rewrites.
    # (pytest-xdist's --dist loadgroup would keep the module on one worker, but its group
    # suffix is lost under pytest 9.)
    out = tmp_path_factory.mktemp("sweep")
    base = tmp_path_factory.getbasetemp()
    shared_root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    shared = shared_root / "sweep_shared"
    with open(shared_root / "sweep_shared.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (shared / "points").is_dir():
            shutil.copytree(shared / "points", out / "points")
        rows = sweep(small_mlp, out, fold_config_grid=grid, jobs=2, vectors=8)  # pnr="ecp5"
        if not shared.exists():
            shutil.copytree(out / "points", shared / "points")
    return out, rows


def test_sweep_rows_are_bit_exact_and_meet_the_bound(swept):
    out, rows = swept
    with open(out / "sweep.csv") as f:
        table = list(csv.DictReader(f))
    assert list(table[0].keys()) == CSV_COLUMNS
    ok = [r for r in rows if r["status"] == "ok"]
    assert len(ok) == 3, rows
    for r in ok:
        assert r["cycles_per_inference"] == r["bound_cycles"]
        assert r["LUT"] > 0 and r["FF"] > 0
    luts = [r["LUT"] for r in ok]
    assert luts[0] < luts[1] < luts[2], luts


def test_impossible_point_is_reported_and_skipped(swept):
    _, rows = swept
    bad = rows[3]
    assert bad["status"] == "failed" and "pe=9" in bad["error"]


def test_pareto_png_is_a_valid_image(swept):
    out, _ = swept
    data = (out / "pareto.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 2000
    import matplotlib.image as mpimg
    img = mpimg.imread(out / "pareto.png")
    assert img.shape[0] > 100 and img.shape[1] > 100


def test_second_run_reuses_the_cache(swept, small_mlp, grid):
    out, rows = swept
    again = sweep(small_mlp, out, fold_config_grid=grid, jobs=2, vectors=8)
    assert all(r.get("cached") for r in again if r["status"] == "ok")
    strip = lambda rs: [{k: v for k, v in r.items() if k not in TIME_COLUMNS | {"cached"}} for r in rs]
    assert strip(again) == strip(rows)


def test_dask_cluster_gives_the_same_rows(swept, small_mlp, grid, tmp_path):
    from dask.distributed import LocalCluster
    _, rows = swept
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        # the grid's first two points (one per worker): the same point names and rows
        two = tmp_path / "grid2.json"
        two.write_text(json.dumps(json.loads(open(grid).read())[:2]))
        dask_rows = sweep(small_mlp, tmp_path / "dask", fold_config_grid=str(two), vectors=8,
                          scheduler=cluster.scheduler_address, pnr="none")
    strip = lambda rs: [{k: v for k, v in r.items() if k not in TIME_COLUMNS | PNR_COLUMNS | {"cached"}} for r in rs]
    assert len(dask_rows) == 2 and strip(dask_rows) == strip(rows[:2])
    assert not any(PNR_COLUMNS & set(r) for r in dask_rows)
    with open(tmp_path / "dask" / "sweep.csv") as f:
        assert all(t["fmax_mhz"] == "" and t["inferences_per_s"] == "" for t in csv.DictReader(f))


def test_synth_reports_per_layer_figures_that_add_up(swept, small_mlp):
    out, _ = swept
    layers = [l.name for l in fi.load(small_mlp).layers]
    reports = sorted(out.glob("points/*/design/synth/report.json"))
    assert len(reports) == 3
    for path in reports:
        rep = json.loads(path.read_text())
        inst = rep["instances"]
        assert {f"u_{n}" for n in layers} <= set(inst)
        for key in ("LUT", "FF", "CARRY4"):
            assert sum(v[key] for v in inst.values()) == rep["totals"][key]



def test_sweep_reports_fmax_and_inferences_per_second(swept):
    out, rows = swept
    with open(out / "sweep.csv") as f:
        table = {t["point"]: t for t in csv.DictReader(f)}
    ok = [r for r in rows if r["status"] == "ok"]
    for r in ok:
        assert r["fmax_mhz"] > 0 and r["ecp5_LUT4"] > 0 and r["pnr_s"] > 0
        assert r["inferences_per_s"] == round(r["fmax_mhz"] * 1e6 / r["cycles_per_inference"])
        t = table[r["point"]]
        assert float(t["fmax_mhz"]) == r["fmax_mhz"] and int(t["inferences_per_s"]) == r["inferences_per_s"]
    assert table["grid3"]["fmax_mhz"] == ""  # the impossible point
    reports = sorted(out.glob("points/*/design/synth/report.json"))
    for path in reports:
        rep = json.loads(path.read_text())
        assert rep["fmax_mhz"] > 0 and rep["pnr"]["fits"] and rep["pnr"]["critical_path"]["steps"]


def test_point_key_follows_the_generator(monkeypatch, tmp_path):
    """A cached point is keyed by the generator too: a changed RTL template, Python source or
    tool version gives a new key (the old row is not served), and the digest sees a template."""
    import fastinference.sweep as sw
    from fastinference.resources import data_dir
    key = sw.point_key(b"model", {"a": 1}, {"pnr": "ecp5"})
    assert key == sw.point_key(b"model", {"a": 1}, {"pnr": "ecp5"})
    monkeypatch.setattr(sw, "generator_digest", lambda: "another generator")
    assert sw.point_key(b"model", {"a": 1}, {"pnr": "ecp5"}) != key
    monkeypatch.undo()
    # the digest reads the templates: a copy of the data folders with one byte changed differs
    sw.generator_digest.cache_clear()
    before = sw.generator_digest()
    for name in ("hls_templates", "rtl_templates", "sim", "constraints"):
        (tmp_path / name).mkdir()
        for f in data_dir(name).iterdir():
            if f.is_file():
                (tmp_path / name / f.name).write_bytes(f.read_bytes())
    (tmp_path / "rtl_templates" / "mvau.sv").write_text(data_dir("rtl_templates").joinpath("mvau.sv").read_text() + " ")
    import fastinference.resources as res
    monkeypatch.setattr(res, "data_dir", lambda name: tmp_path / name)
    sw.generator_digest.cache_clear()
    try:
        assert sw.generator_digest() != before
    finally:
        monkeypatch.undo()
        sw.generator_digest.cache_clear()
