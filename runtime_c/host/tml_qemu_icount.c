/* QEMU TCG plugin (API version 1, QEMU 7.2+): counts guest instructions exactly and models Cortex-M4 cycles; records
 * the running counts each time the instruction at `marker=ADDR` executes. Compiled at run time with the host C
 * compiler; Debian ships no qemu-plugin.h, so the few API declarations used are written out here.
 *
 * usage: -plugin libtml_icount.so,marker=0x1234,out=/path/events.txt[,branch_penalty=2][,fetch_ws=0]
 *        [,load_ws=0,flash_lo=0x0,flash_hi=0x400000]
 * out: "total INSNS CYCLES", then one "event INSNS CYCLES" line per marker hit followed by the instructions and the
 * cycles of each class so far ("classes N0 N1 ... / C0 C1 ..."), and a "names" line naming the classes.
 *
 * Instructions are counted exactly (QEMU's retired guest instructions; one skipped by an IT block counts too).
 * Cycles are MODELED, not measured: each executed instruction costs its Cortex-M4 cycles from the Technical
 * Reference Manual's instruction timing table (the CYCLE MODEL table below, one row per class), assuming zero
 * wait states unless told otherwise. What the model leaves out: the dependent cases of load pipelining (an LDR
 * whose address depends on the previous load's result), IT folding (IT counts 1), an instruction skipped by IT
 * costs its full class cost, SDIV/UDIV take their worst case, bus contention and the write buffer. */
#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
typedef uint32_t qemu_plugin_meminfo_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
enum qemu_plugin_mem_rw { QEMU_PLUGIN_MEM_R = 1, QEMU_PLUGIN_MEM_W, QEMU_PLUGIN_MEM_RW };
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);
typedef void (*qemu_plugin_vcpu_mem_cb_t)(unsigned int vcpu_index, qemu_plugin_meminfo_t info, uint64_t vaddr,
                                          void *userdata);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
const void *qemu_plugin_insn_data(const struct qemu_plugin_insn *insn);
size_t qemu_plugin_insn_size(const struct qemu_plugin_insn *insn);
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *tb, enum qemu_plugin_op op, void *ptr,
                                              uint64_t imm);
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *tb, qemu_plugin_vcpu_udata_cb_t cb,
                                          enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn, qemu_plugin_vcpu_udata_cb_t cb,
                                            enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_vcpu_mem_cb(struct qemu_plugin_insn *insn, qemu_plugin_vcpu_mem_cb_t cb,
                                      enum qemu_plugin_cb_flags flags, enum qemu_plugin_mem_rw rw, void *userdata);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);
_Bool qemu_plugin_mem_is_store(qemu_plugin_meminfo_t info);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

/* ---- CYCLE MODEL: Cortex-M4 Technical Reference Manual (r0p1), table 3-1 "Cortex-M4 instruction set summary" and
 * the DSP and FPU tables; P = pipeline refill after a taken branch (1-3, `branch_penalty`, 2 by default), N = the
 * number of registers (words) a multiple load or store transfers. One row per class: its name and its cycles. */
enum cls {
    C_ALU,      /* ADD, SUB, AND, MOV, CMP, shifts, extends, bit field, REV, CLZ, SSAT/USAT, SEL: 1 */
    C_MUL,      /* MUL, SMULL/UMULL/SMLAL/UMLAL (single-cycle on the M4): 1 */
    C_MLA,      /* MLA, MLS: 2 */
    C_DSP,      /* SIMD and saturating DSP: SMLAD, SMLABB, SMUAD, SXTB16, SXTAB16, QADD8, SADD16, ...: 1 */
    C_DIV,      /* SDIV, UDIV: 2-12 by operand size; the model takes the bound 12 */
    C_LOAD,     /* LDR, LDRB/H/SB/SH (any addressing): 2, or 1 right after another load or store single */
    C_STORE,    /* STR, STRB/H: 2, or 1 right after another load or store single (none pipelines after a register-
                   offset STR) */
    C_LDSTM,    /* LDRD/STRD, LDM/STM, PUSH/POP, TBB/TBH's load: 1 + N (POP or LDM into PC: + P) */
    C_BRANCH,   /* B, BL, BX, BLX, CBZ/CBNZ, B<cond>, MOV/ADD/LDR to PC: taken 1 + P, not taken 1 */
    C_FPU,      /* VADD, VSUB, VMUL, VMOV, VCVT, VCMP, VABS, VNEG: 1; VMLA/VMLS/VFMA/VNMLA: 3; VDIV, VSQRT: 14;
                   VLDR/VSTR: 2; VLDM/VSTM/VPUSH/VPOP: 1 + N */
    C_OTHER,    /* IT (counted 1: the model does not fold it), NOP and hints, MSR/MRS, barriers, SVC, BKPT: 1 */
    N_CLS
};
static const char *const CLS_NAME[N_CLS] = {"alu", "mul", "mla", "dsp", "div", "load", "store", "ldst_multiple",
                                            "branch", "fpu", "other"};
