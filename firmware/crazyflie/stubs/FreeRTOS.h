/* Stub of the firmware's FreeRTOS.h as the app sees it: the tick type and the firmware's tick macros
 * (src/config/FreeRTOSConfig.h: configTICK_RATE_HZ 1000, so one tick is one millisecond). */
#ifndef FREERTOS_H
#define FREERTOS_H
#include <stdint.h>
typedef uint32_t TickType_t; /* portmacro.h for ARM_CM4F, configUSE_16_BIT_TICKS 0 */
#define configTICK_RATE_HZ ((TickType_t)1000)
#define M2T(X) ((unsigned int)(X)) /* milliseconds to ticks */
#define T2M(X) ((unsigned int)(X)) /* ticks to milliseconds */
#endif
