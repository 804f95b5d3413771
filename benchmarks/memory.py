"""Peak SRAM per memory technique vs TFLM's arena and the max-layer-I/O lower bound, with patching's MAC cost.

    python benchmarks/memory.py [--models ../shared/models] [--plots DIR] [--max-extra-macs 0.20]

Columns (bytes of activation SRAM; TFLM's from its own interpreter's print_allocations() when tflite-micro is
installed, else from baseline.json):
  TFLM head / total  TFLM's non-persistent arena (activations + scratch) and its whole arena
  io bound           max over layers of input + output bytes: the floor for plain layer-by-layer execution
  plain              layer by layer, no in-place, no overlap
  +inplace           in-place depthwise convolution only
  +overlap           overlapping input/output buffers only
  both               in-place + overlap, layer by layer (`tinyml compile --patch off`)
  default            what `tinyml compile` does with no budget: the lowest peak with no extra MACs, i.e. layer by
                     layer or the first stage in whole-row bands with cached halos (grid@split shown, "-": layer
                     by layer)
  patched            + patch-based inference of the first stage: the lowest peak over split points, grids
                     (n x n and n x 1, n = 2..8, recomputed halos; every band height, cached halos) whose extra
                     MACs stay within --max-extra-macs
  +MACs              the extra MACs of that patch configuration, in % of the model's MACs
  streamed           patched with --stream-input: the first stage gathers each patch's input region from memory
                     the application owns (flash, a camera buffer), so the model input is not in the arena
                     (same MAC budget; "-" where the first stage does not start at a model input)
This is a benchmark, not a test: it prints a table and asserts nothing. --plots DIR writes one PNG per model (a
memory-over-layers chart of each configuration, like MCUNetV2's figure) when matplotlib is installed.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import tempfile
from pathlib import Path

import tinyml  # noqa: F401  (imports the package before codegen, which needs it)
from tinyml.compiler import CompileOptions, _arena_tops, analyze
from tinyml.cost import macs
from tinyml.lower import lower
from tinyml.memory import arena_bytes
from tinyml.memory.techniques import MemoryOptions, MemoryPlan, patch_options, refine, replan
from tinyml.memory.techniques import plan as plan_memory


def tflm_arena(path: Path) -> tuple[int, int] | None:
    """(head, total) arena bytes measured with the tflite-micro interpreter's print_allocations(), or None."""
    try:
        from tflite_micro import runtime
    except Exception:
        return None
    ip = runtime.Interpreter.from_file(str(path), arena_size=4 << 20)
    with tempfile.TemporaryFile("w+") as f:
        saved = os.dup(2)
        try:
            os.dup2(f.fileno(), 2)
            ip.print_allocations()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        f.seek(0)
        text = f.read()
    got = dict(re.findall(r"Arena allocation (total|head|tail) (\d+) bytes", text))
    return (int(got["head"]), int(got["total"])) if "head" in got and "total" in got else None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=str(Path(__file__).resolve().parents[2] / "shared" / "models"))
    ap.add_argument("--plots", help="directory for memory-over-layers PNGs (needs matplotlib)")
    ap.add_argument("--max-extra-macs", type=float, default=0.20, help="patching's MAC budget (default 0.20)")
    a = ap.parse_args()
    base = json.loads((Path(a.models) / "baseline.json").read_text())["models"]
    hdr = (f"{'model':26} {'TFLM head':>9} {'total':>7} {'io bnd':>7} {'plain':>7} {'+inplace':>8} "
           f"{'+overlap':>8} {'both':>7} {'default':>7} {'grid@split':>10} {'vs head':>7} {'patched':>7} "
           f"{'+MACs':>6} {'grid@split':>10} {'vs head':>7} {'vs total':>8} {'streamed':>8} {'+MACs':>6} "
           f"{'vs total':>8}")
    print(hdr)
    print("-" * len(hdr))
    ratios_both, ratios_default, ratios_best, ratios_stream = [], [], [], []
    source = "tflite-micro print_allocations()"
    for m in base:
        path = Path(a.models) / m["file"]
        measured = tflm_arena(path)
        head, total = measured or (m["tflm_arena_head_bytes"], m["tflm_arena_used_bytes"])
        if measured is None:
            source = "baseline.json"
        c = analyze(path.read_bytes(), m["file"], CompileOptions(patch="off"))
        g = c.graph
        kernels = lower(g)
        model_macs = sum(macs(g, op) for op in g.ops)
        peaks, curves = {}, {}
        isa = CompileOptions().isa()  # the generated kernels compile uses (their scratch counts)
        for name, mo in (("plain", MemoryOptions(False, False, isa=isa)), ("+inplace", MemoryOptions(True, False,
                                                                                                     isa=isa)),
                         ("+overlap", MemoryOptions(False, True, isa=isa)), ("both", MemoryOptions(isa=isa))):
            mp = plan_memory(g, kernels, mo)
            peaks[name] = arena_bytes(mp.buffers, mp.plan)
            curves[name] = _arena_tops(mp.buffers, mp.plan, len(g.ops))
        d = analyze(path.read_bytes(), m["file"])
        default = arena_bytes(d.buffers, d.plan)
        d_cfg = _cfg(d.patch)
        if d.patch is not None:
            curves["default " + d_cfg] = _arena_tops(d.buffers, d.plan, len(g.ops))
        limit = a.max_extra_macs * model_macs
        best_mp = _lowest(g, kernels, patch_options(g, kernels, MemoryOptions(halos="auto", isa=isa)), limit)
        best = min(peaks["both"], arena_bytes(best_mp.buffers, best_mp.plan)) if best_mp else peaks["both"]
        if best_mp is None or arena_bytes(best_mp.buffers, best_mp.plan) >= peaks["both"]:
            best_mp = None
        extra = f"{100.0 * best_mp.patch.extra_macs / model_macs:5.1f}%" if best_mp and best_mp.patch else "    -"
        cfg = _cfg(best_mp.patch) if best_mp else "-"
        if best_mp is not None:
            curves["patched " + cfg] = _arena_tops(best_mp.buffers, best_mp.plan, len(g.ops))
        smp = _lowest(g, kernels, patch_options(g, kernels, MemoryOptions(stream_input=True, halos="auto", isa=isa)),
                      limit)
        sbest = arena_bytes(smp.buffers, smp.plan) if smp is not None else None
        if smp is not None:
            curves["streamed input " + _cfg(smp.patch)] = _arena_tops(smp.buffers, smp.plan, len(g.ops))
        s_txt = (f"{sbest:>8,} {100.0 * smp.patch.extra_macs / model_macs:5.1f}% {sbest / total:>8.2f}"
                 if smp is not None and smp.patch is not None and sbest is not None else f"{'-':>8} {'-':>6} {'-':>8}")
        ratios_stream.append(min(best, sbest or best) / head)
        ratios_both.append(peaks["both"] / head)
        ratios_default.append(default / head)
        ratios_best.append(best / head)
        print(f"{m['file'][:26]:26} {head:>9,} {total:>7,} {m['max_layer_io_bytes']:>7,} {peaks['plain']:>7,} "
              f"{peaks['+inplace']:>8,} {peaks['+overlap']:>8,} {peaks['both']:>7,} {default:>7,} {d_cfg:>10} "
              f"{default / head:>7.2f} {best:>7,} {extra:>6} {cfg:>10} {best / head:>7.2f} {best / total:>8.2f} "
              f"{s_txt}")
        if a.plots:
            _plot(Path(a.plots) / f"{path.stem}_memory.png", m["file"], curves, head)

    def gm(r: list[float]) -> float:
        return math.exp(sum(map(math.log, r)) / len(r))
    print(f"\nTFLM arena from {source}. Geometric mean of peak / TFLM head: in-place + overlap "
          f"{gm(ratios_both):.3f}; `tinyml compile` default (no extra MACs) {gm(ratios_default):.3f}; "
          f"with patching (<= {a.max_extra_macs:.0%} extra MACs) {gm(ratios_best):.3f}; "
          f"with streamed inputs where possible {gm(ratios_stream):.3f}")
    return 0


