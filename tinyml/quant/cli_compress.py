"""`tinyml compress`: load a float model and data files, run the budget search, write the results."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..boards import Board, load_board
from ..errors import TinymlError
from ..ir import Graph

CODE_RESERVE = 32 * 1024  # flash kept for code with --board when the Arm toolchain is not there to measure it


def firmware_code_bytes(q: Graph, board: Board) -> int | None:
    """Flash the firmware of integer graph `q` needs on `board` besides the model's constants (code, parameter
    tables, startup, console): `tinyml build`'s text + data minus the weight bytes, cross-compiled with
    arm-none-eabi-gcc (-O2) for the board's core with its memories enlarged, so that an oversized model is
    measured too. None when the toolchain is not installed."""
    import dataclasses
    import shutil
    import tempfile

    from ..boards import MemoryRegion
    from ..compiler import COMPACT_BELOW, CompileOptions, compile_model, flash_room
    from ..harness.firmware import build
    from . import export_tflite
    if shutil.which("arm-none-eabi-gcc") is None:
        return None
    roomy = dataclasses.replace(board, flash=MemoryRegion(board.flash.base, max(board.flash.size, 1 << 26)),
                                sram=MemoryRegion(board.sram.base, max(board.sram.size, 1 << 24)))
    with tempfile.TemporaryDirectory(prefix="tinyml-code-") as d:
        export_tflite(q, Path(d) / "m.tflite")
        code = "compact" if flash_room(q, board) < COMPACT_BELOW else "fast"  # as compiling for the board picks
        rep = compile_model(Path(d) / "m.tflite", Path(d) / "c", CompileOptions(verify=False, code=code))  # not shipped
        fw = build(Path(d) / "c", roomy)
        return fw.text + fw.data - rep["weight_bytes"]  # the weights as the kernels read them (int16 copies)


def load_float_model(path: Path) -> tuple[Graph, bool]:
    """(float graph, input is NCHW) from a torch.export .pt2, a Keras .keras/.h5 or a float .tflite file."""
    if not path.is_file():
        raise TinymlError(f"model file '{path}' does not exist")
    suffix = path.suffix.lower()
    if suffix == ".pt2":
        try:
            import torch
        except ImportError:
            raise TinymlError("a .pt2 model needs PyTorch: pip install 'tinyml[torch]'") from None
        from ..frontends.torch import from_torch
        try:
            ep = torch.export.load(str(path))
        except Exception as e:
            raise TinymlError(f"'{path}' is not a torch.export program saved with torch.export.save "
                              f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None
        return from_torch(ep, None, name=path.stem), True
    if suffix in (".keras", ".h5"):
        from ..frontends.keras import from_keras, import_tensorflow
        tf = import_tensorflow()
        try:
            model = tf.keras.models.load_model(str(path), compile=False)
        except Exception as e:
            raise TinymlError(f"'{path}' could not be loaded as a Keras model ({type(e).__name__}: "
                              f"{str(e).splitlines()[0] if str(e) else ''})") from None
        return from_keras(model, name=path.stem), False
    if suffix == ".tflite":
        from ..frontends.passes import fuse_activations
        from ..frontends.tflite import load_tflite
        from ..ir import DType
        g = load_tflite(path)
        if any(t.dtype is DType.INT8 for t in g.tensors):
            raise TinymlError(f"'{path}' is already quantized; compress takes a float model (compile it "
                              "directly with `tinyml compile`)")
        return fuse_activations(g), False
    raise TinymlError(f"'{path}': unknown model format '{suffix}'. compress reads a PyTorch program saved with "
                      "torch.export.save (.pt2), a Keras model (.keras, .h5) or a float .tflite")


def load_data(path: str, g: Graph, nchw: bool, what: str) -> tuple[np.ndarray, np.ndarray | None]:
    p = Path(path)
    if not p.is_file():
        raise TinymlError(f"{what} file '{p}' does not exist")
    try:
        d = np.load(p, allow_pickle=False)
        x = np.asarray(d["x"], np.float32)
        y = np.asarray(d["y"]).reshape(-1) if "y" in d.files else None
    except Exception as e:
        raise TinymlError(f"{what} file '{p}' must be an .npz with an array 'x' (inputs, batch first) and "
                          f"optionally 'y' (integer labels): {type(e).__name__}: {e}") from None
    given = list(x.shape)  # as the file holds it (the message must not show the transposed copy)
    if nchw and x.ndim == 4:
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    want = tuple(g.tensor(g.inputs[0]).shape[1:])
    if tuple(x.shape[1:]) != want:
        layout = "NCHW, as the PyTorch model takes it" if nchw else "NHWC"
        raise TinymlError(f"{what} 'x' in '{p}' has shape {given}; the model needs [N, "
                          f"{', '.join(map(str, want if not nchw else (want[2], want[0], want[1])))}] ({layout})")
    if y is not None and len(y) != len(x):
        raise TinymlError(f"{what} file '{p}' has {len(x)} inputs but {len(y)} labels")
    return x, y


def run(a) -> int:  # noqa: ANN001
    from . import export_tflite, weight_bytes
    out = Path(a.output)
    if out.suffix != ".tflite":
        raise TinymlError(f"--output '{out}' must end in .tflite")
    if not out.parent.exists():
        raise TinymlError(f"cannot write '{out}': directory '{out.parent}' does not exist")
    flash, sram = a.flash_budget, a.sram_budget
    g, nchw = load_float_model(Path(a.model))
    x, xy = load_data(a.data, g, nchw, "--data")
    vx, vy = load_data(a.val, g, nchw, "--val") if a.val else load_data(a.data, g, nchw, "--data")
    board = load_board(a.board) if a.board else None
    code = None  # measured flash for code and tables, when the board sets the flash budget
    if board is not None:
        sram = sram if sram is not None else board.arena_budget  # the stack and the firmware's data excluded
        if flash is None:
            from . import quantize
            code = firmware_code_bytes(quantize(g, x[:256]), board)
            flash = max(0, board.flash.size - (CODE_RESERVE if code is None else code))
    res, code = _search(a, g, (x, xy), (vx, vy), flash, sram, board, code)
    export_tflite(res.graph, out)
    jpath = _write_json(a, out, res, board, code)
    _print_table(res, a)
    png = _plot(res, out.with_suffix(".png"))
    if board is not None:
        how = "measured with arm-none-eabi-gcc -O2" if code is not None else \
            "estimated: install gcc-arm-none-eabi to measure it"
        print(f"{board.name}: {weight_bytes(res.graph):,} bytes of weights + "
              f"{code if code is not None else CODE_RESERVE:,} bytes of code and tables ({how}) in "
              f"{board.flash.size:,} bytes of flash")
    if not a.no_cache:
        print(f"{res.evaluated} evaluations, {res.reused} of them reused from the cache "
              f"({a.cache_dir or 'the default cache, ~/.cache/tinyml/compress'})")
    print(f"wrote {out} ({res.chosen.name}: {weight_bytes(res.graph):,} bytes of weights, peak SRAM "
          f"{res.chosen.peak_sram:,} bytes), {jpath}{f' and {png}' if png else ''}")
    return 0


def _search(a, g: Graph, data: tuple, val: tuple, flash: int | None, sram: int | None,  # noqa: ANN001
            board: Board | None, code: int | None) -> tuple:
    """compress() under the budgets, with a progress bar; with a measured code size, again until the chosen
    model's own firmware fits the board. Returns (the result, the code bytes measured last)."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from . import weight_bytes
    from .compress import compress
    from .memo import default_dir
    (x, xy), (vx, vy) = data, val
    console = Console(stderr=True)
    for _ in range(3):  # with a measured code size: until the chosen model's own firmware fits the board
        with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                      TimeElapsedColumn(), console=console, transient=True) as prog:
            task = prog.add_task("searching", total=1)

            def progress(what: str, done: int, total: int, prog: Progress = prog, task=task) -> None:  # noqa: ANN001
                prog.update(task, description=what, completed=done, total=max(total, 1))
            res = compress(g, x, vx, vy, flash_budget=flash, sram_budget=sram, estimator=a.estimator,
                           bias_correction=not a.no_bias_correction, calib_y=xy,
                           finetune_epochs=a.finetune_epochs, progress=progress, bits=a.bits,
                           activations=a.activations, workers=a.workers, ray_address=a.ray_address,
                           search=a.search, trials=a.trials, seed=a.seed,
                           cache_dir=None if a.no_cache else Path(a.cache_dir) if a.cache_dir else default_dir())
        if code is None or board is None:
            break
        code = firmware_code_bytes(res.graph, board)
        assert code is not None
        if weight_bytes(res.graph) + code <= board.flash.size:
            break
        flash = max(0, board.flash.size - code)  # its kernels (int4 variants) need more code than measured
    else:
        assert board is not None
        raise TinymlError(f"no configuration's firmware fits {board.name}'s {board.flash.size:,} bytes of flash "
                          f"(the last one needs {weight_bytes(res.graph):,} bytes of weights and {code:,} of code)")
    return res, code


