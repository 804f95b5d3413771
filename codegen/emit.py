"""Graph + kernels + memory plan -> a plain template context -> Jinja2 templates -> C files.

No C is built by concatenating strings here: this module only decides *what* to emit (names, numbers, order)
and hands plain data to the templates in `codegen/templates/`, which decide *how* it is spelled.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from codegen.jinja import environment
from tinyml.carray import c_literal, c_rows
from tinyml.ir import NO_TENSOR, DType, Graph, pack_int4
from tinyml.kernels import KERNELS, Const, Special, call_blocks, chosen
from tinyml.kernels import derived as derived_args
from tinyml.memory import Buffer, Plan
from tinyml.memory.planner import Ref, ScratchId, Source, arena_align, arena_bytes
from tinyml.ops.recurrent import op_states
from tinyml.params import Kernel, param_fields
from tinyml.resources import runtime_dir
from tinyml.version import __version__

RUNTIME_HEADERS = ("tml_nn.h", "tml_fixedpoint.h", "tml_simd.h")
MVE_HEADER = "tml_mve.h"  # only where the generated kernels are Helium's
# model inputs/outputs that model_quantize_input_f32 / model_dequantize_output_f32 convert: type -> range
QUANTIZED_IO = {DType.INT8: (-128, 127), DType.UINT8: (0, 255), DType.INT16: (-32768, 32767)}


@dataclass(frozen=True)
class EmitOptions:
    prefix: str = "model"
    isa: str | None = None  # generated kernels: "mve", "dsp", "portable", or None (the runtime kernels only)


class _Emission:
    """What build_context collects while it walks the schedule: the arguments of each call as C, the constant
    arrays and tables they read, the generated kernels they call, the state buffers of stateful ops."""

    def __init__(self, g: Graph, buffers: list[Buffer], plan: Plan, options: EmitOptions, roots: dict[int, int],
                 within: dict[int, int] | None) -> None:
        self.g, self.plan, self.roots, self.p = g, plan, roots, options.prefix
        self.buf_of = {t: b for b in buffers for t in b.tensors}
        self.within = within or {}
        self.used_consts: list[int] = []
        self.derived: dict[Const, str] = {}  # constant arrays prepared for generated kernels
        self.specials: dict[str, dict] = {}
        self.states: dict[int, list[dict]] = {}  # op index -> the static buffers of its state, kept between invokes
        self.tables: list[dict] = []
        self.structs: list[dict] = []
        self.struct_names: dict[tuple, str] = {}  # identical parameter structs (patches) are emitted once
        self.table_names: dict[tuple[str, tuple[int, ...]], str] = {}  # and so are identical tables
        self.per_op: dict[int, int] = {}

    def arg(self, t: int | Ref | Source | ScratchId) -> Arg:
        p, plan = self.p, self.plan
        if isinstance(t, Source):
            return Arg(offset=t.offset, source=t.index)
        if isinstance(t, Ref):
            base = plan.offsets[self.buf_of[t.buffer].id] + self.within.get(t.buffer, 0) \
                if isinstance(t.buffer, int) else plan.offsets[t.buffer]
            return Arg(offset=base + t.offset, ctype=t.ctype)
        if isinstance(t, ScratchId):  # a planner buffer of its own
            return Arg(offset=plan.offsets[t], ctype="int8_t")
        if t == NO_TENSOR:
            return Arg("NULL")
        r = self.roots[t]
        if self.g.tensor(r).is_const:
            if r not in self.used_consts:
                self.used_consts.append(r)
            return Arg(f"{p}_w{r}")
        at = plan.offsets[self.buf_of[t].id] + self.within.get(t, 0)
        return Arg(offset=at, ctype=self.g.tensor(t).dtype.ctype)

    def const(self, c: int | Const) -> Arg:
        if isinstance(c, Const):
            if c not in self.derived:
                self.derived[c] = f"{self.p}_c{len(self.derived)}"
            return Arg(self.derived[c])
        return self.arg(c)

    def special(self, sp: Special, kern: Kernel) -> str:
        entry = self.specials.setdefault(sp.name, {"family": sp.family, "special": sp, "c": dict(sp.consts),
                                                   "short": set()})
        if entry["special"] != sp:  # one name, one function: a name that does not say everything is a bug
            raise AssertionError(f"two generated kernels are both named {sp.name}: {entry['special']} and {sp}")
        entry["short"] |= call_blocks(sp, kern.params)  # the leftover blocks and pixel walks some call runs
        return f"{self.p}_k_{sp.name}"

    def call(self, k: int, kern: Kernel, pname: str) -> dict:
        g, p, arg = self.g, self.p, self.arg
        sp = chosen(kern)
        if op_states(g, g.ops[k]):  # the op's state buffers (SVDF, LSTM) go before the output
            self.states[k] = [{"name": f"{p}_state{k}" + (f"_{n}" if n else ""), "ctype": dtype.ctype,
                               "count": count, "reset": reset, "bytes": dtype.storage_bytes(count),
                               "op": g.ops[k].name, "what": what}
                              for n, (dtype, count, reset, what) in enumerate(op_states(g, g.ops[k]))]
            return {"func": kern.func if sp is None else self.special(sp, kern), "params": pname,
                    "args": [arg(a) for a in kern.args[:-1]] + [Arg(st["name"]) for st in self.states[k]]
                    + [arg(kern.args[-1])]}
        if sp is None:
            return {"func": kern.func, "params": pname, "args": [arg(a) for a in kern.args]}
        self.special(sp, kern)
        consts = derived_args(sp, kern, g)
        if sp.family == "add":  # both operands, then the prepared tables (ADD/SUB), then the output
            return {"func": f"{p}_k_{sp.name}", "params": pname,
                    "args": [arg(a) for a in kern.args[:-1]] + [self.const(c) for c in consts]
                    + [arg(kern.args[-1])]}
        args = [arg(kern.args[0]), *map(self.const, consts)] + [arg(a) for a in kern.args[len(consts) + 1:-1]]
        if sp.scratch and sp.family == "conv":  # im2col rows (an in-place kernel's plane is among its args)
            args.append(arg(ScratchId(k)))
        return {"func": f"{p}_k_{sp.name}", "params": pname, "args": args + [arg(kern.args[-1])]}

    def struct(self, k: int, kern: Kernel) -> str:
        """The name of the parameter struct of call `kern` of op `k` (emitted once per distinct value), with its
        per-channel tables (each distinct table once)."""
        key = (k, kern.func, kern.params)
        pname = self.struct_names.get(key, "")
        if pname:
            return pname
        n = self.per_op.get(k, 0)
        self.per_op[k] = n + 1
        pname = self.struct_names[key] = f"{self.p}_op{k}" + (f"_{n}" if n else "")
        fields = []
        sp = chosen(kern)
        for name, ann, value in param_fields(kern.params):
            if isinstance(value, tuple) and sp is not None and name in sp.unread:
                fields.append({"name": name, "value": "NULL"})
            elif isinstance(value, tuple):
                ctype = {"tuple[int8, ...]": "int8_t", "tuple[int16, ...]": "int16_t",
                         "tuple[uint16, ...]": "uint16_t"}.get(ann, "int32_t")
                if (ctype, value) not in self.table_names:
                    self.table_names[ctype, value] = f"{pname}_{name}"
                    self.tables.append({"name": self.table_names[ctype, value], "ctype": ctype, "count": len(value),
                                        "rows": c_rows(np.asarray(value, np.int64))})
                fields.append({"name": name, "value": self.table_names[ctype, value]})
            else:
                fields.append({"name": name, "value": c_literal(ann, value)})
        self.structs.append({"name": pname, "type": kern.struct, "fields": fields})
        return pname

    def weights(self) -> list[dict]:
        """The constant arrays the calls read: the model's tensors (int4 packed two per byte), then the ones
        prepared for generated kernels."""
        out = []
        for r in sorted(self.used_consts):
            t = self.g.tensor(r)
            assert t.data is not None
            data = t.data
            if t.dtype is DType.INT4:  # packed two per byte, low nibble first
                data = np.frombuffer(pack_int4(t.data), np.int8)
            out.append({"name": f"{self.p}_w{r}", "ctype": t.dtype.ctype, "count": data.size, "tensor": t.name,
                        "shape": list(t.shape), "rows": c_rows(data),
                        "packed": "int4, two per byte, low nibble first" if t.dtype is DType.INT4 else ""})
        for c, name in self.derived.items():
            v = c.values()
            out.append({"name": name, "ctype": c.ctype, "count": v.size, "tensor": f"prepared for a generated "
                        f"kernel: {c.key}", "shape": [v.size], "rows": c_rows(v), "packed": ""})
        return out

    def io(self, ts: tuple[int, ...], streamed: frozenset[int] = frozenset()) -> list[dict]:
        """The model's inputs (`streamed`: those read from the application's memory) or outputs."""
        out = []
        for k, t in enumerate(ts):
            x = self.g.tensor(t)
            q = x.quant.scalar() if x.quant is not None and x.dtype in QUANTIZED_IO else None
            out.append({"arg": Arg("NULL") if k in streamed else self.arg(t), "bytes": x.nbytes,
                        "name": x.name, "streamed": k in streamed, "shape": list(x.shape), "elements": x.size,
                        "ctype": x.dtype.ctype, "int8": q is not None,  # quantized int8, uint8 or int16
                        "qmin": QUANTIZED_IO.get(x.dtype, (0, 0))[0], "qmax": QUANTIZED_IO.get(x.dtype, (0, 0))[1],
                        "scale": c_literal("float", q[0]) if q else "", "zero_point": int(q[1]) if q else 0,
                        "scale_text": f"{q[0]:.9g}" if q else ""})
        return out


def build_context(g: Graph, schedule: list[tuple[int, list[Kernel]]], buffers: list[Buffer], plan: Plan,
                  model_sha256: str, options: EmitOptions, roots: dict[int, int],
                  streamed: frozenset[int] = frozenset(), within: dict[int, int] | None = None) -> dict:
    """`schedule`: (op index, kernel calls) blocks in execution order (a patch stage repeats its ops per patch).
    `roots`: tensor -> root tensor of its storage, as the memory plan used it (constants resolve to arrays);
    `within`: tensor -> byte offset inside that storage (zero-copy concatenation slices; default 0)."""
    e = _Emission(g, buffers, plan, options, roots, within)
    layers = []
    seen_blocks: dict[int, int] = {}
    for k, ks in schedule:
        op = g.ops[k]
        calls = [e.call(k, kern, e.struct(k, kern)) for kern in ks]
        seen_blocks[k] = seen_blocks.get(k, 0) + 1
        layers.append({"index": k, "op": op.kind.value, "name": op.name, "calls": calls,
                       "alias": not ks, "repeat": seen_blocks[k] - 1})
    for layer in layers:
        layer["patch"] = layer.pop("repeat") + 1 if seen_blocks[layer["index"]] > 1 else 0
    groups = _fold(layers)
    weights = e.weights()
    p = options.prefix
    sources = sorted({s for _, ks in schedule for kern in ks if chosen(kern) is None
                      for s in KERNELS[kern.func].sources})
    return {
        "version": __version__, "source": g.source or g.name, "sha256": model_sha256, "prefix": p,
        "guard": p.upper(), "arena_size": arena_bytes(buffers, plan), "arena_align": arena_align(buffers),
        "inputs": e.io(g.inputs, streamed), "outputs": e.io(g.outputs), "streamed": sorted(streamed),
        "groups": groups, "num_layers": len(g.ops), "tables": e.tables, "structs": e.structs, "weights": weights,
        "runtime_sources": sources,
        "runtime_headers": list(RUNTIME_HEADERS) + ([MVE_HEADER] if options.isa == "mve" else []),
        "states": [st for k in sorted(e.states) for st in e.states[k]],
        "state_bytes": sum(st["bytes"] for v in e.states.values() for st in v),
        "kernels": [e.specials[n] for n in sorted(e.specials)], "isa": options.isa,
        "borders": [{"special": sp, "c": dict(sp.consts)} for sp in
                    {x["special"].border: x["special"] for n, x in sorted(e.specials.items())
                     if x["special"].border}.values()],
    }


@dataclass(frozen=True)
class Arg:
    """A kernel argument: a C object passed by name (`name`: weights, a prepared constant, a state buffer, NULL),
    or a pointer `offset` bytes into the arena (as `ctype`) or into streamed model input `source`. The template
    spells it (model.c.j2's c_arg); calls whose arguments differ only by offsets moving in equal steps can become
    one loop."""
    name: str = ""
    offset: int | None = None
    ctype: str = "int8_t"
    source: int | None = None


MIN_LOOP = 3     # repetitions from which a run of identical blocks becomes a loop
MAX_PERIOD = 64  # blocks per repetition considered


def _shape(layer: dict) -> tuple:
    """What must be equal for two blocks to be one loop body: layer, kernels, parameter structs, fixed args."""
    return (layer["index"], layer["alias"], tuple(
        (c["func"], c["params"], tuple((a.name, a.ctype, a.source, a.offset is None) for a in c["args"]))
        for c in layer["calls"]))


def _offsets(layer: dict) -> list[int]:
    return [a.offset for c in layer["calls"] for a in c["args"] if a.offset is not None]


def _repeats(shapes: list[tuple], offsets: list[list[int]], i: int, period: int) -> tuple[int, list[int]]:
    """How often the `period` blocks from i repeat with every offset moving by the same step each time (`shapes`
    and `offsets`: _shape and _offsets of every block)."""
    base = [o for la in range(i, i + period) for o in offsets[la]]
    n, steps = 1, [0] * len(base)
    while i + (n + 1) * period <= len(shapes):
        start = i + n * period
        if any(shapes[start + j] != shapes[i + j] for j in range(period)):
            break
        offs = [o for la in range(start, start + period) for o in offsets[la]]
        if n == 1:
            steps = [b - a for a, b in zip(base, offs)]
        elif any(o != b + n * d for o, b, d in zip(offs, base, steps)):
            break
        n += 1
    return n, steps


def _fold(layers: list[dict]) -> list[dict]:
    """Group the blocks for the template: runs of blocks that repeat at least MIN_LOOP times with offsets moving
    in equal steps (the steady state of a row pipeline) become one loop over the repeated blocks; the rest stay
    straight-line. The calls and their order are unchanged, so are the profiling markers."""
    shapes = [_shape(la) for la in layers]
    offsets = [_offsets(la) for la in layers]
    out: list[dict] = []
    i = 0
    while i < len(layers):
        best = (1, 1, [])
        for period in range(1, min(MAX_PERIOD, (len(layers) - i) // MIN_LOOP) + 1):
            if shapes[i + period] != shapes[i]:  # the block after the first period must start a repetition
                continue
            n, steps = _repeats(shapes, offsets, i, period)
            if n >= MIN_LOOP and n * period > best[0] * best[1]:
                best = (n, period, steps)
        n, period, steps = best
        if n < MIN_LOOP:
            out.append({"loop": 0, "blocks": [_rendered(layers[i], [])]})
            i += 1
            continue
        it = iter(steps)
        body = [_rendered(la, [next(it) for _ in _offsets(la)]) for la in layers[i:i + period]]
        for la in body:
            la["patch"] = f"{la['patch']}-{la['patch'] + n - 1}" if la["patch"] else la["patch"]
        out.append({"loop": n, "blocks": body})
        i += n * period
    return out


def _rendered(layer: dict, steps: list[int]) -> dict:
    it = iter(steps)
    calls = [{"func": c["func"], "params": c["params"],
              "args": [{"arg": a, "step": next(it) if steps and a.offset is not None else 0} for a in c["args"]]}
             for c in layer["calls"]]
    return {**layer, "calls": calls}


def render(ctx: dict, outdir: Path) -> list[Path]:
    """Write the generated sources and the runtime files they need into `outdir`; returns the paths written."""
    env = environment()
    p = ctx["prefix"]
    written = []
    files = [("model.h.j2", f"{p}.h"), ("model.c.j2", f"{p}.c"), ("weights.h.j2", f"{p}_weights.h"),
             ("weights.c.j2", f"{p}_weights.c")]
    if ctx["kernels"]:
        files += [("kernels.h.j2", f"{p}_kernels.h"), ("kernels.c.j2", f"{p}_kernels.c")]
    for template, name in files:
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
