/* MAXIMUM and MINIMUM, int8, with 4-D broadcasting: TFLM reference_ops::MaximumMinimumBroadcastSlow (the stored
 * int8 values are compared; the converter gives both operands and the output one quantization). */
#include "tml_nn.h"

static void max_min(const tml_broadcast_params *p, const int8_t *a, const int8_t *b, int8_t *output, int is_min) {
    tml_broadcast_walk w = {{0, 0, 0, 0}, 0, 0};
    const size_t n = tml_broadcast_count(p);
    size_t o;
    for (o = 0; o < n; o++, tml_broadcast_step(p, &w)) {
        const size_t ia = w.ia;
        const size_t ib = w.ib;
        const int8_t x = a[ia], y = b[ib];
        output[o] = is_min ? (x < y ? x : y) : (x > y ? x : y);
    }
}

void tml_maximum_s8(const tml_broadcast_params *p, const int8_t *a, const int8_t *b, int8_t *output) {
    max_min(p, a, b, output, 0);
}

void tml_minimum_s8(const tml_broadcast_params *p, const int8_t *a, const int8_t *b, int8_t *output) {
    max_min(p, a, b, output, 1);
}

/* int16 (16x8): the stored values compared the same way */
void tml_maximum_s16(const tml_broadcast_params *p, const int16_t *a, const int16_t *b, int16_t *output) {
    tml_broadcast_walk w = {{0, 0, 0, 0}, 0, 0};
    const size_t n = tml_broadcast_count(p);
    size_t o;
    for (o = 0; o < n; o++, tml_broadcast_step(p, &w)) output[o] = a[w.ia] > b[w.ib] ? a[w.ia] : b[w.ib];
}

void tml_minimum_s16(const tml_broadcast_params *p, const int16_t *a, const int16_t *b, int16_t *output) {
    tml_broadcast_walk w = {{0, 0, 0, 0}, 0, 0};
    const size_t n = tml_broadcast_count(p);
    size_t o;
    for (o = 0; o < n; o++, tml_broadcast_step(p, &w)) output[o] = a[w.ia] < b[w.ib] ? a[w.ia] : b[w.ib];
}
