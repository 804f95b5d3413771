/* tinyml runtime: int8 kernels, bit-exact with TensorFlow Lite Micro's reference kernels.
 *
 * Naming: tml_<op>[_<variant>]_<dtype>. Every kernel takes a parameter struct (filled at code-generation time
 * by tinyml/lower.py, which computes multipliers and shifts exactly as TFLM's Prepare() does) and raw tensor
 * pointers. Layout is NHWC, int8 activations, int8 per-channel symmetric weights, int32 bias. Multipliers are
 * Q31 fixed point in [2^30, 2^31) with a power-of-two shift (positive: left). Kernels never allocate and keep
 * no state; a kernel that needs scratch memory exposes tml_<op>_get_buffer_size(), and the generated code passes
 * it a region of the arena planned for that layer alone. */
#ifndef TML_NN_H
#define TML_NN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Element offset of output pixel (b, y, x) of an [batches, out_h, out_w, channels] output that may be a slice of
 * a larger tensor: row_stride/px_stride are its element strides there, 0 for a dense output. */
static inline size_t tml_out_pixel(int32_t b, int32_t y, int32_t x, int32_t out_h, int32_t out_w, int32_t channels,
                                   int32_t row_stride, int32_t px_stride) {
    const size_t px = px_stride ? (size_t)px_stride : (size_t)channels;
    const size_t row = row_stride ? (size_t)row_stride : (size_t)out_w * px;
    return ((size_t)b * (size_t)out_h + (size_t)y) * row + (size_t)x * px;
}

/* Element offset of index (i0, i1, i2, i3) in an operand read through 4-D element strides (0 where broadcast). */
static inline size_t tml_broadcast_at(const int32_t *stride, int32_t i0, int32_t i1, int32_t i2, int32_t i3) {
    return (size_t)i0 * (size_t)stride[0] + (size_t)i1 * (size_t)stride[1] + (size_t)i2 * (size_t)stride[2] +
           (size_t)i3 * (size_t)stride[3];
}

/* CONV_2D and DEPTHWISE_CONV_2D. input [batches, in_h, in_w, in_c]; output [batches, out_h, out_w, out_c].
 * conv filter [out_c, k_h, k_w, filter_in_c] (grouped when filter_in_c < in_c);
 * depthwise filter [1, k_h, k_w, out_c] with out_c = in_c * depth_multiplier.
 * multiplier/shift: out_c entries. pad_h/pad_w: leading padding (SAME: floor of the total / 2).
 * input_offset = -input zero point, output_offset = output zero point; act_min/act_max in [-128, 127].
 * out_row_stride/out_px_stride: elements between output rows / pixels when the output is a slice of a larger
 * tensor (a zero-copy CONCATENATION input); 0 means dense. */
typedef struct {
    int32_t batches, in_h, in_w, in_c, out_h, out_w, out_c, k_h, k_w, filter_in_c, depth_multiplier;
    int32_t stride_h, stride_w, dil_h, dil_w, pad_h, pad_w;
    int32_t input_offset, output_offset, act_min, act_max;
    const int32_t *multiplier, *shift;
    int32_t out_row_stride, out_px_stride;
} tml_conv_params;

void tml_conv_s8(const tml_conv_params *p, const int8_t *input, const int8_t *filter, const int32_t *bias,
                 int8_t *output);
/* The _s4 variants take int4 weights packed two per byte, low nibble first (CMSIS-NN/TFLM layout). */
void tml_conv_s4(const tml_conv_params *p, const int8_t *input, const int8_t *filter, const int32_t *bias,
                 int8_t *output);
void tml_depthwise_conv_s4(const tml_conv_params *p, const int8_t *input, const int8_t *filter,
                           const int32_t *bias, int8_t *output);
void tml_depthwise_conv_s8(const tml_conv_params *p, const int8_t *input, const int8_t *filter,
                           const int32_t *bias, int8_t *output);
/* In-place variant (depth multiplier 1, batches 1): input and output are the same buffer, `plane` is scratch of
 * tml_depthwise_conv_inplace_s8_get_buffer_size() bytes. */
