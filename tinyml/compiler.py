"""The compile path: model -> IR -> kernels -> memory plan -> C sources + report.json."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from codegen.emit import EmitOptions, build_context, render
from codegen.report import render_report_html

from . import ops
from .boards import Board, load_board
from .cost import macs, weight_bytes
from .errors import TinymlError
from .frontends import read_model
from .frontends.tflite import load_tflite, parse_tflite
from .ir import NO_TENSOR, DType, Graph, OpKind
from .kernels import Const, chosen, derived, resolve_isa, select_calls
from .lower import lower
from .memory import Buffer, Plan, arena_bytes, max_layer_io
from .memory.order import reorder
from .memory.patching import PatchPlan
from .memory.planner import BufferId, PatchId, ScratchId, id_order, storage_offsets, storage_roots
from .memory.techniques import MemoryOptions, MemoryPlan, Schedule, patch_options, refine, replan
from .memory.techniques import plan as plan_memory_techniques
from .ops.recurrent import state_bytes
from .outdir import REPORT, check_inputs, check_outdir, owned, read_report, remove_stale, replace_dir, sha256_bytes  # noqa: F401 (API)
from .params import Kernel, param_fields
from .validate import MAX_TENSOR_BYTES, validate
from .version import __version__


@dataclass(frozen=True)
class CompileOptions:
    prefix: str = "model"
    board: str | None = None
    inplace: bool = True        # in-place depthwise convolution
    overlap: bool = True        # outputs overlapping the inputs they consume
    sram_budget: int | None = None  # bytes of activation RAM allowed (default with a board: its SRAM)
    patch: str = "auto"         # "auto" (patch only when needed to fit the budget), "off", or a grid "RxC"
    patch_split: int | None = None  # force the last op of the patch stage
    stream_input: bool = False  # the patch stage reads its model input region by region, outside the arena
    reorder: bool = True        # run independent branches in the order that lowers the peak
    zero_copy_concat: bool = True  # CONCATENATION inputs written straight into the output's slices
    halos: str = "auto"         # patch halos: "recompute", "cache" (R x 1 bands, no extra MACs) or "auto"
    verify: bool = True         # build the generated C for the host and check it against the reference executor
    kernels: str = "auto"       # generated kernels: "mve", "dsp", "portable", "reference" (the portable runtime
                                # kernels only) or "auto" (mve on a Helium core, else dsp unless the board lacks
                                # the DSP extension)
    max_arena: int = MAX_TENSOR_BYTES  # bytes: the largest tensor and arena tinyml generates code for
    code: str = "auto"          # generated kernels' code size: "fast", "compact" (shorter unrolled loops) or "auto"
                                # (compact where the board's flash is short: compact_code)

    def grid(self) -> tuple[int, int] | None:
        """The forced patch grid, or None for "auto"/"off"."""
        if self.patch in ("auto", "off"):
            return None
        try:
            r, c = (int(v) for v in self.patch.lower().split("x"))
        except ValueError:
            raise TinymlError(f"--patch '{self.patch}' is not auto, off or a grid like 2x2") from None
        if r < 1 or c < 1 or r * c < 2:
            raise TinymlError(f"--patch '{self.patch}': a patch grid needs at least two patches")
        return r, c

    def isa(self) -> str | None:
        """The generated kernels' flavour (tinyml.kernels): dsp, portable (a board without DSP), None (reference)."""
        return resolve_isa(self.kernels, load_board(self.board) if self.board else None)

    def memory_options(self, **changes: object) -> MemoryOptions:
        """The memory planner's options for this compile (with `changes`)."""
        budget = self.budget()
        mo = MemoryOptions(inplace=self.inplace, overlap=self.overlap, stream_input=self.stream_input,
                           zero_copy_concat=self.zero_copy_concat, halos=self.halos, isa=self.isa(),
                           ceiling=budget[0] if budget else None)
        return replace(mo, **changes)  # type: ignore[arg-type]

    def budget(self) -> tuple[int, str] | None:
        """(bytes, description) of the SRAM budget in force, if any."""
        if self.sram_budget is not None:
            return self.sram_budget, f"--sram-budget {self.sram_budget:,}"
        if self.board:
            b = load_board(self.board)
            return b.arena_budget, b.describe_budget()
        return None


