/* tinyml runtime: the Armv7E-M DSP instructions the generated kernels use, as inline functions.
 *
 * On a core with the DSP extension (Cortex-M4, M7, M33, M55: __ARM_FEATURE_DSP) they are the instructions
 * themselves (GCC's arm_acle.h, plus SXTB16 with its ROR #8 operand, which GCC does not fuse on its own).
 * Everywhere else (the host, Cortex-M0+/M3) they are portable C with the same results, so the host tests run the
 * very kernels the M4 runs. Define TML_PORTABLE_INTRINSICS to force the C versions.
 * Arithmetic wraps modulo 2^32 as the instructions do (SMLAD/SMLABB set the Q flag on overflow, nothing else). */
#ifndef TML_SIMD_H
#define TML_SIMD_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Four int8 lanes as one 32-bit word; memcpy compiles to one (unaligned-capable) load where the core has one. */
static inline uint32_t tml_read32(const void *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static inline void tml_write32(void *p, uint32_t v) { memcpy(p, &v, 4); }

/* Copies n bytes to dst <= src (or to a buffer that does not overlap src) eight bytes per step (newlib-nano's
 * memmove moves one byte at a time): patch row windows (tml_copy), SVDF's state shift. */
static inline void tml_copy_down(unsigned char *dst, const unsigned char *src, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const uint32_t a = tml_read32(src + i), b = tml_read32(src + i + 4);
        tml_write32(dst + i, a);
        tml_write32(dst + i + 4, b);
    }
    for (; i < n; i++) dst[i] = src[i];
}

/* the 32-bit word at address p, as an lvalue for TML_LD5 (read there through tml_read32 or one LDR) */
#define TML_W32(p) (*(const int32_t *)(const void *)(p))

/* the signed low and high halves of a word of two int16 lanes */
static inline int32_t tml_lo16(int32_t v) { return (int32_t)(int16_t)(uint16_t)((uint32_t)v & 0xFFFFu); }
static inline int32_t tml_hi16(int32_t v) { return (int32_t)(int16_t)(uint16_t)((uint32_t)v >> 16); }

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && !defined(TML_PORTABLE_INTRINSICS)
#include <arm_acle.h>
#define TML_DSP 1

/* lanes 0 and 2 of x, sign-extended to two int16 halves */
static inline int32_t tml_sxtb16(uint32_t x) { return __sxtb16((int32_t)x); }
/* lanes 1 and 3 of x, sign-extended to two int16 halves */
static inline int32_t tml_sxtb16_ror8(uint32_t x) {
    int32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}
