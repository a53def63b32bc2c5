"""Area of one layer of a compiled RTL project: its mvau alone as the top (with its ROM files),
Yosys `synth_xilinx -family xc7 -noiopad` as `fastinference synth` runs it (hierarchical), LUT
and FF per module of the hierarchy. A few minutes for the digits MLP's layer 0 at target 16,
against 11+ minutes for the whole design.

    python bench/layer_area.py DIR INDEX [--work .tmp-layer-area]

DIR: a `fastinference compile --backend rtl` output; INDEX: the mvau's position in the top
(0 = the first mvau instance). The templates are this checkout's rtl_templates/, so an edited
mvau can be measured against the project's parameters and weights without recompiling.
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import time
from pathlib import Path

from fastinference.backends.rtl import MVAU_FILES, TEMPLATES
from fastinference.synth import inclusive_cells, run_yosys, summarize


def _param(params: str, name: str) -> str:
    return re.search(rf"\.{name}\s*\(([^)]*)\)", params).group(1).strip()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("project")
    ap.add_argument("index", type=int)
    ap.add_argument("--work", default=".tmp-layer-area")
    a = ap.parse_args()
    proj, work = Path(a.project), Path(a.work)
    top = json.loads((proj / "report.json").read_text())["top"]
    src = (proj / "rtl" / f"{top}.sv").read_text()
    params, inst = re.findall(r"  mvau #\((.*?)\) (u_\w+) \(", src, re.S)[a.index]
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    for f in MVAU_FILES:
        shutil.copy(TEMPLATES / f, work / f)
    for m in (proj / "rtl").glob("*.mem"):
        shutil.copy(m, work / m.name)
    K, M, ib = int(_param(params, "K")), int(_param(params, "M")), int(_param(params, "InBits"))
    ob = 32 if _param(params, "Scores") == "1'b1" else int(_param(params, "OutBits"))
    rn = int(_param(params, "ReadyN")) if ".ReadyN" in params else 1
    (work / "unit_top.sv").write_text(f"""module unit_top (
  input  logic clk_i, input logic rst_ni, input logic in_valid_i, output logic in_ready_o,
  input  logic [{K * ib - 1}:0] in_data_i, output logic out_valid_o, input logic [{rn - 1}:0] out_ready_i,
  output logic [{M * ob - 1}:0] out_data_o);
  mvau #({params}) u_mvau (.*);
endmodule
""")
    (work / "filelist.f").write_text("\n".join([*MVAU_FILES, "unit_top.sv"]) + "\n")
    (work / ".w").mkdir()
    t0 = time.time()
    stat = run_yosys(work, "unit_top", "xc7", ".w")
    mods = stat["modules"]
    incl = {k.lstrip("\\"): summarize(v) for k, v in inclusive_cells(mods).items()}
    own = {k.lstrip("\\"): summarize({c: int(n) for c, n in v.get("num_cells_by_type", {}).items()
                                      if not c.startswith(("$paramod", "\\"))}) for k, v in mods.items()}
    tot = incl["unit_top"]
    print(f"{inst}: LUT {tot['LUT']} FF {tot['FF']} CARRY4 {tot['CARRY4']} {tot['LUT_by_size']} "
          f"({time.time() - t0:.0f} s)")
    for mod in sorted(incl):
        if mod != "unit_top":
            print(f"  {mod[-60:]:60s} incl LUT {incl[mod]['LUT']:6d} FF {incl[mod]['FF']:6d}"
                  f" | own LUT {own[mod]['LUT']:6d} FF {own[mod]['FF']:6d}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