def _write_json(a, out: Path, res, board: Board | None, code: int | None) -> Path:  # noqa: ANN001
    """OUTPUT.json: the budgets, the chosen configuration, every candidate and the Pareto front."""
    from . import weight_bytes
    from .compress import pareto
    doc = {"model": str(a.model), "output": str(out), "metric": res.metric, "float_score": res.float_score,
           "budgets": res.budgets, "chosen": res.chosen.row(), "weight_bytes": weight_bytes(res.graph),
           "candidates": res.table(), "pareto": [c.row() for c in pareto(res.candidates)]}
    if board is not None:
        doc["board"] = {"name": board.name, "flash_bytes": board.flash.size, "sram_bytes": board.sram.size,
                        "code_bytes": code if code is not None else CODE_RESERVE,
                        "code_bytes_measured": code is not None}
    jpath = out.with_suffix(".json")
    tmp = jpath.with_name(jpath.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1) + "\n")
    tmp.replace(jpath)
    return jpath


def _print_table(res, a) -> None:  # noqa: ANN001
    from rich.console import Console
    from rich.table import Table

    from .compress import pareto
    table = Table(title=f"{res.metric} on {'--val' if a.val else '--data'} (float model: {res.float_score:.4f})")
    for col in ("configuration", "weight bytes", "peak SRAM", res.metric, "fits"):
        table.add_column(col)
    front = {id(c) for c in pareto(res.candidates)}
    for c in res.candidates:
        mark = (" *" if id(c) in front else "") + (" (chosen)" if c is res.chosen else "")
        table.add_row(c.name + mark, f"{c.weight_bytes:,}", f"{c.peak_sram:,}", f"{c.score:.4f}",
                      "yes" if c.fits else "no")
    Console().print(table)
    print("* on the Pareto front (no other configuration is both smaller and better)")


def _plot(res, path: Path) -> Path | None:  # noqa: ANN001
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    from .compress import pareto
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.scatter([c.weight_bytes for c in res.candidates], [c.score for c in res.candidates], s=14, label="searched")
    front = pareto(res.candidates)
    ax.plot([c.weight_bytes for c in front], [c.score for c in front], "o-", color="C1", label="Pareto front")
    ax.scatter([res.chosen.weight_bytes], [res.chosen.score], s=80, marker="*", color="C3", zorder=3,
               label="chosen")
    if res.budgets.get("flash"):
        ax.axvline(res.budgets["flash"], color="grey", ls="--", label="flash budget")
    ax.set_xlabel("weight bytes")
    ax.set_ylabel(res.metric)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
