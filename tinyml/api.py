"""The Python API that the CLI is a thin layer over, for notebooks and scripts.

    import tinyml
    graph = tinyml.load("model.tflite")
    report = tinyml.compile("model.tflite", "out/")
    outputs = tinyml.run("out/", [x])                 # generated C, built with the host compiler
    outputs = tinyml.run("model.tflite", [x], reference=True)   # NumPy reference executor
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from .compiler import CompileOptions, analyze, build_report, check_inputs, compile_model, load, read_model, read_report
from .errors import TinymlError
from .interpreter import initial_states, run_reference
from .ir import Graph
from .lower import lower

__all__ = ["load", "compile", "run", "inspect", "Graph", "quantize_input", "dequantize_output"]


def compile(model: str | Path, outdir: str | Path, *, prefix: str = "model", board: str | None = None,
            inplace: bool = True, overlap: bool = True, sram_budget: int | None = None, patch: str = "auto",
            patch_split: int | None = None, stream_input: bool = False, zero_copy_concat: bool = True,
            halos: str = "auto", verify: bool = True, kernels: str = "auto",
            max_arena: int | None = None, code: str = "auto") -> dict:
    """Compile `model` (.tflite) into C sources under `outdir`; returns report.json's content.
    patch: "auto" (patch-based inference only when needed to fit the SRAM budget), "off", or a grid "RxC";
    patch_split: the last op of the patch stage (default: the split with the lowest peak);
    stream_input: the patch stage reads its model input region by region from the application's memory
    (`model_set_input_source`) instead of the arena; zero_copy_concat: producers of CONCATENATION inputs write
    into the output's slices (no copies) where that lowers the peak; halos: "recompute" (MCUNetV2 patches),
    "cache" (whole-row bands keep their halos in window buffers: no extra MACs) or "auto"; verify: build the
    generated C for the host and check it against the reference executor before writing anything (turn it off
    only where no host C compiler exists); kernels: the generated kernels, "dsp" (SIMD for cores with the DSP
    extension; portable C definitions of its instructions elsewhere), "portable" (plain C loops, for
    Cortex-M0+/M3), "reference" (the portable runtime kernels only) or "auto" (dsp unless `board` lacks the DSP
    extension); max_arena: the largest arena (and tensor) in bytes tinyml generates code for (default 64 MiB);
    code: "fast" (longer unrolled loops), "compact" (up to 2 KB less code, a few percent more cycles) or "auto"
    (compact where `board`'s flash leaves less than 32 KiB beyond the model's constants and 64 KiB of code)."""
    extra = {} if max_arena is None else {"max_arena": max_arena}
    return compile_model(model, outdir, CompileOptions(prefix=prefix, board=board, inplace=inplace,
                                                       overlap=overlap, sram_budget=sram_budget, patch=patch,
                                                       patch_split=patch_split, stream_input=stream_input,
                                                       zero_copy_concat=zero_copy_concat, halos=halos,
                                                       verify=verify, kernels=kernels, code=code, **extra))


def inspect(model: str | Path, *, inplace: bool = True, overlap: bool = True, patch: str = "auto",
            patch_split: int | None = None, sram_budget: int | None = None) -> dict:
    """Analyse a model without writing anything: ops, shapes, MACs, weights and the memory plan."""
    p = Path(model)
    opts = CompileOptions(inplace=inplace, overlap=overlap, patch=patch, patch_split=patch_split,
                          sram_budget=sram_budget)
    return build_report(analyze(read_model(p), p.name, opts), opts, str(p.resolve()))


def reference_source(report: dict) -> Path | None:
    """The model a compiled directory was made from, if it is still where it was and unchanged."""
    src = Path(report.get("source_path") or "")
    if not src.is_file() or hashlib.sha256(src.read_bytes()).hexdigest() != report.get("sha256"):
        return None
    return src


def _reference_model(target: Path) -> Path:
    if target.is_dir():
        rep = read_report(target)
        src = reference_source(rep)
        if src is None:
            raise TinymlError(f"--reference needs the source model of '{target}', but "
                              f"'{rep.get('source_path')}' is missing or has changed since compilation; pass the "
                              ".tflite file instead")
        return src
    return target


def run(target: str | Path, inputs: list[np.ndarray], *, reference: bool = False,
        reshape: bool = False) -> list[np.ndarray]:
    """Run a compiled model directory on the host (or, with reference=True, the NumPy reference executor).
    Inputs must have the model's dtypes and shapes (reshape=True: any shape with the same number of elements).
    A model with state (SVDF, LSTM) runs from its reset state; `run_sequence` carries the state along."""
    return run_sequence(target, [inputs], reference=reference, reshape=reshape)[0]


def run_sequence(target: str | Path, sequence: list[list[np.ndarray]], *, reference: bool = False,
                 reshape: bool = False) -> list[list[np.ndarray]]:
    """Run `sequence` (a list of input lists, one per invoke) in order from the reset state, the state of a model
    that keeps one (SVDF, LSTM) carried from each invoke to the next as on the device; returns each invoke's
    outputs. Otherwise as `run`."""
    t = Path(target)
    if not t.exists():
        raise TinymlError(f"'{t}' does not exist")
    if reference:
        g = load(_reference_model(t))
        specs = [{"name": g.tensor(i).name, "shape": list(g.tensor(i).shape), "dtype": g.tensor(i).dtype.value,
                  "scale": g.tensor(i).quant.scale[0] if g.tensor(i).quant else None,
                  "zero_point": g.tensor(i).quant.zero_point[0] if g.tensor(i).quant else None} for i in g.inputs]
        kernels = lower(g)
        states = initial_states(kernels)
        return [list(run_reference(g, check_inputs(specs, xs, reshape), kernels, states=states))  # type: ignore
                for xs in sequence]
    if not t.is_dir():
        raise TinymlError(f"'{t}' is not a compiled model directory; run `tinyml compile {t} -o OUTDIR` first, "
                          "or pass --reference to run the model with the NumPy reference executor")
    from .harness.host import HostModel
    model = HostModel(t, reshape=reshape)
    return [model.run(xs) for xs in sequence]


def _io_spec(model: str | Path | Graph, which: str, index: int) -> dict:
    """The spec (name, shape, dtype, scale, zero point) of input/output `index` of a .tflite file, a compiled
    directory (its report.json) or a Graph."""
    if isinstance(model, Graph):
        g = model
    else:
        p = Path(model)
        if p.is_dir():
            specs = read_report(p)[which]
            if not 0 <= index < len(specs):
                raise TinymlError(f"'{p}' has {len(specs)} {which}; there is no {which[:-1]} {index}")
            return specs[index]
        g = load(p)
    ts = g.inputs if which == "inputs" else g.outputs
    if not 0 <= index < len(ts):
        raise TinymlError(f"the model has {len(ts)} {which}; there is no {which[:-1]} {index}")
    t = g.tensor(ts[index])
    scale, zp = t.quant.scalar() if t.quant is not None else (None, None)
    return {"name": t.name, "shape": list(t.shape), "dtype": t.dtype.value, "scale": scale, "zero_point": zp}


QUANTIZED_IO = ("int8", "uint8", "int16")  # what quantize_input / dequantize_output convert


def quantize_input(model: str | Path | Graph, x: np.ndarray, index: int = 0) -> np.ndarray:
    """Real values for quantized (int8, uint8 or int16) input `index` of `model` (a .tflite file, a compiled
    directory or a Graph) quantized as TFLite does (round(x / scale) + zero point, half away from zero,
    saturated to the input's type), in the input's shape: the same bytes `model_quantize_input_f32` writes in C."""
    from .ops.quantize import quantize_to
    spec = _io_spec(model, "inputs", index)
    if spec["dtype"] not in QUANTIZED_IO or spec["scale"] is None:
        raise TinymlError(f"input {index} ('{spec['name']}') is {spec['dtype']}, not a quantized int8, uint8 or "
                          "int16 tensor: pass its values as they are")
    x = np.asarray(x, np.float32)
    if x.size != int(np.prod(spec["shape"])):
        raise TinymlError(f"input {index} ('{spec['name']}') has shape {spec['shape']}, got {list(x.shape)}")
    return quantize_to(x, spec["scale"], spec["zero_point"], np.dtype(spec["dtype"])).reshape(spec["shape"])


def dequantize_output(model: str | Path | Graph, y: np.ndarray, index: int = 0) -> np.ndarray:
    """Quantized (int8, uint8 or int16) output `index` of `model` as real values ((q - zero point) * scale,
    float32), as `model_dequantize_output_f32` computes them."""
    from .ops.quantize import dequantize_values
    spec = _io_spec(model, "outputs", index)
    if spec["dtype"] not in QUANTIZED_IO or spec["scale"] is None:
        raise TinymlError(f"output {index} ('{spec['name']}') is {spec['dtype']}, not a quantized int8, uint8 or "
                          "int16 tensor")
    return dequantize_values(np.asarray(y), spec["scale"], spec["zero_point"])
