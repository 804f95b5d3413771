"""The operators with state kept between invokes, SVDF and UNIDIRECTIONAL_SEQUENCE_LSTM: TensorFlow's converter
makes neither in int8 here (it crashes quantizing an LSTM it keeps whole and has no SVDF path), so the tests write
them with tinyml's .tflite writer (the states as variable tensors, as TFLM requires) and run whole sequences of
invokes, with a reset in the middle, against the `tflite-micro` interpreter: the NumPy reference, the generated C
on the host (also under ASan/UBSan and -Werror with gcc and clang) and on QEMU."""
from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
from conftest import needs_tflm
from oracle import tflm_sequence

from tinyml.compiler import CompileOptions, compile_model, read_report
from tinyml.errors import TinymlError
from tinyml.frontends.tflite import parse_tflite
from tinyml.frontends.tflite_writer import write_tflite
from tinyml.harness.host import HostModel, build_driver, run_driver
from tinyml.interpreter import initial_states, run_reference
from tinyml.ir import (
    Activation,
    DType,
    FullyConnectedAttrs,
    GraphBuilder,
    LstmAttrs,
    OpKind,
    Quant,
    SoftmaxAttrs,
    SvdfAttrs,
)
from tinyml.lower import lower
from tinyml.resources import runtime_dir

pytestmark = [needs_tflm()]
f32 = np.float32


def _q(scale: float, zp: int = 0) -> Quant:
    return Quant((float(f32(scale)),), (zp,))


