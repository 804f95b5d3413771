"""Hostile input: a validator that proves what the generated C relies on, atomic output directories, verified
compiled directories, concurrent runs, strict input shapes, odd command lines, and a fuzz sample (the full-size
fuzz run is benchmarks/fuzz.py; the 100-kill run is benchmarks/kill_compile.py)."""
from __future__ import annotations

import dataclasses
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from randnets import Block, Net, build

import tinyml
from tinyml.errors import TinymlError
from tinyml.frontends.tflite import parse_tflite
from tinyml.frontends.tflite_writer import write_tflite
from tinyml.ir import NO_TENSOR, ConvAttrs, OpKind, PoolAttrs, Quant
from tinyml.validate import InvalidModelError, validate

pytest.importorskip("torch", reason="PyTorch builds the small test model: pip install '.[torch]'")
hypothesis = pytest.importorskip("hypothesis", reason="the fuzz tests use hypothesis: pip install '.[test]'")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

NET = Net(7, "torch", 12, 12, 2, (Block("conv", out_c=6, k=3, stride=2, act="relu6"), Block("dw", k=3),
                                   Block("pw", out_c=8, act="relu"), Block("pool", pool="avg", k=3, stride=1)),
          "gap_fc", 4, "int8")


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("hardening") / "small.tflite"
    p.write_bytes(build(NET))
    return p


@pytest.fixture(scope="module")
def graph(model):
    return parse_tflite(model.read_bytes(), "small.tflite")


def cli(*args, cwd=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "tinyml", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout)


def assert_user_error(r, *needles):
    assert r.returncode != 0, r.stdout
    assert "Traceback" not in r.stderr + r.stdout, r.stderr
    assert "internal error" not in r.stderr, r.stderr
    msg = r.stderr.strip()
    assert msg.startswith("tinyml ") and "error:" in msg and len(msg.splitlines()) == 1, msg
    for n in needles:
        assert n.lower() in msg.lower(), msg


def x_for(report: dict, seed: int = 0) -> list[np.ndarray]:
    rs = np.random.RandomState(seed)
    return [rs.randint(-128, 128, size=s["shape"]).astype(np.int8) for s in report["inputs"]]


# ---------------------------------------------------------------------------------------------- the validator
def _op_index(g, kind):
    return next(k for k, op in enumerate(g.ops) if op.kind is kind)


def _with_op(g, k, **changes):
    ops = list(g.ops)
    ops[k] = dataclasses.replace(ops[k], **changes)
    return dataclasses.replace(g, ops=tuple(ops))


def _with_tensor(g, i, **changes):
    ts = list(g.tensors)
    ts[i] = dataclasses.replace(ts[i], **changes)
    return dataclasses.replace(g, tensors=tuple(ts))


