"""Graph + kernels + memory plan -> a plain template context -> Jinja2 templates -> C files.

No C is built by concatenating strings here: this module only decides *what* to emit (names, numbers, order)
and hands plain data to the templates in `codegen/templates/`, which decide *how* it is spelled.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import jinja2
import numpy as np

from tinyml import __version__
from tinyml.ir import NO_TENSOR, Graph
from tinyml.lower import Kernel, param_fields
from tinyml.memory import Buffer, Plan, storage_roots
from tinyml.resources import runtime_dir, templates_dir

# runtime source files each kernel function needs (beyond the headers)
KERNEL_SOURCES: dict[str, tuple[str, ...]] = {
    "tml_conv_s8": ("tml_conv_s8.c",),
    "tml_depthwise_conv_s8": ("tml_depthwise_conv_s8.c",),
    "tml_fully_connected_s8": ("tml_fully_connected_s8.c",),
    "tml_add_s8": ("tml_add_s8.c",),
    "tml_mul_s8": ("tml_mul_s8.c",),
    "tml_avgpool_s8": ("tml_avgpool_s8.c",),
    "tml_maxpool_s8": ("tml_maxpool_s8.c",),
    "tml_mean_s8": ("tml_mean_s8.c",),
    "tml_softmax_s8": ("tml_softmax_s8.c", "tml_fixedpoint.c"),
    "tml_logistic_s8": ("tml_logistic_s8.c", "tml_fixedpoint.c"),
    "tml_tanh_s8": ("tml_tanh_s8.c", "tml_fixedpoint.c"),
    "tml_hard_swish_s8": ("tml_hard_swish_s8.c",),
    "tml_leaky_relu_s8": ("tml_leaky_relu_s8.c",),
    "tml_requantize_s8": ("tml_requantize_s8.c",),
    "tml_clamp_s8": ("tml_clamp_s8.c",),
    "tml_pad_s8": ("tml_pad_s8.c",),
    "tml_copy": ("tml_copy.c",),
    "tml_quantize_f32_s8": ("tml_quantize_f32_s8.c",),
    "tml_dequantize_s8_f32": ("tml_dequantize_s8_f32.c",),
}
RUNTIME_HEADERS = ("tml_nn.h", "tml_fixedpoint.h")
ARRAY_ROW = 16


@dataclass(frozen=True)
class EmitOptions:
    prefix: str = "model"


def _c_literal(annotation: str, value: object) -> str:
    if annotation == "double":
        return float(value).hex()  # type: ignore[arg-type]
    if annotation == "float":
        return float(np.float32(value)).hex() + "f"  # type: ignore[arg-type]
    return str(int(value))  # type: ignore[call-overload]


def _rows(values: np.ndarray, per_row: int = ARRAY_ROW) -> list[str]:
    flat = [str(int(v)) for v in np.asarray(values).reshape(-1)]
    return [", ".join(flat[i:i + per_row]) for i in range(0, len(flat), per_row)]


def build_context(g: Graph, kernels: list[list[Kernel]], buffers: list[Buffer], plan: Plan, model_sha256: str,
                  options: EmitOptions) -> dict:
    p = options.prefix
    roots = storage_roots(g)
    buf_of = {t: b for b in buffers for t in b.tensors}
    used_consts: list[int] = []

    def expr(t: int) -> str:
        if t == NO_TENSOR:
            return "NULL"
        r = roots[t]
        tensor = g.tensor(r)
        if tensor.is_const:
            if r not in used_consts:
                used_consts.append(r)
            return f"{p}_w{r}"
        return f"(({g.tensor(t).dtype.ctype} *)({p}_arena.bytes + {plan.offsets[buf_of[t].id]}))"

    layers, tables, structs = [], [], []
    for k, (op, ks) in enumerate(zip(g.ops, kernels)):
        calls = []
        for j, kern in enumerate(ks):
            pname = f"{p}_op{k}" + (f"_{j}" if len(ks) > 1 else "")
            fields = []
            for name, ann, value in param_fields(kern.params):
                if isinstance(value, tuple):
                    tname = f"{pname}_{name}"
                    tables.append({"name": tname, "ctype": "int32_t", "count": len(value),
                                   "rows": _rows(np.asarray(value, np.int64))})
                    fields.append({"name": name, "value": tname})
                else:
                    fields.append({"name": name, "value": _c_literal(ann, value)})
            structs.append({"name": pname, "type": kern.struct, "fields": fields})
            calls.append({"func": kern.func, "params": pname, "args": [expr(a) for a in kern.args]})
        layers.append({"index": k, "op": op.kind.value, "name": op.name, "calls": calls,
                       "alias": not ks})

    weights = []
    for r in sorted(used_consts):
        t = g.tensor(r)
        assert t.data is not None
        weights.append({"name": f"{p}_w{r}", "ctype": t.dtype.ctype, "count": t.size, "tensor": t.name,
                        "shape": list(t.shape), "rows": _rows(t.data)})

    def io(ts: tuple[int, ...]) -> list[dict]:
        return [{"expr": expr(t), "bytes": g.tensor(t).nbytes, "name": g.tensor(t).name} for t in ts]
    sources = sorted({s for ks in kernels for kern in ks for s in KERNEL_SOURCES[kern.func]})
    return {
        "version": __version__, "source": g.source or g.name, "sha256": model_sha256, "prefix": p,
        "guard": p.upper(), "arena_size": arena_bytes(buffers, plan), "arena_align": arena_align(buffers),
        "inputs": io(g.inputs), "outputs": io(g.outputs),
        "layers": layers, "tables": tables, "structs": structs, "weights": weights,
        "runtime_sources": sources, "runtime_headers": list(RUNTIME_HEADERS),
    }


def arena_align(buffers: list[Buffer]) -> int:
    return max((b.align for b in buffers), default=1)


def arena_bytes(buffers: list[Buffer], plan: Plan) -> int:
    """Bytes the arena object really occupies (a union with int32 rounds up to its alignment)."""
    a = arena_align(buffers)
    return max(-(-plan.peak // a) * a, a)


def _env() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates_dir())), undefined=jinja2.StrictUndefined,
                              keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True, autoescape=False)


def render(ctx: dict, outdir: Path) -> list[Path]:
    """Write the generated sources and the runtime files they need into `outdir`; returns the paths written."""
    env = _env()
    p = ctx["prefix"]
    written = []
    for template, name in (("model.h.j2", f"{p}.h"), ("model.c.j2", f"{p}.c"), ("weights.h.j2", f"{p}_weights.h"),
                           ("weights.c.j2", f"{p}_weights.c")):
        path = outdir / name
        path.write_text(env.get_template(template).render(**ctx))
        written.append(path)
    rt = runtime_dir()
    for h in ctx["runtime_headers"]:
        written.append(_copy(rt / "include" / h, outdir / h))
    for s in ctx["runtime_sources"]:
        written.append(_copy(rt / "src" / s, outdir / s))
    return written


def _copy(src: Path, dst: Path) -> Path:
    dst.write_bytes(src.read_bytes())
    return dst


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def render_profile_html(report: dict, emulation: dict) -> str:
    """report.html: instructions and MACs per layer as an inline SVG bar chart, plus a table."""
    layers = emulation["layers"]
    max_i = max((la["instructions"] for la in layers), default=0) or 1
    max_m = max((la["macs"] for la in layers), default=0) or 1
    w, chart_h, top = 10, 240, 10
    bars = []
    for k, la in enumerate(layers):
        h = round(chart_h * la["instructions"] / max_i)
        mh = round(chart_h * la["macs"] / max_m)
        bars.append({"index": k, "x": 30 + k * 3 * w, "w": w, "y": top + chart_h - h, "h": h,
                     "my": top + chart_h - mh, "mh": mh,
                     "label": f"{k} {la['op']}: {la['instructions']:,} instructions, {la['macs']:,} MACs"})
    return _env().get_template("report.html.j2").render(
        version=__version__, source=report["source"], board=emulation["board"], emulator=emulation["emulator"],
        total=emulation["total_instructions"], peak=report["peak_sram_bytes"], match=emulation["outputs_match_host"],
        layers=layers, bars=bars, width=60 + len(layers) * 3 * w, height=top + chart_h + 16)
