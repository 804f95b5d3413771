"""Budget-driven compression: weight widths per layer (int8/int4), structured pruning when needed, and the
memory planner's techniques (in-place, overlap, patching), searched together so that the model fits a flash
and an SRAM budget with the best score on the user's validation data.

Search, cheapest first:
1. calibrate once (int8 everywhere) and measure each layer's sensitivity: the validation loss when that layer
   alone has int4 weights;
2. order the layers by sensitivity per byte saved and evaluate every prefix of that order in int4 (int8 ... all
   int4): a Pareto front of weight bytes vs score, from the fake-quantized model (within one LSB of the
   integer model at every tensor);
3. the peak SRAM comes from the compile path's planner with the SRAM budget (patch-based inference when needed);
4. when no width assignment fits, prune channels (25%, 50%, 75% of every prunable convolution; with the TPE
   search, each convolution's own ratio sampled with the widths), fine-tune the pruned float network on the
   calibration data when it has labels (cross-entropy, `finetune_epochs`), and repeat.
The pick is the highest score that fits both budgets; ties go to the outputs closest to the float model's. It
is compiled as `tinyml compile` would (the compiler's self-check included, which falls back to the next memory
configuration when one fails), and a candidate none of whose fitting configurations passes is never returned.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..errors import TinymlError
from ..ir import DType, Graph
from .config import QuantConfig
from .memo import DiskMemo
from .pool import peak_sram
from .ptq import calibrate, quantize_graph, weighted_ops, wide_capable

PRUNE_RATIOS = (0.0, 0.25, 0.5, 0.75)


@dataclass
class Candidate:
    name: str
    prune: float
    bits: dict[int, int]
    weight_bytes: int
    peak_sram: int
    score: float
    loss: float         # mean squared distance of the outputs to the float model's (tie-breaker)
    fits_flash: bool
    fits_sram: bool
    wide: frozenset[int] = frozenset()  # ops in 16x8 (int16 activations)
    layers: tuple[tuple[int, float], ...] = ()  # per-layer prune ratios (op index, ratio) where sampled per layer

    @property
    def fits(self) -> bool:
        return self.fits_flash and self.fits_sram

    @property
    def pruning(self) -> float | tuple[tuple[int, float], ...]:
        """How its graph was pruned: per layer where sampled so, else the ratio of every prunable convolution."""
        return self.layers or self.prune

    def row(self) -> dict:
        return {"name": self.name, "prune": self.prune, "int4_layers": sum(b == 4 for b in self.bits.values()),
                "int16_ops": len(self.wide),
                "weight_bytes": self.weight_bytes, "peak_sram": self.peak_sram, "score": self.score,
                "output_mse": self.loss,
                "fits": self.fits} | ({"prune_layers": {str(k): r for k, r in self.layers}} if self.layers else {})


@dataclass
class CompressResult:
    graph: Graph                    # the chosen integer graph
    chosen: Candidate
    candidates: list[Candidate]
    metric: str                     # "accuracy" or "-relative MSE"
    float_score: float
    budgets: dict = field(default_factory=dict)
    reused: int = 0                 # evaluations read back from the cache
    evaluated: int = 0              # evaluations in all (reused ones included)

    def table(self) -> list[dict]:
        return [c.row() for c in self.candidates]


def _score(out: np.ndarray, ref: np.ndarray, y: np.ndarray | None) -> float:
    if y is not None:
        return float((out.reshape(len(out), -1).argmax(1) == y).mean())
    return -float(((out - ref) ** 2).mean() / max(float((ref ** 2).mean()), 1e-12))


def _loss(out: np.ndarray, ref: np.ndarray) -> float:
    return float(((out - ref) ** 2).mean())


def int_weight_bytes(g: Graph, bits: dict[int, int]) -> int:
    """Bytes of the integer model's constants for float graph `g` quantized with `bits` (int32 biases)."""
    total = 0
    wts = {g.ops[k].inputs[1]: b for k, b in bits.items()}
    bias = {g.ops[k].inputs[2] for k in bits if len(g.ops[k].inputs) > 2}
    for i, t in enumerate(g.tensors):
        if not t.is_const:
            continue
        if i in wts:
            total += (DType.INT4 if wts[i] == 4 else DType.INT8).storage_bytes(t.size)
        elif i in bias or t.dtype is not DType.FLOAT32:
            total += 4 * t.size
        else:
            total += t.size
    return total