def _bad_graphs(g):  # (name, graph, words the one-line reason must contain)
    fc = _op_index(g, OpKind.FULLY_CONNECTED)
    conv = _op_index(g, OpKind.CONV_2D)
    pool = _op_index(g, OpKind.AVERAGE_POOL_2D)
    fc_out = g.ops[fc].outputs[0]
    conv_in = g.ops[conv].inputs[0]
    conv_out = g.ops[conv].outputs[0]
    w = g.ops[conv].inputs[1]
    q = g.tensor(conv_out).quant
    wq = g.tensor(w).quant
    last = g.ops[-1].outputs[0]
    yield "fc output vs weights", _with_tensor(g, fc_out, shape=(1, g.tensor(fc_out).shape[-1] + 3)), \
        ["FULLY_CONNECTED", "weights"]
    yield "0 input channels", _with_tensor(g, conv_in, shape=g.tensor(conv_in).shape[:3] + (0,)), \
        ["tensor", "shape", "between 1"]
    yield "stride 0", _with_op(g, conv, attrs=dataclasses.replace(g.ops[conv].attrs, stride_h=0)), \
        ["CONV_2D", "stride"]
    yield "dilation -1", _with_op(g, conv, attrs=dataclasses.replace(g.ops[conv].attrs, dilation_w=-1)), \
        ["CONV_2D", "dilation"]
    yield "pool filter 0", _with_op(g, pool, attrs=dataclasses.replace(g.ops[pool].attrs, filter_w=0)), \
        ["AVERAGE_POOL_2D", "filter"]
    yield "pool stride 0", _with_op(g, pool, attrs=dataclasses.replace(g.ops[pool].attrs, stride_h=0)), \
        ["AVERAGE_POOL_2D", "stride"]
    yield "self loop", _with_op(g, conv, inputs=(conv_out,) + g.ops[conv].inputs[1:]), ["operator", "cycle"]
    yield "cycle", _with_op(g, conv, inputs=(last,) + g.ops[conv].inputs[1:]), ["operator", "before"]
    yield "two writers", _with_op(g, fc, outputs=(conv_out,)), ["written by operator"]
    yield "writes a weight", _with_op(g, fc, outputs=(w,)), ["constant"]
    yield "input index", _with_op(g, conv, inputs=(len(g.tensors) + 4,) + g.ops[conv].inputs[1:]), \
        ["does not exist"]
    yield "output index", dataclasses.replace(g, outputs=(len(g.tensors) + 9,)), ["model output", "does not exist"]
    yield "input index -1", dataclasses.replace(g, inputs=(NO_TENSOR,)), ["model input", "does not exist"]
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        yield f"scale {bad}", _with_tensor(g, conv_out, quant=Quant((bad,), q.zero_point, q.axis)), \
            ["scale", "finite and positive"]
    yield "zero point 2^40", _with_tensor(g, conv_out, quant=Quant(q.scale, (1 << 40,), q.axis)), \
        ["zero point", "outside"]
    yield "zero point 128", _with_tensor(g, conv_out, quant=Quant(q.scale, (128,), q.axis)), ["zero point"]
    yield "quantized_dimension", _with_tensor(g, w, quant=dataclasses.replace(wq, axis=7)), ["quantized_dimension"]
    yield "per-channel length", _with_tensor(g, w, quant=Quant(wq.scale + wq.scale[:1], wq.zero_point + (0,),
                                                               wq.axis)), ["per-channel"]
    yield "no operators", dataclasses.replace(g, ops=()), ["no operators"]
    yield "no outputs", dataclasses.replace(g, outputs=()), ["outputs"]
    yield "huge batch", _with_tensor(g, g.inputs[0], shape=(1 << 20,) + g.tensor(g.inputs[0]).shape[1:]), \
        ["bytes", "--max-arena"]
    yield "[1, 2^31-1] input", _with_tensor(g, g.inputs[0], shape=(1, (1 << 31) - 1)), ["between 1"]
    mean = _op_index(g, OpKind.MEAN)
    yield "mean of another tensor", _with_op(g, mean, inputs=(g.inputs[0],) + g.ops[mean].inputs[1:]), \
        ["MEAN", "reducing axes"]
    yield "conv output height", _with_tensor(g, conv_out, shape=(1, 9) + g.tensor(conv_out).shape[2:]), \
        ["CONV_2D", "output height"]


def test_validator_names_operator_tensor_and_field(graph):
    validate(graph)  # the model itself is valid
    names = []
    for name, g, words in _bad_graphs(graph):
        with pytest.raises(InvalidModelError) as e:
            validate(g)
        msg = str(e.value)
        assert "\n" not in msg and "small.tflite" in msg, (name, msg)
        for w in words:
            assert w.lower() in msg.lower(), (name, msg)
        names.append(name)
    assert len(names) == 27


def test_every_bad_graph_fails_cleanly_through_the_cli(graph, tmp_path):
    """Written back as .tflite files (where the writer can express them), the corrupt graphs are refused by
    inspect and compile with one paragraph and nothing written."""
    done = 0
    for name, g, _ in _bad_graphs(graph):
        try:
            data = write_tflite(g)
        except Exception:
            continue
        p = tmp_path / "bad.tflite"
        p.write_bytes(data)
        r = cli("compile", p, "-o", tmp_path / "out")
        assert_user_error(r)
        assert "not a valid model" in r.stderr or "the file is corrupt" in r.stderr, (name, r.stderr)
        assert not (tmp_path / "out").exists(), name
        assert sorted(x.name for x in tmp_path.iterdir()) == ["bad.tflite"], name
        done += 1
    assert done >= 20


