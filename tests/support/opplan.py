"""The op test plan: small Keras models, one row per case, converted to full-int8 TFLite with TensorFlow's
TFLiteConverter. Rows are data (builder name, input shapes, parameters); builders are a small table of functions.
"""
from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from typing import Any

import numpy as np

# name, builder, input shapes (without batch), builder kwargs, converter options
PLAN: list[dict[str, Any]] = [
    # CONV_2D: kernel sizes, strides 1/2, SAME/VALID, dilation, fused activations, odd sizes, groups
    {"name": "conv3x3_s1_same_relu", "build": "conv", "inputs": [(9, 11, 3)],
     "kw": {"filters": 5, "kernel_size": 3, "strides": 1, "padding": "same", "activation": "relu"}},
    {"name": "conv3x3_s2_valid", "build": "conv", "inputs": [(10, 9, 4)],
     "kw": {"filters": 6, "kernel_size": 3, "strides": 2, "padding": "valid"}},
    {"name": "conv5x5_s2_same_relu6", "build": "conv", "inputs": [(13, 13, 2)],
     "kw": {"filters": 4, "kernel_size": 5, "strides": 2, "padding": "same", "activation": "relu6"}},
    {"name": "conv3x3_dil2_same", "build": "conv", "inputs": [(12, 11, 3)],
     "kw": {"filters": 4, "kernel_size": 3, "dilation_rate": 2, "padding": "same"}},
    {"name": "conv1x1", "build": "conv", "inputs": [(7, 7, 8)], "kw": {"filters": 16, "kernel_size": 1}},
    {"name": "conv_s2x1_k3x1_odd", "build": "conv", "inputs": [(15, 7, 3)],
     "kw": {"filters": 3, "kernel_size": (3, 1), "strides": (2, 1), "padding": "same"}},
    {"name": "conv_s2_same_even", "build": "conv", "inputs": [(16, 16, 3)],
     "kw": {"filters": 8, "kernel_size": 3, "strides": 2, "padding": "same", "activation": "relu"}},
    {"name": "conv_nobias", "build": "conv", "inputs": [(8, 8, 3)],
     "kw": {"filters": 4, "kernel_size": 3, "use_bias": False, "padding": "same"}},
    # DEPTHWISE_CONV_2D: depth multiplier 1/2, strides, dilation
    {"name": "dw3x3_s1_same", "build": "dwconv", "inputs": [(9, 9, 4)],
     "kw": {"kernel_size": 3, "padding": "same"}},
    {"name": "dw3x3_s2_same_dm2", "build": "dwconv", "inputs": [(10, 11, 3)],
     "kw": {"kernel_size": 3, "strides": 2, "padding": "same", "depth_multiplier": 2}},
    {"name": "dw3x3_valid_dil2", "build": "dwconv", "inputs": [(12, 12, 4)],
     "kw": {"kernel_size": 3, "padding": "valid", "dilation_rate": 2}},
    {"name": "dw5x5_s2_relu6", "build": "dwconv", "inputs": [(13, 13, 6)],
     "kw": {"kernel_size": 5, "strides": 2, "padding": "same", "activation": "relu6"}},
    {"name": "dw3x3_valid_dm2_relu", "build": "dwconv", "inputs": [(7, 9, 2)],
     "kw": {"kernel_size": 3, "padding": "valid", "depth_multiplier": 2, "activation": "relu"}},
    # FULLY_CONNECTED and RESHAPE
    {"name": "dense_relu", "build": "dense", "inputs": [(20,)], "kw": {"units": 7, "activation": "relu"}},
    {"name": "flatten_dense", "build": "flatten_dense", "inputs": [(5, 4, 3)], "kw": {"units": 10}},
    {"name": "dense_nobias", "build": "dense", "inputs": [(33,)], "kw": {"units": 5, "use_bias": False}},
    # element-wise, with broadcasting
    {"name": "add_relu", "build": "binary", "inputs": [(5, 6, 4), (5, 6, 4)], "kw": {"op": "add"}},
    {"name": "add_relu6", "build": "binary", "inputs": [(5, 6, 4), (5, 6, 4)], "kw": {"op": "add6"}},
    {"name": "add_broadcast", "build": "binary", "inputs": [(5, 5, 4), (1, 1, 4)], "kw": {"op": "add"}},
    {"name": "sub_broadcast", "build": "binary", "inputs": [(3, 7, 5), (3, 1, 5)], "kw": {"op": "sub"}},
    {"name": "sub_same", "build": "binary", "inputs": [(4, 5, 6), (4, 5, 6)], "kw": {"op": "sub"}},
    {"name": "mul_same", "build": "binary", "inputs": [(4, 6, 3), (4, 6, 3)], "kw": {"op": "mul"}},
    {"name": "mul_broadcast", "build": "binary", "inputs": [(4, 6, 3), (1, 6, 1)], "kw": {"op": "mul"}},
    # pooling and MEAN
    {"name": "avgpool2_s2_valid", "build": "pool", "inputs": [(9, 10, 3)],
     "kw": {"kind": "avg", "pool_size": 2, "strides": 2, "padding": "valid"}},
    {"name": "avgpool3_s2_same", "build": "pool", "inputs": [(11, 11, 4)],
     "kw": {"kind": "avg", "pool_size": 3, "strides": 2, "padding": "same"}},
    {"name": "maxpool3_s1_same", "build": "pool", "inputs": [(7, 8, 5)],
     "kw": {"kind": "max", "pool_size": 3, "strides": 1, "padding": "same"}},
    {"name": "maxpool2_s2_valid", "build": "pool", "inputs": [(9, 9, 2)],
     "kw": {"kind": "max", "pool_size": 2, "strides": 2, "padding": "valid"}},
    {"name": "maxpool3_s2_same_c37", "build": "pool", "inputs": [(9, 9, 37)],
     "kw": {"kind": "max", "pool_size": 3, "strides": 2, "padding": "same"}},
    {"name": "avgpool2_s1_valid_c21", "build": "pool", "inputs": [(6, 7, 21)],
     "kw": {"kind": "avg", "pool_size": 2, "strides": 1, "padding": "valid"}},
    {"name": "mean_spatial", "build": "gap", "inputs": [(7, 5, 6)], "kw": {"keepdims": False}},
    {"name": "mean_spatial_keepdims", "build": "gap", "inputs": [(6, 6, 3)], "kw": {"keepdims": True}},
    # activations
    {"name": "softmax", "build": "dense_act", "inputs": [(16,)], "kw": {"units": 10, "act": "softmax"}},
    {"name": "logistic", "build": "dense_act", "inputs": [(12,)], "kw": {"units": 9, "act": "sigmoid"}},
    {"name": "tanh", "build": "dense_act", "inputs": [(12,)], "kw": {"units": 9, "act": "tanh"}},
    {"name": "hard_swish", "build": "conv_act", "inputs": [(6, 6, 3)], "kw": {"act": "hard_swish"}},
    {"name": "leaky_relu", "build": "conv_act", "inputs": [(6, 7, 3)], "kw": {"act": "leaky_relu"}},
    {"name": "relu", "build": "act", "inputs": [(5, 5, 3)], "kw": {"act": "relu"}},
    {"name": "relu6", "build": "act", "inputs": [(5, 5, 3)], "kw": {"act": "relu6"}},
    # PAD, CONCATENATION
    {"name": "zero_pad", "build": "pad", "inputs": [(5, 6, 3)], "kw": {"padding": ((1, 2), (2, 1))}},
    {"name": "concat_channels", "build": "concat", "inputs": [(6, 6, 3)], "kw": {"axis": -1}},
    {"name": "concat_width", "build": "concat", "inputs": [(5, 4, 3)], "kw": {"axis": 2}},
    # STRIDED_SLICE: ranges, steps, a reversed axis, a shrunk axis
    {"name": "strided_slice", "build": "slices", "inputs": [(9, 10, 6)], "kw": {}},
    # QUANTIZE / DEQUANTIZE at float32 model boundaries; several inputs and outputs
    {"name": "float_io", "build": "conv", "inputs": [(8, 8, 3)], "float_io": True,
     "kw": {"filters": 4, "kernel_size": 3, "padding": "same", "activation": "relu"}},
    {"name": "two_in_two_out", "build": "two_io", "inputs": [(6, 6, 3), (6, 6, 3)], "kw": {}},
    # data movement: TRANSPOSE, SPACE_TO_DEPTH, DEPTH_TO_SPACE, RESIZE_NEAREST_NEIGHBOR (half-pixel centers,
    # align_corners, up and down), SPLIT / SPLIT_V / UNPACK / PACK (the converter leaves SPLIT_V and UNPACK in
    # float32 between a DEQUANTIZE and QUANTIZEs: a float island)
    {"name": "transpose_hw", "build": "layout", "inputs": [(6, 5, 4)], "kw": {"op": "permute"}},
    {"name": "transpose_3d", "build": "layout", "inputs": [(7, 3, 5)], "kw": {"op": "transpose3"}},
    {"name": "space_to_depth", "build": "layout", "inputs": [(8, 6, 3)], "kw": {"op": "s2d"}},
    {"name": "depth_to_space", "build": "layout", "inputs": [(4, 3, 8)], "kw": {"op": "d2s"}},
    {"name": "resize_nearest_up", "build": "resize", "inputs": [(5, 7, 3)], "kw": {"size": (11, 13), "mode": "tf2"}},
    {"name": "resize_nearest_x2", "build": "resize", "inputs": [(4, 6, 5)], "kw": {"size": (8, 12), "mode": "v1"}},
    {"name": "resize_nearest_align", "build": "resize", "inputs": [(5, 7, 3)],
     "kw": {"size": (11, 13), "mode": "align"}},
    {"name": "resize_nearest_down", "build": "resize", "inputs": [(9, 10, 2)], "kw": {"size": (4, 3), "mode": "tf2"}},
    {"name": "split_pack", "build": "splits", "inputs": [(6, 5, 9)], "kw": {}},
    # RESIZE_BILINEAR (half-pixel centers, v1 x2 with exact rounding ties, align_corners, down) and
    # TRANSPOSE_CONV (bias or not, SAME/VALID, stride 1/2, fused ReLU, output padding)
    {"name": "resize_bilinear_up", "build": "resize", "inputs": [(5, 7, 3)],
     "kw": {"size": (11, 13), "mode": "tf2", "method": "bilinear"}},
    {"name": "resize_bilinear_x2", "build": "resize", "inputs": [(4, 6, 5)],
     "kw": {"size": (8, 12), "mode": "v1", "method": "bilinear"}},
    {"name": "resize_bilinear_align", "build": "resize", "inputs": [(5, 7, 3)],
     "kw": {"size": (11, 13), "mode": "align", "method": "bilinear"}},
    {"name": "resize_bilinear_down", "build": "resize", "inputs": [(9, 10, 2)],
     "kw": {"size": (4, 3), "mode": "tf2", "method": "bilinear"}},
    # ABS, RSQRT (int8, tabulated), SQUARED_DIFFERENCE (broadcast), NEG and SQUARE (float32 islands the converter
    # leaves between DEQUANTIZE and QUANTIZE)
    {"name": "abs_rsqrt", "build": "math", "inputs": [(6, 8)], "kw": {"op": "abs_rsqrt"}},
    {"name": "squared_difference", "build": "math", "inputs": [(6, 8)], "kw": {"op": "sqdiff"}},
    {"name": "div_l2norm", "build": "math", "inputs": [(6, 8)], "kw": {"op": "div_l2"}},
    {"name": "neg_square_islands", "build": "math", "inputs": [(6, 8)], "kw": {"op": "neg_square"}},
    # SUM, REDUCE_MAX (axes, keepdims), ARG_MAX / ARG_MIN (int32 outputs), GATHER (constant indices)
    {"name": "reductions", "build": "reductions", "inputs": [(5, 6, 7)], "kw": {}},
    {"name": "gather", "build": "gather", "inputs": [(10, 8)], "kw": {}},
    {"name": "tconv_s2_same", "build": "tconv", "inputs": [(5, 6, 4)],
     "kw": {"filters": 6, "kernel_size": 3, "strides": 2, "padding": "same"}},
    {"name": "tconv_s2_valid_nobias", "build": "tconv", "inputs": [(5, 6, 4)],
     "kw": {"filters": 3, "kernel_size": 3, "strides": 2, "padding": "valid", "use_bias": False}},
    {"name": "tconv_s1_relu", "build": "tconv", "inputs": [(5, 6, 4)],
     "kw": {"filters": 5, "kernel_size": 2, "strides": 1, "padding": "same", "activation": "relu"}},
    {"name": "tconv_k4s2_outpad", "build": "tconv", "inputs": [(4, 5, 3)],
     "kw": {"filters": 4, "kernel_size": (4, 3), "strides": 2, "padding": "valid", "output_padding": 1}},
    # MAXIMUM, MINIMUM (broadcast), PRELU (per-channel alpha and alpha over every element)
    {"name": "maximum_minimum", "build": "max_min", "inputs": [(5, 6, 4), (1, 6, 4)], "kw": {}},
    {"name": "prelu_channels", "build": "prelu", "inputs": [(6, 6, 4)], "kw": {"shared_axes": [1, 2]}},
    {"name": "prelu_full", "build": "prelu", "inputs": [(5, 4, 3)], "kw": {"shared_axes": None}},
    # realistic small models with the operators above (host and QEMU: tests/test_firmware.py)
    {"name": "focus_superres", "build": "focus_superres", "inputs": [(16, 16, 3)], "kw": {}},
    {"name": "branching_cnn", "build": "branching_cnn", "inputs": [(12, 12, 4)], "kw": {}},
    {"name": "unet", "build": "unet", "inputs": [(16, 16, 2)], "kw": {}},
    {"name": "fpn_head", "build": "fpn_head", "inputs": [(24, 24, 3)], "kw": {}},
    {"name": "attention", "build": "attention", "inputs": [(6, 16)], "kw": {}},
    # 16x8 quantization (int16 activations, int8 weights, int64 bias): an audio CNN with int16 and float32 I/O
    {"name": "audio_cnn_16x8", "build": "audio_cnn", "inputs": [(49, 10, 1)], "kw": {}, "mode": "16x8"},
    {"name": "audio_cnn_16x8_float_io", "build": "audio_cnn", "inputs": [(25, 8, 1)], "kw": {}, "mode": "16x8",
     "float_io": True},
    {"name": "lstm_kws", "build": "lstm_kws", "inputs": [(8, 10)], "kw": {}},
    # small CNNs whose first stage patch-based inference can split (tests/test_memory.py runs them patched too)
    {"name": "cnn_mobilenet", "build": "cnn", "inputs": [(23, 19, 3)], "kw": {"variant": "mobilenet"}},
    {"name": "cnn_residual", "build": "cnn", "inputs": [(17, 16, 3)], "kw": {"variant": "residual"}},
    {"name": "pad_folded_into_conv", "build": "cnn", "inputs": [(14, 13, 3)], "kw": {"variant": "pad_conv"}},
    {"name": "two_branches", "build": "cnn", "inputs": [(12, 12, 3)], "kw": {"variant": "branches"}},
    {"name": "cnn_valid_dilated", "build": "cnn", "inputs": [(21, 22, 2)], "kw": {"variant": "valid_dilated"}},
    # zero-copy CONCATENATION (tests/test_memory.py): channel slices from conv/depthwise/pooling branches, a
    # branch input that keeps its copy, and contiguous slices written by FULLY_CONNECTED
    {"name": "cnn_inception", "build": "cnn", "inputs": [(16, 14, 3)], "kw": {"variant": "inception"}},
    {"name": "dense_concat", "build": "dense_concat", "inputs": [(20,)], "kw": {}},
    # patch stages that end at the classifier, summed band by band (tests/test_memory.py)
    {"name": "cnn_flatten_dense", "build": "cnn_head", "inputs": [(18, 11, 2)], "kw": {"head": "flatten"}},
    {"name": "cnn_avgpool_dense", "build": "cnn_head", "inputs": [(15, 12, 3)], "kw": {"head": "avgpool"}},
]