BITS = ("auto", "8", "4", "mixed")
ACTIVATIONS = ("int8", "16x8", "mixed")
MAX_WIDE_CUTS = 8  # "mixed" activations: 16x8 from the input up to at most this many cut points (and all)


def _wide_sets(g: Graph, activations: str) -> list[frozenset[int]]:
    """The sets of ops to run in 16x8 that the search scores: none (int8), every op that can (16x8), or for
    "mixed" also the ops from the input up to evenly spaced cut points (the front end, where an audio model's
    dynamic range suffers most from int8) and from cut points to the output."""
    ops = wide_capable(g)
    if activations == "int8" or not ops:
        return [frozenset()]
    full = frozenset(ops)
    if activations == "16x8":
        return [full]
    cuts = sorted({ops[round(i * (len(ops) - 1) / MAX_WIDE_CUTS)] for i in range(MAX_WIDE_CUTS + 1)})
    sets = [frozenset()] + [frozenset(k for k in ops if k <= c) for c in cuts] + \
        [frozenset(k for k in ops if k >= c) for c in cuts] + [full]
    return list(dict.fromkeys(sets))


def _footprint_floor(g: Graph, calib: np.ndarray, ratio: float, bits: str, sram_budget: int | None) -> tuple[int, int]:
    """(smallest weight bytes, smallest peak SRAM) a prune ratio can reach with the allowed widths: neither
    depends on the weights' values, so no fine-tuning or sensitivity analysis is needed to know it."""
    from .prune import prune
    gp = prune(g, ratio)
    ops = weighted_ops(gp, narrowable=True)
    narrow = {k: 8 if bits == "8" else 4 for k in ops}
    q = quantize_graph(gp, calibrate(gp, calib[:2], weight_bits=narrow, bias_correction=False))
    return int_weight_bytes(gp, narrow), peak_sram(q, sram_budget)


