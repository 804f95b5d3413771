/* tinyml runtime: the Helium (M-profile Vector Extension, MVE) instructions the generated `mve` kernels use, as
 * inline functions.
 *
 * On a core with integer MVE (Cortex-M55, M85: __ARM_FEATURE_MVE bit 0) they are the instructions themselves
 * (GCC's arm_mve.h). Everywhere else (the host, cores without MVE) they are portable C with the same results, lane
 * by lane, so the host tests and the compile self-check run the very kernels the M55 runs. Define
 * TML_PORTABLE_INTRINSICS to force the C versions. tests/test_mve.py runs both on edge values (the C versions on
 * the host, the instructions on QEMU's Cortex-M55) and compares every result.
 *
 * Vectors are 128 bits: 16 int8 lanes or 4 int32 lanes. A predicate has one bit per byte of the vector (a lane of
 * n bytes is active when its lowest bit is set), as VCTP writes it. Integer arithmetic wraps modulo 2^32, as the
 * instructions do. */
#ifndef TML_MVE_H
#define TML_MVE_H

#include <stdint.h>

#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1) && !defined(TML_PORTABLE_INTRINSICS)
#include <arm_mve.h>
#define TML_MVE 1

typedef int8x16_t tml_i8x16;
typedef int32x4_t tml_i32x4;
typedef mve_pred16_t tml_pred;

/* accumulator `v` complete here (an empty asm that reads and writes it), between the taps of a depthwise kernel:
 * without it GCC 12 computes every tap's product before the first addition and keeps them in 8 Q registers it
 * does not have (spills to the stack: twice the instructions); with it each tap is loaded, multiplied and added in
 * turn. */
#define TML_MVE_SEQ(v) __asm__ __volatile__("" : "+w"(v))
/* pointer `p` materialised here (an empty asm that reads and writes it), after each step of a packed weight walk:
 * without it GCC 12 turns the walk into offsets from one base, most of them beyond VLDRB's 127 bytes, and spills
 * the addresses it computes; with it every load is one post-incremented VLDRB. */
#define TML_MVE_PTR(p) __asm__ __volatile__("" : "+r"(p))