@dataclass(frozen=True)
class Compiled:
    """Everything the compile path decided, before anything is written."""
    graph: Graph
    kernels: list[list[Kernel]]
    buffers: list[Buffer]
    plan: Plan
    sha256: str
    schedule: Schedule                 # kernel call blocks in execution order (a patch stage repeats its layers)
    inplace_ops: frozenset[int] = frozenset()
    patch: PatchPlan | None = None
    folded_pads: frozenset[int] = frozenset()
    slices: dict[int, tuple[int, int]] = field(default_factory=dict)  # zero-copy concat: tensor -> (output, offset)

    @property
    def roots(self) -> dict[int, int]:
        return storage_roots(self.graph, self.inplace_ops | self.folded_pads, self.slices)

    @property
    def offsets(self) -> dict[int, int]:
        """tensor -> byte offset inside its storage's buffer (non-zero only for zero-copy concat slices)."""
        return storage_offsets(self.graph, self.inplace_ops | self.folded_pads, self.slices)


def load(path: str | Path) -> Graph:
    """Import a model file (.tflite) into the IR."""
    return load_tflite(path)




# operators that only move values, or compute one IEEE operation per value: between a DEQUANTIZE and a QUANTIZE
# inside an int8 graph (the converter leaves SPLIT_V and UNPACK in float32, for one, comparisons of DEQUANTIZEd
# values feeding SELECT_V2, and add_n) they run on float32, the same bits on every target; each operator family
# (tinyml/ops) names its own in FLOAT_ISLAND
FLOAT_ISLAND_OPS = ops.FLOAT_ISLAND


def float_islands(g: Graph) -> list[int]:
    """The operators that compute in float32 inside a quantized graph (see FLOAT_ISLAND_OPS)."""
    return [k for k, op in enumerate(g.ops) if op.kind in FLOAT_ISLAND_OPS
            and any(g.tensor(i).dtype is DType.FLOAT32 for i in g.activation_inputs(op))]


def _check_quantized(g: Graph) -> None:
    computes_int8 = any(g.tensor(i).dtype is DType.INT8 for op in g.ops for i in g.activation_inputs(op)
                        if op.kind not in (OpKind.QUANTIZE, OpKind.DEQUANTIZE))
    float_ops = [k for k, op in enumerate(g.ops)
                 if any(g.tensor(i).dtype is DType.FLOAT32 for i in g.activation_inputs(op))
                 and op.kind is not OpKind.QUANTIZE and not (computes_int8 and op.kind in FLOAT_ISLAND_OPS)]
    if float_ops:
        k = float_ops[0]
        raise TinymlError(
            f"'{g.source}' is a float model: operator {k} ({g.ops[k].kind.value}) computes in float32. tinyml "
            "compiles int8-quantized models (float32 is allowed only at the model inputs and outputs, through "
            f"QUANTIZE/DEQUANTIZE). Quantize it with `tinyml compress {g.source} --data CALIB.npz -o "
            "model_int8.tflite` (calibration inputs in an .npz array 'x'; it also fits flash and SRAM budgets), or "
            "with TensorFlow's TFLiteConverter (optimizations=[Optimize.DEFAULT], a representative dataset, "
            "supported_ops=[TFLITE_BUILTINS_INT8]).")


def _prepared(model_bytes: bytes, source: str, options: CompileOptions) -> tuple[Graph, list[list[Kernel]], str]:
    if not 1 <= options.max_arena <= (1 << 31) - 1:
        raise TinymlError(f"--max-arena {options.max_arena} must be between 1 and {(1 << 31) - 1:,} bytes (the "
                          "generated code indexes the arena with 32-bit integers)")
    g = validate(parse_tflite(model_bytes, source=source), options.max_arena)
    _check_quantized(g)
    if options.reorder:
        g = reorder(g)
    return g, lower(g), sha256_bytes(model_bytes)