#define DIV_CYCLES 12
#define VDIV_CYCLES 14
#define VMLA_CYCLES 3

/* one decoded instruction: its class, its cycles when it does not branch and does not pipeline, whether a load or
 * store single after it may pipeline (`chain`), whether it is a load/store single that pipelines after one, and
 * for branches whether it is conditional */
struct insn_cost {
    uint8_t cls, cycles, ldst_single, chain, branch, cond;
};

static unsigned popcount16(unsigned v) {
    unsigned n = 0;
    for (; v; v &= v - 1) n++;
    return n;
}

/* a 16-bit Thumb instruction */
static struct insn_cost decode16(unsigned h) {
    struct insn_cost c = {C_ALU, 1, 0, 0, 0, 0};
    if ((h & 0xF800) == 0xE000) { c.cls = C_BRANCH; c.branch = 1; return c; }                 /* B */
    if ((h & 0xF000) == 0xD000) {
        if ((h & 0x0E00) == 0x0E00) { c.cls = C_OTHER; return c; }                          /* UDF, SVC */
        c.cls = C_BRANCH; c.branch = 1; c.cond = 1; return c;                                /* B<cond> */
    }
    if ((h & 0xF500) == 0xB100) { c.cls = C_BRANCH; c.branch = 1; c.cond = 1; return c; }   /* CBZ, CBNZ */
    if ((h & 0xFF00) == 0x4700) { c.cls = C_BRANCH; c.branch = 1; return c; }                /* BX, BLX */
    if ((h & 0xFF00) == 0x4400 || (h & 0xFF00) == 0x4600) {                                 /* ADD/MOV high */
        if ((h & 0x87) == 0x87) { c.cls = C_BRANCH; c.branch = 1; }                          /* Rd = PC */
        return c;
    }
    if ((h & 0xFFC0) == 0x4340) { c.cls = C_MUL; return c; }                                 /* MULS */
    if ((h & 0xF800) == 0x4800 || (h & 0xF000) == 0x5000 || (h & 0xE000) == 0x6000 || (h & 0xF000) == 0x8000 ||
        (h & 0xF000) == 0x9000) {                                                            /* LDR/STR single */
        int load = (h & 0xF800) == 0x4800 || ((h & 0xF000) == 0x5000 ? (h & 0x0E00) >= 0x0600 : (h & 0x0800) != 0);
        c.cls = load ? C_LOAD : C_STORE;
        c.cycles = 2;
        c.ldst_single = 1;
        c.chain = !((h & 0xF000) == 0x5000 && !load);                                       /* STR (register) */
        return c;
    }
    if ((h & 0xF600) == 0xB400) {                                                            /* PUSH, POP */
        unsigned n = popcount16(h & 0x1FF);
        c.cls = C_LDSTM;
        c.cycles = (uint8_t)(1 + n);
        if ((h & 0x0900) == 0x0900) { c.branch = 1; }                                        /* POP {.., pc} */
        return c;
    }
    if ((h & 0xF000) == 0xC000) { c.cls = C_LDSTM; c.cycles = (uint8_t)(1 + popcount16(h & 0xFF)); return c; }
    if ((h & 0xFF00) == 0xBF00 || (h & 0xFF00) == 0xBE00 || (h & 0xFFE8) == 0xB660) { c.cls = C_OTHER; return c; }
    return c;                                                                                /* ALU */
}