def compress(g: Graph, calib: np.ndarray, val_x: np.ndarray | None = None, val_y: np.ndarray | None = None, *,
             flash_budget: int | None = None, sram_budget: int | None = None, estimator: str = "minmax",
             bias_correction: bool = True, progress: Callable[[str, int, int], None] | None = None,
             calib_y: np.ndarray | None = None, finetune_epochs: int = 10, bits: str = "auto",
             activations: str = "int8", workers: int = 1, ray_address: str | None = None,
             cache_dir: Path | None = None, search: str = "grid", trials: int = 48, seed: int = 0
             ) -> CompressResult:
    """Search weight widths (and pruning when needed) for float graph `g`; see the module docstring.
    `calib_y`: labels of `calib`; with them a pruned network is fine-tuned for `finetune_epochs` before it is
    quantized (0: never). `bits`: "8" (int8 only), "4" (int4 only), "mixed" (every int4 prefix of the
    sensitivity order), "auto" (mixed under a flash budget, int8 without one: int4 would save nothing needed).
    `activations`: "int8", "16x8" (int16 activations in every op that has a 16x8 kernel; twice the SRAM) or
    "mixed" (also 16x8 from the input up to a cut point, or from a cut point on: each scored, with its own peak
    SRAM; for models whose int8 activations lose too much, such as audio front ends).
    `progress(description, completed, total)` is called as each phase of each prune ratio advances.
    `workers`: evaluate candidates in that many processes (on a local Ray instance when Ray is installed, else a
    process pool; `ray_address`: an existing Ray cluster); the pick is the serial run's. `cache_dir`: keep every
    evaluation there (tinyml.quant.memo) so that an interrupted or repeated search reuses it (None: nothing kept);
    the result's `reused` and `evaluated` count them. `search`: "grid" (every int4 prefix of the sensitivity
    order) or "tpe" (per-layer widths sampled by Optuna's TPE, `trials` of them per prune ratio, reproducible for a
    `seed`; the flash budget as its constraint; with `bits` "mixed" and int8 activations, else the grid; where
    pruning is needed, each prunable convolution's ratio sampled with the widths, `trials` in all, the flash and
    SRAM budgets as constraints: _Search.pruning_sampled)."""
    from .memo import code_version, digest
    from .pool import evaluator
    _check_choices(bits, activations, search, trials)
    if bits == "auto":
        bits = "mixed" if flash_budget is not None else "8"
    val_x = calib if val_x is None else val_x
    y = None if val_y is None else np.asarray(val_y).reshape(-1)
    memo = DiskMemo(cache_dir, digest((code_version(), calib, val_x, y, estimator, bias_correction)))
    reachable = _reachable(g, calib, bits, flash_budget, sram_budget)
    candidates: list[Candidate] = []
    float_score = None
    pruned: dict[float | tuple[tuple[int, float], ...], Graph] = {}
    def prepared(prunings: list) -> list[Graph]:
        return _prepare(searcher, g, prunings, calib_y, finetune_epochs, pruned)

    with evaluator((calib, val_x, estimator, bias_correction), workers, ray_address) as run:
        searcher = _Search(calib, val_x, y, flash_budget, sram_budget, estimator, bias_correction,
                           progress or (lambda what, done, total: None), bits, activations, memo, run,
                           (search, trials, seed, TPE_BATCH))
        for ratio in reachable:
            if ratio and searcher.per_layer():  # TPE: each prunable convolution's own ratio, with the widths
                candidates += searcher.pruning_sampled(g, prepared, [r for r in reachable if r])
                break
            gp, = prepared([ratio])
            ref = searcher.reference(gp)
            if float_score is None:
                float_score = _score(ref, ref, searcher.y)
            candidates += searcher.candidates(gp, ratio, ref)
            searcher.tick(f"prune {ratio:.0%}: done", 1, 1)
            if any(c.fits for c in candidates):
                break
        if float_score is None:  # pruning was needed from the start
            ref = searcher.reference(g)
            float_score = _score(ref, ref, searcher.y)
    res = _pick(candidates, pruned, searcher, reachable, float(float_score))  # type: ignore[arg-type]
    return replace(res, reused=memo.reused, evaluated=memo.reused + memo.computed)


