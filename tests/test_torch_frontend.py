"""The PyTorch front end: models exported with torch.export, imported, quantized and compiled; each equals
the fake-quantized float graph within one LSB and TFLM exactly."""
from __future__ import annotations

import os

import numpy as np
import pytest
from conftest import needs_tflm

torch = pytest.importorskip("torch", reason="PyTorch is needed for the front-end tests: pip install '.[torch]'")
from torch import nn  # noqa: E402

import tinyml  # noqa: E402
from tinyml.errors import TinymlError, UnsupportedOpError  # noqa: E402
from tinyml.ir import OpKind  # noqa: E402
from tinyml.quant import calibrate, quantize_graph  # noqa: E402
from tinyml.quant.executor import GraphExecutor, run_batches  # noqa: E402

pytestmark = [needs_tflm()]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
from torchnets import check_exported, nhwc  # noqa: E402


def test_float_import_matches_torch(everything):
    m, x, g = everything
    kinds = {op.kind for op in g.ops}
    assert {OpKind.CONV_2D, OpKind.DEPTHWISE_CONV_2D, OpKind.FULLY_CONNECTED, OpKind.CONCATENATION,
            OpKind.MAX_POOL_2D, OpKind.AVERAGE_POOL_2D, OpKind.MEAN, OpKind.HARD_SWISH, OpKind.LOGISTIC,
            OpKind.TANH, OpKind.LEAKY_RELU, OpKind.SOFTMAX, OpKind.ADD, OpKind.SUB, OpKind.MUL} <= kinds
    assert not any("batch_norm" in op.name for op in g.ops)  # folded
    assert g.tensor(g.inputs[0]).shape == (1, 16, 16, 3)  # NHWC once, at the boundary
    want = m(torch.tensor(x)).detach().numpy()
    assert np.abs(run_batches(GraphExecutor(g), nhwc(x)) - want).max() < 1e-5


def test_unsupported_module_names_its_path():
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.block = nn.Sequential(nn.Conv2d(1, 4, 3), nn.GELU())

        def forward(self, x):
            return self.block(x)
    with pytest.raises(UnsupportedOpError, match=r"module 'block\.1' \(GELU\)"):
        tinyml.from_torch(Net(), torch.zeros(1, 1, 8, 8))
    with pytest.raises(TinymlError, match="expects a torch.nn.Module"):
        tinyml.from_torch("not a model", None)


class PaddedPools(nn.Module):
    """A standalone BatchNorm (on an ADD, no convolution to fold into), padded pooling that is TFLite's SAME
    (max, and an average that ignores padded cells), and an average that counts them (explicit PAD)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.side = nn.Conv2d(3, 6, 1)
        self.bn = nn.BatchNorm2d(6)
        self.maxp = nn.MaxPool2d(3, stride=2, padding=1)
        self.avg_excl = nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
        self.avg_incl = nn.AvgPool2d(3, stride=2, padding=1)
        self.fc = nn.Linear(6 * 3 * 3, 4)

    def forward(self, x):
        h = torch.relu(self.conv(x))
        h = self.bn(h + self.side(x))
        h = self.avg_excl(self.maxp(h))
        return self.fc(torch.flatten(self.avg_incl(h), 1))


def test_standalone_batchnorm_and_padded_pooling(tmp_path):
    torch.manual_seed(0)
    m = PaddedPools()
    with torch.no_grad():  # non-trivial running statistics
        m.bn.running_mean.uniform_(-0.5, 0.5)
        m.bn.running_var.uniform_(0.5, 2.0)
        m.bn.weight.uniform_(0.5, 1.5)
        m.bn.bias.uniform_(-0.3, 0.3)
    m.eval()
    x = np.random.default_rng(0).normal(size=(64, 3, 9, 9)).astype(np.float32)
    g = tinyml.from_torch(m, torch.tensor(x[:1]))
    kinds = [op.kind for op in g.ops]
    assert OpKind.MUL in kinds and OpKind.PAD in kinds
    pools = [op.attrs.padding.value for op in g.ops if op.kind in (OpKind.MAX_POOL_2D, OpKind.AVERAGE_POOL_2D)]
    assert pools == ["same", "same", "valid"]
    with torch.no_grad():
        want = m(torch.tensor(x)).numpy()
    assert np.abs(run_batches(GraphExecutor(g), nhwc(x)) - want).max() < 1e-5
    cfg = calibrate(g, nhwc(x))
    check_exported(quantize_graph(g, cfg), nhwc(x), tmp_path, GraphExecutor(g, cfg))
    # padded max pooling that is not SAME: a clear error naming the module
    with pytest.raises(UnsupportedOpError, match=r"module 'maxp' \(MaxPool2d\).*not TFLite's SAME"):
        tinyml.from_torch(m, torch.zeros(1, 3, 10, 10))


class Split(nn.Module):
    """Channel split (ShuffleNet-style) and a strided spatial slice: STRIDED_SLICE."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.a = nn.Conv2d(3, 4, 1)
        self.b = nn.Conv2d(5, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 4 * 8, 3)

    def forward(self, x):
        h = torch.relu(self.conv(x))
        y = self.a(h[:, :3]) + self.b(h[:, 3:])
        return self.fc(torch.flatten(y[:, :, 1:9:2, -8:], 1))


