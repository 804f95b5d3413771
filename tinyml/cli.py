"""The `tinyml` command: a thin layer over the Python API (tinyml.api)."""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

import numpy as np

from . import api
from .errors import TinymlError
from .version import __version__


def _load_npy(path: str) -> np.ndarray:
    p = Path(path)
    if not p.is_file():
        raise TinymlError(f"input file '{p}' does not exist")
    try:
        return np.load(p, allow_pickle=False)
    except Exception as e:
        raise TinymlError(f"input file '{p}' is not a NumPy .npy array ({e})") from None


def _save_npz(path: str, outputs: list[np.ndarray]) -> None:
    p = Path(path)
    if p.parent and not p.parent.is_dir():
        raise TinymlError(f"cannot write '{p}': '{p.parent}' is not an existing directory")
    if p.is_dir():
        raise TinymlError(f"--output '{p}' is a directory; give the .npz file to write")
    tmp = p.with_name(p.name + ".tmp.npz")
    np.savez(tmp, **{f"output_{k}": o for k, o in enumerate(outputs)})
    tmp.replace(p)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def cmd_inspect(a: argparse.Namespace) -> int:
    info = api.inspect(a.model)
    if a.json:
        print(json.dumps(info, indent=1))
        return 0
    print(f"{info['source']}: {len(info['layers'])} ops, {info['macs']:,} MACs, {info['weight_bytes']:,} weight "
          f"bytes")
    for t in info["inputs"]:
        print(f"  input  {t['name']}: {t['shape']} {t['dtype']} scale={t.get('scale')} zp={t.get('zero_point')}")
    for t in info["outputs"]:
        print(f"  output {t['name']}: {t['shape']} {t['dtype']} scale={t.get('scale')} zp={t.get('zero_point')}")
    w = max([20] + [len(layer["op"]) for layer in info["layers"]])
    print(f"  {'#':>3} {'op':<{w}} {'output shape':<20} {'MACs':>12} {'weights':>9} {'out bytes':>10}")
    for layer in info["layers"]:
        print(f"  {layer['index']:>3} {layer['op']:<{w}} {str(layer['output_shape']):<20} {layer['macs']:>12,} "
              f"{layer['weight_bytes']:>9,} {layer['output_bytes']:>10,}")
    pt = info["memory"]["patch"]
    how = "layer by layer"
    if pt:
        into = f", summing its {info['layers'][pt['split']]['op']} band by band" if pt.get("reduced_tensor") else ""
        how = f"first stage up to op {pt['split']} as a row pipeline of {pt['grid']} bands{into}, no extra MACs"
    print(f"memory estimate: peak activation SRAM {info['peak_sram_bytes']:,} bytes ({how}, with in-place "
          f"depthwise and overlapping buffers; patches with recomputed halos, `compile --patch`, can lower it); "
          f"largest layer input+output {info['max_layer_io_bytes']:,} bytes; flash for weights and tables "
          f"{info['flash_bytes']:,} bytes")
    return 0


