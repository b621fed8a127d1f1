/* Stub of the firmware's src/modules/interface/param.h: a table of named variables the client reads
 * and writes. struct param_s and the type codes are the firmware's; the one difference: the firmware's
 * PARAM_GROUP_START makes the table `static`, the stub exports it so the host test can find it by name. */
#ifndef PARAM_H
#define PARAM_H
#include <stdint.h>
struct param_s {
    uint8_t type;
    uint8_t extended_type;
    char *name;
    void *address;
    void (*callback)(void);
    void *(*getter)(void);
};
#define PARAM_UINT8 0x08
#define PARAM_UINT16 0x09
#define PARAM_UINT32 0x0A
#define PARAM_FLOAT 0x06
#define PARAM_GROUP 0x80
#define PARAM_START 1
#define PARAM_STOP 0
#define PARAM_ADD_GROUP_ENTRY(TYPE, NAME) {.type = (TYPE), .name = #NAME, .address = 0},
#define PARAM_GROUP_START(NAME) \
    struct param_s __params_##NAME[] __attribute__((section(".param." #NAME), used)) = { \
        PARAM_ADD_GROUP_ENTRY(PARAM_GROUP | PARAM_START, NAME)
#define PARAM_ADD(TYPE, NAME, ADDRESS) {.type = (TYPE), .name = #NAME, .address = (void *)(ADDRESS)},
#define PARAM_GROUP_STOP(NAME) PARAM_ADD_GROUP_ENTRY(PARAM_GROUP | PARAM_STOP, stop_##NAME)};
#endif