@dataclass
class _Search:
    """What scoring a candidate needs: the data, the budgets, the calibration settings, the widths searched."""
    calib: np.ndarray
    val_x: np.ndarray
    y: np.ndarray | None
    flash_budget: int | None
    sram_budget: int | None
    estimator: str
    bias_correction: bool
    tick: Callable[[str, int, int], None]
    bits: str
    activations: str
    memo: DiskMemo
    run: Callable[[list[tuple]], Iterable]  # runs jobs (tinyml.quant.pool), maybe in parallel
    sampler: tuple[str, int, int, int] = ("grid", 0, 0, 1)  # (grid or tpe, trials, seed, trials asked at once)
    keys: dict = field(default_factory=dict, repr=False)  # id(graph) -> (graph, its digest): hashed once

    def key(self, gp: Graph) -> bytes:
        """The digest of `gp` (its weights hashed once per graph, not once per evaluation)."""
        from .memo import digest
        if id(gp) not in self.keys:
            self.keys[id(gp)] = (gp, digest(gp))
        return self.keys[id(gp)][1]

    def config(self, gp: Graph, bits: dict[int, int]) -> QuantConfig:
        return calibrate(gp, self.calib, estimator=self.estimator, bias_correction=self.bias_correction,
                         weight_bits=bits)

    def outputs(self, gp: Graph, jobs: list[tuple[dict[int, int], frozenset[int] | None]]) -> list[np.ndarray]:
        """The validation outputs of `gp` calibrated with each job's weight widths (and 16x8 ops; None: the
        calibration as it is): read back from the cache, the others evaluated together."""
        return self.outputs_of([(gp, *job) for job in jobs])

    def outputs_of(self, jobs: list[tuple[Graph, dict[int, int], frozenset[int] | None]]) -> list[np.ndarray]:
        """outputs() for jobs of several graphs (graph, widths, 16x8 ops), evaluated together."""
        return self.batched([("outputs", self.key(gp), bits, wide) for gp, bits, wide in jobs], jobs)

    def reference(self, gp: Graph) -> np.ndarray:
        """The float outputs of `gp` on the validation data."""
        return self.references([gp])[0]

    def references(self, gps: list[Graph]) -> list[np.ndarray]:
        """reference() of several graphs, computed together."""
        from .executor import GraphExecutor, run_batches
        return self.batched([("float", self.key(gp)) for gp in gps], [("float", gp) for gp in gps],
                            lambda i: run_batches(GraphExecutor(gps[i]), self.val_x))

    def srams(self, gps: list[Graph]) -> list[int]:
        """The peak SRAM of each of `gps` calibrated as it is (int8; sram()), computed together."""
        return self.batched([("sram", self.key(gp), {}, None, self.sram_budget) for gp in gps],
                            [("sram", gp, self.sram_budget) for gp in gps],
                            lambda i: peak_sram(quantize_graph(gps[i], self.config(gps[i], {})), self.sram_budget))

    def batched(self, keys: list[tuple], jobs: list[tuple], here: Callable[[int], object] | None = None) -> list:
        """The results of `jobs`: read back from the cache under `keys`, the others computed and stored, each as
        it arrives (an interrupted search keeps what it finished). They run as jobs, one thread each, side by
        side on the workers; with `here`, one left alone runs here instead (`here(i)`, on all of PyTorch's
        threads: the grid's lone fine-tuning). Which it is depends on the batch, not on --workers, so any number
        of workers computes the same values."""
        found = [self.memo.lookup(k) for k in keys]
        todo = [i for i, (hit, _) in enumerate(found) if not hit]
        done = [here(todo[0])] if here is not None and len(todo) == 1 else self.run([jobs[i] for i in todo])
        out = [v for _, v in found]
        for i, v in zip(todo, done):
            out[i] = self.memo.store(keys[i], v)
        return out

    def per_layer(self) -> bool:
        """Whether pruning is sampled per layer (TPE, int8 activations) rather than one ratio for every layer."""
        return self.sampler[0] == "tpe" and self.activations == "int8"

    def pruning_sampled(self, g: Graph, prepared: Callable[[list], list[Graph]], uniform: list[float]
                        ) -> list[Candidate]:
        """Each prunable convolution's prune ratio (0 or one of PRUNE_RATIOS) and, with `bits` "mixed", each
        layer's weight width sampled together by Optuna's TPE (seeded), the flash and SRAM budgets its
        constraints; the `uniform` ratios the budgets allow (int8 and int4 everywhere) tried first. Each pruned
        network is fine-tuned (`prepared`) before its widths are scored. Each distinct choice is one candidate."""
        import optuna

        from .prune import prunable_chains, removed_fraction
        _, trials, seed, batch = self.sampler
        convs = sorted({ch.producer for ch in prunable_chains(g)})
        ops = weighted_ops(g, narrowable=True)
        levels = [0.0] + [r for r in PRUNE_RATIOS if r > 0]
        fixed = {"8": 8, "4": 4}.get(self.bits)
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(
            seed=seed, constraints_func=lambda t: [t.user_attrs["excess"]]))
        for r in uniform:
            for b in ((8, 4) if fixed is None else (fixed,)):
                study.enqueue_trial({**{f"p{k}": r for k in convs}, **({f"op{k}": b for k in ops} if fixed is None
                                                                      else {})})
        seen: dict[tuple, Candidate] = {}
        while len(study.trials) < trials:
            asked = [study.ask() for _ in range(min(max(batch, 1), trials - len(study.trials)))]
            self.tick("per-layer pruning: TPE trials", len(study.trials) - len(asked), trials)
            picks = []
            for t in asked:
                layers = tuple((k, r) for k in convs if (r := t.suggest_categorical(f"p{k}", levels)) > 0)
                picks.append((t, layers, {k: fixed or t.suggest_categorical(f"op{k}", [8, 4]) for k in ops}))
            # the trials' networks fine-tuned together, then their candidates scored together
            picks = [(*p, gp) for p, gp in zip(picks, prepared([layers or 0.0 for _, layers, _ in picks]))]
            outs = self.outputs_of([(gp, {} if all(b == 8 for b in w.values()) else w, None)
                                    for _, _, w, gp in picks])
            refs, srams = self.references([p[3] for p in picks]), self.srams([p[3] for p in picks])
            for (t, layers, w, gp), res, ref, sram in zip(picks, outs, refs, srams):
                wb = int_weight_bytes(gp, w)
                over = (0 if self.flash_budget is None else max(0, wb - self.flash_budget)) + \
                    (0 if self.sram_budget is None else max(0, sram - self.sram_budget))
                t.set_user_attr("excess", over)
                n4 = sum(b == 4 for b in w.values())
                frac = removed_fraction(g, dict(layers))
                name = "int8" if n4 == 0 else "int4" if n4 == len(ops) else f"sampled ({n4} int4 layers)"
                c = Candidate(f"{name}, pruned {frac:.0%} (per layer)" if layers else name, frac, w, wb, sram,
                              _score(res, ref, self.y), _loss(res, ref),
                              self.flash_budget is None or wb <= self.flash_budget,
                              self.sram_budget is None or sram <= self.sram_budget, layers=layers)
                seen.setdefault((layers, tuple(sorted(w.items()))), c)
                study.tell(t, c.score)
        return list(seen.values())

    def sram(self, gp: Graph, cfg: Callable[[], QuantConfig], bits: dict[int, int], wide: frozenset[int] | None
             ) -> int:
        """The peak SRAM of `gp` quantized with configuration `cfg()` (widths `bits`, 16x8 ops `wide`)."""
        return self.memo.get(("sram", self.key(gp), bits, wide, self.sram_budget),
                             lambda: peak_sram(quantize_graph(gp, cfg()), self.sram_budget))

    def order(self, gp: Graph, ops: list[int], base: QuantConfig, ref: np.ndarray, loss8: float,
              outs: list[np.ndarray]) -> tuple[list[int], range]:
        """The weighted ops in the order they turn int4, and the numbers of int4 ops to try: with "mixed" the
        least sensitive per byte saved first (every prefix; `outs`: the outputs with each op alone in int4), else
        int8 only or int4 everywhere."""
        if self.bits != "mixed":
            return list(ops), range(0, 1) if self.bits == "8" else range(len(ops), len(ops) + 1)
        sens = {k: _loss(o, ref) - loss8 for k, o in zip(ops, outs)}
        full8 = int_weight_bytes(gp, base.weight_bits)
        saved = {k: full8 - int_weight_bytes(gp, {**base.weight_bits, k: 4}) for k in ops}
        order = sorted(ops, key=lambda k: (max(sens[k], 0.0) / max(saved[k], 1), k))
        return order, range(len(order) + 1)

    def sampled(self, gp: Graph, ratio: float, ref: np.ndarray) -> list[Candidate]:
        """Per-layer weight widths of pruned graph `gp` sampled by Optuna's TPE (seeded), int8 and int4
        everywhere tried first; the flash budget is the sampler's constraint (the peak SRAM does not depend on
        weight widths). Each distinct assignment is one candidate."""
        import optuna
        _, trials, seed, batch = self.sampler
        ops = weighted_ops(gp, narrowable=True)
        sram = self.sram(gp, lambda: self.config(gp, {}), {}, None)
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(
            seed=seed, constraints_func=lambda t: [t.user_attrs["excess"]]))
        for b in (8, 4):
            study.enqueue_trial({f"op{k}": b for k in ops})
        seen: dict[tuple, Candidate] = {}
        while len(study.trials) < trials:
            asked = [study.ask() for _ in range(min(max(batch, 1), trials - len(study.trials)))]
            widths = [{k: t.suggest_categorical(f"op{k}", [8, 4]) for k in ops} for t in asked]
            self.tick(f"prune {ratio:.0%}: TPE trials", len(study.trials) - len(asked), trials)
            outs = self.outputs(gp, [({} if all(b == 8 for b in w.values()) else w, None) for w in widths])
            for t, w, res in zip(asked, widths, outs):
                wb = int_weight_bytes(gp, w)
                t.set_user_attr("excess", 0 if self.flash_budget is None else max(0, wb - self.flash_budget))
                n4 = sum(b == 4 for b in w.values())
                name = "int8" if n4 == 0 else "int4" if n4 == len(ops) else f"sampled ({n4} int4 layers)"
                c = Candidate(f"{name}{f', pruned {ratio:.0%}' if ratio else ''}", ratio, w, wb, sram,
                              _score(res, ref, self.y), _loss(res, ref),
                              self.flash_budget is None or wb <= self.flash_budget,
                              self.sram_budget is None or sram <= self.sram_budget)
                seen.setdefault(tuple(sorted(w.items())), c)
                study.tell(t, c.score)
        return list(seen.values())

    def candidates(self, gp: Graph, ratio: float, ref: np.ndarray) -> list[Candidate]:
        """Every width (and activation) configuration of pruned graph `gp`, scored against its float output."""
        if self.sampler[0] == "tpe" and self.bits == "mixed" and self.activations == "int8":
            return self.sampled(gp, ratio, ref)
        base = self.config(gp, {})
        ops = weighted_ops(gp, narrowable=True)
        sram = self.sram(gp, lambda: base, {}, None)
        # the int8 outputs and (mixed) each op's int4 sensitivity in one batch: the workers share them
        alone = [({k: 4}, None) for k in ops] if self.bits == "mixed" else []
        if alone:
            self.tick(f"prune {ratio:.0%}: int4 sensitivity", 0, len(ops))
        out8, *outs = self.outputs(gp, [({}, None)] + alone)
        order, prefixes = self.order(gp, ops, base, ref, _loss(out8, ref), outs)
        wides = _wide_sets(gp, self.activations)
        full_wide = frozenset(wide_capable(gp))
        # (prefix length, weight widths, 16x8 ops) of every candidate; 16x8 kernels take int8 weights only
        plan = [(n, {k: (4 if k in order[:n] else 8) for k in ops}, wide) for n in prefixes
                for wide in (wides if n == 0 else wides[:1])]
        self.tick(f"prune {ratio:.0%}: widths", 0, len(plan))
        jobs = [({} if n == 0 else wbits, wide) for n, wbits, wide in plan if n or wide]
        results = iter(self.outputs(gp, jobs))
        out: list[Candidate] = []
        for n, wbits, wide in plan:
            wb = int_weight_bytes(gp, wbits)
            name = "int8" if n == 0 else "int4" if n == len(order) else f"mixed ({n} int4 layers)"
            res = out8 if n == 0 and not wide else next(results)
            bits_n = {} if n == 0 else wbits
            sram_w = sram if not wide else self.sram(
                gp, lambda bits_n=bits_n, wide=wide: replace(base if not bits_n else self.config(gp, bits_n),
                                                            wide=set(wide)), bits_n, wide)
            act = "" if not wide else ", 16x8" if wide == full_wide else f", 16x8 in {len(wide)} ops"
            out.append(Candidate(f"{name}{act}{f', pruned {ratio:.0%}' if ratio else ''}", ratio, wbits, wb,
                                 sram_w, _score(res, ref, self.y), _loss(res, ref),
                                 self.flash_budget is None or wb <= self.flash_budget,
                                 self.sram_budget is None or sram_w <= self.sram_budget, wide))
        return out


