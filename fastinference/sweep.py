"""``sweep``: one design per folding point; each is compiled, simulated in Verilator (a point
that is not bit-exact is a failure, not a data row), synthesized with Yosys and (``pnr="ecp5"``,
the default) placed and routed on an ECP5 with nextpnr: ``fmax_mhz`` and ``inferences_per_s``
(= Fmax / measured cycles per inference). A point that does not fit the ECP5 keeps its row with
empty timing columns and says so in ``error``.

Points run in parallel in a local process pool (``--jobs``) or on a Dask cluster
(``--scheduler``). Each point's result is cached under ``DIR/points/<hash>/result.json``, keyed
by the model bytes, the folding and the options, so a re-run only does new points.
"""
from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from . import __version__
from .api import load
from .errors import BadOptionError, FastInferenceError
from .folding import LayerFold, layer_bound, resolve_folding

CSV_COLUMNS = ["point", "status", "folding", "bound_cycles", "cycles_per_inference", "latency_cycles",
               "LUT", "FF", "BRAM", "DSP", "fmax_mhz", "inferences_per_s", "ecp5_LUT4",
               "compile_s", "sim_s", "synth_s", "pnr_s", "error"]


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


def point_key(model_bytes: bytes, folding: dict, options: dict) -> str:
    h = hashlib.sha256(model_bytes)
    h.update(json.dumps({"folding": folding, "options": options, "version": __version__},
                        sort_keys=True).encode())
    return h.hexdigest()[:16]


def run_point(model_path: str, point_dir: str, fold_config: dict, input_bits: int, input_signed: bool,
              n_vectors: int, label: str, pnr: str = "ecp5", ptq=None, stream: dict | None = None) -> dict:
    """Compile, simulate, synthesize (and place and route) one design. Never raises: errors go
    into the row."""
    from .project import compile_project, first_mismatch, random_vectors
    from .synth import run_synth
    from .verify.rtl_sim import run_sim

    row = {"point": label, "status": "ok", "folding": json.dumps(fold_config, sort_keys=True), "error": ""}
    out = Path(point_dir) / "design"
    try:
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
        t0 = time.time()
        syn = run_synth(out, pnr=pnr)
        tot = syn["totals"]
        row.update(LUT=tot["LUT"], FF=tot["FF"], BRAM=tot["BRAM_RAMB18"] + 2 * tot["BRAM_RAMB36"], DSP=tot["DSP48"])
        row["synth_s"] = syn["seconds"]
        if "pnr" in syn:
            p = syn["pnr"]
            row["pnr_s"] = p["seconds"]
            row["ecp5_LUT4"] = p["utilisation"].get("LUT4", "")
            if p["fits"]:
                row["fmax_mhz"] = syn["fmax_mhz"]
                row["inferences_per_s"] = inferences_per_s(syn["fmax_mhz"], row["cycles_per_inference"])
            else:
                row["error"] = (f"does not fit {p['device']} "
                                f"({', '.join(p['over_capacity']) or 'see synth/pnr.log'})")
    except FastInferenceError as e:
        row.update(status="failed", error=str(e).splitlines()[0][:300])
    except Exception as e:  # a crash in one point must not stop the sweep
        row.update(status="failed", error=f"internal error {type(e).__name__}: {e}"[:300])
        (Path(point_dir) / "traceback.txt").write_text(traceback.format_exc())
    with open(Path(point_dir) / "result.json", "w") as f:
        json.dump(row, f, indent=2)
    return row


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


def _submit_all(jobs, scheduler, workers):
    """Run ``(fn, args)`` jobs: yields rows as they finish."""
    if scheduler:
        try:
            from dask.distributed import Client, as_completed as dask_completed
        except ImportError:
            raise BadOptionError("--scheduler needs dask[distributed]: pip install 'fastinference[cluster]'") from None
        client = Client(scheduler)
        try:
            futs = [client.submit(run_point, *a, pure=False) for a in jobs]
            for f in dask_completed(futs):
                yield f.result()
        finally:
            client.close()
        return
    yield from _local(jobs, workers)


def _local(jobs, workers):
    if not jobs:
        return
    n = min(len(jobs), max(1, workers))
    if n == 1:
        for a in jobs:
            yield run_point(*a)
        return
    with ProcessPoolExecutor(max_workers=n) as ex:
        futs = [ex.submit(run_point, *a) for a in jobs]
        for f in as_completed(futs):
            yield f.result()


def sweep(model_path: str, out: str | Path, target_cycles=None, fold_config_grid=None, jobs=None,
          vectors: int = 20, input_bits: int = 8, input_signed: bool = False, scheduler: str | None = None,
          progress=None, force: bool = False, pnr: str = "ecp5", ptq=None, in_stream_bits: int | None = None,
          out_stream: str = "vector") -> list[dict]:
    """The Python entry point. Returns the rows (in point order). ``pnr``: "ecp5" places and
    routes every point (timing columns), "none" skips it."""
    if pnr not in ("ecp5", "none"):
        raise BadOptionError(f"--pnr {pnr}: unknown; use ecp5 or none")
    if vectors < 1:
        raise BadOptionError("--vectors must be at least 1")
    if jobs is not None and jobs < 1:
        raise BadOptionError("--jobs must be at least 1")
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
        pdir.mkdir(parents=True, exist_ok=True)
        todo.append((str(model_path), str(pdir), cfg, input_bits, input_signed, vectors, label, pnr, ptq, stream))
    done = 0
    for row in _submit_all(todo, scheduler, jobs or os.cpu_count() or 1):
        rows[row["point"]] = row
        done += 1
        if progress:
            progress(f"sweep: {done}/{len(todo)} points done ({row['point']}: {row['status']})")
    result = [rows[label] for label, _ in points]
    # each point's folder is written atomically by compile; the summary files replace the
    # old ones only when complete
    write_csv(out / ".sweep.csv.tmp", result)
    plot_pareto(out / ".pareto.png.tmp.png", result, f"{Path(model_path).name}: area vs throughput"
                + (" (ECP5-85 Fmax)" if pnr == "ecp5" else ""))
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
    print(f"wrote {Path(args.out) / 'sweep.csv'} and {Path(args.out) / 'pareto.png'}")
    return 0 if any(r["status"] == "ok" for r in rows) else 1
