"""The operators TFLM's interpreter registers (the `tflite-micro` Python package's op resolver, alphabetical),
and what tinyml does with each in an int8 or 16x8 model: compiles it, computes it at import where its inputs
are constants, or refuses it with the reason below. `docs/operators.md` is generated from this table
(`python benchmarks/operator_table.py > docs/operators.md`; a test checks the file is current), and the
importer's refusal names the reason for each operator it refuses."""
from __future__ import annotations

TFLM_BUILTINS = (
    "ABS", "ADD", "ADD_N", "ARG_MAX", "ARG_MIN", "ASSIGN_VARIABLE", "AVERAGE_POOL_2D", "BATCH_MATMUL",
    "BATCH_TO_SPACE_ND", "BROADCAST_ARGS", "BROADCAST_TO", "CALL_ONCE", "CAST", "CEIL", "CONCATENATION", "CONV_2D",
    "COS", "CUMSUM", "DEPTH_TO_SPACE", "DEPTHWISE_CONV_2D", "DEQUANTIZE", "DIV", "ELU", "EQUAL", "EXP",
    "EXPAND_DIMS", "FILL", "FLOOR", "FLOOR_DIV", "FLOOR_MOD", "FULLY_CONNECTED", "GATHER", "GATHER_ND", "GREATER",
    "GREATER_EQUAL", "HARD_SWISH", "IF", "L2_NORMALIZATION", "L2_POOL_2D", "LEAKY_RELU", "LESS", "LESS_EQUAL", "LOG",
    "LOG_SOFTMAX", "LOGICAL_AND", "LOGICAL_NOT", "LOGICAL_OR", "LOGISTIC", "MAX_POOL_2D", "MAXIMUM", "MEAN",
    "MINIMUM", "MIRROR_PAD", "MUL", "NEG", "NOT_EQUAL", "PACK", "PAD", "PADV2", "PRELU", "QUANTIZE",
    "READ_VARIABLE", "REDUCE_MAX", "RELU", "RELU6", "RESHAPE", "RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR", "ROUND",
    "RSQRT", "SELECT_V2", "SHAPE", "SIN", "SLICE", "SOFTMAX", "SPACE_TO_BATCH_ND", "SPACE_TO_DEPTH", "SPLIT",
    "SPLIT_V", "SQRT", "SQUARE", "SQUARED_DIFFERENCE", "SQUEEZE", "STRIDED_SLICE", "SUB", "SUM", "SVDF", "TANH",
    "TRANSPOSE", "TRANSPOSE_CONV", "UNIDIRECTIONAL_SEQUENCE_LSTM", "UNPACK", "VAR_HANDLE", "WHILE", "ZEROS_LIKE",
)
# custom operators TFLM's Python interpreter also registers (audio front end, NPU, detection)
TFLM_CUSTOM = ("CIRCULAR_BUFFER", "DELAY", "DETECTION_POSTPROCESS", "ENERGY", "ETHOSU", "FFT_AUTO_SCALE",
               "FRAMER", "IRFFT", "OVERLAP_ADD", "RFFT", "STACKER", "WINDOW")

_FLOAT = "TFLM computes it in float32 only; tinyml runs float32 islands (between DEQUANTIZE and QUANTIZE) only " \
         "for operators whose float results are the same on every target (moves, NEG, SQUARE, ADD, SUB, MUL, ADD_N, " \
         "comparisons, FLOOR, CEIL, ROUND, SQRT)"
_FLOAT_LIBM = _FLOAT + " (and its libm approximation differs between targets)"
_NOT_YET = "not implemented yet in tinyml: its int8 kernel is on the list of gaps (see the issue tracker)"
REASONS: dict[str, str] = {
    "COS": _FLOAT_LIBM, "SIN": _FLOAT_LIBM, "LOG": _FLOAT_LIBM,
    "L2_POOL_2D": _FLOAT + "; not implemented yet",
    "EXP": "the tflite-micro interpreter refuses an int8 EXP; float32 only",
    "IF": "control flow (a second subgraph): tinyml compiles models with one subgraph",
    "WHILE": "control flow (a second subgraph): a recurrent layer converts to WHILE unless built with "
             "unroll=True or converted to UNIDIRECTIONAL_SEQUENCE_LSTM",
    "CALL_ONCE": "resource variables (initialised by a second subgraph): tinyml keeps state only in SVDF and "
                 "UNIDIRECTIONAL_SEQUENCE_LSTM", "VAR_HANDLE": "resource variables (see CALL_ONCE)",
    "ASSIGN_VARIABLE": "resource variables (see CALL_ONCE)", "READ_VARIABLE": "resource variables (see CALL_ONCE)",
}
_CUSTOM_REASON = "a custom operator (TFLM's signal-processing front end, an Ethos-U NPU command stream or the " \
                 "float SSD post-processing), not a neural-network layer: run it outside the compiled model"
# computed at import only, where every input is a constant (tinyml.fold)
CONSTANT_ONLY = ("BROADCAST_ARGS", "FILL", "FLOOR_DIV", "FLOOR_MOD", "SHAPE", "ZEROS_LIKE", "RANGE",
                 "REDUCE_PROD")


def status(name: str, compiled: frozenset[str] = frozenset()) -> tuple[str, str]:
    """(what tinyml does, detail) for TFLM builtin or custom operator `name`, given the operators the importer
    maps (`compiled`: tinyml.frontends.tflite.SUPPORTED_OPS)."""
    if name in CONSTANT_ONLY:
        return "constants only", "computed at import where its inputs are constants (shape arithmetic); " \
            "refused on activations"
    if name in compiled:
        return "compiled", ""
    if name in TFLM_CUSTOM:
        return "refused", _CUSTOM_REASON
    return "refused", REASONS.get(name, _NOT_YET)


def reason(name: str) -> str:
    """Why the importer refuses operator `name` (one clause), or '' when TFLM does not run it either."""
    if name in TFLM_BUILTINS or name in TFLM_CUSTOM:
        return f"TFLM runs it; {status(name)[1]}"
    return "TFLM's interpreter does not register it either"


def markdown(compiled: frozenset[str]) -> str:
    """docs/operators.md for the operators the importer maps (`compiled`)."""
    rows = [f"| {n} | {status(n, compiled)[0]} | {status(n, compiled)[1]} |" for n in TFLM_BUILTINS + TFLM_CUSTOM]
    counts = {s: sum(status(n, compiled)[0] == s for n in TFLM_BUILTINS)
              for s in ("compiled", "constants only", "refused")}
    return "\n".join([
        "# Operators: TFLM's interpreter and tinyml",
        "",
        "Generated by `python benchmarks/operator_table.py > docs/operators.md` from `tinyml/optable.py` (a test",
        "checks that it is current). Every builtin operator the `tflite-micro` Python interpreter registers, and",
        f"the custom ones it registers; of the {len(TFLM_BUILTINS)} builtins tinyml compiles {counts['compiled']}, "
        f"computes {counts['constants only']} at import where their inputs are constants, and refuses "
        f"{counts['refused']}.",
        "\"compiled\" means: int8 (and, where TFLM has one, the 16x8 kernel), bit-exact with TFLM; the type pairs",
        "each operator takes are in its refusal when a model uses another. A refused operator is named in one",
        "paragraph with every other one the model uses, each with the reason below.",
        "",
        "| operator | tinyml | detail |",
        "|---|---|---|",
        *rows, ""])

