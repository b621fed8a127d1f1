/* Stub of the firmware's usec_time.h: microseconds since boot. */
#ifndef USEC_TIME_H
#define USEC_TIME_H
#include <stdint.h>
uint64_t usecTimestamp(void);
#endif