def _prepare(search: _Search, g: Graph, prunings: list, calib_y: np.ndarray | None, epochs: int, pruned: dict
             ) -> list[Graph]:
    """`g` pruned each way (a ratio for every prunable convolution, or per layer: ((op, ratio), ...)), fine-tuned
    for `epochs` when labels `calib_y` allow: read back from the cache, the others trained together (by the
    workers); each recorded in `pruned`."""
    from .prune import prune
    from .qat import finetune_float
    gps = [prune(g, p if isinstance(p, float) else dict(p)) for p in prunings]
    tuned = [i for i, gp in enumerate(gps) if gp is not g]
    if tuned and calib_y is not None and epochs > 0:
        cy = np.asarray(calib_y).reshape(-1)
        first = prunings[tuned[0]]
        search.tick(f"prune {first:.0%}: fine-tuning" if isinstance(first, float) else
                    f"per-layer pruning: fine-tuning {len(tuned)}", 0, 1)
        done = search.batched([("finetune", search.key(g), prunings[i], epochs, cy) for i in tuned],
                              [("finetune", gps[i], cy, epochs) for i in tuned],
                              lambda i: finetune_float(gps[tuned[i]], search.calib, cy, epochs))
        for i, v in zip(tuned, done):
            gps[i] = v
    pruned.update(zip(prunings, gps))
    return gps