def cmd_compile(a: argparse.Namespace) -> int:
    rep = api.compile(a.model, a.output, prefix=a.prefix, board=a.board, inplace=not a.no_inplace,
                      overlap=not a.no_overlap, sram_budget=a.sram_budget, patch=a.patch,
                      patch_split=a.patch_split, stream_input=a.stream_input,
                      zero_copy_concat=not a.no_zero_copy_concat, halos=a.halos, verify=not a.no_verify,
                      kernels=a.kernels, max_arena=a.max_arena, code=a.code)
    for r in rep["verification"]["rejected"]:
        print(f"tinyml compile: warning: not using {r['configuration']}: {r['error']}", file=sys.stderr)
    if rep["verification"]["rejected"]:
        print(f"tinyml compile: warning: fell back to {rep['verification']['configuration']}, which passed the "
              "self-check", file=sys.stderr)
    pt = rep["memory"]["patch"]
    how = (f"{pt['grid']} patches up to op {pt['split']}, {pt['halos']} halos, {pt['extra_macs']:+,} MACs "
           f"({pt['extra_macs_percent']:+.1f}%)" if pt else "layer by layer")
    ver = rep["verification"]
    checked = (f"checked against the reference executor on {len(ver['seeds'])} random inputs" if ver["checked"]
               else "NOT checked (--no-verify)")
    if ver["checked"] and rep.get("state_bytes"):
        checked += " (sequences of invokes: the model keeps state)"
    state = f"; {rep['state_bytes']:,} bytes of it state kept between invokes" if rep.get("state_bytes") else ""
    print(f"wrote {a.output}: peak SRAM {rep['peak_sram_bytes']:,} bytes ({how}{state}), flash "
          f"{rep['flash_bytes']:,} bytes, {rep['macs']:,} MACs, {len(rep['layers'])} layers; {checked}")
    if rep.get("float_islands"):
        isl = rep["float_islands"]
        print(f"note: {len(isl)} operator{'s' if len(isl) > 1 else ''} between a DEQUANTIZE and a QUANTIZE move "
              f"float32 values, as the converter left them ({', '.join(sorted({i['op'] for i in isl}))}); "
              "report.json lists them under float_islands")
    return 0


def _steps(inputs: list[np.ndarray], steps: int) -> list[list[np.ndarray]]:
    """--steps N: each input holds N invokes along its first axis."""
    if steps < 1:
        raise TinymlError(f"--steps {steps} is not a positive number of invokes")
    bad = [k for k, x in enumerate(inputs) if x.ndim == 0 or x.shape[0] != steps]
    if bad:
        raise TinymlError(f"--steps {steps}: input {bad[0]} has shape {list(inputs[bad[0]].shape)}; with --steps each "
                          f"input holds the {steps} invokes along a new first axis")
    return [[x[j] for x in inputs] for j in range(steps)]


def cmd_run(a: argparse.Namespace) -> int:
    inputs = [_load_npy(p) for p in a.input]
    if a.steps is not None:
        runs = api.run_sequence(a.target, _steps(inputs, a.steps), reference=a.reference, reshape=a.reshape)
        outputs = [np.stack(o) for o in zip(*runs)]
    else:
        outputs = api.run(a.target, inputs, reference=a.reference, reshape=a.reshape)
    _save_npz(a.output, outputs)
    print(f"wrote {a.output}: " + ", ".join(f"output_{k} {list(o.shape)} {o.dtype}" for k, o in enumerate(outputs)))
    return 0


def cmd_build(a: argparse.Namespace) -> int:
    from .harness.firmware import build
    fw = build(a.outdir, a.board, a.opt)
    b = fw.board
    print(f"built {fw.elf} for {b.name} ({b.core}): text {fw.text:,} B, data {fw.data:,} B, bss {fw.bss:,} B")
    print(f"  flash {fw.flash_used:,} / {b.flash.size:,} B ({100 * fw.flash_used / b.flash.size:.1f}%), "
          f"SRAM {fw.ram_used:,} / {b.sram.size:,} B ({100 * fw.ram_used / b.sram.size:.1f}%, incl. stack)")
    print(f"  images: {fw.elf}, {fw.elf.with_suffix('.bin')}, {fw.elf.with_suffix('.hex')}")
    print(f"  project: {fw.elf.parent / 'Makefile'} and {fw.elf.parent / 'CMakeLists.txt'}")
    return 0