def _builders(keras: Any) -> dict[str, Callable[..., Any]]:
    L = keras.layers
    bias = {"bias_initializer": "random_normal"}

    def inputs(shapes: list[tuple[int, ...]]) -> list[Any]:
        return [keras.Input(shape=s, batch_size=1, name=f"in{k}") for k, s in enumerate(shapes)]

    def conv(shapes, **kw):
        x, = inputs(shapes)
        return keras.Model(x, L.Conv2D(**kw, **({} if kw.get("use_bias") is False else bias))(x))

    def dwconv(shapes, **kw):
        x, = inputs(shapes)
        return keras.Model(x, L.DepthwiseConv2D(**kw, **bias)(x))

    def dense(shapes, **kw):
        x, = inputs(shapes)
        return keras.Model(x, L.Dense(**kw, **({} if kw.get("use_bias") is False else bias))(x))

    def flatten_dense(shapes, units):
        x, = inputs(shapes)
        return keras.Model(x, L.Dense(units, **bias)(L.Flatten()(x)))

    def binary(shapes, op):
        a, b = inputs(shapes)
        ca = L.Conv2D(shapes[0][-1], 1, **bias)(a)  # give the two operands different scales
        y = {"add": keras.ops.add, "add6": keras.ops.add, "sub": keras.ops.subtract,
             "mul": keras.ops.multiply}[op](ca, b)
        return keras.Model([a, b], L.ReLU()(y) if op == "add" else L.ReLU(6.0)(y) if op == "add6" else y)

    def pool(shapes, kind, **kw):
        x, = inputs(shapes)
        y = L.Conv2D(shapes[0][-1], 1, **bias)(x)
        return keras.Model(x, (L.AveragePooling2D if kind == "avg" else L.MaxPooling2D)(**kw)(y))

    def gap(shapes, keepdims):
        x, = inputs(shapes)
        return keras.Model(x, L.GlobalAveragePooling2D(keepdims=keepdims)(L.Conv2D(4, 1, **bias)(x)))

    def dense_act(shapes, units, act):
        x, = inputs(shapes)
        return keras.Model(x, L.Activation(act)(L.Dense(units, **bias)(x)))

    def conv_act(shapes, act):
        x, = inputs(shapes)
        y = L.Conv2D(4, 3, padding="same", **bias)(x)
        y = L.LeakyReLU(negative_slope=0.2)(y) if act == "leaky_relu" else L.Activation(act)(y)
        return keras.Model(x, y)

    def act(shapes, act):
        x, = inputs(shapes)
        return keras.Model(x, L.ReLU(max_value=6.0)(x) if act == "relu6" else L.ReLU()(x))

    def pad(shapes, padding):
        x, = inputs(shapes)
        y = L.ZeroPadding2D(padding)(L.Conv2D(3, 1, **bias)(x))
        return keras.Model(x, L.MaxPooling2D(2)(y))

    def concat(shapes, axis):
        x, = inputs(shapes)
        a = L.Conv2D(3, 1, **bias)(x)
        b = L.Conv2D(5 if axis == -1 else 3, 3, padding="same", **bias)(x)
        return keras.Model(x, L.Concatenate(axis=axis)([a, b]))

    def dense_concat(shapes):
        x, = inputs(shapes)
        y = L.Concatenate()([L.Dense(7, activation="relu", **bias)(x), L.Dense(5, **bias)(x)])
        return keras.Model(x, L.Dense(3, **bias)(y))

    def slices(shapes):
        x, = inputs(shapes)
        y = L.Conv2D(6, 1, **bias)(x)
        a = L.Lambda(lambda t: t[:, 1:8:2, ::-1, 2:5])(y)
        b = L.Lambda(lambda t: t[:, 3, -4:, :])(y)
        return keras.Model(x, [a, L.Dense(3, **bias)(L.Flatten()(b))])

    def two_io(shapes):
        a, b = inputs(shapes)
        s = L.Add()([L.Conv2D(3, 1, **bias)(a), b])
        return keras.Model([a, b], [L.Conv2D(2, 3, **bias)(s), L.GlobalAveragePooling2D()(s)])

    def layout(shapes, op):
        import tensorflow as tf
        x, = inputs(shapes)
        y = L.Conv2D(shapes[0][-1] if op != "d2s" else 8, 1, **bias)(x)
        if op == "permute":
            y = L.Permute((2, 1, 3))(y)
        elif op == "transpose3":  # [1, 7, 3, 5] -> [1, 5, 7, 3]
            y = L.Permute((3, 1, 2))(y)
        elif op == "s2d":
            y = L.Lambda(lambda t: tf.nn.space_to_depth(t, 2))(y)
        else:
            y = L.Lambda(lambda t: tf.nn.depth_to_space(t, 2))(y)
        return keras.Model(x, y)

    def resize(shapes, size, mode, method="nearest"):
        import tensorflow as tf
        x, = inputs(shapes)
        y = L.Conv2D(shapes[0][-1], 1, **bias)(x)
        v1 = (tf.compat.v1.image.resize_nearest_neighbor if method == "nearest"
              else tf.compat.v1.image.resize_bilinear)
        if mode == "tf2":  # half-pixel centers
            f = lambda t: tf.image.resize(t, size, method=method)  # noqa: E731
        else:
            f = lambda t: v1(t, size, align_corners=mode == "align")  # noqa: E731
        return keras.Model(x, L.Conv2D(3, 1, **bias)(L.Lambda(f)(y)))

    def tconv(shapes, **kw):
        x, = inputs(shapes)
        return keras.Model(x, L.Conv2DTranspose(**kw, **({} if kw.get("use_bias") is False else bias))(x))

    def unet(shapes):  # a two-level U-Net: strided encoder, transposed-conv and nearest decoders, skip concats
        import tensorflow as tf
        x, = inputs(shapes)
        e1 = L.Conv2D(8, 3, padding="same", activation="relu", **bias)(x)
        e2 = L.Conv2D(12, 3, padding="same", activation="relu", **bias)(L.MaxPooling2D(2)(e1))
        m = L.Conv2D(16, 3, strides=2, padding="same", activation="relu", **bias)(e2)
        d2 = L.Conv2DTranspose(12, 3, strides=2, padding="same", activation="relu", **bias)(m)
        d2 = L.Conv2D(12, 3, padding="same", activation="relu", **bias)(L.Concatenate()([d2, e2]))
        h, w = shapes[0][:2]
        d1 = L.Lambda(lambda t: tf.image.resize(t, (h, w), method="nearest"))(d2)
        d1 = L.Conv2D(8, 3, padding="same", activation="relu", **bias)(L.Concatenate()([d1, e1]))
        return keras.Model(x, L.Conv2D(3, 1, **bias)(d1))  # per-pixel class scores

    def fpn_head(shapes):  # a feature pyramid: lateral 1x1s, bilinear top-down upsampling, a detection head
        import tensorflow as tf
        x, = inputs(shapes)
        c2 = L.Conv2D(8, 3, strides=2, padding="same", activation="relu", **bias)(x)
        c3 = L.Conv2D(12, 3, strides=2, padding="same", activation="relu", **bias)(c2)
        c4 = L.Conv2D(16, 3, strides=2, padding="same", activation="relu", **bias)(c3)
        p4 = L.Conv2D(8, 1, **bias)(c4)
        up = L.UpSampling2D(2, interpolation="bilinear")
        p3 = L.Add()([up(p4), L.Conv2D(8, 1, **bias)(c3)])
        p2 = L.Add()([L.Lambda(lambda t: tf.image.resize(t, c2.shape[1:3], method="bilinear"))(p3),
                      L.Conv2D(8, 1, **bias)(c2)])
        head = L.Conv2D(6, 3, padding="same", **bias)  # 6 = 1 objectness + 4 box + 1 class, shared by levels
        return keras.Model(x, [head(p2), head(p3)])

    def math(shapes, op):
        import tensorflow as tf
        x, = inputs(shapes)
        y = L.Dense(shapes[0][-1], **bias)(x)
        if op == "abs_rsqrt":
            return keras.Model(x, [L.Lambda(tf.abs)(y), L.Lambda(lambda t: tf.math.rsqrt(tf.abs(t) + 0.5))(y)])
        if op == "sqdiff":  # against a per-row mean (broadcast over the last axis) and a constant
            m = L.Lambda(lambda t: tf.reduce_mean(t, axis=-1, keepdims=True))(y)
            return keras.Model(x, [L.Lambda(lambda ts: tf.math.squared_difference(ts[0], ts[1]))([y, m]),
                                   L.Lambda(lambda t: tf.math.squared_difference(t, 0.3))(y)])
        if op == "div_l2":  # a broadcast DIV by a positive per-row norm, and L2_NORMALIZATION
            n = L.Lambda(lambda t: tf.reduce_sum(tf.abs(t), axis=-1, keepdims=True) + 1.0)(y)
            return keras.Model(x, [L.Lambda(lambda ts: ts[0] / ts[1])([y, n]),
                                   L.Lambda(lambda t: tf.math.l2_normalize(t, axis=-1))(y)])
        return keras.Model(x, [L.Lambda(lambda t: -t)(y), L.Lambda(tf.square)(y)])

    def reductions(shapes):
        import tensorflow as tf
        x, = inputs(shapes)
        y = L.Conv2D(7, 1, **bias)(x)
        return keras.Model(x, [L.Lambda(lambda t: tf.reduce_sum(t, axis=-1))(y),
                               L.Lambda(lambda t: tf.reduce_sum(t, axis=[1, 2], keepdims=True))(y),
                               L.Lambda(lambda t: tf.reduce_max(t, axis=[1, 2]))(y),
                               L.Lambda(lambda t: tf.reduce_max(t, axis=1, keepdims=True))(y),
                               L.Lambda(lambda t: tf.argmax(t, axis=-1, output_type=tf.int32))(y),
                               L.Lambda(lambda t: tf.argmin(t, axis=1, output_type=tf.int32))(y)])

    def gather(shapes):
        import tensorflow as tf
        x, = inputs(shapes)
        y = L.Dense(8, **bias)(x)
        return keras.Model(x, [L.Lambda(lambda t: tf.gather(t, [3, 1, 7, 0, 3], axis=2))(y),
                               L.Lambda(lambda t: tf.gather(t, [[9, 0], [4, 4]], axis=1))(y)])

    def attention(shapes):  # a two-head self-attention block with LayerNorm and a residual, then a classifier
        x, = inputs(shapes)
        h = L.LayerNormalization()(x)
        y = L.Add()([x, L.MultiHeadAttention(num_heads=2, key_dim=8)(h, h)])
        return keras.Model(x, L.Dense(4, **bias)(L.GlobalAveragePooling1D()(y)))

    def audio_cnn(shapes):  # a keyword-spotting CNN on a spectrogram: strided conv, depthwise, a tanh x sigmoid
        x, = inputs(shapes)  # gate, residual ADD, pooling, MEAN, classifier and SOFTMAX
        y = L.Conv2D(8, (5, 3), strides=(2, 1), padding="same", activation="relu", **bias)(x)
        y = L.DepthwiseConv2D(3, padding="same", **bias)(y)
        y = L.Multiply()([L.Activation("tanh")(y), L.Conv2D(8, 1, activation="sigmoid", **bias)(y)])
        y = L.Conv2D(12, 1, activation="relu", **bias)(y)
        y = L.Add()([y, L.Conv2D(12, 3, padding="same", **bias)(y)])
        y = L.AveragePooling2D(2)(L.MaxPooling2D(2)(y))
        y = L.Dense(6, **bias)(L.GlobalAveragePooling2D()(y))
        return keras.Model(x, L.Softmax()(y))

    def lstm_kws(shapes):  # an LSTM keyword spotter over 8 frames of 10 features, unrolled by the converter
        x, = inputs(shapes)   # (UNPACK, FULLY_CONNECTED, SPLIT, LOGISTIC, TANH, MUL, ADD per time step)
        y = L.LSTM(12, unroll=True)(x)
        return keras.Model(x, L.Dense(4, **bias)(y))

    def splits(shapes):
        import tensorflow as tf
        x, = inputs(shapes)
        y = L.Conv2D(9, 1, **bias)(x)
        a, b, c = L.Lambda(lambda t: tf.split(t, 3, axis=-1))(y)
        d, e = L.Lambda(lambda t: tf.split(t, [2, 4], axis=1))(y)
        u = L.Lambda(lambda t: tf.unstack(t, axis=2))(y)
        s = L.Lambda(lambda ts: tf.stack(ts, axis=1))([a, c])
        z = L.Conv2D(3, 1, **bias)(L.Concatenate(axis=1)([e, d]))
        w = L.Dense(4, **bias)(L.Flatten()(L.Concatenate()([u[1], u[3]])))
        return keras.Model(x, [b, z, w, s])

    def max_min(shapes):
        a, b = inputs(shapes)
        ca = L.Conv2D(shapes[0][-1], 1, **bias)(a)
        return keras.Model([a, b], [L.Maximum()([ca, b]), keras.ops.minimum(ca, b)])

    def prelu(shapes, shared_axes):
        x, = inputs(shapes)
        y = L.Conv2D(shapes[0][-1], 3, padding="same", **bias)(x)
        alpha = keras.initializers.RandomUniform(-0.3, 0.5)
        return keras.Model(x, L.PReLU(alpha_initializer=alpha, shared_axes=shared_axes)(y))

    def focus_superres(shapes):  # a YOLOv5-style focus stem and a pixel-shuffle decoder, plus a nearest skip
        import tensorflow as tf
        x, = inputs(shapes)
        h, w, _ = shapes[0]
        y = L.Lambda(lambda t: tf.nn.space_to_depth(t, 2))(x)
        y = L.Conv2D(16, 3, padding="same", activation="relu", **bias)(y)
        y = L.PReLU(alpha_initializer=keras.initializers.Constant(0.2), shared_axes=[1, 2])(
            L.Conv2D(16, 1, **bias)(y))
        y = L.Lambda(lambda t: tf.nn.depth_to_space(t, 2))(L.Conv2D(12, 3, padding="same", **bias)(y))
        z = L.Conv2D(3, 1, **bias)(L.AveragePooling2D(2)(x))
        z = L.Lambda(lambda t: tf.image.resize(t, (h, w), method="nearest"))(z)
        return keras.Model(x, L.Add()([y, z]))

    def branching_cnn(shapes):  # max/min branches, PReLU, a channel split, a transpose, a classifier
        import tensorflow as tf
        x, = inputs(shapes)
        a = L.Conv2D(8, 3, padding="same", **bias)(x)
        b = L.Conv2D(8, 3, padding="same", **bias)(x)
        m, n = L.Maximum()([a, b]), L.Minimum()([a, b])
        c = L.Concatenate()([m, L.PReLU(alpha_initializer=keras.initializers.Constant(0.1), shared_axes=[1, 2])(n)])
        p, q = L.Lambda(lambda t: tf.split(t, 2, axis=-1))(L.Conv2D(12, 1, **bias)(c))
        r = L.Permute((2, 1, 3))(L.Add()([p, q]))
        return keras.Model(x, L.Dense(5, **bias)(L.GlobalAveragePooling2D()(r)))

    def cnn(shapes, variant):
        x, = inputs(shapes)
        if variant == "mobilenet":  # strided conv, depthwise (multiplier 1 and 2), pointwise, pooling, head
            y = L.Conv2D(8, 3, strides=2, padding="same", activation="relu", **bias)(x)
            y = L.DepthwiseConv2D(3, padding="same", activation="relu6", **bias)(y)
            y = L.Conv2D(12, 1, activation="relu", **bias)(y)
            y = L.DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2, **bias)(y)
            y = L.Conv2D(8, 1, activation="relu", **bias)(y)
            y = L.MaxPooling2D(3, strides=1, padding="same")(y)
            y = L.Conv2D(10, 3, strides=2, padding="same", activation="relu", **bias)(y)
        elif variant == "residual":  # ResNet block: two convs and an ADD with the block input, then strided
            a = L.Conv2D(8, 3, padding="same", activation="relu", **bias)(x)
            b = L.Conv2D(8, 3, padding="same", activation="relu", **bias)(a)
            b = L.Conv2D(8, 3, padding="same", **bias)(b)
            y = L.ReLU()(L.Add()([a, b]))
            y = L.Conv2D(12, 3, strides=2, padding="same", activation="relu", **bias)(y)
            y = L.AveragePooling2D(3, strides=1, padding="same")(y)
            y = L.Conv2D(8, 3, strides=2, padding="same", **bias)(y)
        elif variant == "branches":  # two independent branches with large intermediates, joined by ADD
            a = L.Conv2D(2, 1, **bias)(L.Conv2D(24, 3, padding="same", activation="relu", **bias)(x))
            b = L.Conv2D(2, 1, **bias)(L.Conv2D(24, 3, padding="same", activation="relu", **bias)(x))
            y = L.Add()([a, b])
        elif variant == "pad_conv":  # explicit ZeroPadding2D before VALID convolutions (Keras MobileNetV2 style)
            y = L.Conv2D(6, 1, activation="relu", **bias)(x)
            y = L.ZeroPadding2D(((1, 2), (2, 1)))(y)
            y = L.DepthwiseConv2D(3, strides=2, padding="valid", **bias)(y)
            y = L.ZeroPadding2D(1)(y)
            y = L.Conv2D(8, 3, padding="valid", activation="relu", **bias)(y)
        elif variant == "inception":  # parallel branches joined by channel concatenation, twice
            s = L.Conv2D(4, 3, padding="same", activation="relu", **bias)(x)  # a stage patching can split
            s = L.Conv2D(8, 3, padding="same", activation="relu", **bias)(s)
            b1 = L.Conv2D(6, 1, activation="relu", **bias)(s)
            b2 = L.Conv2D(6, 3, padding="same", activation="relu", **bias)(L.Conv2D(4, 1, **bias)(s))
            b3 = L.MaxPooling2D(3, strides=1, padding="same")(s)
            b4 = L.DepthwiseConv2D(3, padding="same", **bias)(s)
            y = L.Concatenate()([b1, s, b2, b3, b4])  # s is read by the branches too: it is copied
            y = L.Conv2D(8, 1, activation="relu", **bias)(y)
            y = L.Concatenate()([L.AveragePooling2D(2)(y), L.Conv2D(4, 3, strides=2, padding="same", **bias)(y)])
        else:  # VALID padding, 5x5 kernels, dilation, average pooling
            y = L.Conv2D(6, 5, padding="valid", activation="relu", **bias)(x)
            y = L.DepthwiseConv2D(3, padding="valid", dilation_rate=2, **bias)(y)
            y = L.AveragePooling2D(2, strides=2, padding="valid")(y)
            y = L.Conv2D(8, 3, strides=2, padding="valid", activation="relu", **bias)(y)
        return keras.Model(x, L.Dense(4, **bias)(L.GlobalAveragePooling2D()(y)))

    def cnn_head(shapes, head):  # a small CNN whose last feature map goes straight into its classifier
        x, = inputs(shapes)
        y = L.Conv2D(8, 3, strides=2, padding="same", activation="relu", **bias)(x)
        y = L.DepthwiseConv2D(3, padding="same", activation="relu", **bias)(y)
        y = L.Conv2D(6, 1, activation="relu", **bias)(y)
        if head == "avgpool":  # a full-size AveragePooling2D is AVERAGE_POOL_2D (GlobalAveragePooling2D is MEAN)
            y = L.AveragePooling2D(pool_size=(y.shape[1], y.shape[2]))(y)
        return keras.Model(x, L.Dense(5, **bias)(L.Flatten()(y)))

    return {k: v for k, v in locals().items() if callable(v) and k not in ("inputs",)}