/* a 32-bit Thumb-2 instruction (hw1 first) */
static struct insn_cost decode32(unsigned hw1, unsigned hw2) {
    struct insn_cost c = {C_ALU, 1, 0, 0, 0, 0};
    unsigned op1 = (hw1 >> 11) & 3, op2 = (hw1 >> 4) & 0x7F;
    if ((hw1 & 0xEE00) == 0xEC00 && (hw2 & 0x0E00) == 0x0A00 && (hw1 & 0xFFA0) != 0xEC00) {
        /* VFP load/store: VLDR, VSTR (2), VLDM, VSTM, VPUSH, VPOP (1 + N) */
        unsigned p = (hw1 >> 8) & 1, w = (hw1 >> 5) & 1, words = hw2 & 0xFF;
        c.cls = C_FPU;
        c.cycles = p && !w ? 2 : (uint8_t)(1 + (words ? words : 1));
        return c;
    }
    if ((hw1 & 0xEF00) == 0xEE00) {                                                          /* VFP data processing */
        unsigned opc1 = ((hw1 >> 4) & 0xB), coproc = (hw2 >> 8) & 0xE;
        c.cls = C_FPU;
        if (coproc != 0xA) return c;
        if (hw2 & 0x10) return c;                                                            /* VMOV core <-> VFP */
        if (opc1 == 0x8) c.cycles = VDIV_CYCLES;                                             /* VDIV */
        else if (opc1 == 0xB && ((hw1 & 0xF) == 1) && (hw2 & 0xC0) == 0xC0) c.cycles = VDIV_CYCLES; /* VSQRT */
        else if (opc1 == 0x0 || opc1 == 0x1 || opc1 == 0xA || opc1 == 0x9) c.cycles = VMLA_CYCLES; /* VMLA.. VFMA */
        return c;
    }
    if (op1 == 1) {
        if ((op2 & 0x64) == 0x00) {                                                          /* LDM, STM */
            unsigned n = popcount16(hw2);
            c.cls = C_LDSTM;
            c.cycles = (uint8_t)(1 + n);
            if ((op2 & 1) && (hw2 & 0x8000)) c.branch = 1;                                   /* LDM/POP with PC */
            return c;
        }
        if ((op2 & 0x64) == 0x04) {                                                          /* dual, excl., table */
            if ((hw1 & 0xFFF0) == 0xE8D0 && (hw2 & 0xFFE0) == 0xF000) {                      /* TBB, TBH */
                c.cls = C_BRANCH; c.cycles = 2; c.branch = 1; return c;
            }
            c.cls = C_LDSTM;                                  /* LDREX/STREX (and byte, halfword): 2; LDRD, STRD: 3 */
            c.cycles = (hw1 & 0xFFE0) == 0xE840 || (hw1 & 0xFFE0) == 0xE8C0 ? 2 : 3;
            return c;
        }
        if ((op2 & 0x60) == 0x20) return c;                                                  /* data proc. (reg) */
        c.cls = C_FPU;
        return c;
    }
    if (op1 == 2) {
        if (!(hw2 & 0x8000)) {                                                               /* data proc. (imm) */
            return c;
        }
        if ((hw2 & 0x5000) == 0x0000) {                                                      /* B<cond>.W or misc */
            if (((hw1 >> 7) & 7) != 7) { c.cls = C_BRANCH; c.branch = 1; c.cond = 1; return c; }
            c.cls = C_OTHER;                                                                 /* MSR, MRS, hints */
            return c;
        }
        c.cls = C_BRANCH;                                                                    /* B.W, BL */
        c.branch = 1;
        return c;
    }
    /* op1 == 3 */
    if ((op2 & 0x71) == 0x00 || (op2 & 0x67) == 0x01 || (op2 & 0x67) == 0x03 || (op2 & 0x67) == 0x05) {
        int load = op2 & 1;
        c.cls = load ? C_LOAD : C_STORE;
        c.cycles = 2;
        c.ldst_single = 1;
        /* register offset: op2 bit 3 clear (imm12 forms have bit 3 set) and hw2[11:6] == 0 */
        c.chain = !(!load && !(op2 & 0x08) && (hw2 & 0x0FC0) == 0);
        if (load && ((hw2 >> 12) & 0xF) == 0xF && (op2 & 0x67) == 0x05) {                   /* LDR PC */
            c.cls = C_BRANCH; c.branch = 1; c.ldst_single = 0; c.chain = 0;
        }
        return c;
    }
    if ((op2 & 0x70) == 0x20) {                                                              /* data proc. (reg) */
        unsigned op = (hw1 >> 4) & 0xF, o2 = (hw2 >> 4) & 0xF;
        if ((hw2 & 0xF000) != 0xF000) return c;
        if ((op & 0x8) && !(o2 & 0x8)) c.cls = C_DSP;                                        /* SADD16, QADD8.. */
        else if ((o2 & 0x8) && op <= 5) c.cls = op == 2 || op == 3 ? C_DSP : C_ALU;          /* SXT(A)B16 / SXTB.. */
        else if ((op & 0xC) == 0x8 && (o2 & 0xC) == 0x8) c.cls = op == 8 ? C_DSP : C_ALU;   /* QADD.. / REV, CLZ */
        return c;
    }
    if ((op2 & 0x78) == 0x30) {                                                              /* multiply, MAC */
        unsigned op = (hw1 >> 4) & 7, o2 = (hw2 >> 4) & 3, ra = (hw2 >> 12) & 0xF;
        if (op == 0 && o2 == 0) c.cls = ra == 0xF ? C_MUL : C_MLA;                           /* MUL / MLA */
        else if (op == 0 && o2 == 1) c.cls = C_MLA;                                          /* MLS */
        else c.cls = C_DSP;                                                                  /* SMLA<x><y>, SMLAD.. */
        c.cycles = c.cls == C_MLA ? 2 : 1;
        return c;
    }
    if ((op2 & 0x78) == 0x38) {                                                              /* long mul, divide */
        unsigned op = (hw1 >> 4) & 7, o2 = (hw2 >> 4) & 0xF;
        if ((op == 1 || op == 3) && o2 == 0xF) { c.cls = C_DIV; c.cycles = DIV_CYCLES; }
        else if (op == 0 || op == 2 || op == 4 || op == 6) c.cls = op == 4 && o2 ? C_DSP : C_MUL;
        else c.cls = C_DSP;
        return c;
    }
    c.cls = C_FPU;                                                                           /* coprocessor */
    return c;
}