def cmd_emulate(a: argparse.Namespace) -> int:
    from .harness.firmware import emulate, outputs_ok
    if not math.isfinite(a.timeout) or a.timeout <= 0:
        raise TinymlError(f"--timeout {a.timeout} is not a positive number of seconds")
    inputs = [_load_npy(p) for p in a.input]
    steps = a.steps or 1
    if a.steps is not None:
        _steps(inputs, a.steps)
        if a.emulator != "qemu" and steps > 1:
            raise TinymlError("--steps runs on QEMU only (--emulator qemu)")
    res = emulate(a.outdir, a.board, inputs, emulator=a.emulator, opt=a.opt, timeout=a.timeout, steps=steps)
    _save_npz(a.output, res["outputs"])
    doc = {k: v for k, v in res.items() if k != "outputs"}
    path = Path(a.outdir) / "emulation.json"
    _write_atomic(path, json.dumps(doc, indent=1) + "\n")
    if res["total_instructions"] is None:
        print(f"wrote {a.output} and {path}")
        return 0 if outputs_ok(res) else 1
    from .compiler import REPORT, read_report, render_report_html
    rep = read_report(a.outdir)
    per = {layer["name"]: layer for layer in res["layers"]}
    for layer in rep["layers"]:
        prof = per.get(layer["name"], {})
        layer["instructions"] = prof.get("instructions")
        if "cycles" in prof:
            layer["cycles"] = prof["cycles"]
    rep["profile"] = {"board": res["board"], "emulator": res["emulator"],
                      "total_instructions": res["total_instructions"], "total_cycles": res.get("total_cycles"),
                      "milliseconds": res.get("milliseconds"), "cycle_model": res.get("cycle_model"),
                      "note": res["instructions_note"]}
    _write_atomic(Path(a.outdir) / REPORT, json.dumps(rep, indent=1) + "\n")
    _write_atomic(Path(a.outdir) / "report.html", render_report_html(rep, doc))
    ref = res["outputs_match_reference"]
    print(f"{res['board']} on {res['emulator']}: outputs "
          f"{'match the host run byte for byte' if res['outputs_match_host'] else 'DIFFER from the host run'}, "
          + ("match the reference executor" if ref else "DIFFER from the reference executor" if ref is False else
             f"not compared with the reference executor ({res['reference_note']})"))
    _print_profile(res)
    print(f"wrote {a.output}, {path}, and the profile into report.json and report.html")
    return 0 if outputs_ok(res) else 1


def _print_profile(res: dict) -> None:
    """Per layer: MACs, instructions, instructions per MAC and, where the board's core has a cycle model, modeled
    cycles and the class that takes most of them."""
    cyc = res.get("total_cycles") is not None
    print(f"  {'#':>3} {'op':<20} {'MACs':>12} {'instructions':>14} {'instr/MAC':>9}" +
          (f" {'cycles':>14} {'cyc/MAC':>8}  most cycles in" if cyc else ""))
    for k, layer in enumerate(res["layers"]):
        m = layer.get("executed_macs", layer["macs"])  # with recomputed patch halos, more than the layer's
        ipm = f"{layer['instructions'] / m:.2f}" if m else ""
        line = f"  {k:>3} {layer['op']:<20} {m:>12,} {layer['instructions']:>14,} {ipm:>9}"
        if cyc:
            top = max(layer["mix"].items(), key=lambda kv: kv[1]["cycles"], default=None)
            share = f"{top[0]} ({100 * top[1]['cycles'] / layer['cycles']:.0f}%)" if top and layer["cycles"] else ""
            cpm = f"{layer['cycles'] / m:.2f}" if m else ""
            line += f" {layer['cycles']:>14,} {cpm:>8}  {share}"
        print(line)
    print(f"  total: {res['total_instructions']:,} instructions executed in invoke (counted exactly)")
    if cyc:
        model = res["cycle_model"]
        ms = f", {res['milliseconds']:.3f} ms at {model['clock_hz'] / 1e6:g} MHz" if res.get("milliseconds") else ""
        print(f"  total: {res['total_cycles']:,} cycles MODELED ({model['name']}; branch penalty "
              f"{model['branch_penalty']}, flash wait states {model['fetch_wait_states']} fetch / "
              f"{model['load_wait_states']} load){ms}")
    else:
        print(f"  ({res.get('cycles_note', 'no cycle model for this core')})")