def analyze(model_bytes: bytes, source: str, options: CompileOptions = CompileOptions()) -> Compiled:
    """The compile path's decisions for a model, nothing written (the first of `candidates`)."""
    return next(candidates(model_bytes, source, options))


def candidates(model_bytes: bytes, source: str, options: CompileOptions = CompileOptions()) -> Iterator[Compiled]:
    """The configurations `options` allows, in the order the compiler prefers them (see plan_candidates)."""
    g, kernels, sha = _prepared(model_bytes, source, options)
    for mp in plan_candidates(g, kernels, options):
        yield _compiled(g, mp, sha, options)


def _compiled(g: Graph, mp: MemoryPlan, sha: str, options: CompileOptions) -> Compiled:
    """The plan with the kernel selector's decision stored on every call of its schedule."""
    calls = select_calls(mp.schedule, options.isa(), g, compact_code(g, options), narrow_weights(g, options))
    return Compiled(g, mp.kernels, mp.buffers, mp.plan, sha, calls, mp.inplace_ops, mp.patch, mp.folded_pads,
                    mp.slices)


FIRMWARE_CODE_RESERVE = 64 * 1024  # bytes of a board's flash counted for the firmware's code
COMPACT_BELOW = 32 * 1024          # less flash than this to spare: the compact kernels (code="auto")


def compact_code(g: Graph, options: CompileOptions) -> bool:
    """Whether the kernels take their compact variants: --code compact, or --code auto with a board whose flash
    leaves less than COMPACT_BELOW bytes beyond the model's constants and FIRMWARE_CODE_RESERVE for the code."""
    if options.code not in ("auto", "fast", "compact"):
        raise TinymlError(f"--code '{options.code}' is not one of auto, fast, compact")
    if options.code != "auto":
        return options.code == "compact"
    return options.board is not None and flash_room(g, load_board(options.board)) < COMPACT_BELOW


def narrow_weights(g: Graph, options: CompileOptions) -> bool:
    """Whether kernels that widen their weights to int16 at generation time (dsp convolutions) keep them int8: on a
    board whose flash would then leave less than COMPACT_BELOW bytes beyond the constants and the code reserve
    (reckoned as if every convolution's int8 weights were widened), and with the compact kernels."""
    if compact_code(g, options):
        return True
    if options.board is None:
        return False
    convs = (OpKind.CONV_2D, OpKind.DEPTHWISE_CONV_2D)
    widened = sum(g.tensor(op.inputs[1]).nbytes for op in g.ops if op.kind in convs and len(op.inputs) > 1
                  and g.tensor(op.inputs[1]).is_const and g.tensor(op.inputs[1]).dtype == DType.INT8)
    return flash_room(g, load_board(options.board)) - widened < COMPACT_BELOW


def flash_room(g: Graph, board: Board) -> int:
    """Bytes of `board`'s flash to spare: its flash less the model's constants and FIRMWARE_CODE_RESERVE."""
    consts = sum(t.nbytes for t in g.tensors if t.is_const)
    return max(0, board.flash.size - consts - FIRMWARE_CODE_RESERVE)


def _sram(mp: MemoryPlan) -> int:
    return arena_bytes(mp.buffers, mp.plan)


def choose_plan(g: Graph, kernels: list[list[Kernel]], options: CompileOptions) -> MemoryPlan:
    """The memory plan the compiler prefers for `options` (the first of plan_candidates)."""
    return next(plan_candidates(g, kernels, options))