size_t tml_depthwise_conv_inplace_s8_get_buffer_size(const tml_conv_params *p);
void tml_depthwise_conv_inplace_s8(const tml_conv_params *p, const int8_t *input, const int8_t *filter,
                                   const int32_t *bias, int8_t *plane, int8_t *output);

/* FULLY_CONNECTED. input [batches, accum_depth]; filter [out_c, accum_depth]; bias [out_c] or NULL.
 * multiplier/shift: out_c entries when per_channel, else one. */
typedef struct {
    int32_t batches, accum_depth, out_c, input_offset, filter_offset, output_offset, act_min, act_max, per_channel;
    const int32_t *multiplier, *shift;
} tml_fc_params;

void tml_fully_connected_s8(const tml_fc_params *p, const int8_t *input, const int8_t *filter,
                            const int32_t *bias, int8_t *output);
void tml_fully_connected_s4(const tml_fc_params *p, const int8_t *input, const int8_t *filter,
                            const int32_t *bias, int8_t *output);

/* ADD, SUB and MUL over a 4-D output [d0, d1, d2, d3] with broadcasting: a_stride/b_stride are the element
 * strides of each input along the four output dimensions (0 where the input is broadcast). */
typedef struct {
    int32_t d0, d1, d2, d3;
    const int32_t *a_stride, *b_stride;
    int32_t a_offset, b_offset, output_offset, left_shift;
    int32_t a_multiplier, a_shift, b_multiplier, b_shift, output_multiplier, output_shift;
    int32_t act_min, act_max, is_sub;
} tml_broadcast_params;

/* Walks a broadcast op's output in order: after k steps, ia and ib are the operands' element offsets of output
 * element k (i holds its four indices). */
typedef struct {
    int32_t i[4];
    size_t ia, ib;
} tml_broadcast_walk;

static inline size_t tml_broadcast_count(const tml_broadcast_params *p) {
    return (size_t)p->d0 * (size_t)p->d1 * (size_t)p->d2 * (size_t)p->d3;
}

static inline void tml_broadcast_step(const tml_broadcast_params *p, tml_broadcast_walk *w) {
    if (++w->i[3] < p->d3) {
        w->ia += (size_t)p->a_stride[3];
        w->ib += (size_t)p->b_stride[3];
        return;
    }
    w->i[3] = 0;
    if (++w->i[2] == p->d2) {
        w->i[2] = 0;
        if (++w->i[1] == p->d1) {
            w->i[1] = 0;
            ++w->i[0];
        }
    }
    w->ia = tml_broadcast_at(p->a_stride, w->i[0], w->i[1], w->i[2], 0);
    w->ib = tml_broadcast_at(p->b_stride, w->i[0], w->i[1], w->i[2], 0);
}

void tml_add_s8(const tml_broadcast_params *p, const int8_t *a, const int8_t *b, int8_t *output);

/* Comparisons of int8 operands with 4-D broadcasting into bool (one byte, 0 or 1): each operand less its zero
 * point (a_offset, b_offset), shifted left by left_shift and scaled by its own multiplier (a_multiplier/a_shift,
 * b_multiplier/b_shift, from its scale), as TFLM's *WithScaling; the other fields are unused. */
void tml_equal_s8(const tml_broadcast_params *p, const int8_t *a, const int8_t *b, uint8_t *output);
void tml_not_equal_s8(const tml_broadcast_params *p, const int8_t *a, const int8_t *b, uint8_t *output);
void tml_less_s8(const tml_broadcast_params *p, const int8_t *a, const int8_t *b, uint8_t *output);
void tml_less_equal_s8(const tml_broadcast_params *p, const int8_t *a, const int8_t *b, uint8_t *output);
void tml_greater_s8(const tml_broadcast_params *p, const int8_t *a, const int8_t *b, uint8_t *output);
void tml_greater_equal_s8(const tml_broadcast_params *p, const int8_t *a, const int8_t *b, uint8_t *output);
/* The same on float32 operands (in float islands: comparisons of DEQUANTIZEd values), the IEEE values compared */
void tml_equal_f32(const tml_broadcast_params *p, const float *a, const float *b, uint8_t *output);
void tml_not_equal_f32(const tml_broadcast_params *p, const float *a, const float *b, uint8_t *output);
void tml_less_f32(const tml_broadcast_params *p, const float *a, const float *b, uint8_t *output);
void tml_less_equal_f32(const tml_broadcast_params *p, const float *a, const float *b, uint8_t *output);
void tml_greater_f32(const tml_broadcast_params *p, const float *a, const float *b, uint8_t *output);
void tml_greater_equal_f32(const tml_broadcast_params *p, const float *a, const float *b, uint8_t *output);

