/* RC-car control loop around the exported policy, portable C99 (no malloc, no stdio).
 *
 * The companion computer (or the twin, in tests) sends one observation per policy step as a frame:
 *   0xA5 0x5A | len (1 byte) | seq (1 byte) | payload: len bytes = POLICY_OBS_SIZE little-endian
 *   float32 in the spec's layout | CRC-16/CCITT-FALSE (little-endian) over len, seq and payload.
 * Each valid frame runs the policy once; its action goes through the same rate limit and
 * steering/throttle mapping as controllers/ackermann.py, with the numbers from car_config.h
 * (generated from config/robots/racecar.yaml). Frames with a bad CRC, a wrong length or a
 * non-finite value are dropped; without a valid frame for CAR_INPUT_TIMEOUT_MS the throttle goes
 * to neutral at once (not rate-limited) and the steering holds.
 */
#ifndef CAR_LOOP_H
#define CAR_LOOP_H

#include <stdint.h>

#include "car_config.h"
#include "policy.h"

#define CAR_SYNC0 0xA5u
#define CAR_SYNC1 0x5Au
#define CAR_PAYLOAD_BYTES (4 * POLICY_OBS_SIZE)
_Static_assert(CAR_PAYLOAD_BYTES <= 255, "observation too large for one frame");
_Static_assert(POLICY_ACTION_SIZE == 2, "the car policy acts with [steering, throttle]");

typedef struct {
    uint8_t state; /* 0 sync0, 1 sync1, 2 len, 3 seq, 4 payload, 5 crc lo, 6 crc hi */
    uint8_t len;
    uint8_t seq;
    uint8_t count;
    uint16_t crc;
    uint8_t crc_lo;
    uint8_t payload[255];
} car_parser_t;

typedef struct {
    car_parser_t parser;
    float obs[POLICY_OBS_SIZE];
    float applied[2];  /* normalized [steering, throttle] after the rate limit */
    float steer_rad;   /* bicycle-model steering angle, left positive */
    float speed_mps;   /* speed target, negative in reverse */
    uint32_t last_frame_ms;
    uint8_t have_frame;
    uint8_t last_seq;
    uint32_t frames_ok;
    uint32_t frames_dropped;
} car_loop_t;

uint16_t car_crc16(const uint8_t *data, uint32_t n, uint16_t crc);
/* one byte in; returns 1 when it completes a frame with a valid CRC (payload in parser->payload) */
int car_parser_feed(car_parser_t *p, uint8_t byte);
void car_loop_init(car_loop_t *car);
/* one received byte at time now_ms; returns 1 when it completed a frame that ran the policy */
int car_loop_byte(car_loop_t *car, uint8_t byte, uint32_t now_ms);
/* the watchdog: call every control period (50 Hz is plenty) */
void car_loop_tick(car_loop_t *car, uint32_t now_ms);
/* rate limit and mapping alone (shared with the tests): applied <- limit(action, applied) */
void car_apply_action(car_loop_t *car, const float action[2]);

#endif