def plan_candidates(g: Graph, kernels: list[list[Kernel]], options: CompileOptions) -> Iterator[MemoryPlan]:
    """The memory plans for `options`, preferred first; compile takes the first that passes its self-check.
    --patch auto: with an SRAM budget that layer by layer fits, layer by layer (the fewest kernel calls and the
    least code), then the patch configurations that fit; with no budget, the lowest peak that costs no extra MACs
    (layer by layer, or a first stage run in whole-row bands with cached halos where that saves at least 1%), then
    layer by layer; with a budget that layer by layer does not fit, the patch configurations that fit, fewest extra
    MACs first, else the one with the lowest peak (which check_budget then reports). A forced grid or --patch off
    gives one plan. Each plan is searched (replan) only when it is asked for."""
    mo = options.memory_options()
    grid = options.grid()
    if grid is not None:
        yield plan_memory_techniques(g, kernels, replace(mo, patch=grid, split=options.patch_split))
        return
    if options.patch_split is not None:
        raise TinymlError("--patch-split needs a patch grid: give --patch RxC as well")
    if options.stream_input and options.patch == "off":
        raise TinymlError("--stream-input needs patch-based inference (--patch auto or RxC)")
    base = plan_memory_techniques(g, kernels, replace(mo, stream_input=False))
    budget = options.budget()
    if options.patch == "off" or (budget is None and not options.stream_input and options.halos == "recompute"):
        yield base
        return
    if budget is None and not options.stream_input:
        pick = _lowest(g, kernels, base, patch_options(g, kernels, replace(mo, halos="cache"), below=_sram(base)))
        yield pick
        if pick is not base:
            yield base
        return
    cands = patch_options(g, kernels, mo)
    if budget is None:  # --stream-input without a budget: the lowest peaks within 20% extra MACs
        total = sum(macs(g, op) for op in g.ops)
        cheap = refine(g, kernels, [m for m in cands if m.patch is not None and m.patch.extra_macs <= 0.2 * total])
        if not cheap:
            raise TinymlError("--stream-input: no patch configuration that streams a model input costs less than "
                              "20% extra MACs; give --patch RxC to choose one")
        for m in sorted(cheap, key=_sram):
            yield replan(g, kernels, m)
        return
    base_fits = _sram(base) <= budget[0]
    if base_fits:
        yield base  # layer by layer fits: the fewest kernel calls and the least code
    cands = refine(g, kernels, cands)
    fitting = sorted((m for m in cands if _sram(m) <= budget[0]), key=lambda m: (_extra(m), _sram(m)))
    if not fitting and not base_fits:
        yield replan(g, kernels, min([base, *cands], key=_sram))
        return
    for m in fitting:
        m = replan(g, kernels, m)
        if _sram(m) <= budget[0]:
            yield m


def _extra(mp: MemoryPlan) -> int:
    return mp.patch.extra_macs if mp.patch else 0


def _lowest(g: Graph, kernels: list[list[Kernel]], base: MemoryPlan, cands: list[MemoryPlan]) -> MemoryPlan:
    """The lowest peak among `base` (layer by layer) and the candidates that cost no extra MACs; one replaces
    layer by layer only if it saves at least 1% (more kernel calls, a little more code)."""
    free = [m for m in refine(g, kernels, cands) if _extra(m) <= 0]
    pick = replan(g, kernels, min(free, key=_sram, default=base))
    return pick if _sram(pick) <= 0.99 * _sram(base) else base


def peak_step(c: Compiled) -> int:
    """The step (op index) at which the arena is used highest."""
    tops = _arena_tops(c.buffers, c.plan, len(c.graph.ops))
    return max(range(len(tops)), key=lambda s: tops[s]) if tops else 0