/* SELECT_V2 over a 4-D output d[0..3] of `esize`-byte elements: x where the bool condition is non-zero, else
 * y; c_stride/x_stride/y_stride are each operand's element strides (0 where it is broadcast). */
typedef struct {
    const int32_t *d, *c_stride, *x_stride, *y_stride;
    int32_t esize;
} tml_select_params;

void tml_select(const tml_select_params *p, const uint8_t *cond, const void *x, const void *y, void *output);

/* SPACE_TO_BATCH_ND (paddings pad_top/pad_left, pad_value: the byte written there; TFLM writes 0) and BATCH_TO_SPACE_ND
 * (crops as pad_top/pad_left) over NHWC tensors of `pixel` bytes per pixel, blocks block_h x block_w. */
typedef struct {
    int32_t in_b, in_h, in_w, out_b, out_h, out_w, pixel, block_h, block_w, pad_top, pad_left, pad_value;
} tml_space_batch_params;

void tml_space_to_batch(const tml_space_batch_params *p, const void *input, void *output);

/* ADD_N of `count` inputs (2 to 8; NULL after the last): int8 of one quantization, or float32 (a float island,
 * only `size` and `count` read): TFLM reference_ops::AddN. */
typedef struct {
    int32_t size, count, input_offset, input_multiplier, input_shift, left_shift, output_multiplier, output_shift,
        output_offset, act_min, act_max;
} tml_add_n_params;

void tml_add_n_s8(const tml_add_n_params *p, const int8_t *x0, const int8_t *x1, const int8_t *x2,
                  const int8_t *x3, const int8_t *x4, const int8_t *x5, const int8_t *x6, const int8_t *x7,
                  int8_t *output);
void tml_add_n_f32(const tml_add_n_params *p, const float *x0, const float *x1, const float *x2, const float *x3,
                   const float *x4, const float *x5, const float *x6, const float *x7, float *output);

/* CAST of `size` elements between int8, uint8, int16, int32, float32 and bool (codes 0-5 in that order; float32
 * to an integer type is not generated); LOGICAL_NOT on bool uses `size` only. */
typedef struct {
    int32_t size, in_code, out_code;
} tml_cast_params;

void tml_cast(const tml_cast_params *p, const void *input, void *output);
void tml_logical_not(const tml_cast_params *p, const uint8_t *input, uint8_t *output);
/* LOGICAL_AND / LOGICAL_OR on bool with 4-D broadcasting (the strides of tml_broadcast_params) */
void tml_logical_and(const tml_broadcast_params *p, const uint8_t *a, const uint8_t *b, uint8_t *output);
void tml_logical_or(const tml_broadcast_params *p, const uint8_t *a, const uint8_t *b, uint8_t *output);
void tml_batch_to_space(const tml_space_batch_params *p, const void *input, void *output);
void tml_mul_s8(const tml_broadcast_params *p, const int8_t *a, const int8_t *b, int8_t *output);

/* AVERAGE_POOL_2D and MAX_POOL_2D, NHWC, same quantization in and out; output strides as for convolutions. */
typedef struct {
    int32_t batches, in_h, in_w, channels, out_h, out_w, filter_h, filter_w, stride_h, stride_w, pad_h, pad_w;
    int32_t act_min, act_max;
    int32_t out_row_stride, out_px_stride;
} tml_pool_params;

void tml_avgpool_s8(const tml_pool_params *p, const int8_t *input, int8_t *output);
void tml_maxpool_s8(const tml_pool_params *p, const int8_t *input, int8_t *output);

/* MEAN over the dimensions of a 4-D input where reduce[d] == 1. multiplier/shift already include 1/n. */
typedef struct {
    const int32_t *in_dims, *reduce;
    int32_t num_elements, same_quant, input_zp, output_zp, multiplier, shift;
} tml_mean_params;

