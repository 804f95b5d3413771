"""Quantization-aware fine-tuning in PyTorch, exporting exactly the integer model it trained.

    qat = tinyml.quant.qat.prepare(g, calib_x, weights="int4")   # starts from the PTQ parameters
    tinyml.quant.qat.finetune(qat, x, y, epochs=3)                # fake quantization, straight-through rounding,
                                                                   # learned step sizes (LSQ)
    q = tinyml.quant.qat.export(qat)                               # integer graph: write it with export_tflite

The fake-quantized forward pass of `qat` and the exported integer model agree to within one LSB at the output
(the difference is only where TFLM's fixed-point requantization rounds differently from float).
"""
from __future__ import annotations

import numpy as np

from ..errors import TinymlError
from ..ir import Graph
from .executor import GraphExecutor
from .ptq import calibrate, quantize_graph


def prepare(g: Graph, calib: np.ndarray, *, weights: str | int | dict[int, int] = "int8",
            estimator: str = "minmax") -> GraphExecutor:
    """A trainable fake-quantized module of float graph `g`, initialized by post-training quantization."""
    from . import weight_widths
    cfg = calibrate(g, calib, estimator=estimator, weight_bits=weight_widths(g, weights), bias_correction=True)
    return GraphExecutor(g, cfg, trainable=True)


def finetune(module: GraphExecutor, x: np.ndarray, y: np.ndarray, *, epochs: int = 3, lr: float = 1e-4,
             scale_lr: float = 1e-3, batch: int = 32, seed: int = 0, schedule: str = "constant") -> list[float]:
    """Cross-entropy fine-tuning on inputs `x` (NHWC) and integer labels `y`; returns the loss per epoch.
    `schedule`: "constant" learning rates, or "cosine" (both decay to zero over the run, step by step: a larger
    `lr` early, small steps where the rounding of the weights settles)."""
    import math

    import torch
    if len(x) != len(y):
        raise TinymlError(f"{len(x)} inputs but {len(y)} labels")
    if schedule not in ("constant", "cosine"):
        raise TinymlError(f"schedule '{schedule}': constant or cosine")
    weights = [p for n, p in module.named_parameters() if n.startswith(("w.", "b."))]
    scales = [p for n, p in module.named_parameters() if "scale" in n]
    opt = torch.optim.Adam([{"params": weights, "lr": lr}, {"params": scales, "lr": scale_lr}])
    steps = max(1, epochs * -(-len(x) // batch))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, (lambda s: 0.5 * (1 + math.cos(math.pi * s / steps))) if schedule == "cosine" else (lambda s: 1.0))
    xt, yt = torch.tensor(np.asarray(x, np.float32)), torch.tensor(np.asarray(y), dtype=torch.long)
    gen = torch.Generator().manual_seed(seed)
    losses = []
    module.train()
    for _ in range(epochs):
        perm = torch.randperm(len(xt), generator=gen)
        total = 0.0
        for s in range(0, len(xt), batch):
            idx = perm[s:s + batch]
            opt.zero_grad()
            out = module(xt[idx])[0]
            loss = torch.nn.functional.cross_entropy(out.reshape(len(idx), -1), yt[idx])
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        losses.append(total / len(xt))
    module.eval()
    return losses


def export(module: GraphExecutor) -> Graph:
    """The integer graph whose arithmetic the fake-quantized module simulates."""
    g, cfg = module.export()
    return quantize_graph(g, cfg)


def finetune_float(g: Graph, x: np.ndarray, y: np.ndarray, epochs: int, lr: float = 1e-3, seed: int = 0) -> Graph:
    """`g` after `epochs` of float cross-entropy training on inputs `x` (NHWC) and integer labels `y` (a pruned
    network, before the compression search quantizes it)."""
    ex = GraphExecutor(g, None, trainable=True)
    finetune(ex, x, y, epochs=epochs, lr=lr, seed=seed)
    return ex.trained_graph()
