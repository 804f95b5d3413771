"""Compile time of `tinyml compile` (default options, self-check included) on large models: two detector-sized
models made here with TensorFlow's converter, shaped like the published ones that were slow to compile (a
YOLO-style detector of 84 convolutions and ~110 M MACs; a ShuffleNet-style network with 95 TRANSPOSEs and ~45 M
MACs), and the shared models. A benchmark, not a timed test.

    python benchmarks/compile_time.py [--only NAME] [--profile NAME] [--cache new-model|cold|warm]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "models"
sys.path.insert(0, str(ROOT / "tests" / "support"))


def _convert(model, shape) -> bytes:
    from opplan import convert_keras  # the tests' converter call: full int8, calibrated on random inputs
    return convert_keras(model, [shape])


def yolo_like():
    """A YOLO-style detector: a strided backbone of 3x3 and 1x1 convolutions with residual ADDs, an upsampled
    second scale joined by CONCATENATION, two heads: 84 CONV_2D."""
    import tensorflow as tf
    keras = tf.keras
    keras.utils.set_random_seed(0)
    shape = (160, 160, 3)
    x = keras.Input(shape, batch_size=1)
    layers = keras.layers

    def cbr(t, c, k=3, s=1):
        return layers.Conv2D(c, k, s, padding="same", activation="relu")(t)
    t = cbr(x, 16, 3, 2)
    feats = []
    for c, blocks in ((32, 4), (48, 8), (64, 10), (96, 10)):
        t = cbr(t, c, 3, 2)
        for _ in range(blocks):
            r = cbr(cbr(t, c // 2, 1), c, 3)
            t = layers.Add()([t, r])
        feats.append(t)
    p5 = cbr(feats[-1], 64, 1)
    up = layers.UpSampling2D(interpolation="bilinear")(p5)
    p4 = layers.Concatenate()([up, feats[-2]])
    for _ in range(3):
        p4 = cbr(cbr(p4, 48, 1), 64, 3)
    h1 = layers.Conv2D(18, 1)(p4)
    for _ in range(3):
        p5 = cbr(cbr(p5, 48, 1), 96, 3)
    h2 = layers.Conv2D(18, 1)(p5)
    return _convert(keras.Model(x, [h1, h2]), shape)


def shuffle_like():
    """A ShuffleNet-style network: every block splits channels, convolves one half and shuffles them with
    RESHAPE -> TRANSPOSE -> RESHAPE: 95 TRANSPOSEs."""
    import tensorflow as tf
    keras = tf.keras
    keras.utils.set_random_seed(0)
    shape = (64, 64, 3)
    layers = keras.layers
    x = keras.Input(shape, batch_size=1)
    t = layers.Conv2D(32, 3, 2, padding="same", activation="relu")(x)
    n = 0
    for stage, (c, blocks) in enumerate(((32, 31), (64, 32), (128, 32))):
        if stage:
            t = layers.Conv2D(c, 3, 2, padding="same", activation="relu")(t)
        for _ in range(blocks):
            a, b = layers.Lambda(lambda v: tf.split(v, 2, axis=-1))(t)
            b = layers.Conv2D(c // 2, 1, activation="relu")(b)
            b = layers.DepthwiseConv2D(3, padding="same")(b)
            b = layers.Conv2D(c // 2, 1, activation="relu")(b)
            t = layers.Concatenate()([a, b])
            h, w = t.shape[1], t.shape[2]
            t = layers.Reshape((h, w, 2, c // 2))(t)
            t = layers.Permute((1, 2, 4, 3))(t)
            t = layers.Reshape((h, w, c))(t)
            n += 1
    t = layers.GlobalAveragePooling2D()(t)
    return _convert(keras.Model(x, layers.Dense(10)(t)), shape)


MADE = {"yolo_like": yolo_like, "shuffle_like": shuffle_like}


_TIMED = """
import json, sys, time
from tinyml.compiler import CompileOptions, compile_model
t = time.perf_counter()
rep = compile_model(sys.argv[1], sys.argv[2], CompileOptions())
print(json.dumps({"seconds": time.perf_counter() - t, "macs": rep["macs"]}))
"""


def _cache(root: Path, templates: Path | None) -> dict[str, str]:
    """An environment whose tinyml cache is empty (a new directory under `root`) but for the parsed templates
    of `templates` (None: none either), and that lets Python keep its bytecode as an installed package does."""
    d = Path(tempfile.mkdtemp(dir=root, prefix="cache-"))
    if templates is not None:
        (d / "jinja").symlink_to(templates)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "TINYML_CACHE_DIR": str(d)}


def _time(path: Path, out: Path, env: dict[str, str], cli_env: dict[str, str]) -> tuple[float, float, dict]:
    """compile_model's time in a fresh process (imports excluded; TensorFlow, which made the test models, not
    loaded: its millions of objects would slow Python's garbage collector down), and the wall time of the
    `tinyml compile` command on the same model (imports included), each with the cache of its environment."""
    r = subprocess.run([sys.executable, "-c", _TIMED, str(path), str(out)], capture_output=True, text=True,
                       check=True, env=env)
    doc = json.loads(r.stdout.strip().splitlines()[-1])
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "tinyml", "compile", str(path), "-o", str(out) + "_cli"],
                   capture_output=True, check=True, env=cli_env)
    return doc["seconds"], time.perf_counter() - t, doc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", help="one model (a made one's name or a shared file)")
    ap.add_argument("--profile", help="print the cProfile of this model's compile (in this process)")
    ap.add_argument("--cache", choices=("new-model", "cold", "warm"), default="new-model",
                    help="new-model (default): no compiled kernel objects, the templates parsed once before, as "
                    "for the first compile of a model; cold: nothing cached, as on a fresh install; warm: "
                    "tinyml's own cache as it is")
    args = ap.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with tempfile.TemporaryDirectory() as d:
        models: list[tuple[str, Path]] = []
        for name, make in MADE.items():
            if args.only in (None, name) or args.profile == name:
                p = Path(d) / f"{name}.tflite"
                p.write_bytes(make())
                models.append((name, p))
        for p in sorted(SHARED.glob("*.tflite")) + sorted((SHARED / "real").glob("*.tflite")):
            if args.only in (None, p.name) or args.profile == p.name:
                models.append((p.name, p))
        templates = None
        if args.cache == "new-model":  # parse the templates (and write Python's bytecode) once, on a small model
            prime = _cache(Path(d), None)
            subprocess.run([sys.executable, "-m", "tinyml", "compile", str(SHARED / "hello_world_int8.tflite"), "-o",
                            str(Path(d) / "primed")], capture_output=True, check=True, env=prime)
            templates = Path(prime["TINYML_CACHE_DIR"]) / "jinja"
        print(f"cache: {args.cache}")
        print(f"{'model':34} {'ops':>5} {'convs':>5} {'MACs':>13} {'compile s':>10} {'tinyml compile s':>17}")
        for name, p in models:
            from tinyml.compiler import load
            g = load(p)
            convs = sum(op.kind.value in ("CONV_2D", "DEPTHWISE_CONV_2D") for op in g.ops)
            envs = [dict(os.environ)] * 2 if args.cache == "warm" else [_cache(Path(d), templates) for _ in "ab"]
            if args.profile == name:
                import cProfile
                import pstats

                from tinyml.compiler import CompileOptions, compile_model
                prof = cProfile.Profile()
                prof.enable()
                compile_model(p, Path(d) / f"profiled_{name}", CompileOptions())
                prof.disable()
                pstats.Stats(prof, stream=sys.stdout).sort_stats("cumulative").print_stats(30)
            secs, wall, rep = _time(p, Path(d) / f"out_{name}", *envs)
            print(f"{name:34} {len(g.ops):5} {convs:5} {rep['macs']:13,} {secs:10.1f} {wall:17.1f}", flush=True)


if __name__ == "__main__":
    main()