void tml_mean_s8(const tml_mean_params *p, const int8_t *input, int8_t *output);

/* Reductions computed band by band, for a patch stage that ends at a classifier: every band of whole rows of the
 * reduced [1, H, W, C] tensor adds its share to int32 accumulators (`first` sets them instead), and one finish
 * call applies the layer's output stage. Integer addition is associative, so the result equals the layer's.
 * FULLY_CONNECTED: the band is elements [start, start + count) of the flattened input, acc has out_c entries.
 * Channel sums (global AVERAGE_POOL_2D, MEAN over H and W): the band is `count` pixels of out_c channels. */
typedef struct {
    int32_t accum_depth, out_c, input_offset, filter_offset, start, count, first;
} tml_accumulate_params;

void tml_fully_connected_acc_s8(const tml_accumulate_params *p, const int8_t *input, const int8_t *filter,
                                int32_t *acc);
void tml_fully_connected_acc_s4(const tml_accumulate_params *p, const int8_t *input, const int8_t *filter,
                                int32_t *acc);
void tml_fully_connected_finish_s8(const tml_fc_params *p, const int32_t *acc, const int32_t *bias,
                                   int8_t *output);
void tml_channel_sum_acc_s8(const tml_accumulate_params *p, const int8_t *input, int32_t *acc);
void tml_avgpool_finish_s8(const tml_pool_params *p, const int32_t *acc, int8_t *output);
void tml_mean_finish_s8(const tml_mean_params *p, const int32_t *acc, int8_t *output);

/* SOFTMAX over the last dimension (depth) of `rows` rows; output scale 1/256, zero point -128. */
typedef struct {
    int32_t rows, depth, input_multiplier, input_left_shift, diff_min;
} tml_softmax_params;

void tml_softmax_s8(const tml_softmax_params *p, const int8_t *input, int8_t *output);

/* LOG_SOFTMAX over the last dimension (depth) of `rows` rows, int8; output scale 16/256, zero point 127 */
typedef struct {
    int32_t rows, depth, input_multiplier, input_left_shift, reverse_multiplier, reverse_shift, diff_min;
} tml_log_softmax_params;

void tml_log_softmax_s8(const tml_log_softmax_params *p, const int8_t *input, int8_t *output);
/* int8 in, int16 out: output scale 1/65536, zero point -32768 */
void tml_softmax_s8_s16(const tml_softmax_params *p, const int8_t *input, int16_t *output);

/* LOGISTIC (output zero point -128, scale 1/256) and TANH (zero point 0, scale 1/128). */
typedef struct {
    int32_t size, input_zp, input_range_radius, input_multiplier, input_left_shift;
} tml_sigmoid_params;

void tml_logistic_s8(const tml_sigmoid_params *p, const int8_t *input, int8_t *output);
void tml_tanh_s8(const tml_sigmoid_params *p, const int8_t *input, int8_t *output);

/* HARD_SWISH with TFLite's 16-bit fixed-point multipliers. */
typedef struct {
    int32_t size, input_zp, output_zp;
    int32_t reluish_multiplier_fixedpoint_int16, reluish_multiplier_exponent;
    int32_t output_multiplier_fixedpoint_int16, output_multiplier_exponent;
} tml_hard_swish_params;

void tml_hard_swish_s8(const tml_hard_swish_params *p, const int8_t *input, int8_t *output);

/* LEAKY_RELU: separate requantization of the positive and negative halves. */
typedef struct {
    int32_t size, input_zp, output_zp, multiplier_alpha, shift_alpha, multiplier_identity, shift_identity;
} tml_leaky_relu_params;

void tml_leaky_relu_s8(const tml_leaky_relu_params *p, const int8_t *input, int8_t *output);
void tml_leaky_relu_s16(const tml_leaky_relu_params *p, const int16_t *input, int16_t *output);

/* Requantization with clamping: RELU (act_min = output zero point) and int8 -> int8 QUANTIZE. */
typedef struct {
    int32_t size, input_zp, output_zp, multiplier, shift, act_min, act_max;
} tml_requantize_params;

void tml_requantize_s8(const tml_requantize_params *p, const int8_t *input, int8_t *output);