SEARCHES = ("grid", "tpe")
TPE_BATCH = 4  # trials asked at once (evaluated in parallel by the workers); fixed, so any --workers samples alike


def _check_choices(bits: str, activations: str, search: str, trials: int) -> None:
    if bits not in BITS:
        raise TinymlError(f"--bits '{bits}' is not one of {', '.join(BITS)}")
    if activations not in ACTIVATIONS:
        raise TinymlError(f"--activations '{activations}' is not one of {', '.join(ACTIVATIONS)}")
    if search not in SEARCHES:
        raise TinymlError(f"--search '{search}' is not one of {', '.join(SEARCHES)}")
    if search == "tpe":
        if trials < 2:
            raise TinymlError(f"--trials {trials}: the TPE search needs at least 2 trials")
        try:
            import optuna  # noqa: F401
        except ImportError:
            raise TinymlError("--search tpe needs Optuna: pip install 'tinyml[search]'") from None


def _budgets(flash_budget: int | None, sram_budget: int | None) -> str:
    return (f"{f' (flash {flash_budget:,} bytes for constants)' if flash_budget is not None else ''}"
            f"{f' (SRAM {sram_budget:,} bytes for activations)' if sram_budget is not None else ''}")


def _reachable(g: Graph, calib: np.ndarray, bits: str, flash_budget: int | None, sram_budget: int | None
               ) -> list[float]:
    """The prune ratios whose best footprint (before any training) fits the budgets: ratios that cannot fit are
    skipped, and a budget nothing meets fails now, not after minutes of fine-tuning."""
    floors = {r: _footprint_floor(g, calib, r, bits, sram_budget) for r in PRUNE_RATIOS}
    reachable = [r for r in PRUNE_RATIOS if (flash_budget is None or floors[r][0] <= flash_budget)
                 and (sram_budget is None or floors[r][1] <= sram_budget)]
    if not reachable:
        wb = min(f[0] for f in floors.values())
        sr = min(f[1] for f in floors.values())
        raise TinymlError(
            f"no configuration can fit the budgets{_budgets(flash_budget, sram_budget)}: with "
            f"{'int8' if bits == '8' else 'int4'} weights everywhere and up to {PRUNE_RATIOS[-1]:.0%} of the "
            f"channels of every prunable convolution pruned, the smallest footprint is {wb:,} bytes of weights and "
            f"{sr:,} bytes of peak SRAM (with in-place, overlapping buffers and patch-based inference). A smaller "
            "architecture (fewer channels, a smaller input resolution) or a larger board is needed"
            f"{'; int4 weights (--bits mixed or 4) would halve the weight bytes' if bits == '8' else ''}.")
    return reachable