/* the first min(n, 16) byte lanes (VCTP.8), the first min(n, 4) word lanes (VCTP.32) */
static inline tml_pred tml_vctp8(uint32_t n) { return vctp8q(n); }
static inline tml_pred tml_vctp32(uint32_t n) { return vctp32q(n); }
/* 16 int8 lanes from p (VLDRB.8); _z: inactive lanes read nothing and are 0 */
static inline tml_i8x16 tml_vld8(const int8_t *p) { return vldrbq_s8(p); }
static inline tml_i8x16 tml_vld8_z(const int8_t *p, tml_pred m) { return vldrbq_z_s8(p, m); }
/* 4 int8 values from p, sign-extended to 4 int32 lanes (VLDRB.S32); _z: inactive lanes read nothing, are 0 */
static inline tml_i32x4 tml_vld8x4(const int8_t *p) { return vldrbq_s32(p); }
static inline tml_i32x4 tml_vld8x4_z(const int8_t *p, tml_pred m) { return vldrbq_z_s32(p, m); }
/* p[0], p[2], p[4], p[6], sign-extended to 4 int32 lanes (VLDRB.S32 gathering at offsets 0, 2, 4, 6) */
static inline tml_i32x4 tml_vld8x4_s2(const int8_t *p) { return vldrbq_gather_offset_s32(p, vidupq_n_u32(0, 2)); }
/* 4 int32 lanes from / to p (VLDRW.32, VSTRW.32) */
static inline tml_i32x4 tml_vld32(const int32_t *p) { return vldrwq_s32(p); }
static inline void tml_vst32(int32_t *p, tml_i32x4 v) { vstrwq_s32(p, v); }
/* acc + the sum of the 16 lane products a[i] * b[i] (VMLADAVA.S8) */
static inline int32_t tml_vmladava(int32_t acc, tml_i8x16 a, tml_i8x16 b) { return vmladavaq_s8(acc, a, b); }
/* acc + a * b lane by lane, the low 32 bits (VMLA.S32 with a vector multiplier: VMUL + VADD) */
static inline tml_i32x4 tml_vmla32(tml_i32x4 acc, tml_i32x4 a, tml_i32x4 b) { return vaddq_s32(acc, vmulq_s32(a, b)); }
/* acc + a * s lane by lane (VMLA.S32 with a scalar) */
static inline tml_i32x4 tml_vmla32n(tml_i32x4 acc, tml_i32x4 a, int32_t s) { return vmlaq_n_s32(acc, a, s); }
static inline tml_i32x4 tml_vdup32(int32_t x) { return vdupq_n_s32(x); }
/* (a, b, c, d) as the four lanes (VMOV to lanes) */
static inline tml_i32x4 tml_vset4(int32_t a, int32_t b, int32_t c, int32_t d) {
    return vsetq_lane_s32(d, vsetq_lane_s32(c, vsetq_lane_s32(b, vdupq_n_s32(a), 1), 2), 3);
}
/* the low byte of each lane to p[0..3] (VSTRB.32); _p: only the active lanes */
static inline void tml_vst8x4(int8_t *p, tml_i32x4 v) { vstrbq_s32(p, v); }
static inline void tml_vst8x4_p(int8_t *p, tml_i32x4 v, tml_pred m) { vstrbq_p_s32(p, v, m); }
/* the low byte of lane i to p[i * stride] (VSTRB.32 scattering at byte offsets 0, s, 2s, 3s) */
static inline void tml_vst8x4_strided(int8_t *p, tml_i32x4 v, uint32_t s) {
    vstrbq_scatter_offset_s32(p, vmulq_n_u32(vidupq_n_u32(0, 1), s), v);
}
static inline tml_i32x4 tml_vadd32(tml_i32x4 a, tml_i32x4 b) { return vaddq_s32(a, b); }
static inline tml_i32x4 tml_vmax32(tml_i32x4 a, tml_i32x4 b) { return vmaxq_s32(a, b); }
static inline tml_i32x4 tml_vmin32(tml_i32x4 a, tml_i32x4 b) { return vminq_s32(a, b); }
static inline tml_i32x4 tml_vmvn32(tml_i32x4 a) { return vmvnq_s32(a); }
static inline tml_i32x4 tml_vneg32(tml_i32x4 a) { return vnegq_s32(a); }
/* a >> 31 lane by lane (VSHR.S32 #31: -1 for a negative lane, else 0) */
static inline tml_i32x4 tml_vsign32(tml_i32x4 a) { return vshrq_n_s32(a, 31); }
/* saturate((2 * a * b + 2^31) >> 32) (VQRDMULH.S32) */
static inline tml_i32x4 tml_vqrdmulh32(tml_i32x4 a, tml_i32x4 b) { return vqrdmulhq_s32(a, b); }
/* a shifted left by b (VSHL.S32; a negative b shifts right, rounding down), and the same rounding half up (VRSHL.S32;
 * the addition of the rounding bit does not overflow) */
static inline tml_i32x4 tml_vshl32(tml_i32x4 a, tml_i32x4 b) { return vshlq_s32(a, b); }
static inline tml_i32x4 tml_vrshl32(tml_i32x4 a, tml_i32x4 b) { return vrshlq_s32(a, b); }
/* n bytes from s to d, and n copies of v to d (n a constant where the kernels call them, so the loop unrolls):
 * sixteen per VLDRB/VSTRB, the last n % 16 under a VCTP predicate (newlib's memcpy and memset take a call and
 * a byte loop for the few bytes an im2col row copies) */
