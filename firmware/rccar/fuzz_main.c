/* Sanitizer fuzz driver: stdin bytes into the car loop, 1 ms per byte, the watchdog every byte.
   Exits non-zero if the throttle is not neutral 100 ms after the last valid frame. */
#include <stdio.h>

#include "car_loop.h"

int main(void)
{
    static car_loop_t car;
    uint32_t now = 0u;
    int c;
    car_loop_init(&car);
    while ((c = getchar()) != EOF) {
        car_loop_byte(&car, (uint8_t)c, now);
        car_loop_tick(&car, now);
        if ((uint32_t)(now - car.last_frame_ms) >= CAR_INPUT_TIMEOUT_MS && car.speed_mps != 0.0f) return 3;
        if (!(car.applied[0] >= -1.0f && car.applied[0] <= 1.0f)) return 4;
        now++;
    }
    printf("frames_ok %u dropped %u\n", (unsigned)car.frames_ok, (unsigned)car.frames_dropped);
    return 0;
}