def _cfg(pp) -> str:
    """grid@split, "c" for cached halos."""
    return f"{pp.grid[0]}x{pp.grid[1]}{'c' if pp.cached else ''}@{pp.stage.split}" if pp else "-"


def _lowest(g, kernels, cands: list[MemoryPlan], limit: float) -> MemoryPlan | None:
    """What the compile path picks among the candidates within `limit` extra MACs: the lowest peak (then the
    fewest extra MACs) after refine(), planned again with the full search."""
    ok = refine(g, kernels, [m for m in cands if m.patch is not None and m.patch.extra_macs <= limit])
    if not ok:
        return None
    return replan(g, kernels, min(ok, key=lambda m: (arena_bytes(m.buffers, m.plan), m.patch.extra_macs)))  # type: ignore[union-attr]


def _plot(out: Path, title: str, curves: dict[str, list[int]], tflm_head: int) -> None:
    with contextlib.suppress(ImportError):
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        out.parent.mkdir(parents=True, exist_ok=True)
        fig, ax = plt.subplots(figsize=(8, 3.5))
        for name, c in curves.items():
            ax.step(range(len(c)), c, where="mid", label=f"{name} (peak {max(c):,})")
        ax.axhline(tflm_head, color="k", linestyle=":", label=f"TFLM head {tflm_head:,}")
        ax.set_xlabel("layer")
        ax.set_ylabel("arena bytes in use")
        ax.set_title(title)
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out, dpi=120)
        plt.close(fig)
        print(f"  wrote {out}")


if __name__ == "__main__":
    raise SystemExit(main())