/* RELU6 (same quantization in and out): clamp to [lo, hi]. */
typedef struct {
    int32_t size, lo, hi;
} tml_clamp_params;

void tml_clamp_s8(const tml_clamp_params *p, const int8_t *input, int8_t *output);

/* PAD of a 4-D tensor with a constant. */
typedef struct {
    const int32_t *in_dims, *out_dims, *before;
    int32_t pad_value;
} tml_pad_params;

void tml_pad_s8(const tml_pad_params *p, const int8_t *input, int8_t *output);

/* STRIDED_SLICE of a 4-D tensor (any element type of `esize` bytes): output element (o0, o1, o2, o3) is input
 * element (begin[d] + o_d * stride[d]) in every dimension d; strides may be negative. */
typedef struct {
    const int32_t *in_dims, *out_dims, *begin, *stride;
    int32_t esize;
} tml_strided_slice_params;

void tml_strided_slice(const tml_strided_slice_params *p, const void *input, void *output);

/* One input of CONCATENATION (any element type): `outer` blocks of `block` bytes copied to
 * output + dst_offset + i * dst_stride. */
typedef struct {
    int32_t outer, block, dst_stride, dst_offset;
} tml_copy_params;

void tml_copy(const tml_copy_params *p, const void *input, void *output);

/* A rectangle of `rows` rows of `row_bytes` bytes, `src_stride` bytes apart from input + src_offset, gathered into
 * a contiguous output (a patch's region of a streamed model input). */
typedef struct {
    int32_t rows, row_bytes, src_stride, src_offset;
} tml_copy_rect_params;

void tml_copy_rect(const tml_copy_rect_params *p, const void *input, void *output);

/* QUANTIZE float32 -> int8 and DEQUANTIZE int8 -> float32 (model inputs and outputs). */
typedef struct {
    int32_t size;
    float scale;
    int32_t zero_point;
} tml_quantize_params;

void tml_quantize_f32_s8(const tml_quantize_params *p, const float *input, int8_t *output);

typedef struct {
    int32_t size;
    double scale;
    int32_t zero_point;
} tml_dequantize_params;

void tml_dequantize_s8_f32(const tml_dequantize_params *p, const int8_t *input, float *output);

/* MAXIMUM and MINIMUM (int8, the stored values compared as TFLM does), with the broadcasting of ADD. */
void tml_maximum_s8(const tml_broadcast_params *p, const int8_t *a, const int8_t *b, int8_t *output);
void tml_minimum_s8(const tml_broadcast_params *p, const int8_t *a, const int8_t *b, int8_t *output);
void tml_maximum_s16(const tml_broadcast_params *p, const int16_t *a, const int16_t *b, int16_t *output);
void tml_minimum_s16(const tml_broadcast_params *p, const int16_t *a, const int16_t *b, int16_t *output);

/* PRELU (int8) with broadcast alpha: a_multiplier/a_shift scale x >= 0, b_multiplier/b_shift scale x * alpha. */
void tml_prelu_s8(const tml_broadcast_params *p, const int8_t *input, const int8_t *alpha, int8_t *output);

/* TRANSPOSE, SPACE_TO_DEPTH, DEPTH_TO_SPACE (any element type of `esize` bytes): output element (o0, ..., o5), in
 * order, is input element sum(o_d * in_stride[d]). */
typedef struct {
    const int32_t *out_dims, *in_stride;
    int32_t esize;
} tml_permute_params;

void tml_permute(const tml_permute_params *p, const void *input, void *output);

/* RESIZE_NEAREST_NEIGHBOR: output pixel (y, x) of each batch is input pixel (y_index[y], x_index[x]); a pixel is
 * `pixel` bytes (channels x element size). */
typedef struct {
    int32_t batches, in_h, in_w, pixel, out_h, out_w;
    const int32_t *y_index, *x_index;
} tml_resize_nearest_params;

void tml_resize_nearest(const tml_resize_nearest_params *p, const void *input, void *output);

/* RESIZE_BILINEAR, int8: TFLM reference_ops::ResizeBilinearInteger. For output row y the two source rows are
 * y0[y] and y1[y] with weight wy[y] / 1024 on y1 (TFLM's input_y - 1024 * y0, negative at half-pixel borders);
 * the same for columns. */