/* what one translated block costs: its instructions and cycles per class without branches or pipelining across
 * its ends, and what decides them at run time */
struct tb_info {
    uint64_t start, fallthrough;
    uint32_t n_insns[N_CLS];
    uint32_t cycles[N_CLS];
    uint8_t first_ldst, first_cls, last_chain, last_branch, last_cond;
};

#define MAX_EVENTS 100000
static uint64_t count, cycles_total, cls_insns[N_CLS], cls_cycles[N_CLS];
static uint64_t marker;
static unsigned branch_penalty = 2, fetch_ws, load_ws;
static uint64_t flash_lo, flash_hi;
static char out_path[4096];
static struct snapshot {
    uint64_t insns, cycles, cls_insns[N_CLS], cls_cycles[N_CLS];
} events[MAX_EVENTS];
static size_t n_events;
static const struct tb_info *prev;

static void on_marker(unsigned int vcpu_index, void *userdata) {
    (void)vcpu_index;
    (void)userdata;
    if (n_events < MAX_EVENTS) {
        struct snapshot *s = &events[n_events++];
        s->insns = count;
        s->cycles = cycles_total;
        memcpy(s->cls_insns, cls_insns, sizeof cls_insns);
        memcpy(s->cls_cycles, cls_cycles, sizeof cls_cycles);
    }
}

static void add(int cls, uint64_t n) {
    cls_cycles[cls] += n;
    cycles_total += n;
}

/* at the entry of every executed block: its static cycles, the previous block's branch (taken when this block
 * does not start where it fell through), and a load or store pipelining across the two */
static void on_tb_exec(unsigned int vcpu_index, void *userdata) {
    const struct tb_info *t = userdata;
    int k;
    (void)vcpu_index;
    if (prev) {
        int taken = prev->last_branch && (!prev->last_cond || t->start != prev->fallthrough);
        if (taken) add(C_BRANCH, branch_penalty);
        else if (prev->last_chain && t->first_ldst) add(t->first_cls, (uint64_t)-1);         /* pipelined */
    }
    for (k = 0; k < N_CLS; k++) {
        cls_insns[k] += t->n_insns[k];
        cls_cycles[k] += t->cycles[k];
        cycles_total += t->cycles[k];
    }
    prev = t;
}

/* every memory access of a load instruction (a read-only filter misses some reads on QEMU 7.2: take both, keep
 * the loads) */
static void on_load(unsigned int vcpu_index, qemu_plugin_meminfo_t info, uint64_t vaddr, void *userdata) {
    (void)vcpu_index;
    (void)userdata;
    if (!qemu_plugin_mem_is_store(info) && vaddr >= flash_lo && vaddr < flash_hi) add(C_LOAD, load_ws);
}