def test_max_arena(model, tmp_path):
    r = cli("compile", model, "-o", tmp_path / "o", "--max-arena", "400")
    assert_user_error(r, "arena", "--max-arena")  # the arena (520 bytes) exceeds it
    assert not (tmp_path / "o").exists()
    assert_user_error(cli("compile", model, "-o", tmp_path / "o", "--max-arena", "200"), "tensor", "--max-arena")
    assert_user_error(cli("compile", model, "-o", tmp_path / "o", "--max-arena", "0"), "--max-arena")
    assert cli("compile", model, "-o", tmp_path / "o", "--max-arena", "100000").returncode == 0


def test_multiplier_out_of_range_is_refused(graph, tmp_path):
    """An output scale so small that the requantization multiplier leaves int32 (TFLM cannot express it either)."""
    conv = _op_index(graph, OpKind.CONV_2D)
    o = graph.ops[conv].outputs[0]
    q = graph.tensor(o).quant
    p = tmp_path / "m.tflite"
    p.write_bytes(write_tflite(_with_tensor(graph, o, quant=Quant((1e-30,), q.zero_point, q.axis))))
    assert_user_error(cli("compile", p, "-o", tmp_path / "out"), "multiplier")
    assert not (tmp_path / "out").exists()


# -------------------------------------------------------------------------------------------------- fuzzing
def test_fuzz_sample(model):
    """A small fixed sample of the mutants benchmarks/fuzz.py runs by the thousand: each through inspect, compile
    and run in a process of its own; none may end in a traceback, a signal, a hang or an internal error."""
    import fuzzing
    rng = random.Random(2026)
    base = model.read_bytes()
    seen: dict[str, int] = {}
    for _ in range(24):
        kind, m = fuzzing.mutate(base, rng)
        cls, detail = fuzzing.exercise(m, timeout=120)
        assert cls in ("ok", "clean"), f"{kind} mutant: {cls}: {detail}"
        seen[cls] = seen.get(cls, 0) + 1
    assert seen.get("clean", 0) >= 5, seen


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(flips=st.lists(st.tuples(st.integers(0, 1 << 30), st.integers(0, 255)), min_size=1, max_size=6),
       cut=st.one_of(st.none(), st.integers(0, 1 << 30)))
def test_hypothesis_bytes_inspect(model_bytes, flips, cut):
    """Random byte flips and truncations of the .tflite bytes: inspect succeeds or raises a TinymlError."""
    b = bytearray(model_bytes)
    for off, v in flips:
        b[off % len(b)] = v
    if cut is not None:
        b = b[:cut % len(b)]
    _inspect_or_clean(bytes(b))


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(data=st.data())
def test_hypothesis_fields_inspect(model_graph, data):
    """Random values in the flatbuffer's fields (shapes, strides, filter sizes, scales, zero points, quantized
    dimensions, tensor indices), written back as .tflite: inspect succeeds or raises a TinymlError."""
    _inspect_or_clean(write_tflite(_field_mutant(model_graph, data)))


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(data=st.data())
def test_hypothesis_fields_compile(model_graph, data, tmp_path_factory):
    """The same, through compile (which builds and checks the generated C in a child process): a model is either
    compiled and self-checked or refused with a TinymlError that is not an internal error."""
    d = tmp_path_factory.mktemp("hyp")
    p = d / "m.tflite"
    p.write_bytes(write_tflite(_field_mutant(model_graph, data)))
    try:
        tinyml.compile(p, d / "out")
    except TinymlError as e:
        assert "internal error" not in str(e), str(e)


@pytest.fixture(scope="module")
def model_bytes(model):
    return model.read_bytes()


@pytest.fixture(scope="module")
def model_graph(graph):
    return graph


def _inspect_or_clean(data: bytes) -> None:
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "m.tflite"
        p.write_bytes(data)
        try:
            tinyml.inspect(p)
        except TinymlError as e:
            assert "internal error" not in str(e), str(e)


