/* Stub of the firmware's log.h: a table of variables streamed to the client. */
#ifndef LOG_H
#define LOG_H
#include <stdint.h>
#define LOG_UINT32 3
#define LOG_FLOAT 7
#define LOG_GROUP 0x80
#define LOG_STOP 0x40
struct log_s { uint8_t type; const char *name; void *address; };
#define LOG_GROUP_START(NAME) \
    const struct log_s __logs_##NAME[] __attribute__((used, section(".log." #NAME))) = { \
        {LOG_GROUP, #NAME, 0},
#define LOG_ADD(TYPE, NAME, ADDRESS) {TYPE, #NAME, (void *)(ADDRESS)},
#define LOG_GROUP_STOP(NAME) {LOG_STOP, "stop_" #NAME, 0}};
#endif