def _svdf(gb: GraphBuilder, rs: np.random.RandomState, x: int, x_scale: float, x_zp: int, filters: int, rank: int,
          memory: int, wide: bool, state_zp: int, out_scale: float | None, out_zp: int, name: str) -> int:
    """An SVDF layer on `x` ([batch, input]) with random weights; the state scale keeps the feature matmul's
    requantized values inside the state type most of the time, and the output scale (None: estimated from the
    sizes) most outputs inside int8."""
    batch, size = gb.tensors[x].shape
    sdt = DType.INT16 if wide else DType.INT8
    wf_scale = 0.01
    typical = 127 * 74 * np.sqrt(size)  # |sum of `size` products of int8 values|
    state_scale = float(f32(x_scale * wf_scale * typical / (8000 if wide else 60)))
    wt_scale = 1e-4 if wide else 0.02
    wf = gb.tensor(f"{name}/wf", (filters, size), DType.INT8, _q(wf_scale), rs.randint(-127, 128, (filters, size)))
    wt_data = rs.randint(-12000, 12000, (filters, memory)) if wide else rs.randint(-127, 128, (filters, memory))
    wt = gb.tensor(f"{name}/wt", (filters, memory), sdt, _q(wt_scale), wt_data)
    bias_scale = float(f32(f32(state_scale) * f32(wt_scale)))
    if out_scale is None:  # a typical time-matmul sum, 2.5 of them across the int8 range
        wt_std = (12000 if wide else 127) / np.sqrt(3)
        out_scale = float(np.sqrt(memory * rank) * wt_std * (8000 if wide else 60) * bias_scale * 2.5 / 127)
    b = gb.tensor(f"{name}/bias", (filters // rank,), DType.INT32, Quant((bias_scale,), (0,)),
                  rs.randint(-20000, 20000, filters // rank))
    y = gb.tensor(f"{name}/out", (batch, filters // rank), DType.INT8, _q(out_scale, out_zp))
    gb.op(OpKind.SVDF, (x, wf, wt, b), (y,), SvdfAttrs(rank, Activation.NONE, sdt, state_scale, state_zp,
                                                      f"{name}/state"), name=name)
    return y


def _calibrated(build, xs_seq) -> bytes:
    """build(out_scale) -> Graph; the output scale grows until few outputs saturate on the sequence (random
    weights give accumulators of any size), so that the comparison sees real values, not only -128/127."""
    scale = 0.02
    for _ in range(12):
        g = build(scale)
        kernels = lower(g)
        states = initial_states(kernels)
        ys = np.concatenate([run_reference(g, xs, kernels, states=states)[0].reshape(-1) for xs in xs_seq])
        if np.mean((ys == -128) | (ys == 127)) < 0.1:
            break
        scale *= 3
    return write_tflite(g)


def _sequence(rs: np.random.RandomState, shape: tuple[int, ...], n: int) -> list[list[np.ndarray]]:
    return [[rs.randint(-128, 128, shape).astype(np.int8)] for _ in range(n)]


CONFIGS = {  # name: (batch, input, filters, rank, memory, int16 state, state zero point, input zp, output zp)
    "int16_rank1": (1, 10, 8, 1, 6, True, 0, 3, -5),
    "int16_rank2_batch2": (2, 7, 12, 2, 4, True, 0, -20, 9),
    "int16_state_zp": (1, 5, 6, 3, 3, True, 11, 0, 0),
    "int8_state": (1, 9, 8, 1, 5, False, 0, 5, -2),
    "int8_state_zp_batch3": (3, 6, 8, 2, 7, False, -7, 1, 4),
    "memory1": (1, 4, 4, 1, 1, True, 0, 0, 1),
}


def _check_sequences(buf: bytes, seqs: list, reset_at: int, tmp_path, state_bytes: int,
                     options: CompileOptions | None = None) -> dict:
    """Compile `buf` once (its self-check runs sequences against the reference), then for each sequence (a seed)
    from a reset: the reference and the generated C (its state kept by the library between runs, `model_reset`
    as TFLM's Reset, also once more at `reset_at`) equal TFLM at every step."""
    path = tmp_path / "m.tflite"
    path.write_bytes(buf)
    out = tmp_path / f"out_{(options or CompileOptions()).kernels}"
    rep = compile_model(path, out, options or CompileOptions())
    assert rep["state_bytes"] == state_bytes
    assert rep["peak_sram_bytes"] == rep["arena_bytes"] + rep["state_bytes"]
    g = parse_tflite(buf)
    host = HostModel(out)
    kernels = lower(g)
    for n, seq in enumerate(seqs):
        want = tflm_sequence(buf, seq, reset_at)
        assert len({w.tobytes() for w in want}) > len(seq) // 2, "the sequence should not be constant"
        host.reset()
        states = initial_states(kernels)
        for j, xs in enumerate(seq):
            if j == reset_at:
                host.reset()
                states = initial_states(kernels)
            got_ref = run_reference(g, xs, kernels, states=states)[0]
            assert np.array_equal(got_ref.reshape(-1), want[j].reshape(-1)), f"seed {n} step {j}: reference " \
                "differs from TFLM"
            got_c = host.run(xs)[0]
            assert np.array_equal(got_c.reshape(-1), want[j].reshape(-1)), f"seed {n} step {j}: generated C " \
                "differs from TFLM"
    return rep


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_svdf_sequences_bit_exact(config, tmp_path):
    """Three seeds x a sequence of 7 invokes with a reset before the 6th, with the generated kernel and with the
    runtime one."""
    batch, size, filters, rank, memory, wide, state_zp, x_zp, y_zp = CONFIGS[config]
    rs = np.random.RandomState(100)
    weights = rs.randint(0, 1 << 30)
    seqs = [_sequence(rs, (batch, size), 7) for _ in range(3)]

    def build(out_scale):
        gb = GraphBuilder()
        x = gb.tensor("x", (batch, size), DType.INT8, _q(0.05, x_zp))
        y = _svdf(gb, np.random.RandomState(weights), x, 0.05, x_zp, filters, rank, memory, wide, state_zp,
                  out_scale, y_zp, "svdf")
        return gb.build(config, (x,), (y,))
    buf = _calibrated(build, seqs[0][:5])
    for kernels in ("dsp", "reference"):  # the generated SIMD kernel (host: its instructions in C) and the runtime one
        rep = _check_sequences(buf, seqs, 5, tmp_path, batch * filters * memory * (2 if wide else 1),
                               CompileOptions(kernels=kernels))
        names = [f for layer in rep["layers"] for f in layer["kernels"]]
        assert any(f.startswith(f"model_k_svdf_i{size}_f{filters}_m{memory}_r{rank}_s{16 if wide else 8}_dsp")
                   for f in names) == (kernels == "dsp"), names


def _keyword_model(rs: np.random.RandomState, seq) -> bytes:
    """A small SVDF keyword spotter in the style of TFLM's old micro_speech: 40 features per frame -> SVDF
    (int16 state, 32 filters, memory 8) -> SVDF (int8 state, rank 2) -> FULLY_CONNECTED -> SOFTMAX."""
    weights = rs.randint(0, 1 << 30)

    def build(out_scale):
        r = np.random.RandomState(weights)
        gb = GraphBuilder()
        x = gb.tensor("features", (1, 40), DType.INT8, _q(0.1, -3))
        h1 = _svdf(gb, r, x, 0.1, -3, 32, 1, 8, True, 0, None, -10, "svdf1")
        h1_scale = gb.tensors[h1].quant.scale[0]
        h2 = _svdf(gb, r, h1, h1_scale, -10, 24, 2, 4, False, 2, None, 6, "svdf2")
        h2_scale = gb.tensors[h2].quant.scale[0]
        w_scale = 1.0 / (12000 * h2_scale)  # logits of about +-1
        w = gb.tensor("fc/w", (4, 12), DType.INT8, _q(w_scale), r.randint(-127, 128, (4, 12)))
        b = gb.tensor("fc/b", (4,), DType.INT32, _q(float(f32(h2_scale) * f32(w_scale))), r.randint(-500, 500, 4))
        logits = gb.tensor("logits", (1, 4), DType.INT8, _q(out_scale, 0))
        gb.op(OpKind.FULLY_CONNECTED, (h2, w, b), (logits,), FullyConnectedAttrs(Activation.NONE), name="fc")
        probs = gb.tensor("probs", (1, 4), DType.INT8, _q(1 / 256, -128))
        gb.op(OpKind.SOFTMAX, (logits,), (probs,), SoftmaxAttrs(1.0), name="softmax")
        return gb.build("svdf_kws", (x,), (probs,))
    return write_tflite(build(0.1))


def _clean_and_sanitized(out, xs: list[np.ndarray], want: np.ndarray, tmp_path, compilers: tuple[str, ...]) -> None:
    """The generated C of `out` builds -Werror clean with each of `compilers` (when installed), and runs the
    sequence `xs` (inputs with a leading invoke axis) under ASan/UBSan with TFLM's outputs `want`."""
    for cc in compilers:
        if shutil.which(cc):
            r = subprocess.run([cc, "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-Wshadow", "-Wconversion",
                                "-Wno-sign-conversion", "-O2", "-c", *sorted(str(p) for p in out.glob("*.c"))],
                               cwd=tmp_path, capture_output=True, text=True)
            assert r.returncode == 0, r.stderr
    cc = shutil.which("gcc") or shutil.which("clang")
    if cc:
        exe = tmp_path / "asan"
        srcs = sorted(str(p) for p in out.glob("*.c")) + [str(runtime_dir() / "host" / "tml_host_main.c")]
        r = subprocess.run([cc, "-std=c99", "-g", "-O0", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
                            "-I", str(out), "-o", str(exe), *srcs, "-lm"], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        asan = run_driver(exe, xs, read_report(out)["outputs"], steps=len(want))[0]
        assert np.array_equal(asan.reshape(want.shape), want)


@pytest.fixture(scope="module")
def keyword_model(tmp_path_factory):
    rs = np.random.RandomState(7)
    seq = _sequence(rs, (1, 40), 6)
    buf = _keyword_model(rs, seq)
    path = tmp_path_factory.mktemp("svdf") / "svdf_kws.tflite"
    path.write_bytes(buf)
    return path, seq


def test_stacked_svdf_model_on_qemu_and_sanitizers(keyword_model, tmp_path):
    """Two SVDFs (int16 and int8 state) + FULLY_CONNECTED + SOFTMAX over six frames: TFLM, the host C, and QEMU
    mps2-an386 (one firmware running the six invokes) agree at every frame; the C is -Werror clean with gcc and
    clang and runs the sequence clean under ASan/UBSan; the states stay outside the arena."""
    path, seq = keyword_model
    buf = path.read_bytes()
    want = np.stack(tflm_sequence(buf, seq, reset_at=-1))
    assert len({w.tobytes() for w in want}) > 2
    out = tmp_path / "out"
    rep = compile_model(path, out, CompileOptions())
    assert rep["state_bytes"] == 32 * 8 * 2 + 24 * 4
    assert sum(layer["macs"] for layer in rep["layers"]) == rep["macs"] == 32 * (40 + 8) + 24 * (32 + 4) + 4 * 12
    host = HostModel(out)
    got = np.stack([host.run(xs)[0] for xs in seq])
    assert np.array_equal(got.reshape(want.shape), want)
    import tinyml  # the public API: a sequence from the reset state, host C and reference executor
    for reference in (False, True):
        outs = tinyml.run_sequence(out, seq, reference=reference)
        assert np.array_equal(np.stack([o[0] for o in outs]).reshape(want.shape), want)
    assert np.array_equal(tinyml.run(out, seq[0])[0].reshape(want[0].shape), want[0])  # run: from a reset
    xs = [np.stack([s[0] for s in seq])]
    _clean_and_sanitized(out, xs, want, tmp_path, ("gcc", "clang"))
    plain = run_driver(build_driver(out, tmp_path / "drv"), xs, rep["outputs"], steps=len(seq))[0]
    assert np.array_equal(plain.reshape(want.shape), want)
    if shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm"):
        from tinyml.harness.firmware import emulate
        res = emulate(out, "mps2-an386", xs, steps=len(seq))
        assert res["outputs_match_host"] is True and res["outputs_match_reference"] is True
        assert np.array_equal(res["outputs"][0].reshape(want.shape), want)
        assert res["total_instructions"] > 0


def test_self_check_runs_sequences(keyword_model, tmp_path, monkeypatch):
    """compile's self-check feeds a stateful model sequences: a reference that forgot the state between invokes
    (the first invoke still right) is caught as an internal error."""
    import tinyml.ops.recurrent as reference
    from tinyml.verify import VerificationError
    path, _ = keyword_model
    real = reference.svdf

    def forgetful(p, x, wf, wt, bias, state, bits):
        state[:] = 0 if bits == 16 else p.state_zero_point
        return real(p, x, wf, wt, bias, state, bits)
    monkeypatch.setattr(reference, "svdf", forgetful)
    with pytest.raises(VerificationError, match="differs from the reference"):
        compile_model(path, tmp_path / "out", CompileOptions())
    assert not (tmp_path / "out").exists()


def _one(wide=True, bias=True, wt_type=None, x_type=DType.INT8):
    gb = GraphBuilder()
    rs = np.random.RandomState(0)
    x = gb.tensor("x", (1, 4), x_type, _q(0.1) if x_type is DType.INT8 else None)
    sdt = DType.INT16 if wide else DType.INT8
    wf = gb.tensor("wf", (4, 4), DType.INT8, _q(0.01), rs.randint(-9, 9, (4, 4)))
    wtd = wt_type or sdt
    wt = gb.tensor("wt", (4, 3), wtd, _q(0.01), rs.randint(-9, 9, (4, 3)))
    ins = (x, wf, wt)
    if bias:
        ins += (gb.tensor("b", (4,), DType.INT32, _q(float(f32(0.01) * f32(0.01))), np.zeros(4)),)
    y = gb.tensor("y", (1, 4), DType.INT8, _q(0.1))
    gb.op(OpKind.SVDF, ins, (y,), SvdfAttrs(1, Activation.NONE, sdt, 0.01, 0, "state"))
    return write_tflite(gb.build("svdf_one", (x,), (y,)))


@pytest.mark.parametrize("kwargs,message", [
    ({"bias": False}, "needs an int32 bias"),
    ({"wt_type": DType.INT8}, "time weights and activation state of one type"),
])
def test_svdf_refusals(kwargs, message, tmp_path):
    path = tmp_path / "m.tflite"
    path.write_bytes(_one(**kwargs))
    with pytest.raises(TinymlError, match=message):
        compile_model(path, tmp_path / "out", CompileOptions())
    assert not (tmp_path / "out").exists()


def test_svdf_state_must_be_variable(tmp_path):
    """TFLM requires the activation state to be a variable tensor; a file whose input 4 is not one is corrupt."""
    import tinyml.frontends.tflite_writer as writer
    orig = writer._variables
    try:
        writer._variables = lambda g: set()
        buf = _one()
    finally:
        writer._variables = orig
    with pytest.raises(TinymlError, match="not a variable tensor"):
        parse_tflite(buf, "m.tflite")
    assert parse_tflite(_one(), "m.tflite").ops[0].kind is OpKind.SVDF


# ---- UNIDIRECTIONAL_SEQUENCE_LSTM ------------------------------------------------------------------------------

def _lstm(gb: GraphBuilder, rs: np.random.RandomState, x: int, x_scale: float, x_zp: int, units: int,
          time_major: bool, hidden_scale: float, hidden_zp: int, cell_scale: float, cell_clip: float,
          name: str) -> int:
    """An LSTM layer on `x` ([batch, time, features], or time major) with random weights scaled so that the
    gates see values across the sigmoid's range."""
    shape = gb.tensors[x].shape
    features = shape[2]
    w_scale = 2.0 ** -12 * 3000 / (x_scale * 74 * np.sqrt(features))  # a typical input FC near +-3 in Q3.12
    r_scale = 2.0 ** -12 * 2000 / (hidden_scale * 74 * np.sqrt(units))
    ws = [gb.tensor(f"{name}/input_w{g}", (units, features), DType.INT8, _q(w_scale),
                    rs.randint(-127, 128, (units, features))) for g in "ifco"]
    ws += [gb.tensor(f"{name}/recurrent_w{g}", (units, units), DType.INT8, _q(r_scale),
                     rs.randint(-127, 128, (units, units))) for g in "ifco"]
    bias_scale = float(f32(f32(x_scale) * f32(w_scale)))
    bs = [gb.tensor(f"{name}/bias_{g}", (units,), DType.INT32, Quant((bias_scale,), (0,)),
                    rs.randint(-2000, 2000, units)) for g in "ifco"]
    y = gb.tensor(f"{name}/out", shape[:2] + (units,), DType.INT8, _q(hidden_scale, hidden_zp))
    gb.op(OpKind.UNIDIRECTIONAL_SEQUENCE_LSTM, (x, *ws, *bs), (y,),
          LstmAttrs("tanh", cell_clip, time_major, float(f32(hidden_scale)), hidden_zp, cell_scale,
                    f"{name}/hidden", f"{name}/cell"), name=name)
    return y


LSTM_CONFIGS = {  # name: (batch, time, features, units, time major, hidden zp, cell scale, cell clip)
    "batch1": (1, 6, 5, 8, False, -3, 2.0 ** -11, 0.0),
    "batch2_clip": (2, 4, 7, 6, False, 10, 2.0 ** -11, 2.0),
    "time_major_batch3": (3, 5, 4, 5, True, 0, 2.0 ** -11, 0.0),
    "coarse_cell": (1, 3, 6, 9, False, -20, 2.0 ** -8, 0.0),
    "fine_cell": (1, 5, 3, 4, False, 5, 2.0 ** -14, 0.0),
    "wide_input": (1, 3, 70, 5, False, 1, 2.0 ** -11, 0.0),  # the generated kernel's looped SIMD path
}


def test_lstm_with_the_converters_intermediate_tensors(tmp_path):
    """The structure of a converter-made int8 LSTM (TensorFlow's converter here crashes making one): five
    quantization-only intermediate tensors of shape [0] on the op, which TFLM ignores; tinyml drops them at import
    and stays bit-exact over a sequence with a reset."""
    batch, time, features, units, tm, hz, cs, clip = LSTM_CONFIGS["coarse_cell"]
    rs = np.random.RandomState(201)
    gb = GraphBuilder()
    x = gb.tensor("x", (batch, time, features), DType.INT8, _q(0.05, 3))
    y = _lstm(gb, rs, x, 0.05, 3, units, tm, 0.015, hz, cs, clip, "lstm")
    buf = write_tflite(gb.build("lstm_converted", (x,), (y,)), lstm_intermediates=True)
    import tflite
    op = tflite.Model.GetRootAsModel(buf, 0).Subgraphs(0).Operators(0)
    assert op.IntermediatesLength() == 5
    g = parse_tflite(buf)
    assert not any(t.name.endswith("_intermediate") for t in g.tensors)
    _check_sequences(buf, [_sequence(rs, (batch, time, features), 5)], 3, tmp_path, batch * units * 3)


@pytest.mark.parametrize("config", sorted(LSTM_CONFIGS))
def test_lstm_sequences_bit_exact(config, tmp_path):
    """Three seeds x 6 invokes (each a whole sequence of time steps) with a reset before the 5th: the hidden and
    cell states carry over between invokes as in TFLM; with the generated kernel and with the runtime one."""
    batch, time, features, units, tm, hz, cs, clip = LSTM_CONFIGS[config]
    rs = np.random.RandomState(200)
    gb = GraphBuilder()
    shape = (time, batch, features) if tm else (batch, time, features)
    x = gb.tensor("x", shape, DType.INT8, _q(0.05, 3))
    y = _lstm(gb, rs, x, 0.05, 3, units, tm, 0.015, hz, cs, clip, "lstm")
    buf = write_tflite(gb.build(config, (x,), (y,)))
    seqs = [_sequence(rs, shape, 6) for _ in range(3)]
    vals = np.concatenate([w.reshape(-1) for w in tflm_sequence(buf, seqs[0], reset_at=4)])
    assert len(np.unique(vals)) > 20 and np.mean((vals == -128) | (vals == 127)) < 0.2, "a degenerate sequence"
    for kernels in ("dsp", "reference"):  # the generated SIMD kernel (host: its instructions in C) and the runtime one
        rep = _check_sequences(buf, seqs, 4, tmp_path, batch * units * 3,  # int8 hidden + int16 cell
                               CompileOptions(kernels=kernels))
        names = [f for layer in rep["layers"] for f in layer["kernels"]]
        assert any(f.startswith(f"model_k_lstm_i{features}_u{units}_s8_dsp") for f in names) == (kernels == "dsp"), \
            names


def test_lstm_keyword_model_on_qemu(tmp_path):
    """An LSTM keyword spotter kept whole (40 features x 10 frames -> LSTM 16 -> last step -> FULLY_CONNECTED ->
    SOFTMAX): TFLM, the host C (also under ASan/UBSan) and QEMU mps2-an386 running three invokes in one firmware
    agree at each invoke (the states carry over)."""
    rs = np.random.RandomState(11)
    gb = GraphBuilder()
    x = gb.tensor("features", (1, 10, 40), DType.INT8, _q(0.1, -3))
    h = _lstm(gb, rs, x, 0.1, -3, 16, False, 0.02, -4, 2.0 ** -11, 0.0, "lstm")
    from tinyml.ir import SliceAttrs
    last = gb.tensor("last", (1, 16), DType.INT8, _q(0.02, -4))
    consts = [gb.const(f"slice/{n}", np.asarray(v, np.int32), DType.INT32)
              for n, v in (("begin", [0, 9, 0]), ("end", [1, 10, 16]), ("strides", [1, 1, 1]))]
    gb.op(OpKind.STRIDED_SLICE, (h, *consts), (last,), SliceAttrs((0, 9, 0), (1, 1, 16), (1, 1, 1),
                                                                 shrink_axis_mask=2), name="last_step")
    w = gb.tensor("fc/w", (4, 16), DType.INT8, _q(0.01), rs.randint(-127, 128, (4, 16)))
    b = gb.tensor("fc/b", (4,), DType.INT32, _q(float(f32(0.02) * f32(0.01))), rs.randint(-300, 300, 4))
    logits = gb.tensor("logits", (1, 4), DType.INT8, _q(0.05, 0))
    gb.op(OpKind.FULLY_CONNECTED, (last, w, b), (logits,), FullyConnectedAttrs(Activation.NONE), name="fc")
    probs = gb.tensor("probs", (1, 4), DType.INT8, _q(1 / 256, -128))
    gb.op(OpKind.SOFTMAX, (logits,), (probs,), SoftmaxAttrs(1.0), name="softmax")
    buf = write_tflite(gb.build("lstm_kws", (x,), (probs,)))
    path = tmp_path / "lstm_kws.tflite"
    path.write_bytes(buf)
    seq = _sequence(rs, (1, 10, 40), 3)
    want = np.stack(tflm_sequence(buf, seq, reset_at=-1))
    assert len({w.tobytes() for w in want}) == 3
    out = tmp_path / "out"
    compile_model(path, out, CompileOptions())
    rep = read_report(out)
    assert rep["layers"][0]["macs"] == 10 * 4 * 16 * (40 + 16)
    xs = [np.stack([s[0] for s in seq])]
    _clean_and_sanitized(out, xs, want, tmp_path, ("gcc",))
    if shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm"):
        from tinyml.harness.firmware import emulate
        res = emulate(out, "mps2-an386", xs, steps=len(seq))
        assert res["outputs_match_host"] is True and res["outputs_match_reference"] is True
        assert np.array_equal(res["outputs"][0].reshape(want.shape), want)


def test_lstm_variants_refused(tmp_path):
    """Peephole / projection / layer-norm LSTMs and CIFG (TFLM's integer LSTM refuses them too) get a clear
    error naming the variant; a non-variable state is a corrupt file."""
    import tinyml.frontends.tflite_writer as writer
    rs = np.random.RandomState(0)
    gb = GraphBuilder()
    x = gb.tensor("x", (1, 3, 4), DType.INT8, _q(0.05))
    y = _lstm(gb, rs, x, 0.05, 0, 4, False, 0.02, 0, 2.0 ** -11, 0.0, "lstm")
    g = gb.build("lstm", (x,), (y,))
    assert parse_tflite(write_tflite(g)).ops[0].kind is OpKind.UNIDIRECTIONAL_SEQUENCE_LSTM
    orig = writer._file_order

    def with_input(k, value):
        def patched(graph):
            out = orig(graph)
            op = out.ops[0]
            ins = list(op.inputs)
            ins[k] = value(ins)
            from dataclasses import replace
            return replace(out, ops=(replace(op, inputs=tuple(ins)),))
        return patched
    for k, value, message in ((9, lambda ins: ins[13], "peephole"), (16, lambda ins: ins[1], "projection"),
                              (20, lambda ins: ins[13], "layer norm"), (1, lambda ins: -1, "CIFG")):
        writer._file_order = with_input(k, value)
        try:
            buf = write_tflite(g)
        finally:
            writer._file_order = orig
        with pytest.raises(TinymlError, match=message):
            parse_tflite(buf, "m.tflite")
    orig_vars = writer._variables
    writer._variables = lambda graph: set()
    try:
        buf = write_tflite(g)
    finally:
        writer._variables = orig_vars
    with pytest.raises(TinymlError, match="not a variable tensor"):
        parse_tflite(buf, "m.tflite")


def _conv_lstm_model(rs: np.random.RandomState) -> bytes:
    """A CNN front end feeding an LSTM: [1, 12, 8, 2] -> CONV_2D 3x3 (RELU) -> DEPTHWISE_CONV_2D 3x3 -> RESHAPE to
    12 time steps of 8 x 6 features -> LSTM 8 -> FULLY_CONNECTED over the last step."""
    from tinyml.ir import ConvAttrs, NoAttrs, Padding, SliceAttrs
    gb = GraphBuilder()
    x = gb.tensor("image", (1, 12, 8, 2), DType.INT8, _q(0.05, 1))
    w1 = gb.tensor("conv/w", (6, 3, 3, 2), DType.INT8, _q(0.02), rs.randint(-127, 128, (6, 3, 3, 2)))
    b1 = gb.tensor("conv/b", (6,), DType.INT32, _q(float(f32(0.05) * f32(0.02))), rs.randint(-500, 500, 6))
    h1 = gb.tensor("conv/out", (1, 12, 8, 6), DType.INT8, _q(0.1, -128))
    gb.op(OpKind.CONV_2D, (x, w1, b1), (h1,), ConvAttrs(1, 1, 1, 1, Padding.SAME, Activation.RELU), name="conv")
    w2 = gb.tensor("dw/w", (1, 3, 3, 6), DType.INT8, _q(0.02), rs.randint(-127, 128, (1, 3, 3, 6)))
    b2 = gb.tensor("dw/b", (6,), DType.INT32, _q(float(f32(0.1) * f32(0.02))), rs.randint(-500, 500, 6))
    h2 = gb.tensor("dw/out", (1, 12, 8, 6), DType.INT8, _q(0.08, 3))
    gb.op(OpKind.DEPTHWISE_CONV_2D, (h1, w2, b2), (h2,), ConvAttrs(1, 1, 1, 1, Padding.SAME, Activation.NONE),
          name="dw")
    shape = gb.const("reshape/shape", np.asarray([1, 12, 48], np.int32), DType.INT32)
    seq = gb.tensor("frames", (1, 12, 48), DType.INT8, _q(0.08, 3))
    gb.op(OpKind.RESHAPE, (h2, shape), (seq,), NoAttrs(), name="frames")
    h3 = _lstm(gb, rs, seq, 0.08, 3, 8, False, 0.02, -2, 2.0 ** -11, 0.0, "lstm")
    consts = [gb.const(f"slice/{n}", np.asarray(v, np.int32), DType.INT32)
              for n, v in (("begin", [0, 11, 0]), ("end", [1, 12, 8]), ("strides", [1, 1, 1]))]
    last = gb.tensor("last", (1, 8), DType.INT8, _q(0.02, -2))
    gb.op(OpKind.STRIDED_SLICE, (h3, *consts), (last,), SliceAttrs((0, 11, 0), (1, 1, 8), (1, 1, 1),
                                                                  shrink_axis_mask=2), name="last_step")
    w = gb.tensor("fc/w", (5, 8), DType.INT8, _q(0.01), rs.randint(-127, 128, (5, 8)))
    b = gb.tensor("fc/b", (5,), DType.INT32, _q(float(f32(0.02) * f32(0.01))), rs.randint(-300, 300, 5))
    y = gb.tensor("logits", (1, 5), DType.INT8, _q(0.03, 0))
    gb.op(OpKind.FULLY_CONNECTED, (last, w, b), (y,), FullyConnectedAttrs(Activation.NONE), name="fc")
    return write_tflite(gb.build("conv_lstm", (x,), (y,)))


@pytest.mark.parametrize("options", [
    {}, {"patch": "2x1", "halos": "recompute"}, {"patch": "3x1", "halos": "cache"}, {"inplace": False,
                                                                                     "overlap": False},
    {"kernels": "portable"}, {"kernels": "reference"}])
def test_state_under_memory_configurations(options, tmp_path):
    """The memory techniques around a stateful op: a CNN front end (patch-based with recomputed or cached halos,
    in-place or not, each kernel flavour) feeding an LSTM, over a sequence of invokes with a reset, equal to
    TFLM at every invoke (the states live outside the arena that the techniques rearrange)."""
    rs = np.random.RandomState(21)
    buf = _conv_lstm_model(rs)
    seqs = [_sequence(rs, (1, 12, 8, 2), 5) for _ in range(2)]
    path = tmp_path / "m.tflite"
    path.write_bytes(buf)
    out = tmp_path / "out"
    rep = compile_model(path, out, CompileOptions(**options))
    if "patch" in options:
        assert rep["memory"]["patch"], "the configuration should run a patch stage"
    # the int16 cell state is not an activation: the graph is int8, planned with every technique
    g = parse_tflite(buf)
    assert not g.wide and not {"lstm/hidden", "lstm/cell"} & {t.name for t in g.tensors}
    host = HostModel(out)
    for seq in seqs:
        want = tflm_sequence(buf, seq, reset_at=3)
        assert len({w.tobytes() for w in want}) > 2
        host.reset()
        for j, xs in enumerate(seq):
            if j == 3:
                host.reset()
            assert np.array_equal(host.run(xs)[0].reshape(-1), want[j].reshape(-1)), f"step {j}"


def test_cli_runs_sequences(keyword_model, tmp_path):
    """`tinyml run --steps N` and `tinyml emulate --steps N`: the inputs hold N invokes along a new first axis,
    run in order from the reset state; the outputs equal TFLM's sequence; a wrong count is a clear error."""
    import sys
    path, seq = keyword_model
    want = np.stack(tflm_sequence(path.read_bytes(), seq, reset_at=-1))
    out = tmp_path / "out"
    compile_model(path, out, CompileOptions())
    np.save(tmp_path / "x.npy", np.stack([s[0] for s in seq]))
    n = str(len(seq))

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "tinyml", *args], capture_output=True, text=True)
    for extra in ([], ["--reference"]):
        target = str(path) if extra else str(out)
        r = cli("run", target, "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npz"), "--steps", n,
                *extra)
        assert r.returncode == 0, r.stderr
        assert np.array_equal(np.load(tmp_path / "y.npz")["output_0"].reshape(want.shape), want)
    r = cli("run", str(out), "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "z.npz"), "--steps", "4")
    assert r.returncode != 0 and "Traceback" not in r.stderr and "--steps 4" in r.stderr
    if shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm"):
        r = cli("emulate", str(out), "--board", "mps2-an386", "--input", str(tmp_path / "x.npy"), "--output",
                str(tmp_path / "e.npz"), "--steps", n)
        assert r.returncode == 0, r.stderr
        assert np.array_equal(np.load(tmp_path / "e.npz")["output_0"].reshape(want.shape), want)