def _field_mutant(g, data):
    small = st.one_of(st.integers(-3, 4), st.sampled_from([1 << 16, (1 << 31) - 1, -(1 << 31)]))
    what = data.draw(st.sampled_from(["shape", "attr", "scale", "zero_point", "axis", "index"]))
    if what == "attr":
        k = data.draw(st.integers(0, len(g.ops) - 1))
        a = g.ops[k].attrs
        if isinstance(a, (ConvAttrs, PoolAttrs)):
            names = [f.name for f in dataclasses.fields(a) if f.type in ("int", int)]
            a = dataclasses.replace(a, **{data.draw(st.sampled_from(names)): data.draw(small)})
            return _with_op(g, k, attrs=a)
        what = "index"
    if what == "index":
        k = data.draw(st.integers(0, len(g.ops) - 1))
        ins = list(g.ops[k].inputs)
        ins[data.draw(st.integers(0, len(ins) - 1))] = data.draw(st.integers(-1, len(g.tensors) + 2))
        return _with_op(g, k, inputs=tuple(ins))
    i = data.draw(st.integers(0, len(g.tensors) - 1))
    t = g.tensor(i)
    if what == "shape" and t.shape and not t.is_const:
        shape = list(t.shape)
        shape[data.draw(st.integers(0, len(shape) - 1))] = data.draw(small)
        return _with_tensor(g, i, shape=tuple(shape))
    if t.quant is None:
        return g
    q = t.quant
    if what == "scale":
        v = data.draw(st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=32),
                                st.sampled_from([0.0, -0.5, 1e-30, 1e30])))
        return _with_tensor(g, i, quant=Quant(tuple(v for _ in q.scale), q.zero_point, q.axis))
    if what == "zero_point":
        v = data.draw(st.integers(-(1 << 40), 1 << 40))
        return _with_tensor(g, i, quant=Quant(q.scale, tuple(v for _ in q.zero_point), q.axis))
    return _with_tensor(g, i, quant=dataclasses.replace(q, axis=data.draw(small)))


# -------------------------------------------------------------------------------------- output directories
def _compile(model, out, *extra):
    r = cli("compile", model, "-o", out, *extra)
    assert r.returncode == 0, r.stderr
    return json.loads((out / "report.json").read_text())


@pytest.fixture()
def compiled(model, tmp_path):
    out = tmp_path / "out"
    return out, _compile(model, out)


def _run(out, tmp_path, x, *extra):
    np.save(tmp_path / "x.npy", x)
    return cli("run", out, "--input", tmp_path / "x.npy", "--output", tmp_path / "y.npz", *extra)