typedef struct {
    int32_t batches, in_h, in_w, channels, out_h, out_w;
    const int32_t *y0, *y1, *wy, *x0, *x1, *wx;
} tml_resize_bilinear_params;

void tml_resize_bilinear_s8(const tml_resize_bilinear_params *p, const int8_t *input, int8_t *output);

/* TRANSPOSE_CONV, int8 activations, int8 per-channel weights [out_c, k_h, k_w, in_c], optional int32 bias: TFLM
 * reference_integer_ops::TransposeConv. TFLM scatters every input pixel into an int32 buffer of the output's
 * size; this kernel gathers the same products per output pixel (no scratch buffer, the same sums). */
typedef struct {
    int32_t batches, in_h, in_w, in_c, out_h, out_w, out_c, k_h, k_w, stride_h, stride_w, pad_h, pad_w;
    int32_t input_offset, output_offset, act_min, act_max;
    const int32_t *multiplier, *shift;
} tml_transpose_conv_params;

/* An int8 function of one value tabulated at generation time (ABS, RSQRT): y = table[(uint8_t)x]. */
typedef struct {
    int32_t size;
    const int8_t *table;
} tml_lut_params;

void tml_lut_s8(const tml_lut_params *p, const int8_t *input, int8_t *output);

/* SQUARED_DIFFERENCE, int8, 4-D broadcasting: TFLM squared_difference.cc (left_shift 7, both inputs scaled to
 * twice the larger scale, the difference squared and requantized). */
void tml_squared_difference_s8(const tml_broadcast_params *p, const int8_t *a, const int8_t *b, int8_t *output);

/* NEG and SQUARE in float32 islands (between a DEQUANTIZE and a QUANTIZE), as TFLM computes them. */
typedef struct {
    int32_t size;
} tml_unary_f32_params;

void tml_neg_f32(const tml_unary_f32_params *p, const float *input, float *output);
void tml_square_f32(const tml_unary_f32_params *p, const float *input, float *output);
/* FLOOR, CEIL, SQRT, ROUND (half to even, TFLM's RoundToNearest) on float32: exact IEEE operations */
void tml_floor_f32(const tml_unary_f32_params *p, const float *input, float *output);
void tml_ceil_f32(const tml_unary_f32_params *p, const float *input, float *output);
void tml_sqrt_f32(const tml_unary_f32_params *p, const float *input, float *output);
void tml_round_f32(const tml_unary_f32_params *p, const float *input, float *output);

/* ADD, SUB, MUL on float32 in float islands over a 4-D output d (per-operand strides, 0 where broadcast): one IEEE
 * single-precision operation per element, clamped to [act_min, act_max] (the fused activation), as TFLM. */
typedef struct {
    const int32_t *d, *a_stride, *b_stride;
    float act_min, act_max;
} tml_binary_f32_params;

void tml_add_f32(const tml_binary_f32_params *p, const float *a, const float *b, float *output);
void tml_sub_f32(const tml_binary_f32_params *p, const float *a, const float *b, float *output);
void tml_mul_f32(const tml_binary_f32_params *p, const float *a, const float *b, float *output);

/* BATCH_MATMUL, int8: out[b][m][n] = requant(sum_k (lhs + lhs_offset) * (rhs + rhs_offset)), three batch
 * dimensions with element strides (0 where broadcast), adj_x / adj_y as element strides. */
typedef struct {
    const int32_t *batch, *lhs_batch_stride, *rhs_batch_stride;
    int32_t m, n, k, lhs_m_stride, lhs_k_stride, rhs_k_stride, rhs_n_stride;
    int32_t lhs_offset, rhs_offset, output_offset, multiplier, shift;
} tml_matmul_params;

void tml_batch_matmul_s8(const tml_matmul_params *p, const int8_t *lhs, const int8_t *rhs, int8_t *output);

void tml_reduce_max_s8(const tml_mean_params *p, const int8_t *input, int8_t *output);

/* ARG_MAX / ARG_MIN, int8 in, int32 out: the first index of the largest (smallest) value along the middle axis. */
typedef struct {
    int32_t outer, axis, inner;
} tml_arg_params;