def check_budget(c: Compiled, options: CompileOptions) -> None:
    """Raise a clear error when the chosen plan exceeds the SRAM budget in force, with the smallest peak any
    configuration reaches, the layer that dominates it, and what would help."""
    budget = options.budget()
    state = state_bytes(c.graph)  # SVDF states live outside the arena but in SRAM
    sram = arena_bytes(c.buffers, c.plan) + state
    if budget is None or sram <= budget[0]:
        return
    kernels = lower(c.graph)
    every = MemoryOptions(halos="auto", isa=options.isa(), stream_input=options.stream_input)
    full = [plan_memory_techniques(c.graph, kernels, replace(every, stream_input=False)),
            *refine(c.graph, kernels, patch_options(c.graph, kernels, every))]
    best = _compiled(c.graph, replan(c.graph, kernels, min(full, key=_sram)), c.sha256, options)
    k = peak_step(best)
    op = c.graph.ops[k] if c.graph.ops else None
    hints = []
    if not options.stream_input:
        streamed = refine(c.graph, kernels, patch_options(c.graph, kernels, replace(every, stream_input=True)))
        if streamed:
            s = min(_sram(replan(c.graph, kernels, min(streamed, key=_sram))), min(map(_sram, streamed)))
            fits = "which fits" if s <= budget[0] else "still above the budget"
            hints.append(f"--stream-input, which leaves the model input in memory the application owns (flash, a "
                         f"camera buffer) and reads it region by region: {s:,} bytes, {fits}")
    if not options.inplace or not options.overlap:
        hints.append("allow in-place and overlapping buffers (drop --no-inplace/--no-overlap)")
    if options.patch != "auto":
        hints.append("let tinyml choose the patch grid and split (--patch auto)")
    if best.patch is None:
        hints.append("this network has no first stage that patch-based inference can split (it needs "
                     "convolutions or pooling at the start)")
    hints.append("a board with more SRAM, fewer channels at that layer, or a smaller input resolution")
    what = (f"{best.patch.grid[0]}x{best.patch.grid[1]} patches, split after op {best.patch.stage.split}, "
            f"{'cached' if best.patch.cached else 'recomputed'} halos" if best.patch else "layer by layer")
    raise TinymlError(
        f"the model cannot fit {budget[1]}: this configuration needs {sram:,} bytes of activation SRAM, and the "
        f"smallest peak tinyml reaches with every technique is {arena_bytes(best.buffers, best.plan) + state:,} bytes "
        f"({what}). That peak is at layer {k} ({op.kind.value if op else '?'} '{op.name if op else ''}'), where "
        f"{len(best.plan.timeline[k]) if best.plan.timeline else 0} buffers are live. What would help: "
        f"{'; '.join(hints)}.")


def _tensor_info(g: Graph, t: int) -> dict:
    x = g.tensor(t)
    info = {"name": x.name, "shape": list(x.shape), "dtype": x.dtype.value}
    if x.quant is not None:
        info["scale"], info["zero_point"] = x.quant.scalar()
    return info


def _buf_name(g: Graph, buffer_id: BufferId) -> str:
    if isinstance(buffer_id, PatchId):
        return f"patch:{g.tensor(buffer_id.tensor).name}"
    return str(buffer_id) if isinstance(buffer_id, ScratchId) else g.tensor(buffer_id).name


def _arena_tops(buffers: list[Buffer], plan: Plan, steps: int) -> list[int]:
    size = {b.id: b.size for b in buffers}
    tops = [max((plan.offsets[i] + size[i] for i in ids), default=0) for ids in plan.timeline]
    return tops + [0] * (steps - len(tops))


def memory_curves(c: Compiled, options: CompileOptions) -> dict[str, list[int]]:
    """Arena bytes in use per layer: without techniques, with in-place + overlap, and as compiled."""
    g = c.graph
    n = len(g.ops)
    kernels = lower(g)
    mine = _arena_tops(c.buffers, c.plan, n)
    default = c.patch is None and options.inplace and options.overlap  # c is then the default plan itself
    curves = {}
    isa = options.isa()
    for name, mo in (("layer by layer, no in-place, no overlap", MemoryOptions(inplace=False, overlap=False, isa=isa)),
                     ("in-place depthwise + overlapping buffers", MemoryOptions(isa=isa))):
        if mo == MemoryOptions(isa=isa) and default:
            curves[name] = mine
            continue
        mp = plan_memory_techniques(g, kernels, mo)
        curves[name] = _arena_tops(mp.buffers, mp.plan, n)
    if c.patch is not None:
        pp = c.patch
        curves[f"as compiled: {pp.grid[0]}x{pp.grid[1]} patches up to op {pp.stage.split}"
               f"{', cached halos' if pp.cached else ''}"] = mine
    elif mine not in curves.values():
        curves["as compiled"] = mine
    return curves