def test_slicing(tmp_path):
    torch.manual_seed(0)
    m = Split().eval()
    x = np.random.default_rng(0).normal(size=(32, 3, 10, 8)).astype(np.float32)
    g = tinyml.from_torch(m, torch.tensor(x[:1]))
    assert sum(op.kind is OpKind.STRIDED_SLICE for op in g.ops) >= 3
    with torch.no_grad():
        want = m(torch.tensor(x)).numpy()
    assert np.abs(run_batches(GraphExecutor(g), nhwc(x)) - want).max() < 1e-5
    cfg = calibrate(g, nhwc(x))
    check_exported(quantize_graph(g, cfg), nhwc(x), tmp_path, GraphExecutor(g, cfg))


class Decoder(nn.Module):
    """A U-Net-style decoder: nearest and bilinear upsampling (both align_corners settings) between convolutions."""

    def __init__(self) -> None:
        super().__init__()
        self.enc = nn.Conv2d(3, 6, 3, stride=2, padding=1)
        self.near = nn.Upsample(scale_factor=2, mode="nearest")
        self.mid = nn.Conv2d(6, 6, 3, padding=1)
        self.bil = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
        self.out = nn.Conv2d(6, 2, 1)

    def forward(self, x):
        y = self.mid(torch.relu(self.near(torch.relu(self.enc(x)))))
        y = self.bil(y) + nn.functional.interpolate(y, size=(20, 16), mode="bilinear", align_corners=True)
        return self.out(y)


def test_upsampling(tmp_path):
    torch.manual_seed(0)
    m = Decoder().eval()
    x = np.random.default_rng(0).normal(size=(32, 3, 10, 8)).astype(np.float32)
    g = tinyml.from_torch(m, torch.tensor(x[:1]))
    kinds = [op.kind for op in g.ops]
    assert OpKind.RESIZE_NEAREST_NEIGHBOR in kinds and kinds.count(OpKind.RESIZE_BILINEAR) == 2
    with torch.no_grad():
        want = m(torch.tensor(x)).numpy().transpose(0, 2, 3, 1)
    assert np.abs(run_batches(GraphExecutor(g), nhwc(x)) - want).max() < 1e-5
    cfg = calibrate(g, nhwc(x))
    check_exported(quantize_graph(g, cfg), nhwc(x), tmp_path, GraphExecutor(g, cfg))
    with pytest.raises(UnsupportedOpError, match="whole scale factors"):
        tinyml.from_torch(nn.Upsample(size=(7, 7), mode="nearest"), torch.zeros(1, 1, 4, 4))


class UpConv(nn.Module):
    """Transposed convolutions as PyTorch U-Nets use them: stride 2 with padding 1 and output padding 1 (cropped
    after a VALID TRANSPOSE_CONV), without padding, and with a 2x2 kernel and no bias."""

    def __init__(self) -> None:
        super().__init__()
        self.enc = nn.Conv2d(3, 6, 3, stride=2, padding=1)
        self.up1 = nn.ConvTranspose2d(6, 5, 3, stride=2, padding=1, output_padding=1)
        self.up2 = nn.ConvTranspose2d(5, 4, 3, stride=1)
        self.up3 = nn.ConvTranspose2d(4, 2, 2, stride=2, bias=False)

    def forward(self, x):
        return self.up3(torch.relu(self.up2(torch.relu(self.up1(torch.relu(self.enc(x)))))))


def test_transposed_convolutions(tmp_path):
    torch.manual_seed(0)
    m = UpConv().eval()
    x = np.random.default_rng(0).normal(size=(32, 3, 10, 8)).astype(np.float32)
    g = tinyml.from_torch(m, torch.tensor(x[:1]))
    kinds = [op.kind for op in g.ops]
    assert kinds.count(OpKind.TRANSPOSE_CONV) == 3 and OpKind.STRIDED_SLICE in kinds
    with torch.no_grad():
        want = m(torch.tensor(x)).numpy().transpose(0, 2, 3, 1)
    assert np.abs(run_batches(GraphExecutor(g), nhwc(x)) - want).max() < 1e-5
    cfg = calibrate(g, nhwc(x))
    check_exported(quantize_graph(g, cfg), nhwc(x), tmp_path, GraphExecutor(g, cfg))


class PReLUNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.act = nn.PReLU(6, init=0.2)
        self.conv2 = nn.Conv2d(6, 4, 3, stride=2, padding=1)
        self.act2 = nn.PReLU(init=0.1)
        self.fc = nn.Linear(4 * 5 * 4, 3)

    def forward(self, x):
        return self.fc(torch.flatten(self.act2(self.conv2(self.act(self.conv(x)))), 1))


def test_prelu(tmp_path):
    torch.manual_seed(0)
    m = PReLUNet().eval()
    with torch.no_grad():
        m.act.weight.uniform_(-0.3, 0.5)
    x = np.random.default_rng(0).normal(size=(32, 3, 10, 8)).astype(np.float32)
    g = tinyml.from_torch(m, torch.tensor(x[:1]))
    assert [op.kind for op in g.ops].count(OpKind.PRELU) == 2
    with torch.no_grad():
        want = m(torch.tensor(x)).numpy()
    assert np.abs(run_batches(GraphExecutor(g), nhwc(x)) - want).max() < 1e-5
    cfg = calibrate(g, nhwc(x))
    check_exported(quantize_graph(g, cfg), nhwc(x), tmp_path, GraphExecutor(g, cfg))


class SubPixel(nn.Module):
    """A super-resolution / focus block: PixelShuffle after a convolution, PixelUnshuffle before one, and a
    PixelShuffle whose channel order needs no reordering (one channel per block position)."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(3, 12, 3, padding=1)
        self.up = nn.PixelShuffle(2)
        self.c2 = nn.Conv2d(3, 8, 3, padding=1)
        self.down = nn.PixelUnshuffle(2)
        self.c3 = nn.Conv2d(32, 4, 1)
        self.up1 = nn.PixelShuffle(2)

    def forward(self, x):
        y = self.down(torch.relu(self.c2(self.up(torch.relu(self.c1(x))))))
        return self.up1(self.c3(y))


def test_pixel_shuffle(tmp_path):
    """PixelShuffle / PixelUnshuffle become DEPTH_TO_SPACE / SPACE_TO_DEPTH with a GATHER that puts the channels in
    TFLite's order: equal to PyTorch in float, bit-exact with TFLM once quantized."""
    torch.manual_seed(0)
    m = SubPixel().eval()
    x = np.random.default_rng(0).normal(size=(32, 3, 6, 4)).astype(np.float32)
    g = tinyml.from_torch(m, torch.tensor(x[:1]))
    kinds = [op.kind for op in g.ops]
    assert kinds.count(OpKind.DEPTH_TO_SPACE) == 2 and OpKind.SPACE_TO_DEPTH in kinds
    assert kinds.count(OpKind.GATHER) == 2  # the last shuffle (four channels, one per position) needs none
    with torch.no_grad():
        want = m(torch.tensor(x)).numpy().transpose(0, 2, 3, 1)
    assert np.abs(run_batches(GraphExecutor(g), nhwc(x)) - want).max() < 1e-5
    cfg = calibrate(g, nhwc(x))
    check_exported(quantize_graph(g, cfg), nhwc(x), tmp_path, GraphExecutor(g, cfg))


