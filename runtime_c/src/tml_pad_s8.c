/* PAD of a 4-D int8 tensor with a constant value. Writes every output element exactly once. */
#include "tml_nn.h"

void tml_pad_s8(const tml_pad_params *p, const int8_t *input, int8_t *output) {
    const int32_t *id = p->in_dims, *od = p->out_dims, *bf = p->before;
    int32_t o0, o1, o2, o3;
    size_t o = 0;
    for (o0 = 0; o0 < od[0]; o0++) {
        const int32_t i0 = o0 - bf[0];
        for (o1 = 0; o1 < od[1]; o1++) {
            const int32_t i1 = o1 - bf[1];
            for (o2 = 0; o2 < od[2]; o2++) {
                const int32_t i2 = o2 - bf[2];
                for (o3 = 0; o3 < od[3]; o3++) {
                    const int32_t i3 = o3 - bf[3];
                    const int inside = i0 >= 0 && i0 < id[0] && i1 >= 0 && i1 < id[1] && i2 >= 0 && i2 < id[2] &&
                                       i3 >= 0 && i3 < id[3];
                    output[o++] = inside ? input[(((size_t)i0 * id[1] + i1) * id[2] + i2) * id[3] + i3]
                                         : (int8_t)p->pad_value;
                }
            }
        }
    }
}