def _patch_report(c: Compiled) -> dict | None:
    pp = c.patch
    if pp is None:
        return None
    total = sum(macs(c.graph, op) for op in c.graph.ops)
    return {"grid": f"{pp.grid[0]}x{pp.grid[1]}", "patches": pp.patches, "start": pp.stage.start,
            "split": pp.stage.split, "split_tensor": c.graph.tensor(pp.stage.output).name,
            "stage_input": c.graph.tensor(pp.stage.input).name, "extra_macs": pp.extra_macs,
            "extra_macs_percent": round(100.0 * pp.extra_macs / total, 3) if total else 0.0,
            "split_output_gap": pp.input_gap, "streamed_input": pp.streamed,
            "halos": "cached" if pp.cached else "recomputed",
            "reduced_tensor": None if pp.stage.reduced is None else c.graph.tensor(pp.stage.reduced).name}


WEIGHTED = (OpKind.CONV_2D, OpKind.DEPTHWISE_CONV_2D, OpKind.FULLY_CONNECTED, OpKind.TRANSPOSE_CONV)


def _executed_macs(c: Compiled) -> dict[int, int]:
    """MACs each convolution executes: with recomputed patch halos, more than the layer's own count (every
    region call computes its out_h x out_w pixels)."""
    g = c.graph
    out: dict[int, int] = {}
    for k, ks in c.schedule:
        op = g.ops[k]
        if op.kind not in (OpKind.CONV_2D, OpKind.DEPTHWISE_CONV_2D):
            continue
        pixels = g.tensor(op.outputs[0]).size // g.tensor(op.outputs[0]).shape[-1]
        per_pixel = macs(g, op) // max(pixels, 1)
        for kern in ks:
            p = kern.params
            if hasattr(p, "out_h") and hasattr(p, "k_h"):
                out[k] = out.get(k, 0) + per_pixel * p.batches * p.out_h * p.out_w  # type: ignore[attr-defined]
    return out


def _called(c: Compiled, prefix: str) -> dict[int, list[str]]:
    """The functions each layer calls (patch regions and band sums included), in call order."""
    called: dict[int, list[str]] = {}
    for k, ks in c.schedule:
        for kern in ks:
            f = f"{prefix}_k_{sp.name}" if (sp := chosen(kern)) else kern.func
            if f not in called.setdefault(k, []):
                called[k].append(f)
    return called


def _layers(c: Compiled, prefix: str) -> list[dict]:
    """report.json's per-layer records."""
    g, plan = c.graph, c.plan
    inside = c.offsets
    offsets = {t: plan.offsets[b.id] + inside[t] for b in c.buffers for t in b.tensors}
    called = _called(c, prefix)
    executed = _executed_macs(c)
    layers = []
    for k, op in enumerate(g.ops):
        out = g.tensor(op.outputs[0])
        w = g.tensor(op.inputs[1]) if op.kind in WEIGHTED and len(op.inputs) > 1 else None
        layers.append({"index": k, "name": op.name, "op": op.kind.value, "macs": macs(g, op),
                       "executed_macs": executed.get(k, macs(g, op)),
                       "weight_bytes": weight_bytes(g, op), "output_bytes": sum(g.tensor(o).nbytes
                                                                                for o in op.outputs),
                       "weight_bits": (4 if w.dtype is DType.INT4 else 8) if w is not None and w.is_const else None,
                       "output_shape": list(out.shape), "arena_offset": offsets.get(op.outputs[0]),
                       "kernels": called.get(k, [])})
    return layers


def _flash(c: Compiled) -> tuple[int, int]:
    """Bytes of flash for (weights, tables): the constant arrays the calls read (prepared copies for generated
    kernels) and the distinct per-channel tables of the parameter structs, as the emitter writes them."""
    g = c.graph
    used: set[int | Const] = set()
    for _, ks in c.schedule:
        for kern in ks:
            sp = chosen(kern)
            used.update(derived(sp, kern, g) if sp else (a for a in kern.args if isinstance(a, int)))
    weights = sum(len(a.data) if isinstance(a, Const) else g.tensor(a).nbytes for a in used
                  if isinstance(a, Const) or (a != NO_TENSOR and g.tensor(a).is_const))

    def read_tables(kern: Kernel) -> list[tuple[str, tuple]]:  # what the emitter writes for the call's struct
        sp = chosen(kern)
        return [(ann, v) for name, ann, v in param_fields(kern.params)
                if isinstance(v, tuple) and not (sp is not None and name in sp.unread)]
    tables = sum({"tuple[int8, ...]": 1, "tuple[int16, ...]": 2}.get(ann, 4) * len(v)  # distinct, as emitted
                 for ann, v in {t for _, ks in c.schedule for kern in ks for t in read_tables(kern)})
    return weights, tables