/* the signed low and high nibbles of 16 int8 lanes (VSHL.I8 #4 + VSHR.S8 #4; VSHR.S8 #4) */
static inline tml_i8x16 tml_vlo4(tml_i8x16 v) { return vshrq_n_s8(vshlq_n_s8(v, 4), 4); }
static inline tml_i8x16 tml_vhi4(tml_i8x16 v) { return vshrq_n_s8(v, 4); }
/* acc + the sum of the 16 int8 lanes of a (VADDVA.S8) */
static inline int32_t tml_vaddva8(int32_t acc, tml_i8x16 a) { return vaddvaq_s8(acc, a); }
/* 4 int32 lanes loaded where the predicate is active, 0 elsewhere (VLDRW.32 in a VPT block); stored where it
 * is active (VSTRW.32) */
static inline tml_i32x4 tml_vld32_z(const int32_t *p, tml_pred m) { return vldrwq_z_s32(p, m); }
static inline void tml_vst32_p(int32_t *p, tml_i32x4 v, tml_pred m) { vstrwq_p_s32(p, v, m); }
/* lane-wise wrapping subtraction and multiplication (VSUB.I32, VMUL.I32); t[idx[i]] for each lane (VLDRW.S32
 * gathering at offsets idx << 2; idx in 0..2^30) */
static inline tml_i32x4 tml_vsub32(tml_i32x4 a, tml_i32x4 b) { return vsubq_s32(a, b); }
static inline tml_i32x4 tml_vmul32(tml_i32x4 a, tml_i32x4 b) { return vmulq_s32(a, b); }
static inline tml_i32x4 tml_vgather32(const int32_t *t, tml_i32x4 idx) {
    return vldrwq_gather_shifted_offset_s32(t, vreinterpretq_u32_s32(idx));
}
/* lane-wise signed maximum and minimum of 16 int8 lanes (VMAX.S8, VMIN.S8), x in every lane (VDUP.8); 16 int8
 * lanes stored where the predicate is active (VSTRB.8 in a VPT block) */
static inline tml_i8x16 tml_vmax8(tml_i8x16 a, tml_i8x16 b) { return vmaxq_s8(a, b); }
static inline tml_i8x16 tml_vmin8(tml_i8x16 a, tml_i8x16 b) { return vminq_s8(a, b); }
static inline tml_i8x16 tml_vdup8(int8_t x) { return vdupq_n_s8(x); }
static inline void tml_vst8_p(int8_t *p, tml_i8x16 v, tml_pred m) { vstrbq_p_s8(p, v, m); }
static inline void tml_vcopy(int8_t *d, const int8_t *s, uint32_t n) {
    for (; n >= 16; n -= 16, d += 16, s += 16) vstrbq_s8(d, vldrbq_s8(s));
    if (n) {
        const mve_pred16_t m = vctp8q(n);
        vstrbq_p_s8(d, vldrbq_z_s8(s, m), m);
    }
}
static inline void tml_vfill(int8_t *d, int8_t v, uint32_t n) {
    const int8x16_t x = vdupq_n_s8(v);
    for (; n >= 16; n -= 16, d += 16) vstrbq_s8(d, x);
    if (n) vstrbq_p_s8(d, x, vctp8q(n));
}
#else
#define TML_MVE 0

typedef struct { int8_t v[16]; } tml_i8x16;
typedef struct { int32_t v[4]; } tml_i32x4;
typedef uint16_t tml_pred;

/* the portable definition of a lane-wise operation of two vectors: lane i of the result is `expr` of a.v[i] and
 * b.v[i] */
#define TML_LANEWISE_(name, type, lanes, expr)                   \
    static inline type name(type a, type b) {                    \
        int i;                                                   \
        for (i = 0; i < (lanes); i++) a.v[i] = (expr);           \
        return a;                                                \
    }
