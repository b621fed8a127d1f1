/* Minimal Cortex-M4F start-up: vector table, .data/.bss set-up, FPU on, then main(). */
#include <stdint.h>

extern uint32_t _estack, _sidata, _sdata, _edata, _sbss, _ebss;
int main(void);
void reset_handler(void);
void fault_handler(void);

__attribute__((section(".isr_vector"), used)) static const uintptr_t vectors[16] = {
    (uintptr_t)&_estack,       (uintptr_t)reset_handler, (uintptr_t)fault_handler,
    (uintptr_t)fault_handler,  (uintptr_t)fault_handler, (uintptr_t)fault_handler,
    (uintptr_t)fault_handler,  0u, 0u, 0u, 0u, (uintptr_t)fault_handler, (uintptr_t)fault_handler,
    0u, (uintptr_t)fault_handler, (uintptr_t)fault_handler};

void semihost_exit(int ok);

void fault_handler(void)
{
    semihost_exit(0);
    for (;;) {
    }
}

/* No float here: the FPU is off until CPACR grants CP10/CP11. */
void reset_handler(void)
{
    uint32_t *src = &_sidata, *dst = &_sdata;
    while (dst < &_edata) *dst++ = *src++;
    for (dst = &_sbss; dst < &_ebss;) *dst++ = 0u;
    *(volatile uint32_t *)0xE000ED88u |= (0xFu << 20); /* CPACR: CP10, CP11 full access */
    __asm__ volatile("dsb\n\tisb" ::: "memory");
    semihost_exit(main() == 0);
    for (;;) {
    }
}
