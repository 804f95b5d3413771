"""The compile path: model -> IR -> kernels -> memory plan -> C sources + report.json."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from codegen.emit import EmitOptions, arena_bytes, build_context, render, sha256_bytes

from . import __version__
from .boards import load_board
from .cost import macs, weight_bytes
from .errors import TinymlError
from .frontends import read_model
from .frontends.tflite import load_tflite, parse_tflite
from .ir import DType, Graph, OpKind
from .lower import Kernel, lower
from .memory import Buffer, Plan, lifetimes, max_layer_io, plan_memory

REPORT = "report.json"


@dataclass(frozen=True)
class CompileOptions:
    prefix: str = "model"
    board: str | None = None


@dataclass(frozen=True)
class Compiled:
    """Everything the compile path decided, before anything is written."""
    graph: Graph
    kernels: list[list[Kernel]]
    buffers: list[Buffer]
    plan: Plan
    sha256: str


def load(path: str | Path) -> Graph:
    """Import a model file (.tflite) into the IR."""
    return load_tflite(path)




def _check_quantized(g: Graph) -> None:
    float_ops = [k for k, op in enumerate(g.ops)
                 if any(g.tensor(i).dtype is DType.FLOAT32 for i in g.activation_inputs(op))
                 and op.kind is not OpKind.QUANTIZE]
    if float_ops:
        k = float_ops[0]
        raise TinymlError(
            f"'{g.source}' is a float model: operator {k} ({g.ops[k].kind.value}) computes in float32. tinyml "
            "compiles fully int8-quantized models (float32 is allowed only at the model inputs and outputs, "
            "through QUANTIZE/DEQUANTIZE). Convert with TFLiteConverter using optimizations=[Optimize.DEFAULT], "
            "a representative dataset and supported_ops=[TFLITE_BUILTINS_INT8].")


def analyze(model_bytes: bytes, source: str) -> Compiled:
    g = parse_tflite(model_bytes, source=source)
    _check_quantized(g)
    kernels = lower(g)
    buffers = lifetimes(g)
    plan = plan_memory(buffers)
    return Compiled(g, kernels, buffers, plan, sha256_bytes(model_bytes))


def _tensor_info(g: Graph, t: int) -> dict:
    x = g.tensor(t)
    info = {"name": x.name, "shape": list(x.shape), "dtype": x.dtype.value}
    if x.quant is not None:
        info["scale"], info["zero_point"] = x.quant.scalar()
    return info


def build_report(c: Compiled, options: CompileOptions, source_path: str | None) -> dict:
    g, plan = c.graph, c.plan
    offsets = {t: plan.offsets[b.id] for b in c.buffers for t in b.tensors}
    layers = []
    for k, op in enumerate(g.ops):
        out = g.tensor(op.outputs[0])
        layers.append({"index": k, "name": op.name, "op": op.kind.value, "macs": macs(g, op),
                       "weight_bytes": weight_bytes(g, op), "output_bytes": sum(g.tensor(o).nbytes
                                                                                for o in op.outputs),
                       "output_shape": list(out.shape), "arena_offset": offsets.get(op.outputs[0]),
                       "kernels": [kern.func for kern in c.kernels[k]]})
    used = {a for ks in c.kernels for kern in ks for a in kern.args}
    weights = sum(g.tensor(i).nbytes for i in sorted(used) if i >= 0 and g.tensor(i).is_const)
    tables = sum(4 * len(v) for ks in c.kernels for kern in ks
                 for v in vars(kern.params).values() if isinstance(v, tuple))
    sram = arena_bytes(c.buffers, plan)
    report = {
        "tool": "tinyml", "version": __version__, "source": g.source, "source_path": source_path,
        "sha256": c.sha256, "prefix": options.prefix,
        "peak_sram_bytes": sram, "arena_bytes": sram, "flash_bytes": weights + tables,
        "weight_bytes": weights, "table_bytes": tables,
        "macs": sum(layer["macs"] for layer in layers), "max_layer_io_bytes": max_layer_io(g),
        "inputs": [_tensor_info(g, t) for t in g.inputs], "outputs": [_tensor_info(g, t) for t in g.outputs],
        "layers": layers,
        "memory": {"planner": plan.strategy, "buffers": [
            {"tensor": g.tensor(b.id).name, "bytes": b.size, "first": b.first, "last": b.last,
             "offset": plan.offsets[b.id]} for b in c.buffers],
            "timeline": [{"step": s, "live_bytes": sum(b.size for b in c.buffers if b.id in ids),
                          "live": [g.tensor(i).name for i in ids]} for s, ids in enumerate(plan.timeline)]},
    }
    if options.board:
        board = load_board(options.board)
        report["board"] = {"name": board.name, "sram_bytes": board.sram.size, "flash_bytes": board.flash.size}
        if sram > board.sram.size or report["flash_bytes"] > board.flash.size:
            raise TinymlError(
                f"the model does not fit {board.name}: it needs {sram} bytes of SRAM for activations (the board "
                f"has {board.sram.size}) and {report['flash_bytes']} bytes of flash for weights (the board has "
                f"{board.flash.size}). The largest layer input+output is {report['max_layer_io_bytes']} bytes.")
    return report


def compile_model(model: str | Path, outdir: str | Path, options: CompileOptions = CompileOptions()) -> dict:
    """Compile a .tflite model into C sources in `outdir`; returns the report (also written as report.json).

    The directory is produced atomically: sources are rendered into a temporary sibling directory that replaces
    `outdir` only when everything succeeded, so a failure never leaves a half-written output."""
    path = Path(model)
    data = read_model(path)
    out = Path(outdir)
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / REPORT).exists())):
        raise TinymlError(f"output directory '{out}' exists and was not written by tinyml; choose another or "
                          "remove it")
    if not options.prefix.isidentifier():
        raise TinymlError(f"--prefix '{options.prefix}' is not a valid C identifier")
    c = analyze(data, path.name)
    report = build_report(c, options, str(path.resolve()))
    ctx = build_context(c.graph, c.kernels, c.buffers, c.plan, c.sha256, EmitOptions(prefix=options.prefix))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        render(ctx, tmp)
        (tmp / REPORT).write_text(json.dumps(report, indent=1) + "\n")
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return report


def read_report(outdir: str | Path) -> dict:
    p = Path(outdir) / REPORT
    if not p.is_file():
        raise TinymlError(f"'{outdir}' is not a tinyml output directory (no {REPORT}); run `tinyml compile` "
                          "first")
    return json.loads(p.read_text())


def check_inputs(specs: list[dict], inputs: list[np.ndarray]) -> list[np.ndarray]:
    """Validate user inputs against the model's input specs; returns them in the model's shapes."""
    if len(inputs) != len(specs):
        raise TinymlError(f"the model has {len(specs)} input(s) but {len(inputs)} were given")
    out = []
    for k, (spec, x) in enumerate(zip(specs, inputs)):
        x = np.asarray(x)
        want = np.dtype(DType(spec["dtype"]).numpy)
        if x.dtype != want:
            raise TinymlError(f"input {k} ('{spec['name']}') must be {want} with shape {spec['shape']}, got "
                              f"{x.dtype}; quantize it first (scale {spec.get('scale')}, zero point "
                              f"{spec.get('zero_point')})")
        if x.size != int(np.prod(spec["shape"])):
            raise TinymlError(f"input {k} ('{spec['name']}') must have shape {spec['shape']}, got "
                              f"{list(x.shape)}")
        out.append(np.ascontiguousarray(x.reshape(spec["shape"])))
    return out
