/* Stub of the firmware's debug.h: DEBUG_PRINT goes to the console (cfclient). */
#ifndef DEBUG_H
#define DEBUG_H
int consolePrintf(const char *format, ...) __attribute__((format(printf, 1, 2)));
#define DEBUG_PRINT(fmt, ...) consolePrintf(fmt, ##__VA_ARGS__)
#endif