def build_tflite(case: dict[str, Any], seed: int = 0) -> bytes:
    """Build the case's Keras model and convert it to full-int8 TFLite (float32 I/O when the case asks)."""
    import tensorflow as tf
    keras = tf.keras
    keras.backend.clear_session()  # layer names (and with them the converter's choices) independent of history
    keras.utils.set_random_seed(seed)
    model = _builders(keras)[case["build"]](case["inputs"], **case["kw"])
    return convert_keras(model, case["inputs"], seed, bool(case.get("float_io")), case.get("mode", "int8"))


def convert_keras(model: Any, inputs: list[tuple[int, ...]], seed: int = 0, float_io: bool = False,
                  mode: str = "int8", io_type: str | None = None) -> bytes:
    """A Keras model converted to full-int8 TFLite by TensorFlow's converter, calibrated on 64 uniform random
    inputs in [-2, 2) (float32 model inputs and outputs when `float_io`; mode "16x8": int16 activations and
    int8 weights, TFLite's EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8; `io_type` "uint8": uint8
    model inputs and outputs around the int8 graph, as `inference_input_type=tf.uint8` makes them)."""
    import tensorflow as tf
    rs = np.random.RandomState(seed)

    def rep():
        for _ in range(64):
            yield [rs.uniform(-2, 2, size=(1,) + tuple(s)).astype(np.float32) for s in inputs]
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = rep
    wide = mode == "16x8"
    conv.target_spec.supported_ops = [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
                                      if wide else tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if not float_io:
        conv.inference_input_type = tf.int16 if wide else tf.uint8 if io_type == "uint8" else tf.int8
        conv.inference_output_type = conv.inference_input_type
    with contextlib.redirect_stdout(io.StringIO()):  # the converter prints its SavedModel signature
        return conv.convert()


def many_stages(path, seed: int = 3):
    """Write to `path` a model of six blocks of one geometry (1x1 convolution with ReLU, 3x3 depthwise, 1x1
    convolution) and six FULLY_CONNECTED layers of one shape, each layer with its own output zero point: more
    distinct output stages per kernel geometry than tinyml.kernels.generated.STAGES_PER_GEOMETRY."""
    import tensorflow as tf
    keras = tf.keras
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    x = keras.Input((6, 7, 8))
    y = x
    for _ in range(6):
        y = keras.layers.Conv2D(8, 1, activation="relu")(y)
        y = keras.layers.DepthwiseConv2D(3, padding="same")(y)
        y = keras.layers.Conv2D(8, 1)(y)
    y = keras.layers.GlobalAveragePooling2D()(y)
    for _ in range(6):
        y = keras.layers.Dense(8)(y)
    path.write_bytes(convert_keras(keras.Model(x, y), [(6, 7, 8)], seed=seed))
    return path


def dead_channels(path, seed: int = 5):
    """Write to `path` a model whose convolutions, depthwise convolution and fully connected layer each have dead
    output channels, as batch-norm folding leaves them in model zoos: weights a million times smaller than the
    others' (shifts far below -22) or all zero; 1x1 and 3x3 convolutions with and without a ReLU."""
    import tensorflow as tf
    keras = tf.keras
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    x = keras.Input((6, 7, 8))
    layers = [keras.layers.Conv2D(16, 1, activation="relu"), keras.layers.DepthwiseConv2D(3, padding="same"),
              keras.layers.Conv2D(16, 3, padding="same"), keras.layers.Conv2D(16, 1)]
    y = x
    for layer in layers:
        y = layer(y)
    y = keras.layers.GlobalAveragePooling2D()(y)
    dense = keras.layers.Dense(8)
    y = dense(y)
    model = keras.Model(x, y)
    for layer in layers + [dense]:
        w, b = layer.get_weights()
        ch = np.moveaxis(w, -2, -1) if isinstance(layer, keras.layers.DepthwiseConv2D) else w  # a view
        b = b + 0.1
        ch[..., 1::5] *= 1e-6  # dead: tiny weights, no bias
        b[1::5] = 0
        ch[..., 3::5] = 0      # dead: no weights, a bias
        b[3::5] = 0.3
        layer.set_weights([w, b])
    path.write_bytes(convert_keras(model, [(6, 7, 8)], seed=seed))
    return path


def wide_gemms(path, seed: int = 6):
    """Write to `path` a model of 1x1 convolutions over rows of five pixels (blocks of three and two) whose rows
    are 32, 64 and 128 values long (unrolled and looped reductions), around a depthwise convolution."""
    import tensorflow as tf
    keras = tf.keras
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    x = keras.Input((4, 5, 32))
    y = keras.layers.Conv2D(64, 1, activation="relu")(x)
    y = keras.layers.Conv2D(128, 1)(y)
    y = keras.layers.DepthwiseConv2D(3, padding="same", activation="relu")(y)
    y = keras.layers.Conv2D(24, 1)(y)
    path.write_bytes(convert_keras(keras.Model(x, y), [(4, 5, 32)], seed=seed))
    return path


def inplace_depthwise(path, width: int, stride: int | tuple[int, int], channels: int = 16, height: int = 9):
    """Write to `path` a model of two depthwise convolutions (3x3, the first of stride `stride` (or strides (down,
    across)) over `height` rows of `width` pixels and `channels` channels) between 1x1 convolutions, which layer by
    layer without overlaps run in place."""
    import tensorflow as tf
    keras = tf.keras
    keras.backend.clear_session()
    keras.utils.set_random_seed(width)
    x = keras.Input((height, width, 8))
    y = keras.layers.Conv2D(channels, 1, activation="relu")(x)
    y = keras.layers.DepthwiseConv2D(3, strides=stride, padding="same", activation="relu")(y)
    y = keras.layers.Conv2D(8, 1)(y)
    y = keras.layers.DepthwiseConv2D(3, padding="valid")(y)
    path.write_bytes(convert_keras(keras.Model(x, y), [(height, width, 8)], seed=width))
    return path


def window_convs(path, seed: int = 9):
    """Write to `path` a model of gathered convolutions whose dsp kernels widen three pixels' windows straight from
    the input where the windows lie inside it (rows of whole words, 16 or more output channels): 3x3 of stride 1
    over rows of 15 (blocks that start mid-row after a border pixel), a 5x5 without padding, 3x3 of stride 2, a
    3x1, and a 3x3 over 64 channels (576 values per window, the longest rows widened once)."""
    import tensorflow as tf
    keras = tf.keras
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    x = keras.Input((14, 15, 4))
    y = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(x)
    y = keras.layers.Conv2D(16, 5, padding="valid")(y)
    y = keras.layers.Conv2D(20, 3, strides=2, padding="same", activation="relu")(y)
    y = keras.layers.Conv2D(64, (3, 1), padding="same")(y)
    y = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(y)
    path.write_bytes(convert_keras(keras.Model(x, y), [(14, 15, 4)], seed=seed))
    return path