void tml_arg_max_s8(const tml_arg_params *p, const int8_t *input, int32_t *output);
void tml_arg_min_s8(const tml_arg_params *p, const int8_t *input, int32_t *output);

/* GATHER (batch_dims 0), any element type: `count` int32 indices into the middle axis; an index out of range
 * gives zeros (TFLM's Invoke fails there). */
typedef struct {
    int32_t outer, axis, inner_bytes, count;
} tml_gather_params;

void tml_gather(const tml_gather_params *p, const void *input, const int32_t *indices, void *output);

/* DIV, int8, 4-D broadcasting: TFLM div.cc (output_multiplier/shift, act_min/max and the offsets are used), with
 * the oracle's results where TFLM's arithmetic is undefined (see tml_div_s8.c). */
void tml_div_s8(const tml_broadcast_params *p, const int8_t *a, const int8_t *b, int8_t *output);

/* L2_NORMALIZATION, int8, over the last axis: TFLM reference_integer_ops::L2Normalization. */
typedef struct {
    int32_t outer, depth, input_zp;
} tml_l2norm_params;

void tml_l2norm_s8(const tml_l2norm_params *p, const int8_t *input, int8_t *output);

void tml_transpose_conv_s8(const tml_transpose_conv_params *p, const int8_t *input, const int8_t *filter,
                           const int32_t *bias, int8_t *output);

/* SVDF, int8 input and output (TFLM's integer SVDF reference as the tflite-micro interpreter runs it). `state`
 * ([batches][filters][memory], kept between invokes; the caller owns it) is shifted left by one, the feature
 * matmul requantized into each filter's newest slot, then per unit the time matmul over `rank` filters plus bias
 * is requantized to int8. _s8: int16 state and time weights; _s8_s8state: int8 ones. Sums wrap at 32 bits as
 * TFLM's int32 accumulators do. */
typedef struct {
    int32_t batches, input_size, filters, rank, memory;
    int32_t input_offset, state_zero_point;
    int32_t multiplier1, shift1, multiplier2, shift2, output_offset;
    const int32_t *feature_fold, *time_fold; /* per filter: the offsets times the weight rows' sums */
} tml_svdf_params;

void tml_svdf_s8(const tml_svdf_params *p, const int8_t *input, const int8_t *weights_feature,
                 const int16_t *weights_time, const int32_t *bias, int16_t *state, int8_t *output);
void tml_svdf_s8_s8state(const tml_svdf_params *p, const int8_t *input, const int8_t *weights_feature,
                         const int8_t *weights_time, const int32_t *bias, int8_t *state, int8_t *output);

/* 16x8: int16 activations (zero point 0), int8 weights, int64 bias, TFLM's 16x8 reference kernels (tml_s16.c). */
void tml_conv_s16(const tml_conv_params *p, const int16_t *input, const int8_t *filter, const int64_t *bias,
                  int16_t *output);
void tml_depthwise_conv_s16(const tml_conv_params *p, const int16_t *input, const int8_t *filter,
                            const int64_t *bias, int16_t *output);
void tml_fully_connected_s16(const tml_fc_params *p, const int16_t *input, const int8_t *filter,
                             const int64_t *bias, int16_t *output);
