"""Where a compression search evaluates its candidates: here, in a local process pool, or on Ray.

`evaluator(context, workers, ray_address)` yields a function that maps jobs to their results, in order, each as
soon as it is done (the search stores each before the next arrives): a candidate's validation outputs, or a pruned
network fine-tuned. One worker: in this process,
one job after another. More: on a local Ray instance started for the search when Ray is installed (`pip install
'tinyml[ray]'`), else in a pool of spawned processes (each imports PyTorch and tinyml and receives the data
once). `ray_address`: an existing Ray cluster instead. Every job runs on one thread wherever it runs, so N workers
use N cores and the outputs, scores and pick are exactly those of a serial search.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator

import numpy as np

from ..errors import TinymlError

Job = tuple      # (graph, weight widths, 16x8 ops); ("finetune", graph, labels, epochs); ("float", graph);
                 # ("sram", graph, SRAM budget)
Context = tuple  # what every job shares: (calibration inputs, validation inputs, estimator, bias correction)
_CONTEXT: Context | None = None  # a worker's, sent once when it starts


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """One thread and PyTorch's own kernels (oneDNN's depend on what ran before them) wherever a job runs: the
    same sums in the same order, so the same results here and in any worker."""
    import torch
    threads, onednn = torch.get_num_threads(), torch.backends.mkldnn.enabled
    torch.set_num_threads(1)
    torch.backends.mkldnn.enabled = False
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        torch.backends.mkldnn.enabled = onednn


def outputs(job: Job, context: Context) -> np.ndarray:
    """The validation outputs of a graph calibrated with the job's weight widths (and 16x8 ops; None: the
    calibration as it is)."""
    from dataclasses import replace

    from .executor import GraphExecutor, run_batches
    from .ptq import calibrate
    gp, bits, wide = job
    calib, val_x, estimator, bias_correction = context
    with _one_thread():
        cfg = calibrate(gp, calib, estimator=estimator, bias_correction=bias_correction, weight_bits=bits)
        if wide is not None:
            cfg = replace(cfg, wide=set(wide))
        return run_batches(GraphExecutor(gp, cfg), val_x)


def finetuned(job: Job, context: Context) -> object:
    """A pruned float graph after `epochs` of cross-entropy training on the calibration inputs and `labels`."""
    from .qat import finetune_float
    _, gp, labels, epochs = job
    with _one_thread():
        return finetune_float(gp, context[0], labels, epochs)


def reference(job: Job, context: Context) -> np.ndarray:
    """The validation outputs of a float graph."""
    from .executor import GraphExecutor, run_batches
    with _one_thread():
        return run_batches(GraphExecutor(job[1]), context[1])


def sram(job: Job, context: Context) -> int:
    """The peak SRAM of a float graph calibrated as it is (int8), planned under the job's SRAM budget."""
    from .ptq import calibrate, quantize_graph
    _, gp, budget = job
    calib, _, estimator, bias_correction = context
    with _one_thread():
        cfg = calibrate(gp, calib, estimator=estimator, bias_correction=bias_correction, weight_bits={})
    return peak_sram(quantize_graph(gp, cfg), budget)


def peak_sram(q: object, budget: int | None) -> int:
    """The compile path's activation arena for integer graph `q` under `budget` (patching when needed)."""
    from ..compiler import CompileOptions, analyze
    from ..frontends.tflite_writer import write_tflite
    from ..memory import arena_bytes
    c = analyze(write_tflite(q), q.name, CompileOptions(sram_budget=budget))  # type: ignore[attr-defined]
    return arena_bytes(c.buffers, c.plan)


KINDS = {"finetune": finetuned, "float": reference, "sram": sram}


def run_job(job: Job, context: Context) -> object:
    """What a job asks for: a fine-tuned graph, float outputs, a peak SRAM, or (the rest) a candidate's
    validation outputs."""
    kind = KINDS.get(job[0]) if isinstance(job[0], str) else None
    return kind(job, context) if kind else outputs(job, context)


def have_ray() -> bool:
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


def _start(context: Context) -> None:
    """A worker's start: the shared data kept, and what every job imports imported once, up front."""
    global _CONTEXT
    _CONTEXT = context
    import torch  # noqa: F401

    from . import executor, ptq  # noqa: F401


def _pooled(job: Job) -> object:
    assert _CONTEXT is not None
    return run_job(job, _CONTEXT)


@contextlib.contextmanager
def evaluator(context: Context, workers: int = 1, ray_address: str | None = None
              ) -> Iterator[Callable[[list[Job]], Iterable]]:
    if workers < 1:
        raise TinymlError(f"--workers {workers}: at least one worker is needed")
    if ray_address is not None and ray_address != "auto":
        _answers(ray_address)  # before Ray is imported: a wrong address is wrong with or without Ray
    if ray_address is None and workers == 1:
        yield lambda jobs: (run_job(j, context) for j in jobs)
        return
    if ray_address is not None or have_ray():
        with _ray_pool(context, workers, ray_address) as run:
            yield run
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_start,
                             initargs=(context,)) as ex:
        yield lambda jobs: ex.map(_pooled, jobs)


@contextlib.contextmanager
def _ray_pool(context: Context, workers: int, address: str | None
              ) -> Iterator[Callable[[list[Job]], Iterable]]:
    try:
        import ray
        from ray.util.multiprocessing import Pool
    except ImportError:
        raise TinymlError("--ray-address needs Ray, which is not installed: pip install 'tinyml[ray]' (without "
                          "--ray-address, --workers runs a local process pool)") from None
    started = not ray.is_initialized()
    try:
        if started:
            ray.init(address=address, num_cpus=None if address else workers, include_dashboard=False,
                     log_to_driver=False, logging_level="ERROR")
        pool = Pool(processes=workers, initializer=_start, initargs=(context,))
    except Exception as e:  # noqa: BLE001 (Ray raises many kinds of errors for an address that does not answer)
        raise TinymlError(f"could not start or reach Ray{f' at {address}' if address else ''}: "
                          f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from None
    try:
        yield lambda jobs: pool.imap(_pooled, jobs)
    finally:
        pool.terminate()
        if started:
            ray.shutdown()


def _answers(address: str, timeout: float = 5.0) -> None:
    """Refuse a Ray address nothing listens at within `timeout` seconds (Ray itself retries for minutes)."""
    import socket
    hostport = address.split("://", 1)[-1]
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise TinymlError(f"--ray-address '{address}' is not HOST:PORT (or ray://HOST:PORT)")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except OSError as e:
        raise TinymlError(f"the Ray cluster at {address} does not answer (no connection to {host}:{port} within "
                          f"{timeout:g} s: {e.strerror or e})") from None
