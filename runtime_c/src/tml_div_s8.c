/* DIV, int8, with 4-D broadcasting: TFLM reference_ops::Div / BroadcastDivSlow for quantized values.
 *
 * A small numerator over a large divisor makes TFLM's final RoundingDivideByPOT shift by 32 or more, undefined in
 * C++; the oracle (TFLM built for x86-64) then computes the shift count modulo 32 with gemmlowp's all-ones mask and
 * adds the output offset without wrapping, which saturates. tinyml computes exactly that, on every target, so the
 * firmware gives the oracle's bytes (TFLM itself would give others on an Arm core there). A divisor equal to its
 * zero point goes through the same arithmetic (GetReciprocal(0) is defined: 0 << 32 is 0 on every target). */
#include "tml_fixedpoint.h"
#include "tml_nn.h"

void tml_div_s8(const tml_broadcast_params *p, const int8_t *a, const int8_t *b, int8_t *output) {
    tml_broadcast_walk w = {{0, 0, 0, 0}, 0, 0};
    const size_t n = tml_broadcast_count(p);
    size_t o;
    for (o = 0; o < n; o++, tml_broadcast_step(p, &w)) {
        const size_t ia = w.ia;
        const size_t ib = w.ib;
        int32_t x = (int32_t)a[ia] + p->a_offset, d = (int32_t)b[ib] + p->b_offset, out;
        if (d < 0) { /* a positive divisor for the reciprocal, as TFLM */
            x = -x;
            d = -d;
        }
        {
            int recip_shift; /* d == 0 (TFLM divides by zero) takes the same arithmetic path */
            const int32_t inv = tml_reciprocal(d, 31, &recip_shift);
            const int headroom = tml_clsb32(x);
            const int32_t q = tml_mbqm_gt1(x, inv, headroom);
            const int e = recip_shift + headroom - (int)p->output_shift; /* >= 0 (lowering) */
            const int32_t h = tml_srdhm(q, p->output_multiplier);
            const int64_t r = e < 32 ? (int64_t)tml_rdbp(h, e) : (int64_t)(h >> (e & 31)) + (h >= 0);
            const int64_t v = (int64_t)p->output_offset + r;
            out = v > 127 ? 127 : v < -128 ? -128 : (int32_t)v;
        }
        output[o] = tml_sat_s8(out, p->act_min, p->act_max);
    }
}
