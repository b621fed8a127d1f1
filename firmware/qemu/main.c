/* Bare-metal harness for qemu-system-arm -M netduinoplus2 (STM32F405): runs the generated
   policy's golden vectors, prints every action's bit pattern over semihosting, and counts
   instructions per inference with SysTick under -icount shift=0 (QEMU has no cycle counter:
   these are instructions, not cycles). Output lines start with "RRL ". */
#include <stdint.h>

#include "policy.h"

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define TIMED_RUNS 16
#define CALIBRATION_LOOPS 20000u

static void semihost_write0(const char *text)
{
    register uint32_t op __asm__("r0") = 0x04u; /* SYS_WRITE0 */
    register const char *arg __asm__("r1") = text;
    __asm__ volatile("bkpt 0xAB" : "+r"(op) : "r"(arg) : "memory");
}

void semihost_exit(int ok)
{
    register uint32_t op __asm__("r0") = 0x18u;                    /* SYS_EXIT */
    register uint32_t arg __asm__("r1") = ok ? 0x20026u : 0x20024u; /* ApplicationExit : RunTimeError */
    __asm__ volatile("bkpt 0xAB" : "+r"(op) : "r"(arg) : "memory");
}

static char line[96];
static unsigned pos;

static void put(const char *s)
{
    while (*s && pos < sizeof(line) - 2) line[pos++] = *s++;
}

static void put_hex(uint32_t v)
{
    int i;
    put(" ");
    for (i = 7; i >= 0; --i) {
        uint32_t d = (v >> (4 * i)) & 0xFu;
        line[pos++] = (char)(d < 10u ? '0' + (int)d : 'a' + (int)d - 10);
    }
}

static void put_uint(uint32_t v)
{
    char buf[11];
    int n = 0;
    put(" ");
    do {
        buf[n++] = (char)('0' + (int)(v % 10u));
        v /= 10u;
    } while (v);
    while (n) line[pos++] = buf[--n];
}

static void flush(void)
{
    line[pos++] = '\n';
    line[pos] = '\0';
    semihost_write0(line);
    pos = 0;
}

static uint32_t float_bits(float f)
{
    union { float f; uint32_t u; } v;
    v.f = f;
    return v.u;
}

static uint32_t elapsed(uint32_t start, uint32_t end) { return (start - end) & 0xFFFFFFu; }

/* 2 * loops + 1 instructions: subs + bne per iteration, one mov */
static void __attribute__((noinline)) calibration_loop(void)
{
    __asm__ volatile("mov r0, %0\n\t1:\n\tsubs r0, r0, #1\n\tbne 1b" ::"r"(CALIBRATION_LOOPS) : "r0", "cc");
}

static volatile float sink;

int main(void)
{
    float action[POLICY_ACTION_SIZE];
    float err = 0.0f;
    uint32_t t0, t1, empty, calib, infer;
    int g, j, status;

    SYST_RVR = 0xFFFFFFu;
    SYST_CVR = 0u;
    SYST_CSR = 0x5u; /* enable, processor clock, no interrupt */

    put("RRL model");
    put(" " POLICY_MODEL_HASH " " POLICY_MODE);
    flush();
    for (g = 0; g < POLICY_GOLDEN_COUNT; ++g) {
        policy_act(&policy_golden_inputs[g * POLICY_OBS_SIZE], action);
        put("RRL out");
        put_uint((uint32_t)g);
        for (j = 0; j < POLICY_ACTION_SIZE; ++j) put_hex(float_bits(action[j]));
        flush();
    }
    status = policy_selftest(&err);
    put("RRL selftest");
    put(status == 0 ? " pass" : " FAIL");
    put_hex(float_bits(err));
    flush();

    t0 = SYST_CVR;
    t1 = SYST_CVR;
    empty = elapsed(t0, t1);
    t0 = SYST_CVR;
    calibration_loop();
    t1 = SYST_CVR;
    calib = elapsed(t0, t1);
    t0 = SYST_CVR;
    for (g = 0; g < TIMED_RUNS; ++g) policy_act(&policy_golden_inputs[(g % POLICY_GOLDEN_COUNT) * POLICY_OBS_SIZE], action);
    t1 = SYST_CVR;
    infer = elapsed(t0, t1);
    sink = action[0];
    put("RRL ticks");
    put_uint(empty);
    put_uint(calib);
    put_uint(2u * CALIBRATION_LOOPS + 1u);
    put_uint(infer);
    put_uint(TIMED_RUNS);
    flush();
    put("RRL done");
    flush();
    return status;
}
