/* ABS and RSQRT, int8: TFLM's elementwise.cc evaluates the function of each value with integer arithmetic;
 * the generator evaluates it once for each of the 256 possible inputs (tinyml.lower.abs_table, rsqrt_table). */
#include "tml_nn.h"

void tml_lut_s8(const tml_lut_params *p, const int8_t *input, int8_t *output) {
    int32_t i;
    for (i = 0; i < p->size; i++) output[i] = p->table[(uint8_t)input[i]];
}
