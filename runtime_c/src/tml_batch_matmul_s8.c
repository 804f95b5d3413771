/* BATCH_MATMUL, int8: TFLM batch_matmul.cc with reference_ops::BatchMatMul. TFLM first copies a transposed
 * operand (adj_x, or rhs without adj_y) into a scratch buffer; here strides read it in place. The integer sums are
 * the same, so the requantized bytes are. */
#include "tml_fixedpoint.h"
#include "tml_nn.h"

void tml_batch_matmul_s8(const tml_matmul_params *p, const int8_t *lhs, const int8_t *rhs, int8_t *output) {
    int32_t b0, b1, b2, i, j, k;
    for (b0 = 0; b0 < p->batch[0]; b0++) {
        for (b1 = 0; b1 < p->batch[1]; b1++) {
            for (b2 = 0; b2 < p->batch[2]; b2++) {
                const int8_t *l = lhs + (size_t)b0 * (size_t)p->lhs_batch_stride[0] +
                                  (size_t)b1 * (size_t)p->lhs_batch_stride[1] + (size_t)b2 * (size_t)p->lhs_batch_stride[2];
                const int8_t *r = rhs + (size_t)b0 * (size_t)p->rhs_batch_stride[0] +
                                  (size_t)b1 * (size_t)p->rhs_batch_stride[1] + (size_t)b2 * (size_t)p->rhs_batch_stride[2];
                for (i = 0; i < p->m; i++) {
                    for (j = 0; j < p->n; j++) {
                        int32_t acc = 0;
                        for (k = 0; k < p->k; k++) {
                            acc += ((int32_t)l[(size_t)i * (size_t)p->lhs_m_stride + (size_t)k * (size_t)p->lhs_k_stride] +
                                    p->lhs_offset) *
                                   ((int32_t)r[(size_t)k * (size_t)p->rhs_k_stride + (size_t)j * (size_t)p->rhs_n_stride] +
                                    p->rhs_offset);
                        }
                        *output++ = tml_sat_s8(tml_mbqm(acc, p->multiplier, p->shift) + p->output_offset, -128, 127);
                    }
                }
            }
        }
    }
}