/* lanes 0 and 2 (1 and 3) of x, sign-extended, added to the two int16 halves of a */
static inline int32_t tml_sxtab16(int32_t a, uint32_t x) { return __sxtab16(a, (int32_t)x); }
static inline int32_t tml_sxtab16_ror8(int32_t a, uint32_t x) {
    int32_t r;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(a), "r"(x));
    return r;
}
/* acc + lo(a) * lo(b) + hi(a) * hi(b) */
static inline int32_t tml_smlad(int32_t a, int32_t b, int32_t acc) { return __smlad(a, b, acc); }
/* acc + lo(a) * lo(b), acc + hi(a) * hi(b) */
static inline int32_t tml_smlabb(int32_t a, int32_t b, int32_t acc) { return __smlabb(a, b, acc); }
static inline int32_t tml_smlatt(int32_t a, int32_t b, int32_t acc) { return __smlatt(a, b, acc); }
/* acc + lo(a) * hi(b) */
static inline int32_t tml_smlabt(int32_t a, int32_t b, int32_t acc) { return __smlabt(a, b, acc); }
/* acc + hi(a) * lo(b) */
static inline int32_t tml_smlatb(int32_t a, int32_t b, int32_t acc) { return __smlatb(a, b, acc); }
/* x saturated to [-128, 127] */
static inline int32_t tml_ssat8(int32_t x) { return __ssat(x, 8); }
/* the high word of acc * 2^32 + a * b + 2^31, modulo 2^64 (SMMLAR) */
static inline int32_t tml_smmlar(int32_t a, int32_t b, int32_t acc) {
    int32_t r;
    __asm__("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}
/* lane-wise signed byte maximum (SSUB8 sets the GE flags that SEL reads) */
static inline uint32_t tml_max_s8x4(uint32_t a, uint32_t b) {
    (void)__ssub8((int32_t)a, (int32_t)b);
    return (uint32_t)__sel((int32_t)a, (int32_t)b);
}
/* five (four) words (int32_t lvalues, TML_W32 of an address) loaded back to back: a Cortex-M4 pipelines a load that
 * follows a load (six cycles for the five), where the compiler's scheduler would interleave them with the
 * multiplies that use them, each load then taking two */
#define TML_LD5(a, b, c, d, e, ma, mb, mc, md, me)                                                              \
    __asm__("ldr %0, %5\n\tldr %1, %6\n\tldr %2, %7\n\tldr %3, %8\n\tldr %4, %9"                                   \
            : "=&r"(a), "=&r"(b), "=&r"(c), "=&r"(d), "=&r"(e) : "m"(ma), "m"(mb), "m"(mc), "m"(md), "m"(me))
#define TML_LD4(a, b, c, d, ma, mb, mc, md)                                                                    \
    __asm__("ldr %0, %4\n\tldr %1, %5\n\tldr %2, %6\n\tldr %3, %7"                                                \
            : "=&r"(a), "=&r"(b), "=&r"(c), "=&r"(d) : "m"(ma), "m"(mb), "m"(mc), "m"(md))
#else
#define TML_DSP 0

#define TML_LD4(a, b, c, d, ma, mb, mc, md)                                                                    \
    ((a) = (int32_t)tml_read32(&(ma)), (b) = (int32_t)tml_read32(&(mb)), (c) = (int32_t)tml_read32(&(mc)),         \
     (d) = (int32_t)tml_read32(&(md)))
#define TML_LD5(a, b, c, d, e, ma, mb, mc, md, me)                                                              \
    ((a) = (int32_t)tml_read32(&(ma)), (b) = (int32_t)tml_read32(&(mb)), (c) = (int32_t)tml_read32(&(mc)),         \
     (d) = (int32_t)tml_read32(&(md)), (e) = (int32_t)tml_read32(&(me)))

static inline int32_t tml_pack16(int32_t lo, int32_t hi) {
    return (int32_t)(((uint32_t)lo & 0xFFFFu) | ((uint32_t)hi << 16));
}
static inline int32_t tml_sxtb16(uint32_t x) {
    return tml_pack16((int8_t)(uint8_t)(x & 0xFFu), (int8_t)(uint8_t)((x >> 16) & 0xFFu));
}
static inline int32_t tml_sxtb16_ror8(uint32_t x) { return tml_sxtb16(x >> 8); }
static inline int32_t tml_sxtab16(int32_t a, uint32_t x) {
    const int32_t e = tml_sxtb16(x);
    return tml_pack16(tml_lo16(a) + tml_lo16(e), tml_hi16(a) + tml_hi16(e));
}
static inline int32_t tml_sxtab16_ror8(int32_t a, uint32_t x) { return tml_sxtab16(a, x >> 8); }
static inline int32_t tml_smlad(int32_t a, int32_t b, int32_t acc) {
    return (int32_t)((uint32_t)acc + (uint32_t)(tml_lo16(a) * tml_lo16(b)) + (uint32_t)(tml_hi16(a) * tml_hi16(b)));
}
static inline int32_t tml_smlabb(int32_t a, int32_t b, int32_t acc) {
    return (int32_t)((uint32_t)acc + (uint32_t)(tml_lo16(a) * tml_lo16(b)));
}
static inline int32_t tml_smlatt(int32_t a, int32_t b, int32_t acc) {
    return (int32_t)((uint32_t)acc + (uint32_t)(tml_hi16(a) * tml_hi16(b)));
}
static inline int32_t tml_smlatb(int32_t a, int32_t b, int32_t acc) {
    return (int32_t)((uint32_t)acc + (uint32_t)(tml_hi16(a) * tml_lo16(b)));
}
static inline int32_t tml_smlabt(int32_t a, int32_t b, int32_t acc) {
    return (int32_t)((uint32_t)acc + (uint32_t)(tml_lo16(a) * tml_hi16(b)));
}
static inline int32_t tml_ssat8(int32_t x) { return x < -128 ? -128 : (x > 127 ? 127 : x); }
static inline int32_t tml_smmlar(int32_t a, int32_t b, int32_t acc) {
    const uint64_t v = ((uint64_t)(uint32_t)acc << 32) + (uint64_t)((int64_t)a * (int64_t)b) + 0x80000000u;
    const uint32_t hi = (uint32_t)(v >> 32);
    return hi <= 0x7FFFFFFFu ? (int32_t)hi : (int32_t)((int64_t)hi - 4294967296LL);
}
static inline uint32_t tml_max_s8x4(uint32_t a, uint32_t b) {
    uint32_t r = 0;
    int i;
    for (i = 0; i < 32; i += 8) {
        const int8_t x = (int8_t)(uint8_t)(a >> i), y = (int8_t)(uint8_t)(b >> i);
        r |= (uint32_t)(uint8_t)(x > y ? x : y) << i;
    }
    return r;
}
#endif

/* two int16 values in one word (lo in the low half) */
static inline int32_t tml_pack16x2(int32_t lo, int32_t hi) {
    return (int32_t)(((uint32_t)lo & 0xFFFFu) | ((uint32_t)hi << 16));
}

/* wrapping int32 addition (the kernels' accumulators wrap modulo 2^32, as SMLAD does) */
static inline int32_t tml_wadd(int32_t a, int32_t b) { return (int32_t)((uint32_t)a + (uint32_t)b); }

/* tml_requant_pre (tml_fixedpoint.h) in one SMMLAR, for the DSP kernels' records: with m2 = 2m - 2^32 (m in
 * (2^30, 2^31), so m2 is an int32 below 0), x * m2 = 2 x m - x 2^32, and SMMLAR of x, m2 and x + K gives
 * K + floor((2 x m + 2^31) / 2^32) = floor((x m + 2^30 + K 2^31) / 2^31); the arithmetic shift by e then gives
 * floor((x m + 2^30 + K 2^31) / 2^(31 + e)), which with K = hp2 - [x < 0] and hp2 = 2^(e - 1) + z 2^e is
 * tml_requant_pre's double rounding with the zero point z added (x + K may wrap: SMMLAR's result is the same
 * modulo 2^32). Records: the multiplier as m2, e = -shift (1 to 22), hp2 (special.smmlar_records). */
static inline int32_t tml_requant_mm(int32_t x, int32_t m2, int32_t e, int32_t hp2) {
    return tml_smmlar(x, m2, tml_wadd(tml_wadd(x, hp2), x >> 31)) >> e;
}

/* tml_requant_mm for an output stage whose activation minimum is at or above the output zero point (a fused
 * ReLU, as tml_requant_pre_relu): without the sign term a negative x also gives z or less. */
static inline int32_t tml_requant_mm_relu(int32_t x, int32_t m2, int32_t e, int32_t hp2) {
    return tml_smmlar(x, m2, tml_wadd(x, hp2)) >> e;
}

#endif
