"""Fuzz the ONNX frontend: mutate valid BNNs and check that every outcome is clean.

    python bench/fuzz_frontend.py [--n 10000] [--seed 0] [--jobs 2] [--show 3] [--semantic]

The fuzzer lives in ``fastinference.testing.fuzz`` (shared with tests/test_fuzz_frontend.py);
see its docstring for the mutations, the input formats and the outcomes that count as clean.
"""
import sys

from fastinference.testing.fuzz import main

if __name__ == "__main__":
    sys.exit(main())
