/* Stub of the firmware's src/utils/interface/debug.h (console build): DEBUG_PRINT goes to the
 * console through the firmware's small printf, eprintf(consolePutchar, ...) (console.h, eprintf.h). */
#ifndef DEBUG_H
#define DEBUG_H
typedef int (*putc_t)(int c);
int consolePutchar(int ch);
int eprintf(putc_t putcf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#ifdef DEBUG_MODULE
#define DEBUG_FMT(fmt) DEBUG_MODULE ": " fmt
#else
#define DEBUG_FMT(fmt) fmt
#endif
#define consolePrintf(FMT, ...) eprintf(consolePutchar, FMT, ##__VA_ARGS__)
#define DEBUG_PRINT(fmt, ...) consolePrintf(DEBUG_FMT(fmt), ##__VA_ARGS__)
#endif