def cmd_flash(a: argparse.Namespace) -> int:
    from .harness.flash import flash
    elf = flash(a.outdir, a.board, a.opt, a.probe)
    print(f"programmed {elf} into {a.board}")
    return 0


def cmd_compress(a: argparse.Namespace) -> int:
    from .quant.cli_compress import run
    return run(a)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="tinyml", description="Compile int8 TFLite models to bit-exact C99 for "
                                 "microcontrollers and run them.")
    ap.add_argument("--version", action="version", version=f"tinyml {__version__}")
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("inspect", help="ops, shapes, MACs, weight bytes and a first memory estimate")
    p.add_argument("model")
    p.add_argument("--json", action="store_true", help="print the analysis as JSON")
    p.set_defaults(func=cmd_inspect)
    p = sub.add_parser("compile", help="generate C sources and report.json")
    p.add_argument("model")
    p.add_argument("-o", "--output", required=True, help="output directory")
    p.add_argument("--board", help="check the plan against this board's SRAM and flash")
    p.add_argument("--prefix", default="model", help="C symbol prefix (default: model)")
    p.add_argument("--sram-budget", type=int, metavar="BYTES",
                   help="fail unless the activation arena fits in BYTES (default with --board: the board's SRAM); "
                        "what the model does not need of it buys speed (depthwise out of place, wider im2col)")
    p.add_argument("--no-inplace", action="store_true", help="no in-place depthwise convolution")
    p.add_argument("--no-overlap", action="store_true", help="no outputs overlapping the inputs they consume")
    p.add_argument("--no-zero-copy-concat", action="store_true",
                   help="copy CONCATENATION inputs into the output instead of having their producers write there")
    p.add_argument("--patch", default="auto", metavar="auto|off|RxC",
                   help="patch-based inference of the first stage: auto (without a budget, the lowest peak that "
                        "costs no extra MACs: a row pipeline with cached halos where that saves memory, else layer by "
                        "layer; under --sram-budget/--board, layer by layer when it fits, else the patch "
                        "configuration with the fewest extra MACs that fits), off, or a grid such as 2x2 "
                        "(default: auto)")
    p.add_argument("--patch-split", type=int, metavar="OP",
                   help="with --patch RxC: the index of the last op of the patch stage")
    p.add_argument("--halos", default="auto", choices=("auto", "recompute", "cache"),
                   help="patch halos: recompute them per patch (MCUNetV2), cache them (whole-row bands R x 1: each "
                        "row of the stage is computed once, kept in a window buffer, no extra MACs), or auto: the "
                        "configuration the patch search picks (default: auto)")
    p.add_argument("--stream-input", action="store_true",
                   help="the patch stage reads its model input region by region from memory the application owns "
                        "(model_set_input_source: flash, a camera buffer) instead of holding it in the arena")
    p.add_argument("--kernels", default="auto", choices=("auto", "mve", "dsp", "portable", "reference"),
                   help="kernels generated per layer signature: mve (Helium, for Cortex-M55/M85), dsp (SIMD for "
                        "Cortex-M4/M7/M33/M55), each through portable C definitions of its instructions on the "
                        "host; portable (plain C loops, for Cortex-M0+/M3), reference (no generated kernels: the "
                        "portable runtime kernels, TFLM's loops), or auto: mve where --board's core has Helium, dsp "
                        "unless it names a core without the DSP extension (default: auto)")
    p.add_argument("--code", default="auto", choices=("auto", "fast", "compact"),
                   help="code size against speed: fast (longer unrolled loops), compact (up to 2 KB less code, a few "
                        "percent more cycles), or auto: compact where --board's flash leaves less than 32 KiB beyond "
                        "the model's constants and 64 KiB of code (default: auto)")
    p.add_argument("--max-arena", type=int, metavar="BYTES",
                   help="the largest activation arena (and tensor) to generate code for (default: 64 MiB); a model "
                        "that needs more is refused before any C is written")
    p.add_argument("--no-verify", action="store_true",
                   help="skip the self-check (by default compile builds the generated C with the host C compiler "
                        "and compares it with the reference executor on two random inputs before writing "
                        "anything); only for machines without a host C compiler")
    p.set_defaults(func=cmd_compile)
    p = sub.add_parser("compress", help="quantize a float model (PyTorch .pt2, Keras, float .tflite) to int8 / "
                       "mixed int4-int8 weights that fit flash and SRAM budgets with the best validation score")
    p.add_argument("model", help="torch.export.save'd .pt2, Keras .keras/.h5, or a float .tflite")
    p.add_argument("--data", required=True, help=".npz: 'x' calibration inputs (the model's own layout), 'y' labels")
    p.add_argument("--val", help=".npz validation set ('x', 'y') that scores configurations (default: --data)")
    p.add_argument("-o", "--output", required=True, help=".tflite file to write (plus .json and .png beside it)")
    p.add_argument("--board", help="budgets from this board: its SRAM, and its flash minus the firmware's code "
                   "(measured with arm-none-eabi-gcc; 32 KiB when that is not installed)")
    p.add_argument("--flash-budget", type=int, metavar="BYTES", help="bytes for the model's constants")
    p.add_argument("--sram-budget", type=int, metavar="BYTES", help="bytes for the activation arena")
    p.add_argument("--bits", default="auto", choices=["auto", "8", "4", "mixed"],
                   help="weight widths: 8 (int8 everywhere), 4 (int4 everywhere), mixed (int4 in the layers that "
                        "lose least, as many as the budget needs), auto: mixed under a flash budget (or --board), "
                        "else int8 (default: auto)")
    p.add_argument("--activations", default="int8", choices=["int8", "16x8", "mixed"],
                   help="activation widths: int8, 16x8 (int16 activations with int8 weights in every op that has a "
                        "16x8 kernel: twice the SRAM, for models whose int8 activations lose too much, such as audio "
                        "front ends), mixed (also 16x8 from the input up to a cut point or from one on, each scored "
                        "with its own peak SRAM) (default: int8)")
    p.add_argument("--estimator", default="minmax", choices=["minmax", "percentile", "mse"],
                   help="activation range estimator (default: minmax)")
    p.add_argument("--no-bias-correction", action="store_true", help="keep the float biases as they are")
    p.add_argument("--finetune-epochs", type=int, default=10, metavar="N",
                   help="epochs of float fine-tuning on --data (which then needs labels 'y') after pruning channels "
                        "(default: 10; 0: none)")
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help="evaluate candidates in N processes: on a local Ray instance when Ray is installed (pip "
                        "install 'tinyml[ray]'), else a local process pool; the pick is the serial run's (default: 1)")
    p.add_argument("--ray-address", metavar="ADDR", help="evaluate on this existing Ray cluster (HOST:PORT)")
    p.add_argument("--cache-dir", metavar="DIR", help="keep every evaluation here, so that an interrupted or "
                   "repeated search reuses it (default: ~/.cache/tinyml/compress, or $TINYML_CACHE_DIR/compress)")
    p.add_argument("--no-cache", action="store_true", help="keep no evaluations")
    p.add_argument("--search", default="grid", choices=["grid", "tpe"],
                   help="how mixed widths are searched: grid (every int4 prefix of the layers' sensitivity order) or "
                        "tpe (per-layer widths sampled by Optuna's TPE under the flash budget and, where pruning is "
                        "needed, each convolution's prune ratio with them; pip install 'tinyml[search]') "
                        "(default: grid)")
    p.add_argument("--trials", type=int, default=48, metavar="N",
                   help="TPE trials per prune ratio, or in all where it prunes per layer (default: 48)")
    p.add_argument("--seed", type=int, default=0, help="the TPE sampler's seed (default: 0)")
    p.set_defaults(func=cmd_compress)
    p = sub.add_parser("run", help="run a compiled model on the host")
    p.add_argument("target", help="output directory of `tinyml compile` (or a .tflite model with --reference)")
    p.add_argument("--input", action="append", required=True, help=".npy file, once per model input, in order")
    p.add_argument("--output", required=True, help=".npz file to write (output_0, output_1, ...)")
    p.add_argument("--reference", action="store_true",
                   help="run the NumPy reference executor instead of the generated C")
    p.add_argument("--reshape", action="store_true",
                   help="accept input arrays of another shape with the model input's number of elements (default: "
                        "the shape must match exactly)")
    p.add_argument("--steps", type=int, metavar="N",
                   help="the inputs hold N invokes along a new first axis, run in order from the reset state (a model "
                        "with state, SVDF or LSTM, carries it along); the outputs get that axis too")
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("build", help="cross-compile a compiled model into firmware for a board")
    p.add_argument("outdir")
    p.add_argument("--board", required=True, help="board name (see boards/) or path to a board .toml")
    p.add_argument("-O2", dest="opt", action="store_const", const="-O2", default="-O2")
    p.add_argument("-Os", dest="opt", action="store_const", const="-Os")
    p.set_defaults(func=cmd_build)
    p = sub.add_parser("emulate", help="run the firmware on an emulator, check it against the host, profile it")
    p.add_argument("outdir")
    p.add_argument("--board", required=True)
    p.add_argument("--input", action="append", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--emulator", default="qemu", choices=["qemu", "renode"])
    p.add_argument("--timeout", type=float, default=300.0, help="seconds before the run counts as hung")
    p.add_argument("--steps", type=int, metavar="N",
                   help="the inputs hold N invokes along a new first axis, all run by one firmware in order (a model "
                        "with state carries it along); every invoke is compared, the profile is the last one's")
    p.add_argument("-O2", dest="opt", action="store_const", const="-O2", default="-O2")
    p.add_argument("-Os", dest="opt", action="store_const", const="-Os")
    p.set_defaults(func=cmd_emulate)
    p = sub.add_parser("flash", help="program a board through a debug probe (pyocd)")
    p.add_argument("outdir")
    p.add_argument("--board", required=True)
    p.add_argument("--probe", help="unique id of the probe to use (default: the first one found)")
    p.add_argument("-O2", dest="opt", action="store_const", const="-O2", default="-O2")
    p.add_argument("-Os", dest="opt", action="store_const", const="-Os")
    p.set_defaults(func=cmd_flash)
    return ap


def _quiet_libraries() -> None:
    """TensorFlow's C++ log lines and PyTorch's deprecation warnings say nothing a tinyml user can act on."""
    import os
    import warnings
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "3")
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", message=".*Statistics for quantized inputs were expected.*")


def main(argv: list[str] | None = None) -> int:
    _quiet_libraries()
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except TinymlError as e:
        print(f"tinyml {args.command}: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("tinyml: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # a bug in tinyml: say so, with what to report, never a bare traceback
        subject = getattr(args, "model", None) or getattr(args, "target", None) or getattr(args, "outdir", None)
        where = f" on '{subject}'" if subject else ""
        first = str(e).splitlines()[0][:300] if str(e) else ""
        print(f"tinyml {args.command}: internal error, please report: tinyml {args.command} failed{where} with "
              f"{type(e).__name__}: {first}. This is a bug in tinyml, not in your input; please report it with the "
              f"model and the command line (tinyml {__version__}). Set TINYML_TRACEBACK=1 to see the traceback.",
              file=sys.stderr)
        if os.environ.get("TINYML_TRACEBACK"):
            import traceback
            traceback.print_exc()
        return 70


if __name__ == "__main__":
    sys.exit(main())