class MaxMin(nn.Module):
    """Branches joined by torch.maximum and torch.minimum (tensor-tensor, and against a constant)."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 6, 3, padding=1)
        self.b = nn.Conv2d(3, 6, 1)
        self.c = nn.Conv2d(6, 4, 3, stride=2, padding=1)
        self.d = nn.Conv2d(6, 4, 3, stride=2, padding=1)

    def forward(self, x):
        y = torch.maximum(self.a(x), torch.relu(self.b(x)))
        return torch.minimum(self.c(y), torch.tensor(0.75)) + torch.max(self.c(y), torch.min(self.d(y),
                                                                                           torch.tensor(0.5)))


def test_maximum_minimum(tmp_path):
    """torch.maximum/minimum and torch.max/min of two tensors: MAXIMUM/MINIMUM, whose inputs PTQ quantizes as their
    output (TFLM compares raw int8
    values): equal to PyTorch in float, bit-exact with TFLM once quantized."""
    torch.manual_seed(0)
    m = MaxMin().eval()
    x = np.random.default_rng(0).normal(size=(32, 3, 10, 8)).astype(np.float32)
    g = tinyml.from_torch(m, torch.tensor(x[:1]))
    kinds = [op.kind for op in g.ops]
    assert kinds.count(OpKind.MAXIMUM) == 2 and kinds.count(OpKind.MINIMUM) == 2
    with torch.no_grad():
        want = m(torch.tensor(x)).numpy().transpose(0, 2, 3, 1)
    assert np.abs(run_batches(GraphExecutor(g), nhwc(x)) - want).max() < 1e-5
    cfg = calibrate(g, nhwc(x))
    q = quantize_graph(g, cfg)
    for op in q.ops:
        if op.kind in (OpKind.MAXIMUM, OpKind.MINIMUM):
            assert {q.tensor(i).quant for i in op.inputs} == {q.tensor(op.outputs[0]).quant}
    check_exported(q, nhwc(x), tmp_path, GraphExecutor(g, cfg))


class Permuted(nn.Module):
    """Axes swapped between convolutions: H and W (permute), and channels with W (transpose)."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 5, 3, padding=1)
        self.b = nn.Conv2d(5, 4, 3, padding=1)
        self.c = nn.Conv2d(10, 3, 1)

    def forward(self, x):
        y = self.b(torch.relu(self.a(x)).permute(0, 1, 3, 2))
        return self.c(torch.transpose(y, 1, 3))


def test_permute_and_transpose(tmp_path):
    torch.manual_seed(0)
    m = Permuted().eval()
    x = np.random.default_rng(0).normal(size=(32, 3, 10, 7)).astype(np.float32)
    g = tinyml.from_torch(m, torch.tensor(x[:1]))
    assert [op.kind for op in g.ops].count(OpKind.TRANSPOSE) == 2
    with torch.no_grad():
        want = m(torch.tensor(x)).numpy().transpose(0, 2, 3, 1)
    assert np.abs(run_batches(GraphExecutor(g), nhwc(x)) - want).max() < 1e-5
    cfg = calibrate(g, nhwc(x))
    check_exported(quantize_graph(g, cfg), nhwc(x), tmp_path, GraphExecutor(g, cfg))


class Attention(nn.Module):
    """One attention head over tokens: Linear projections of [batch, tokens, features], a matmul against the
    transposed keys, softmax, bmm with the values, and an output projection."""

    def __init__(self) -> None:
        super().__init__()
        self.q = nn.Linear(8, 8)
        self.k = nn.Linear(8, 8)
        self.v = nn.Linear(8, 6)
        self.o = nn.Linear(6, 4)

    def forward(self, x):
        a = torch.softmax(torch.matmul(self.q(x), self.k(x).transpose(1, 2)) * 0.35, dim=-1)
        return self.o(torch.relu(torch.bmm(a, self.v(x))))


def test_attention_matmul(tmp_path):
    torch.manual_seed(0)
    m = Attention().eval()
    x = np.random.default_rng(0).normal(size=(32, 5, 8)).astype(np.float32)
    g = tinyml.from_torch(m, torch.tensor(x[:1]))
    kinds = [op.kind for op in g.ops]
    assert kinds.count(OpKind.BATCH_MATMUL) == 2 and OpKind.TRANSPOSE in kinds and OpKind.SOFTMAX in kinds
    with torch.no_grad():
        want = m(torch.tensor(x)).numpy()
    assert np.abs(run_batches(GraphExecutor(g), x) - want).max() < 1e-5
    cfg = calibrate(g, x)
    check_exported(quantize_graph(g, cfg), x, tmp_path, GraphExecutor(g, cfg))


class TokenBlock(nn.Module):
    """A transformer-style block: LayerNorm, an attention head, a residual add, LayerNorm without affine."""

    def __init__(self) -> None:
        super().__init__()
        self.n1 = nn.LayerNorm(8)
        self.att = Attention()
        self.up = nn.Linear(4, 8)
        self.n2 = nn.LayerNorm(8, elementwise_affine=False)

    def forward(self, x):
        return self.n2(x + self.up(self.att(self.n1(x))))


def test_layer_norm(tmp_path):
    torch.manual_seed(0)
    m = TokenBlock().eval()
    with torch.no_grad():
        m.n1.weight.uniform_(0.5, 1.5)
        m.n1.bias.uniform_(-0.3, 0.3)
    x = np.random.default_rng(0).normal(size=(32, 5, 8)).astype(np.float32)
    g = tinyml.from_torch(m, torch.tensor(x[:1]))
    kinds = [op.kind for op in g.ops]
    assert kinds.count(OpKind.RSQRT) == 2 and kinds.count(OpKind.SQUARED_DIFFERENCE) == 2
    with torch.no_grad():
        want = m(torch.tensor(x)).numpy()
    assert np.abs(run_batches(GraphExecutor(g), x) - want).max() < 1e-4
    cfg = calibrate(g, x)
    check_exported(quantize_graph(g, cfg), x, tmp_path, GraphExecutor(g, cfg))