def _pick(candidates: list[Candidate], pruned: dict, search: _Search, reachable: list[float],
          float_score: float) -> CompressResult:
    """The best-scoring candidate that fits the budgets and whose compiled C passes the self-check."""
    fitting = [c for c in candidates if c.fits]
    if not fitting:
        smallest = min(candidates, key=lambda c: c.weight_bytes)
        raise TinymlError(
            f"no configuration fits the budgets{_budgets(search.flash_budget, search.sram_budget)}: the smallest "
            f"footprint reached is {smallest.weight_bytes:,} bytes of weights ({smallest.name}) and "
            f"{min(c.peak_sram for c in candidates):,} bytes of peak SRAM (with in-place, overlapping buffers and "
            f"patch-based inference), after pruning up to {reachable[-1]:.0%} of the channels of every prunable "
            "convolution. A smaller architecture (fewer channels, a smaller input resolution) or a larger board is "
            "needed.")
    for chosen in sorted(fitting, key=lambda c: (c.score, -c.loss, -c.weight_bytes), reverse=True):
        gp = pruned[chosen.pruning]
        cfg = search.config(gp, chosen.bits)
        cfg.wide = set(chosen.wide)
        q = quantize_graph(gp, cfg)
        checked = verified_peak(q, search.sram_budget)
        if checked is None:
            continue  # no configuration of it both fits and passes the compiler's self-check
        chosen.peak_sram = checked
        return CompressResult(q, chosen, candidates, "accuracy" if search.y is not None else "-relative MSE",
                              float_score, {"flash": search.flash_budget, "sram": search.sram_budget})
    raise TinymlError("internal error, please report: no configuration that fits the budgets passed the "
                      "compiler's self-check (its generated C differed from the reference executor)")