void tml_add_s16(const tml_broadcast_params *p, const int16_t *a, const int16_t *b, int16_t *output);
void tml_mul_s16(const tml_broadcast_params *p, const int16_t *a, const int16_t *b, int16_t *output);
void tml_pad_s16(const tml_pad_params *p, const int16_t *input, int16_t *output);
void tml_avgpool_s16(const tml_pool_params *p, const int16_t *input, int16_t *output);
void tml_maxpool_s16(const tml_pool_params *p, const int16_t *input, int16_t *output);
void tml_mean_s16(const tml_mean_params *p, const int16_t *input, int16_t *output);
void tml_quantize_f32_s16(const tml_quantize_params *p, const float *input, int16_t *output);
/* QUANTIZE between int8 and int16 (TFLM Requantize): act_min/act_max are the output type's range */
void tml_requantize_s8_s16(const tml_requantize_params *p, const int8_t *input, int16_t *output);
void tml_requantize_s16_s8(const tml_requantize_params *p, const int16_t *input, int8_t *output);
void tml_requantize_s16(const tml_requantize_params *p, const int16_t *input, int16_t *output);
void tml_dequantize_s16_f32(const tml_dequantize_params *p, const int16_t *input, float *output);
/* QUANTIZE between uint8 and int8 and to/from int32 (TFLM Requantize; act_min/act_max: the output type's range) */
void tml_requantize_u8_s8(const tml_requantize_params *p, const uint8_t *input, int8_t *output);
void tml_requantize_s8_u8(const tml_requantize_params *p, const int8_t *input, uint8_t *output);
void tml_requantize_s8_s32(const tml_requantize_params *p, const int8_t *input, int32_t *output);
void tml_requantize_s16_s32(const tml_requantize_params *p, const int16_t *input, int32_t *output);
void tml_requantize_s32_s8(const tml_requantize_params *p, const int32_t *input, int8_t *output);
void tml_requantize_s32_s16(const tml_requantize_params *p, const int32_t *input, int16_t *output);
void tml_dequantize_u8_f32(const tml_dequantize_params *p, const uint8_t *input, float *output);

/* SOFTMAX, int16 (TFLM SoftmaxInt16): exp and 1/(1+x) from 513-entry interpolated tables; output 1/32768. */
typedef struct {
    int32_t rows, depth, input_multiplier, input_left_shift;
    const int16_t *exp_lut, *recip_lut;
} tml_softmax_s16_params;

void tml_softmax_s16(const tml_softmax_s16_params *p, const int16_t *input, int16_t *output);

/* LOGISTIC and TANH, int16 (TFLM's reference_integer_ops Logistic / Tanh): the input rescaled by
 * input_multiplier / 2^input_left_shift, a 256-node table of sigmoid(i / 24) in 0.16 interpolated linearly on |x|
 * (tanh(x) = 2 sigmoid(2x) - 1), reflected for negative x; output scale 1/32768. */
typedef struct {
    int32_t size, input_multiplier, input_left_shift;
    const uint16_t *table;
} tml_sigmoid16_params;

void tml_logistic_s16(const tml_sigmoid16_params *p, const int16_t *input, int16_t *output);
void tml_tanh_s16(const tml_sigmoid16_params *p, const int16_t *input, int16_t *output);
/* (one value of each: tml_logistic16_value / tml_tanh16_value in tml_fixedpoint.h) */

/* UNIDIRECTIONAL_SEQUENCE_LSTM, int8 input/output/hidden state, int16 gates and cell state: TFLM's integer LSTM
 * (lstm_eval). Weights and biases per gate in the order input, forget, cell, output; `hidden` ([batches][units]
 * int8) and `cell` (int16) are the states kept between invokes (the caller owns them). Each unit's four gates,
 * cell and hidden values are computed together (every step is elementwise after the two FCs, which read the
 * previous hidden state: the new one is written to the output first and copied to `hidden` after the step); the
 * four gates' rows run in one pass over the input, the zero points folded into per-row constants. */
typedef struct {
    int32_t batches, time_steps, input_size, units, time_major, input_offset, hidden_offset;
    const int32_t *input_multiplier, *input_shift, *recurrent_multiplier, *recurrent_shift;
    int32_t forget_multiplier, forget_shift, update_multiplier, update_shift, hidden_multiplier, hidden_shift;
    int32_t hidden_zero_point, cell_tanh_multiplier, cell_tanh_shift, cell_clip;
    const uint16_t *table;
    const int32_t *input_fold, *recurrent_fold; /* [gate][unit]: the offsets times the weight rows' sums */
} tml_lstm_params;

void tml_lstm_s8(const tml_lstm_params *p, const int8_t *input, const int8_t *w_ii, const int8_t *w_if,
                 const int8_t *w_ic, const int8_t *w_io, const int8_t *w_ri, const int8_t *w_rf, const int8_t *w_rc,
                 const int8_t *w_ro, const int32_t *b_i, const int32_t *b_f, const int32_t *b_c, const int32_t *b_o,
                 int8_t *hidden, int16_t *cell, int8_t *output);

#ifdef __cplusplus
}
#endif

#endif
