"""One exception type per kind of failure; the CLI turns each into an exit code."""


class FastInferenceError(Exception):
    """Base class. ``exit_code`` is what the CLI returns."""

    exit_code = 2


class UnsupportedModelError(FastInferenceError):
    """The ONNX file is malformed, or uses an op/attribute/pattern we cannot compile."""


class BadOptionError(FastInferenceError):
    """A command-line or API option is invalid (folding, bits, names...)."""


class BadInputError(FastInferenceError):
    """Input vectors that are not integers, do not fit, or have the wrong shape."""


class VerificationError(FastInferenceError):
    """A backend's output differs from the reference model."""

    exit_code = 1


class ToolError(FastInferenceError):
    """An external tool (g++, Verilator, Icarus, Yosys) is missing or failed."""

    exit_code = 3