/* wrapping addition, subtraction and multiplication of int32 lanes; signed maxima and minima */
TML_LANEWISE_(tml_vadd32, tml_i32x4, 4, (int32_t)((uint32_t)a.v[i] + (uint32_t)b.v[i]))
TML_LANEWISE_(tml_vsub32, tml_i32x4, 4, (int32_t)((uint32_t)a.v[i] - (uint32_t)b.v[i]))
TML_LANEWISE_(tml_vmul32, tml_i32x4, 4, (int32_t)((uint32_t)a.v[i] * (uint32_t)b.v[i]))
TML_LANEWISE_(tml_vmax32, tml_i32x4, 4, a.v[i] > b.v[i] ? a.v[i] : b.v[i])
TML_LANEWISE_(tml_vmin32, tml_i32x4, 4, a.v[i] < b.v[i] ? a.v[i] : b.v[i])
TML_LANEWISE_(tml_vmax8, tml_i8x16, 16, a.v[i] > b.v[i] ? a.v[i] : b.v[i])
TML_LANEWISE_(tml_vmin8, tml_i8x16, 16, a.v[i] < b.v[i] ? a.v[i] : b.v[i])
/* x in every lane */
#define TML_DUP_(name, type, elem, lanes)                        \
    static inline type name(elem x) {                            \
        type r;                                                  \
        int i;                                                   \
        for (i = 0; i < (lanes); i++) r.v[i] = x;                \
        return r;                                                \
    }
TML_DUP_(tml_vdup32, tml_i32x4, int32_t, 4)
TML_DUP_(tml_vdup8, tml_i8x16, int8_t, 16)

#define TML_MVE_SEQ(v) ((void)(v))
#define TML_MVE_PTR(p) ((void)(p))