def verified_peak(q: Graph, budget: int | None) -> int | None:
    """The peak SRAM of integer graph `q` as `tinyml compile` (with `budget`) writes it, after the compiler's
    self-check (which falls back to the next configuration when one fails); None if every configuration that
    fits failed the check. Without a host C compiler: the planned peak, unchecked."""
    import tempfile
    from pathlib import Path

    from ..compiler import CompileOptions, compile_model
    from ..errors import ToolchainError
    from ..frontends.tflite_writer import write_tflite
    from ..harness.host import find_cc
    from ..verify import VerificationError
    try:
        find_cc()
    except ToolchainError:
        return peak_sram(q, budget)
    with tempfile.TemporaryDirectory(prefix="tinyml-compress-") as d:
        (Path(d) / "m.tflite").write_bytes(write_tflite(q))
        try:
            rep = compile_model(Path(d) / "m.tflite", Path(d) / "c", CompileOptions(sram_budget=budget))
        except VerificationError:
            return None
        return int(rep["peak_sram_bytes"])


def pareto(candidates: list[Candidate]) -> list[Candidate]:
    """Candidates no other candidate beats in both weight bytes and score."""
    front = []
    for c in sorted(candidates, key=lambda c: (c.weight_bytes, -c.score)):
        if not front or c.score > front[-1].score:
            front.append(c)
    return front