def test_run_refuses_tampered_and_stale_outdirs(compiled, tmp_path, model):
    out, rep = compiled
    x = x_for(rep)[0]
    assert _run(out, tmp_path, x).returncode == 0
    good = dict(np.load(tmp_path / "y.npz"))
    c = out / f"{rep['prefix']}.c"
    text = c.read_text()
    c.write_text(text.replace("{", "{ ", 1))  # tampered
    assert_user_error(_run(out, tmp_path, x), "changed since tinyml compile wrote it")
    c.unlink()  # missing
    assert_user_error(_run(out, tmp_path, x), "missing")
    c.write_text(text)
    report = (out / "report.json").read_text()
    (out / "report.json").write_text(report[:len(report) // 2])  # truncated
    assert_user_error(_run(out, tmp_path, x), "corrupt")
    (out / "report.json").write_text("[1, 2]")
    assert_user_error(_run(out, tmp_path, x), "not a report")
    other = json.loads(report)  # another model's report: the hashes disagree with the files
    other["files"] = {k: "0" * 64 for k in other["files"]}
    (out / "report.json").write_text(json.dumps(other))
    assert_user_error(_run(out, tmp_path, x), "differs")
    del other["files"]  # written by an older tinyml
    (out / "report.json").write_text(json.dumps(other))
    assert_user_error(_run(out, tmp_path, x), "older tinyml")
    (out / "report.json").write_text(report)
    assert _run(out, tmp_path, x).returncode == 0
    assert all(np.array_equal(good[k], v) for k, v in np.load(tmp_path / "y.npz").items())


def test_truncated_cached_library_is_rebuilt(compiled, tmp_path):
    out, rep = compiled
    x = x_for(rep)[0]
    assert _run(out, tmp_path, x).returncode == 0
    good = dict(np.load(tmp_path / "y.npz"))
    libs = list((out / "build" / "host").glob("lib*.so"))
    assert len(libs) == 1
    libs[0].write_bytes(libs[0].read_bytes()[:4096])
    r = _run(out, tmp_path, x)
    assert r.returncode == 0, r.stderr
    assert all(np.array_equal(good[k], v) for k, v in np.load(tmp_path / "y.npz").items())


def test_input_shape_must_match(compiled, tmp_path):
    out, rep = compiled
    x = x_for(rep)[0]
    assert list(x.shape) == [1, 12, 12, 2]
    for wrong in (x.reshape(1, 12, 2, 12), x.reshape(-1)):
        assert_user_error(_run(out, tmp_path, wrong), "must have shape", "--reshape")
        r = _run(out, tmp_path, wrong, "--reshape")
        assert r.returncode == 0, r.stderr
    assert_user_error(_run(out, tmp_path, x.astype(np.int16)), "must be int8")
    assert_user_error(_run(out, tmp_path, x[..., :1], "--reshape"), "must have shape")
    with pytest.raises(TinymlError):
        tinyml.run(out, [x.reshape(1, 12, 2, 12)])
    assert np.array_equal(tinyml.run(out, [x.reshape(-1)], reshape=True)[0], tinyml.run(out, [x])[0])


def test_half_written_outdir_and_stale_temp_dirs_are_replaced(model, tmp_path):
    out = tmp_path / "out"
    _compile(model, out)
    (out / "report.json").unlink()  # left half-deleted by a killed compile of an older version
    (out / "model.h").unlink()
    dead = 2 ** 22 + 12345  # no such process
    while True:
        try:
            os.kill(dead, 0)
            dead += 1
        except ProcessLookupError:
            break
        except OSError:
            dead += 1
    for name in (f".out.tmp-{dead}-abc", f".out.old-{dead}-xyz", ".out.tmp-zz9"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "model.c").write_text("/* stale */")
    live = tmp_path / f".out.tmp-{os.getpid()}-live"  # a running compile's: kept
    live.mkdir()
    _compile(model, out)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["out", live.name, "small.tflite"]
                                                                if (tmp_path / "small.tflite").exists()
                                                                else ["out", live.name])
    assert (out / "report.json").is_file() and (out / "model.h").is_file()
    (out / "notes.txt").write_text("mine")  # a directory with a file tinyml never writes is not replaced
    r = cli("compile", model, "-o", out)
    assert_user_error(r, "was not written by tinyml")
    assert (out / "notes.txt").read_text() == "mine"


def test_sigkill_during_compile(model, tmp_path):
    """A few of the SIGKILLs benchmarks/kill_compile.py sends by the hundred."""
    import fuzzing
    other = tmp_path / "other.tflite"
    other.write_bytes(build(dataclasses.replace(NET, seed=8, classes=3)))
    a = tmp_path / "a.tflite"
    a.write_bytes(model.read_bytes())
    seen = fuzzing.kill_during_compile(a, other, tmp_path / "out", [0.3, 1.2, 2.0, 2.6, 3.2, 6.0])
    assert "old" in seen  # (the late kills usually land after the rename: "new")


def test_concurrent_runs_on_a_fresh_outdir(compiled, tmp_path):
    """10 `tinyml run`s started together on an OUTDIR no run has built its host library for yet."""
    out, rep = compiled
    x = x_for(rep, 3)[0]
    np.save(tmp_path / "x.npy", x)
    env = dict(os.environ, TINYML_CACHE_DIR=str(tmp_path / "cache"))  # cold object cache too
    procs = [subprocess.Popen([sys.executable, "-m", "tinyml", "run", str(out), "--input", str(tmp_path / "x.npy"),
                               "--output", str(tmp_path / f"y{k}.npz")], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env) for k in range(10)]
    results = [(p.wait(timeout=600), p.stderr.read()) for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    assert all(rc == 0 for rc, _ in results), [e for rc, e in results if rc]
    ys = [np.load(tmp_path / f"y{k}.npz")["output_0"] for k in range(10)]
    assert all(np.array_equal(ys[0], y) for y in ys)
    assert np.array_equal(ys[0], tinyml.run(out, [x], reference=True)[0])
    assert len(list((out / "build" / "host").glob("lib*.so"))) == 1
    assert not [p for p in (out / "build" / "host").iterdir() if p.name.startswith(".") or "tmp" in p.name]


# ------------------------------------------------------------------------------------------- command lines
def test_bad_command_lines(model, compiled, tmp_path):
    out, rep = compiled
    np.save(tmp_path / "x.npy", x_for(rep)[0])
    (tmp_path / "adir").mkdir()
    assert_user_error(cli("run", out, "--input", tmp_path / "x.npy", "--output", tmp_path / "adir"),
                      "is a directory")
    nomem = tmp_path / "nomem.toml"
    nomem.write_text('name = "x"\ncore = "cortex-m4"\n')
    assert_user_error(cli("compile", model, "-o", tmp_path / "o1", "--board", nomem), "memory")
    latin = tmp_path / "latin.toml"
    latin.write_bytes('name = "caf\u00e9"\n'.encode("latin-1"))
    assert_user_error(cli("compile", model, "-o", tmp_path / "o2", "--board", latin), "UTF-8")
    neg = tmp_path / "neg.toml"
    neg.write_text('name = "n"\ncore = "cortex-m4"\n[memory.sram]\nbase = 0\nsize = -5\n[memory.flash]\n'
                   'base = 0\nsize = 1000\n')
    assert_user_error(cli("compile", model, "-o", tmp_path / "o3", "--board", neg))
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert_user_error(cli("compile", model, "-o", afile / "sub" / "out"), "is a file")
    assert_user_error(cli("compile", model, "-o", tmp_path / "o4", "--prefix", "p" * 5000), "--prefix")
    assert_user_error(cli("compile", model, "-o", tmp_path / "o5", "--prefix", "caf\u00e9"), "--prefix")
    for t in ("nan", "inf", "-1", "0"):
        assert_user_error(cli("emulate", out, "--board", "mps2-an386", "--input", tmp_path / "x.npy",
                              "--output", tmp_path / "e.npz", "--timeout", t), "--timeout")
    assert not any((tmp_path / f"o{k}").exists() for k in range(1, 6))


def test_internal_errors_are_reported_not_traced(model, tmp_path):
    """An exception tinyml does not expect is reported as an internal error (exit 70) naming the model, never as
    a bare traceback; TINYML_TRACEBACK=1 shows the traceback."""
    code = ("import sys, tinyml.api as a\n"
            "def boom(*x, **k): raise KeyError('planted')\n"
            "a.inspect = boom\n"
            "from tinyml.cli import main\n"
            f"sys.exit(main(['inspect', {str(model)!r}]))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 70
    assert "Traceback" not in r.stderr and "internal error, please report" in r.stderr
    assert "small.tflite" in r.stderr and "KeyError" in r.stderr
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env=dict(os.environ, TINYML_TRACEBACK="1"))
    assert r.returncode == 70 and "Traceback" in r.stderr


def test_fully_connected_with_a_scalar_output_is_refused(tmp_path):
    """A corrupt file whose FULLY_CONNECTED output has no dimensions (found by the byte-flip fuzz test): one
    readable refusal, not an IndexError."""
    from tinyml.frontends.tflite import parse_tflite
    from tinyml.frontends.tflite_writer import write_tflite
    from tinyml.ir import Activation, DType, FullyConnectedAttrs, Graph, Op, OpKind, Quant, Tensor
    q = Quant((0.01,), (0,))
    g = Graph("fc", (Tensor("x", (1, 8), DType.INT8, q), Tensor("w", (4, 8), DType.INT8, q, np.ones((4, 8), np.int8)),
                     Tensor("y", (), DType.INT8, q)),
              (Op(OpKind.FULLY_CONNECTED, (0, 1), (2,), FullyConnectedAttrs(Activation.NONE, False)),), (0,), (2,))
    with pytest.raises(TinymlError, match="do not match input"):
        parse_tflite(write_tflite(g), "fc.tflite")
