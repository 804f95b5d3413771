"""Random small CNNs for differential tests of the compiler against TFLM, and the memory configurations to compile
each one under.

A net is data (`Net`: input size, blocks, head, front end, weight widths) drawn from a seed; `build(net)` turns
it into a .tflite: through PyTorch (`tinyml.from_torch` + `tinyml.quantize` + the writer: padded convolutions
become PAD + VALID convolutions, int4 weights possible) or through Keras and TensorFlow's converter (SAME
padding, int8). `configurations(tflite)` lists every memory configuration `tinyml compile` offers for it:
layer by layer, the default, every patch grid from 2x2 to 4x4 and R x 1 with recomputed and cached halos at
every split point, streamed inputs, in-place and overlap switched off, and SRAM budgets that make the compiler
pick (the budget search). Used by tests/test_verify.py (a fixed sample) and benchmarks/verify_configs.py
(thousands).
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from tinyml.compiler import CompileOptions

# block kinds: conv (k x k, stride, dilation), dw (depthwise), pw (1x1), res (x + f(x)), pool, concat (two branches)
KINDS = ("conv", "dw", "pw", "res", "pool", "concat")


@dataclass(frozen=True)
class Block:
    kind: str
    out_c: int = 0
    k: int = 3
    stride: int = 1
    dil: int = 1
    same: bool = True        # padded (PyTorch padding=(k-1)*d/2, Keras SAME), else VALID
    act: str = "relu"        # relu, relu6 or none
    mult: int = 1            # depthwise multiplier
    pool: str = "max"        # pool: max or avg
    inner: tuple[Block, ...] = ()   # res: the shape-keeping branch; concat: branch b (branch a is inner2)
    inner2: tuple[Block, ...] = ()


@dataclass(frozen=True)
class Net:
    seed: int
    frontend: str            # "torch" or "keras"
    h: int
    w: int
    c: int
    blocks: tuple[Block, ...]
    head: str                # "gap_fc", "flatten_fc" or "none"
    classes: int = 5
    weights: str = "int8"    # "int8", "int4" or "mixed" (PyTorch only)
    extra: dict = field(default_factory=dict)

    def describe(self) -> str:
        return (f"seed {self.seed}: {self.frontend} {self.h}x{self.w}x{self.c} {self.weights} "
                f"[{', '.join(_describe(b) for b in self.blocks)}] head {self.head}")


def _describe(b: Block) -> str:
    if b.kind in ("conv", "dw"):
        return (f"{b.kind}{b.k}x{b.k}/s{b.stride}{f'/d{b.dil}' if b.dil > 1 else ''}{'' if b.same else '/valid'}"
                f"{f'->{b.out_c}' if b.kind == 'conv' else f'x{b.mult}' if b.mult > 1 else ''}")
    if b.kind == "pw":
        return f"pw->{b.out_c}"
    if b.kind == "pool":
        return f"{b.pool}pool{b.k}/s{b.stride}{'' if b.same else '/valid'}"
    if b.kind == "res":
        return f"res({', '.join(_describe(i) for i in b.inner)})"
    return f"concat({', '.join(_describe(i) for i in b.inner2)} | {', '.join(_describe(i) for i in b.inner)})"


def _out(n: int, k: int, s: int, d: int, same: bool, frontend: str) -> int:
    eff = (k - 1) * d + 1
    if not same:
        return (n - eff) // s + 1
    if frontend == "keras":
        return -(-n // s)
    p = (eff - 1) // 2
    return (n + 2 * p - eff) // s + 1


def random_net(seed: int, frontend: str | None = None) -> Net:
    """A small random CNN: odd sizes from 7 to 64, 2 to 6 blocks (strided stems, depthwise-separable pairs,
    residual ADDs, pooling, channel concatenations, dilation), a classifier head or none."""
    rs = np.random.RandomState(seed)
    fe = frontend or ("torch" if rs.rand() < 0.65 else "keras")
    h = int(rs.randint(7, 65))
    w = h if rs.rand() < 0.5 else int(rs.randint(7, 65))
    c = int(rs.choice([1, 2, 3, 4, 8]))
    blocks: list[Block] = []
    ch, cw, cc = h, w, c

    def act() -> str:
        return str(rs.choice(["relu", "relu6", "none"], p=[0.5, 0.3, 0.2]))

    def keep(cc: int) -> Block:  # a block that keeps the shape
        r = rs.randint(3)
        if r == 0:
            return Block("dw", k=int(rs.choice([3, 5])), act=act())
        if r == 1:
            return Block("pw", out_c=cc, act=act())
        return Block("conv", out_c=cc, k=3, act=act())

    for i in range(int(rs.randint(2, 7))):
        small = min(ch, cw) < 6
        kind = "conv" if i == 0 and rs.rand() < 0.6 else str(rs.choice(KINDS, p=[0.2, 0.25, 0.2, 0.15, 0.1, 0.1]))
        if kind in ("conv", "dw"):
            k = int(rs.choice([1, 3, 5], p=[0.1, 0.7, 0.2])) if kind == "conv" else int(rs.choice([3, 5], p=[.8, .2]))
            stride = 2 if (not small and rs.rand() < 0.45) else 1
            dil = 2 if stride == 1 and k == 3 and min(ch, cw) >= 9 and rs.rand() < 0.2 else 1
            same = bool(rs.rand() < 0.8) or min(ch, cw) < (k - 1) * dil + 3
            b = Block(kind, out_c=int(rs.randint(2, 17)) if kind == "conv" else 0, k=k, stride=stride, dil=dil,
                      same=same, act=act(), mult=int(rs.choice([1, 2], p=[0.8, 0.2])) if kind == "dw" else 1)
        elif kind == "pw":
            b = Block("pw", out_c=int(rs.randint(2, 25)), act=act())
        elif kind == "res":
            b = Block("res", inner=tuple(keep(cc) for _ in range(int(rs.randint(1, 3)))), act="none")
        elif kind == "pool":
            if min(ch, cw) < 4:
                continue
            if rs.rand() < 0.5:
                b = Block("pool", pool="max", k=2, stride=2, same=False)
            else:  # (PyTorch: padded max pooling is SAME only where the padding is symmetric, odd sizes at s2)
                pool = str(rs.choice(["avg", "max"]))
                odd = ch % 2 and cw % 2
                stride = int(rs.choice([1, 2])) if pool == "avg" or fe == "keras" or odd else 1
                b = Block("pool", pool=pool, k=3, stride=stride, same=True)
        else:
            a = (Block("pw", out_c=int(rs.randint(2, 9)), act=act()),)
            bb = (Block("dw", k=3, act=act()), Block("pw", out_c=int(rs.randint(2, 9)), act=act()))
            b = Block("concat", inner=bb, inner2=a)
        blocks.append(b)
        ch, cw, cc = _shape(b, ch, cw, cc, fe)
    head = str(rs.choice(["gap_fc", "flatten_fc", "none"], p=[0.45, 0.2, 0.35]))
    if head == "flatten_fc" and ch * cw * cc > 3000:
        head = "gap_fc"
    weights = "int8" if fe == "keras" else str(rs.choice(["int8", "int4", "mixed"], p=[0.6, 0.2, 0.2]))
    return Net(seed, fe, h, w, c, tuple(blocks), head, int(rs.randint(2, 11)), weights)


def _shape(b: Block, h: int, w: int, c: int, fe: str) -> tuple[int, int, int]:
    if b.kind in ("conv", "dw", "pool"):
        d = b.dil if b.kind != "pool" else 1
        oc = b.out_c if b.kind == "conv" else c * b.mult if b.kind == "dw" else c
        return _out(h, b.k, b.stride, d, b.same, fe), _out(w, b.k, b.stride, d, b.same, fe), oc
    if b.kind == "pw":
        return h, w, b.out_c
    if b.kind == "res":
        return h, w, c
    return h, w, b.inner2[-1].out_c + b.inner[-1].out_c


def build(net: Net) -> bytes:
    """The net as a .tflite (int8 activations; int4 or mixed weights through the PyTorch front end)."""
    return _build_torch(net) if net.frontend == "torch" else _build_keras(net)


# ------------------------------------------------------------------------------------------------ PyTorch
def _build_torch(net: Net) -> bytes:
    import torch
    from torch import nn

    import tinyml
    from tinyml.frontends.tflite_writer import write_tflite
    torch.manual_seed(net.seed)

    def act(a: str) -> list[Any]:
        return {"relu": [nn.ReLU()], "relu6": [nn.ReLU6()], "none": []}[a]

    def layers(b: Block, c: int) -> tuple[nn.Module, int]:
        if b.kind in ("conv", "dw"):
            oc = b.out_c if b.kind == "conv" else c * b.mult
            pad = ((b.k - 1) * b.dil) // 2 if b.same else 0
            conv = nn.Conv2d(c, oc, b.k, stride=b.stride, padding=pad, dilation=b.dil,
                             groups=c if b.kind == "dw" else 1)
            return nn.Sequential(conv, *act(b.act)), oc
        if b.kind == "pw":
            return nn.Sequential(nn.Conv2d(c, b.out_c, 1), *act(b.act)), b.out_c
        if b.kind == "pool":
            pad = (b.k - 1) // 2 if b.same else 0
            if b.pool == "max":  # padded: SAME (PyTorch pads max pooling with -inf, TFLite ignores the cells)
                return nn.MaxPool2d(b.k, b.stride, padding=pad), c
            return nn.AvgPool2d(b.k, b.stride, padding=pad), c  # counts the padded zeros: PAD + VALID
        if b.kind == "res":
            f, c2 = seq(b.inner, c)
            assert c2 == c
            return residual(f), c
        fa, ca = seq(b.inner2, c)
        fb, cb = seq(b.inner, c)
        return concat(fa, fb), ca + cb

    def seq(blocks: tuple[Block, ...], c: int) -> tuple[nn.Module, int]:
        mods = []
        for b in blocks:
            m, c = layers(b, c)
            mods.append(m)
        return nn.Sequential(*mods), c

    residual, concat = _torch_modules()
    mods, c = [], net.c
    for b in net.blocks:
        m, c = layers(b, c)
        mods.append(m)
    h, w = net.h, net.w
    for b in net.blocks:
        h, w, _ = _shape(b, h, w, 0, "torch")
    if net.head == "gap_fc":
        mods += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, net.classes)]
    elif net.head == "flatten_fc":
        mods += [nn.Flatten(), nn.Linear(c * h * w, net.classes)]
    model = nn.Sequential(*mods).eval()
    with torch.no_grad():  # non-zero biases, so that the bias path is exercised
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)) and m.bias is not None:
                m.bias.uniform_(-0.3, 0.3)
    x = np.random.RandomState(net.seed).normal(size=(16, net.c, net.h, net.w)).astype(np.float32)
    g = tinyml.from_torch(model, torch.tensor(x[:1]))
    nhwc = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    weights: Any = net.weights
    if weights == "mixed":
        from tinyml.quant.ptq import weighted_ops
        rs = np.random.RandomState(net.seed + 7)
        weights = {k: int(rs.choice([4, 8])) for k in weighted_ops(g)}
    return write_tflite(tinyml.quantize(g, nhwc, weights=weights))


@functools.cache
def _torch_modules() -> tuple[type, type]:
    import torch
    from torch import nn

    class Residual(nn.Module):
        def __init__(self, f: nn.Module) -> None:
            super().__init__()
            self.f = f

        def forward(self, x: Any) -> Any:
            return x + self.f(x)

    class Concat(nn.Module):
        def __init__(self, a: nn.Module, b: nn.Module) -> None:
            super().__init__()
            self.a, self.b = a, b

        def forward(self, x: Any) -> Any:
            return torch.cat([self.a(x), self.b(x)], dim=1)
    return Residual, Concat


# ------------------------------------------------------------------------------------------------ Keras
def _build_keras(net: Net) -> bytes:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf
    from opplan import convert_keras
    keras = tf.keras
    keras.utils.set_random_seed(net.seed)
    L = keras.layers

    def act(a: str) -> Any:
        return {"relu": "relu", "relu6": tf.nn.relu6, "none": None}[a]

    def apply(b: Block, x: Any) -> Any:
        pad = "same" if b.same else "valid"
        bias = keras.initializers.RandomUniform(-0.3, 0.3, seed=net.seed)
        if b.kind == "conv":
            return L.Conv2D(b.out_c, b.k, strides=b.stride, padding=pad, dilation_rate=b.dil, activation=act(b.act),
                            bias_initializer=bias)(x)
        if b.kind == "dw":
            return L.DepthwiseConv2D(b.k, strides=b.stride, padding=pad, dilation_rate=b.dil,
                                     depth_multiplier=b.mult, activation=act(b.act), bias_initializer=bias)(x)
        if b.kind == "pw":
            return L.Conv2D(b.out_c, 1, activation=act(b.act), bias_initializer=bias)(x)
        if b.kind == "pool":
            cls = L.MaxPooling2D if b.pool == "max" else L.AveragePooling2D
            return cls(b.k, strides=b.stride, padding=pad)(x)
        if b.kind == "res":
            y = x
            for i in b.inner:
                y = apply(i, y)
            return L.Add()([x, y])
        ya, yb = x, x
        for i in b.inner2:
            ya = apply(i, ya)
        for i in b.inner:
            yb = apply(i, yb)
        return L.Concatenate()([ya, yb])

    inp = keras.Input((net.h, net.w, net.c), batch_size=1)
    x = inp
    for b in net.blocks:
        x = apply(b, x)
    if net.head == "gap_fc":
        x = L.Dense(net.classes)(L.GlobalAveragePooling2D()(x))
    elif net.head == "flatten_fc":
        x = L.Dense(net.classes)(L.Flatten()(x))
    return convert_keras(keras.Model(inp, x), [(net.h, net.w, net.c)], net.seed)


# ------------------------------------------------------------------------------------------------ configurations
GRIDS = ("2x2", "3x3", "4x4", "2x1", "3x1", "4x1")


def _bp(mp: Any) -> tuple[Any, Any]:
    return mp.buffers, mp.plan


def configurations(tflite: bytes, name: str = "net.tflite") -> list[tuple[str, CompileOptions]]:
    """Every memory configuration `tinyml compile` offers for the model: (label, options)."""
    from tinyml.compiler import lower, parse_tflite
    from tinyml.memory.patching import stages, streamable
    from tinyml.memory.techniques import fold_pads
    out: list[tuple[str, CompileOptions]] = [
        ("off", CompileOptions(patch="off")), ("default", CompileOptions()),
        ("off,no-inplace,no-overlap", CompileOptions(patch="off", inplace=False, overlap=False)),
        ("default,no-inplace", CompileOptions(inplace=False)), ("default,no-overlap", CompileOptions(overlap=False)),
        ("default,no-zero-copy-concat", CompileOptions(zero_copy_concat=False)),
        ("halos=recompute", CompileOptions(halos="recompute")),
        ("default,portable kernels", CompileOptions(kernels="portable")),
        ("off,portable kernels", CompileOptions(patch="off", kernels="portable")),
        ("default,reference kernels", CompileOptions(kernels="reference")),
        ("default,mve kernels", CompileOptions(kernels="mve")),
        ("off,mve kernels", CompileOptions(patch="off", kernels="mve")),
        ("off,no-inplace,no-overlap,mve kernels", CompileOptions(patch="off", inplace=False, overlap=False,
                                                                 kernels="mve")),
        # a budget with room to spare: the plan spends it on speed (each depthwise layer the faster way, in or out
        # of place; im2col of three)
        ("budget 4 MiB", CompileOptions(sram_budget=1 << 22)),
        ("budget 4 MiB,mve kernels", CompileOptions(sram_budget=1 << 22, kernels="mve"))]
    g = parse_tflite(tflite, name)
    kernels, _ = fold_pads(g, lower(g))
    sts = stages(g, kernels)
    for st in sts:
        stream = [False] + ([True] if streamable(g, st) is not None else [])
        for grid in GRIDS:
            for halos in ("recompute", "cache"):
                if halos == "cache" and not grid.endswith("x1"):
                    continue
                for s in stream:
                    out.append((f"{grid}@{st.split},{halos}{',stream' if s else ''}",
                                CompileOptions(patch=grid, patch_split=st.split, halos=halos, stream_input=s)))
    if sts:  # budgets that layer by layer fits, and budgets met only by patch configurations of every kind
        from tinyml.memory import arena_bytes
        from tinyml.memory.techniques import patch_options
        from tinyml.memory.techniques import plan as plan_memory
        mo = CompileOptions().memory_options()  # as compile plans them (generated kernels' scratch included)
        peak = arena_bytes(*_bp(plan_memory(g, lower(g), mo)))
        for s in (False, True):
            peaks = sorted({arena_bytes(*_bp(m)) for m in patch_options(g, lower(g), replace(
                mo, stream_input=s, halos="auto"))} - {peak})
            picks = sorted({peaks[0], peaks[len(peaks) // 2], peaks[-1]} if peaks else set())
            for b in ([peak] if not s else []) + [b for b in picks if b < peak or s]:
                out.append((f"budget {b}{',stream' if s else ''}", CompileOptions(sram_budget=b, stream_input=s)))
    return out


@dataclass
class Outcome:
    label: str
    status: str          # "exact", "MISMATCH", "INTERNAL" (an internal error), "refused" (a clear error: budget,
                         # a grid that does not fit)
    detail: str = ""
    peak: int | None = None


def check_net(tflite: bytes, workdir: Any, seeds: tuple[int, ...] = (0, 1),
              only: list[str] | None = None) -> list[Outcome]:
    """Compile `tflite` under every configuration (or the labels in `only`) without the compiler's self-check,
    run the generated C on the host and compare every output with TFLM on the inputs of `seeds`."""
    from pathlib import Path

    from oracle import tflm_run

    from tinyml.compiler import compile_model, parse_tflite
    from tinyml.errors import TinymlError, ToolchainError
    from tinyml.harness.host import HostModel
    from tinyml.verify import graph_inputs
    work = Path(workdir)
    model = work / "net.tflite"
    model.write_bytes(tflite)
    g = parse_tflite(tflite, model.name)
    xs = [graph_inputs(g, s) for s in seeds]
    want = [tflm_run(tflite, x, len(g.outputs)) for x in xs]
    out = []
    for n, (label, opts) in enumerate(configurations(tflite, model.name)):
        if only is not None and label not in only:
            continue
        d = work / f"c{n}"
        try:
            rep = compile_model(model, d, replace(opts, verify=False))
        except TinymlError as e:  # a clear refusal (budget, grid), unless the compiler caught a bug of its own
            out.append(Outcome(label, "INTERNAL" if "internal" in str(e) else "refused", str(e)[:300]))
            continue
        try:
            host = HostModel(d)
        except ToolchainError as e:  # generated C that does not build: a bug (compile's self-check would say so)
            out.append(Outcome(label, "INTERNAL", str(e)[:300]))
            continue
        bad = []
        for s, x, w in zip(seeds, xs, want):
            for k, (a, b) in enumerate(zip(host.run(x), w)):
                if not np.array_equal(a.reshape(-1), b.reshape(-1)):
                    bad.append(f"seed {s} output {k}: max |diff| "
                               f"{np.abs(a.astype(float).reshape(-1) - b.astype(float).reshape(-1)).max():g}")
        out.append(Outcome(label, "MISMATCH" if bad else "exact", "; ".join(bad), rep["peak_sram_bytes"]))
    return out


def budget_picks(tflite: bytes, name: str, stream: bool = False) -> list[tuple[int, CompileOptions]]:
    """One SRAM budget per configuration the budget search can return for the model: the search takes, among
    the configurations that fit, the fewest extra MACs and then the lowest peak, so as the budget shrinks its
    pick changes exactly at the configurations whose peak is below that of every configuration before them in
    that order (and layer by layer wherever it fits)."""
    from tinyml.compiler import lower, parse_tflite
    from tinyml.memory import arena_bytes
    from tinyml.memory.techniques import patch_options, refine
    from tinyml.memory.techniques import plan as plan_memory
    g = parse_tflite(tflite, name)
    k = lower(g)
    mo = CompileOptions().memory_options()  # as compile plans them (generated kernels' scratch included)
    base = arena_bytes(*_bp(plan_memory(g, k, mo)))
    cands = refine(g, k, patch_options(g, k, replace(mo, stream_input=stream, halos="auto")))
    picks = [] if stream else [base]
    best = base if not stream else None
    for m in sorted(cands, key=lambda m: (m.patch.extra_macs, arena_bytes(*_bp(m)))):
        s = arena_bytes(*_bp(m))
        if best is None or s < best:
            picks.append(s)
            best = s
    return [(b, CompileOptions(sram_budget=b, stream_input=stream)) for b in picks]