def _memory_report(c: Compiled, options: CompileOptions) -> dict:
    """report.json's `memory`: the plan, its buffers, overlaps and timeline, and the curves of each configuration."""
    g, plan = c.graph, c.plan
    size = {b.id: b.size for b in c.buffers}
    tops = _arena_tops(c.buffers, plan, len(g.ops))
    return {"planner": plan.strategy, "inplace": options.inplace, "overlap": options.overlap,
            "patch": _patch_report(c), "curves": memory_curves(c, options),
            "inplace_layers": sorted(c.inplace_ops), "folded_pads": sorted(c.folded_pads),
            "zero_copy_concat": [{"tensor": g.tensor(t).name, "into": g.tensor(y).name, "offset": off}
                                 for t, (y, off) in sorted(c.slices.items())],
            "overlaps": [{"output": _buf_name(g, y), "input": _buf_name(g, x), "gap": gap}
                         for (y, x), gap in sorted(plan.overlaps.items(),
                                                   key=lambda kv: (id_order(kv[0][0]), id_order(kv[0][1])))],
            "buffers": [{"tensor": _buf_name(g, b.id), "bytes": b.size, "first": b.first, "last": b.last,
                         "offset": plan.offsets[b.id]} for b in c.buffers],
            "timeline": [{"step": s, "arena_top": tops[s],
                          "live": [{"buffer": _buf_name(g, i), "offset": plan.offsets[i], "bytes": size[i]}
                                   for i in ids]} for s, ids in enumerate(plan.timeline)]}


def _check_limits(c: Compiled, options: CompileOptions, report: dict) -> None:
    """The SRAM budget, --max-arena and the board's flash; adds the board to the report."""
    check_budget(c, options)
    sram = report["peak_sram_bytes"]
    if sram > options.max_arena:
        raise TinymlError(f"'{c.graph.source}' needs a {sram:,}-byte arena, more than the {options.max_arena:,} "
                          "bytes tinyml generates code for (--max-arena raises the limit)")
    if options.board:
        board = load_board(options.board)
        report["board"] = {"name": board.name, "sram_bytes": board.sram.size, "flash_bytes": board.flash.size,
                           "arena_budget_bytes": board.arena_budget}
        if report["flash_bytes"] > board.flash.size:
            raise TinymlError(
                f"the model does not fit {board.name}: it needs {report['flash_bytes']:,} bytes of flash for "
                f"weights and tables (the board has {board.flash.size:,}).")


def build_report(c: Compiled, options: CompileOptions, source_path: str | None) -> dict:
    """report.json of a compile (and what `tinyml inspect` shows); refuses a plan over the budget, --max-arena or
    the board's flash."""
    g = c.graph
    layers = _layers(c, options.prefix)
    weights, tables = _flash(c)
    arena = arena_bytes(c.buffers, c.plan)
    state = state_bytes(g)
    report = {
        "tool": "tinyml", "version": __version__, "source": g.source, "source_path": source_path,
        "sha256": c.sha256, "prefix": options.prefix,
        "peak_sram_bytes": arena + state, "arena_bytes": arena, "state_bytes": state,
        "flash_bytes": weights + tables, "kernels": options.isa() or "reference",
        "kernel_stack_bytes": max((sp.stack for _, ks in c.schedule for kern in ks
                                   if (sp := chosen(kern)) is not None), default=0),
        "weight_bytes": weights, "table_bytes": tables,
        "macs": sum(layer["macs"] for layer in layers), "max_layer_io_bytes": max_layer_io(g),
        "inputs": [{**_tensor_info(g, t), "streamed": bool(c.patch and c.patch.streamed == k)}
                   for k, t in enumerate(g.inputs)], "outputs": [_tensor_info(g, t) for t in g.outputs],
        "layers": layers,
        "float_islands": [{"index": k, "name": g.ops[k].name, "op": g.ops[k].kind.value} for k in float_islands(g)],
        "schedule": [k for k, ks in c.schedule if ks],
        "memory": _memory_report(c, options),
    }
    _check_limits(c, options, report)
    return report