static inline tml_pred tml_vctp8(uint32_t n) { return n >= 16 ? (tml_pred)0xFFFFu : (tml_pred)((1u << n) - 1u); }
static inline tml_pred tml_vctp32(uint32_t n) { return n >= 4 ? (tml_pred)0xFFFFu : (tml_pred)((1u << (4 * n)) - 1u); }
static inline tml_i8x16 tml_vld8_z(const int8_t *p, tml_pred m) {
    tml_i8x16 r;
    int i;
    for (i = 0; i < 16; i++) r.v[i] = (m >> i) & 1u ? p[i] : 0;
    return r;
}
static inline tml_i8x16 tml_vld8(const int8_t *p) { return tml_vld8_z(p, 0xFFFFu); }
static inline tml_i32x4 tml_vld8x4_z(const int8_t *p, tml_pred m) {
    tml_i32x4 r;
    int i;
    for (i = 0; i < 4; i++) r.v[i] = (m >> (4 * i)) & 1u ? p[i] : 0;
    return r;
}
static inline tml_i32x4 tml_vld8x4(const int8_t *p) { return tml_vld8x4_z(p, 0xFFFFu); }
static inline tml_i32x4 tml_vld8x4_s2(const int8_t *p) {
    tml_i32x4 r;
    int i;
    for (i = 0; i < 4; i++) r.v[i] = p[2 * i];
    return r;
}
static inline tml_i32x4 tml_vld32(const int32_t *p) {
    tml_i32x4 r;
    int i;
    for (i = 0; i < 4; i++) r.v[i] = p[i];
    return r;
}
static inline void tml_vst32(int32_t *p, tml_i32x4 v) {
    int i;
    for (i = 0; i < 4; i++) p[i] = v.v[i];
}
static inline int32_t tml_vmladava(int32_t acc, tml_i8x16 a, tml_i8x16 b) {
    uint32_t s = (uint32_t)acc;
    int i;
    for (i = 0; i < 16; i++) s += (uint32_t)((int32_t)a.v[i] * (int32_t)b.v[i]);
    return (int32_t)s;
}
static inline tml_i32x4 tml_vmla32(tml_i32x4 acc, tml_i32x4 a, tml_i32x4 b) {
    int i;
    for (i = 0; i < 4; i++) acc.v[i] = (int32_t)((uint32_t)acc.v[i] + (uint32_t)a.v[i] * (uint32_t)b.v[i]);
    return acc;
}
static inline tml_i32x4 tml_vmla32n(tml_i32x4 acc, tml_i32x4 a, int32_t s) {
    int i;
    for (i = 0; i < 4; i++) acc.v[i] = (int32_t)((uint32_t)acc.v[i] + (uint32_t)a.v[i] * (uint32_t)s);
    return acc;
}
static inline tml_i32x4 tml_vset4(int32_t a, int32_t b, int32_t c, int32_t d) {
    tml_i32x4 r;
    r.v[0] = a;
    r.v[1] = b;
    r.v[2] = c;
    r.v[3] = d;
    return r;
}
static inline void tml_vst8x4_p(int8_t *p, tml_i32x4 v, tml_pred m) {
    int i;
    for (i = 0; i < 4; i++) {
        if ((m >> (4 * i)) & 1u) p[i] = (int8_t)(uint8_t)((uint32_t)v.v[i] & 0xFFu);
    }
}
static inline void tml_vst8x4(int8_t *p, tml_i32x4 v) { tml_vst8x4_p(p, v, 0xFFFFu); }
static inline void tml_vst8x4_strided(int8_t *p, tml_i32x4 v, uint32_t s) {
    int i;
    for (i = 0; i < 4; i++) p[(uint32_t)i * s] = (int8_t)(uint8_t)((uint32_t)v.v[i] & 0xFFu);
}
static inline tml_i32x4 tml_vmvn32(tml_i32x4 a) {
    int i;
    for (i = 0; i < 4; i++) a.v[i] = (int32_t)~(uint32_t)a.v[i];
    return a;
}
static inline tml_i32x4 tml_vneg32(tml_i32x4 a) {
    int i;
    for (i = 0; i < 4; i++) a.v[i] = (int32_t)(0u - (uint32_t)a.v[i]);
    return a;
}
static inline tml_i32x4 tml_vsign32(tml_i32x4 a) {
    int i;
    for (i = 0; i < 4; i++) a.v[i] = a.v[i] < 0 ? -1 : 0;
    return a;
}
static inline tml_i32x4 tml_vqrdmulh32(tml_i32x4 a, tml_i32x4 b) {
    int i;
    for (i = 0; i < 4; i++) {
        if (a.v[i] == INT32_MIN && b.v[i] == INT32_MIN) {
            a.v[i] = INT32_MAX;
        } else { /* (2ab + 2^31) >> 32 == (ab + 2^30) >> 31, floor division */
            const int64_t p = (int64_t)a.v[i] * (int64_t)b.v[i] + ((int64_t)1 << 30);
            a.v[i] = (int32_t)(p >= 0 ? p / ((int64_t)1 << 31) : -((-p + ((int64_t)1 << 31) - 1) / ((int64_t)1 << 31)));
        }
    }
    return a;
}
static inline tml_i8x16 tml_vlo4(tml_i8x16 v) {
    int i;
    for (i = 0; i < 16; i++) {
        const int32_t b = (int32_t)((uint32_t)(uint8_t)v.v[i] & 15u);
        v.v[i] = (int8_t)(b >= 8 ? b - 16 : b);
    }
    return v;
}
static inline tml_i8x16 tml_vhi4(tml_i8x16 v) {
    int i;
    for (i = 0; i < 16; i++) {
        const int32_t b = (int32_t)((uint32_t)(uint8_t)v.v[i] >> 4);
        v.v[i] = (int8_t)(b >= 8 ? b - 16 : b);
    }
    return v;
}
static inline int32_t tml_vaddva8(int32_t acc, tml_i8x16 a) {
    uint32_t s = (uint32_t)acc;
    int i;
    for (i = 0; i < 16; i++) s += (uint32_t)(int32_t)a.v[i];
    return (int32_t)s;
}
static inline tml_i32x4 tml_vld32_z(const int32_t *p, tml_pred m) {
    tml_i32x4 r;
    int i;
    for (i = 0; i < 4; i++) r.v[i] = (m >> (4 * i)) & 1u ? p[i] : 0;
    return r;
}
static inline void tml_vst32_p(int32_t *p, tml_i32x4 v, tml_pred m) {
    int i;
    for (i = 0; i < 4; i++) {
        if ((m >> (4 * i)) & 1u) p[i] = v.v[i];
    }
}
static inline tml_i32x4 tml_vgather32(const int32_t *t, tml_i32x4 idx) {
    int i;
    for (i = 0; i < 4; i++) idx.v[i] = t[(uint32_t)idx.v[i]];
    return idx;
}
static inline void tml_vst8_p(int8_t *p, tml_i8x16 v, tml_pred m) {
    int i;
    for (i = 0; i < 16; i++) {
        if ((m >> i) & 1u) p[i] = v.v[i];
    }
}
static inline void tml_vcopy(int8_t *d, const int8_t *s, uint32_t n) {
    uint32_t i;
    for (i = 0; i < n; i++) d[i] = s[i];
}
static inline void tml_vfill(int8_t *d, int8_t v, uint32_t n) {
    uint32_t i;
    for (i = 0; i < n; i++) d[i] = v;
}
/* shift amounts as the instructions read them: the signed low byte of each lane of b, used here in -32..32 */
static inline int32_t tml_shift_amount_(int32_t b) { return (int32_t)(int8_t)(uint8_t)((uint32_t)b & 0xFFu); }
static inline tml_i32x4 tml_vshl32(tml_i32x4 a, tml_i32x4 b) {
    int i;
    for (i = 0; i < 4; i++) {
        const int32_t n = tml_shift_amount_(b.v[i]);
        const int64_t x = a.v[i];
        a.v[i] = n >= 0 ? (n >= 32 ? 0 : (int32_t)(uint32_t)((uint64_t)x << n))
                        : (n <= -32 ? (x < 0 ? -1 : 0) : (int32_t)(x >= 0 ? x >> -n : -((-x + ((int64_t)1 << -n) - 1) >> -n)));
    }
    return a;
}
static inline tml_i32x4 tml_vrshl32(tml_i32x4 a, tml_i32x4 b) {
    int i;
    for (i = 0; i < 4; i++) {
        const int32_t n = tml_shift_amount_(b.v[i]);
        if (n >= 0) {
            a.v[i] = n >= 32 ? 0 : (int32_t)(uint32_t)((uint64_t)(int64_t)a.v[i] << n);
        } else if (n <= -32) {
            a.v[i] = 0;
        } else {
            const int64_t x = (int64_t)a.v[i] + ((int64_t)1 << (-n - 1));
            a.v[i] = (int32_t)(x >= 0 ? x >> -n : -((-x + ((int64_t)1 << -n) - 1) >> -n));
        }
    }
    return a;
}
#endif

