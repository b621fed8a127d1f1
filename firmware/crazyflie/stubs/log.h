/* Stub of the firmware's src/modules/interface/log.h: a table of variables streamed to the client
 * (struct log_s and the type codes are the firmware's). */
#ifndef LOG_H
#define LOG_H
#include <stdint.h>
struct log_s {
    uint8_t type;
    char *name;
    void *address;
};
#define LOG_UINT32 3
#define LOG_FLOAT 7
#define LOG_GROUP 0x80
#define LOG_START 1
#define LOG_STOP 0
#define LOG_GROUP_START(NAME) \
    const struct log_s __logs_##NAME[] __attribute__((section(".log." #NAME), used)) = { \
        {.type = LOG_GROUP | LOG_START, .name = #NAME, .address = 0},
#define LOG_ADD(TYPE, NAME, ADDRESS) {.type = (TYPE), .name = #NAME, .address = (void *)(ADDRESS)},
#define LOG_GROUP_STOP(NAME) {.type = LOG_GROUP | LOG_STOP, .name = "stop_" #NAME, .address = 0}};
#endif