def describe(c: Compiled, options: CompileOptions) -> str:
    """The memory configuration of `c` in words (for messages and report.json)."""
    pp = c.patch
    what = "layer by layer" if pp is None else (
        f"{pp.grid[0]}x{pp.grid[1]} patches from op {pp.stage.start} to op {pp.stage.split}, "
        f"{'cached' if pp.cached else 'recomputed'} halos{', streamed input' if pp.streamed is not None else ''}")
    off = [name for name, on in (("in-place", options.inplace), ("overlap", options.overlap),
                                 ("zero-copy concatenation", options.zero_copy_concat)) if not on]
    return what + (f", no {', no '.join(off)}" if off else "")


def compile_model(model: str | Path, outdir: str | Path, options: CompileOptions = CompileOptions()) -> dict:
    """Compile a .tflite model into C sources in `outdir`; returns the report (also written as report.json).

    Unless options.verify is off, the generated C is built for the host and checked against the reference
    executor on seeded random inputs before anything is written (tinyml.verify); a configuration that fails is
    never written: the next one the compiler would pick is tried (and report.json's `verification.rejected`
    says so), and when none is left compile fails with an internal error.
    The directory is produced atomically: sources are rendered into a temporary sibling directory that replaces
    `outdir` only when everything succeeded, so a failure never leaves a half-written output."""
    from .verify import SEEDS, VerificationError, check_generated
    path = Path(model)
    data = read_model(path)
    out = Path(outdir)
    if out.exists() and (not out.is_dir() or not owned(out)):
        raise TinymlError(f"output directory '{out}' exists and was not written by tinyml; choose another or "
                          "remove it")
    if not options.prefix.isidentifier() or not options.prefix.isascii() or len(options.prefix) > 48:
        shown = options.prefix if len(options.prefix) <= 60 else options.prefix[:57] + "..."
        raise TinymlError(f"--prefix '{shown}' is not a C identifier of at most 48 ASCII characters")
    if out.parent.exists() and not out.parent.is_dir() or any(p.exists() and not p.is_dir() for p in out.parents):
        raise TinymlError(f"cannot write '{out}': a parent of it is a file, not a directory")
    rejected: list[dict] = []
    for c in candidates(data, path.name, options):
        what = describe(c, options)
        report = build_report(c, options, str(path.resolve()))
        report["verification"] = {"checked": options.verify, "configuration": what, "seeds": list(SEEDS),
                                  "against": "the NumPy reference executor (layer by layer, no memory plan)",
                                  "rejected": rejected}
        ctx = build_context(c.graph, c.schedule, c.buffers, c.plan, c.sha256,
                            EmitOptions(prefix=options.prefix, isa=options.isa()),
                            c.roots, frozenset({c.patch.streamed} if c.patch and c.patch.streamed is not None
                                               else ()), c.offsets)
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise TinymlError(f"cannot create the directory for '{out}': {e.strerror}") from None
        remove_stale(out)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-{os.getpid()}-", dir=out.parent))
        try:
            written = render(ctx, tmp)
            report["files"] = {p.name: sha256_bytes(p.read_bytes()) for p in sorted(written)}
            (tmp / REPORT).write_text(json.dumps(report, indent=1) + "\n")
            (tmp / "report.html").write_text(render_report_html(report))
            if options.verify:
                try:
                    check_generated(tmp, c.graph, what)
                except VerificationError as e:
                    rejected.append({"configuration": what, "error": str(e)})
                    shutil.rmtree(tmp, ignore_errors=True)
                    continue
            replace_dir(tmp, out)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return report
    if len(rejected) == 1:
        raise VerificationError(rejected[0]["error"])
    raise VerificationError(f"{rejected[0]['error']} The other configurations within the options failed too: "
                            + "; ".join(r["configuration"] for r in rejected[1:]) + ".")