/* TFLM's requantization of four accumulators for records of the kind tml_requant_pre reads (multiplier m in
 * (2^30, 2^31), e1 = e - 1 for a right shift e of 2..22, hp = 2^(e - 2) + z * 2^(e - 1) with z the output zero
 * point): SaturatingRoundingDoublingHighMul is VQRDMULH exactly (TFLM's nudge 1 - 2^30 for a negative product,
 * divided rounding toward zero, is the floor that VQRDMULH takes after adding 2^30); RoundingDivideByPOT rounds
 * halves away from zero where VRSHL rounds them up, so a negative value is first lowered by one; z = hp >> e1. */
static inline tml_i32x4 tml_vrequant_pre(tml_i32x4 acc, tml_i32x4 m, tml_i32x4 e1, tml_i32x4 hp) {
    const tml_i32x4 v = tml_vqrdmulh32(acc, m);
    return tml_vadd32(tml_vrshl32(tml_vadd32(v, tml_vsign32(v)), tml_vmvn32(e1)), tml_vshl32(hp, tml_vneg32(e1)));
}

/* v clamped to [lo, hi] */
static inline tml_i32x4 tml_vclamp32(tml_i32x4 v, int32_t lo, int32_t hi) {
    return tml_vmin32(tml_vmax32(v, tml_vdup32(lo)), tml_vdup32(hi));
}

#endif
