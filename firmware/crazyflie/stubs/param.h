/* Stub of the firmware's param.h: a table of named variables the client can read and write. */
#ifndef PARAM_H
#define PARAM_H
#include <stdint.h>
#define PARAM_UINT8 0x08
#define PARAM_UINT16 0x09
#define PARAM_UINT32 0x0A
#define PARAM_FLOAT 0x06
#define PARAM_GROUPSTART 0x80
#define PARAM_GROUPSTOP 0x40
struct param_s { uint8_t type; const char *name; void *address; };
#define PARAM_GROUP_START(NAME) \
    const struct param_s __params_##NAME[] __attribute__((used, section(".param." #NAME))) = { \
        {PARAM_GROUPSTART, #NAME, 0},
#define PARAM_ADD(TYPE, NAME, ADDRESS) {TYPE, #NAME, (void *)(ADDRESS)},
#define PARAM_GROUP_STOP(NAME) {PARAM_GROUPSTOP, "stop_" #NAME, 0}};
#endif