class KeywordLSTM(nn.Module):
    """An LSTM keyword spotter: two stacked LSTM layers over [batch, steps, features], the last step classified."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(10, 12, num_layers=2, batch_first=True)
        self.fc = nn.Linear(12, 4)

    def forward(self, x):
        y, _ = self.lstm(x)
        return self.fc(y[:, -1])


def test_lstm_unrolled(tmp_path):
    """nn.LSTM unrolled over its steps (FULLY_CONNECTED per gate, LOGISTIC/TANH, MUL/ADD cell updates): equal to
    PyTorch in float, bit-exact with TFLM once quantized; the unused output sequence is not computed."""
    torch.manual_seed(0)
    m = KeywordLSTM().eval()
    x = np.random.default_rng(0).normal(size=(32, 6, 10)).astype(np.float32)
    g = tinyml.from_torch(m, torch.tensor(x[:1]))
    kinds = [op.kind for op in g.ops]
    # three sigmoid gates per step and layer, but no forget gate at the first step (no cell state yet)
    assert kinds.count(OpKind.LOGISTIC) == 2 * (6 * 3 - 1) and OpKind.CONCATENATION not in kinds
    with torch.no_grad():
        want = m(torch.tensor(x)).numpy()
    assert np.abs(run_batches(GraphExecutor(g), x) - want).max() < 1e-5
    cfg = calibrate(g, x)
    check_exported(quantize_graph(g, cfg), x, tmp_path, GraphExecutor(g, cfg))
    class Sequence(nn.Module):  # the whole output sequence: a CONCATENATION of the steps
        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(10, 5, batch_first=True)

        def forward(self, x):
            return self.lstm(x)[0]
    seq = Sequence().eval()
    g = tinyml.from_torch(seq, torch.tensor(x[:1]))
    assert OpKind.CONCATENATION in [op.kind for op in g.ops]
    with torch.no_grad():
        want = seq(torch.tensor(x)).numpy()
    assert np.abs(run_batches(GraphExecutor(g), x) - want).max() < 1e-5
    cfg = calibrate(g, x)
    # bit-exact with TFLM (the steps' outputs requantized into the sequence's quantization, so the integer graph
    # no longer aligns op for op with the fake-quantized one, and the recurrence carries rounding from step to step)
    check_exported(quantize_graph(g, cfg), x, tmp_path / "seq")
    with pytest.raises(UnsupportedOpError, match="final state"):
        class State(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.lstm = nn.LSTM(10, 12, batch_first=True)

            def forward(self, x):
                return self.lstm(x)[1][0]
        tinyml.from_torch(State(), torch.tensor(x[:1]))


class Pieces(nn.Module):
    """torch.split (sizes and a split size), chunk, unbind and stack between convolutions and a classifier."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 6, 3, padding=1)
        self.b = nn.Conv2d(2, 4, 1)
        self.fc = nn.Linear(4 * 5 * 4, 6)
        self.out = nn.Linear(3, 2)

    def forward(self, x):
        y = torch.relu(self.a(x))
        p, q = torch.split(y, [2, 4], dim=1)
        r, s = torch.chunk(q, 2, dim=1)
        u = torch.split(p + r * s, 1, dim=1)
        z = self.b(torch.cat([u[1], u[0]], dim=1))
        f = self.fc(torch.flatten(z, 1)).reshape(-1, 2, 3)
        g, h = torch.unbind(f, dim=1)
        return self.out(torch.stack([g, h * 0.5], dim=1))


def test_split_chunk_unbind_stack(tmp_path):
    torch.manual_seed(0)
    m = Pieces().eval()
    x = np.random.default_rng(0).normal(size=(32, 3, 5, 4)).astype(np.float32)
    g = tinyml.from_torch(m, torch.tensor(x[:1]))
    with torch.no_grad():
        want = m(torch.tensor(x)).numpy()
    assert np.abs(run_batches(GraphExecutor(g), nhwc(x)) - want).max() < 1e-5
    cfg = calibrate(g, nhwc(x))
    check_exported(quantize_graph(g, cfg), nhwc(x), tmp_path, GraphExecutor(g, cfg))
