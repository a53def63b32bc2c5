"""HLS backend, ``weights.h``: the tables are constant-initialized for g++ (no constructor
calls at start-up, which made an 8-bit MLP's C simulation build take ~45 s) and keep their
exact-width ap_int/ap_uint types for Vitis HLS (``__SYNTHESIS__``); words past 64 bits
(``fi_wide``, parsed from hex at compile time) give the same values as the reference."""
from __future__ import annotations

import re
import subprocess

from fastinference.backends.hls import render
from fastinference.verify.csim import ap_types_dir
from test_hls_dense import csim_equals_reference
from test_hls_qnn import build_chain

# 8-bit weights x 70 lanes (560-bit words: 9 limbs, the top one partial), then 3-bit x 20
# lanes (60 bits), then 2-bit x 7 (14 bits)
WIDE = (11, [70, 20, 10, 4], [8, 3, 2], ("int", 8, False), [(2, 70), (5, 20), (2, 7)])


def test_wide_words_csim_equals_reference(tmp_path):
    model, folding, x = build_chain(*WIDE)
    csim_equals_reference(model, folding, tmp_path, x)


def test_tables_are_constant_initialized(tmp_path):
    """Every table is placed in .rodata by g++ (even at -O0) and no code writes it; under
    __SYNTHESIS__ the element types are the exact-width ap types."""
    model, folding, _ = build_chain(*WIDE)
    wh = render(model, folding)["weights.h"]
    assert "static const fi_rom_uint<560> dense_0_W[2][10]" in wh
    assert re.search(r'^    fi_rom_uint<560>\("0x[0-9a-f]{140}", 16\), ', wh, re.M)
    assert "static const fi_rom_uint<60> dense_1_W[5][2]" in wh
    assert re.search(r"^static const fi_rom_int<\d+> dense_0_T\[2\]\[10\]\[\d+\]", wh, re.M)
    syn = wh.split("#ifdef __SYNTHESIS__\n", 1)[1].split("#else\n", 1)[0]
    assert syn == ("template <int N> using fi_rom_int = ap_int<N>;\n"
                   "template <int N> using fi_rom_uint = ap_uint<N>;\n")
    (tmp_path / "weights.h").write_text(wh)
    arrays = sorted(set(re.findall(r"^static const \S+ (\w+)\[", wh, re.M)))
    # read every table, so that g++ keeps them all
    (tmp_path / "t.cpp").write_text(
        '#include "weights.h"\nconst void* fi_tables[] = {'
        + ", ".join(f"&{a}" for a in arrays) + "};\n")
    subprocess.run(["g++", "-std=c++17", "-O0", "-Wall", "-Werror", "-isystem",
                    str(ap_types_dir()), "-c", "t.cpp", "-o", "t.o"], cwd=tmp_path, check=True)
    dump = subprocess.run(["objdump", "-t", "-r", "t.o"], cwd=tmp_path, check=True,
                          capture_output=True, text=True).stdout
    for a in arrays:
        assert re.search(rf"\s\.rodata\s+\S+\s+\S*{a}$", dump, re.M), a
    # code (the static initializer, which ap_int.h's <iostream> makes anyway) never touches them
    for section, relocs in re.findall(r"RELOCATION RECORDS FOR \[([^\]]+)\]:\n(.*?)(?:\n\n|$)",
                                      dump, re.S):
        if section.startswith(".text"):
            assert not [a for a in arrays if a in relocs], (section, relocs)