static void on_tb(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
    size_t i, n = qemu_plugin_tb_n_insns(tb);
    struct tb_info *t = calloc(1, sizeof *t);
    int chain = 0;
    (void)id;
    if (!t) return;
    t->start = qemu_plugin_tb_vaddr(tb);
    /* executed at TB entry: TBs end at branches, and this firmware raises no exceptions mid-TB */
    qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &count, n);
    for (i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        const uint8_t *b = qemu_plugin_insn_data(insn);
        uint64_t at = qemu_plugin_insn_vaddr(insn);
        unsigned hw1 = b[0] | (unsigned)b[1] << 8;
        /* the size from the first halfword (0b11101, 0b11110, 0b11111: a 32-bit Thumb instruction): QEMU 7.2 reports
         * a 16-bit instruction just before a 1 KB page boundary with size 4, the next halfword appended (its
         * translator reads that halfword to see whether the next instruction crosses the page) */
        size_t size = (hw1 >> 11) >= 0x1D && qemu_plugin_insn_size(insn) >= 4 ? 4 : 2;
        struct insn_cost c = size == 4 ? decode32(hw1, b[2] | (unsigned)b[3] << 8) : decode16(hw1);
        unsigned cyc = c.cycles;
        if (c.ldst_single && chain) cyc = 1;                                                  /* pipelined */
        if (i == 0) {
            t->first_ldst = c.ldst_single;
            t->first_cls = c.cls;
        }
        if (fetch_ws && at >= flash_lo && at < flash_hi) cyc += fetch_ws;
        t->n_insns[c.cls] += 1;
        t->cycles[c.cls] += cyc;
        chain = c.ldst_single && c.chain;
        if (i + 1 == n) {
            t->fallthrough = at + size;
            t->last_chain = (uint8_t)chain;
            t->last_branch = c.branch;
            t->last_cond = c.cond;
        } else if (c.branch) {
            t->cycles[C_BRANCH] += branch_penalty;  /* a branch inside a block (in an IT block): counted taken */
        }
        if (load_ws && (c.cls == C_LOAD || c.cls == C_LDSTM || c.cls == C_FPU)) {
            qemu_plugin_register_vcpu_mem_cb(insn, on_load, QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_MEM_RW, NULL);
        }
        if (at == marker) qemu_plugin_register_vcpu_insn_exec_cb(insn, on_marker, QEMU_PLUGIN_CB_NO_REGS, NULL);
    }
    qemu_plugin_register_vcpu_tb_exec_cb(tb, on_tb_exec, QEMU_PLUGIN_CB_NO_REGS, t);
}

static void print_counts(FILE *f, const uint64_t *insns, const uint64_t *cyc) {
    int k;
    fprintf(f, "classes");
    for (k = 0; k < N_CLS; k++) fprintf(f, " %" PRIu64, insns[k]);
    fprintf(f, " /");
    for (k = 0; k < N_CLS; k++) fprintf(f, " %" PRIu64, cyc[k]);
    fprintf(f, "\n");
}

static void on_exit(qemu_plugin_id_t id, void *userdata) {
    FILE *f = fopen(out_path, "w");
    size_t i;
    int k;
    (void)id;
    (void)userdata;
    if (!f) return;
    fprintf(f, "names");
    for (k = 0; k < N_CLS; k++) fprintf(f, " %s", CLS_NAME[k]);
    fprintf(f, "\nmodel cortex-m4 branch_penalty=%u fetch_ws=%u load_ws=%u\n", branch_penalty, fetch_ws, load_ws);
    fprintf(f, "total %" PRIu64 " %" PRIu64 "\n", count, cycles_total);
    print_counts(f, cls_insns, cls_cycles);
    for (i = 0; i < n_events; i++) {
        fprintf(f, "event %" PRIu64 " %" PRIu64 "\n", events[i].insns, events[i].cycles);
        print_counts(f, events[i].cls_insns, events[i].cls_cycles);
    }
    fclose(f);
}

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id, const void *info, int argc,
                                                               char **argv) {
    int i;
    (void)info;
    for (i = 0; i < argc; i++) {
        if (strncmp(argv[i], "marker=", 7) == 0) marker = strtoull(argv[i] + 7, NULL, 0);
        if (strncmp(argv[i], "out=", 4) == 0) snprintf(out_path, sizeof out_path, "%s", argv[i] + 4);
        if (strncmp(argv[i], "branch_penalty=", 15) == 0) branch_penalty = (unsigned)strtoul(argv[i] + 15, NULL, 0);
        if (strncmp(argv[i], "fetch_ws=", 9) == 0) fetch_ws = (unsigned)strtoul(argv[i] + 9, NULL, 0);
        if (strncmp(argv[i], "load_ws=", 8) == 0) load_ws = (unsigned)strtoul(argv[i] + 8, NULL, 0);
        if (strncmp(argv[i], "flash_lo=", 9) == 0) flash_lo = strtoull(argv[i] + 9, NULL, 0);
        if (strncmp(argv[i], "flash_hi=", 9) == 0) flash_hi = strtoull(argv[i] + 9, NULL, 0);
    }
    if (!marker || !out_path[0]) return -1;
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_tb);
    qemu_plugin_register_atexit_cb(id, on_exit, NULL);
    return 0;
}
