/* See car_loop.h. */
#include "car_loop.h"

uint16_t car_crc16(const uint8_t *data, uint32_t n, uint16_t crc)
{
    uint32_t i, c = crc; /* 32-bit working value: no implicit int promotions to narrow back */
    int bit;
    for (i = 0; i < n; ++i) {
        c ^= (uint32_t)data[i] << 8;
        for (bit = 0; bit < 8; ++bit) c = (c & 0x8000u) ? ((c << 1) ^ 0x1021u) : (c << 1);
        c &= 0xFFFFu;
    }
    return (uint16_t)c;
}

int car_parser_feed(car_parser_t *p, uint8_t byte)
{
    switch (p->state) {
    case 0:
        if (byte == CAR_SYNC0) p->state = 1;
        return 0;
    case 1:
        /* a repeated sync byte keeps us waiting for SYNC1 */
        p->state = byte == CAR_SYNC1 ? 2 : (byte == CAR_SYNC0 ? 1 : 0);
        return 0;
    case 2:
        p->len = byte;
        p->count = 0;
        p->crc = car_crc16(&byte, 1u, 0xFFFFu);
        p->state = 3;
        return 0;
    case 3:
        p->seq = byte;
        p->crc = car_crc16(&byte, 1u, p->crc);
        p->state = p->len ? 4 : 5;
        return 0;
    case 4:
        p->payload[p->count++] = byte;
        p->crc = car_crc16(&byte, 1u, p->crc);
        if (p->count >= p->len) p->state = 5;
        return 0;
    case 5:
        p->crc_lo = byte;
        p->state = 6;
        return 0;
    default:
        p->state = 0;
        return (uint16_t)(p->crc_lo | (uint16_t)(byte << 8)) == p->crc;
    }
}

static float clampf(float v, float lo, float hi) { return v < lo ? lo : (v > hi ? hi : v); }

void car_loop_init(car_loop_t *car)
{
    int i;
    car->parser.state = 0;
    for (i = 0; i < POLICY_OBS_SIZE; ++i) car->obs[i] = 0.0f;
    car->applied[0] = car->applied[1] = 0.0f;
    car->steer_rad = car->speed_mps = 0.0f;
    car->last_frame_ms = 0u;
    car->have_frame = 0u;
    car->last_seq = 0u;
    car->frames_ok = car->frames_dropped = 0u;
}

void car_apply_action(car_loop_t *car, const float action[2])
{
    int i;
    float t;
    for (i = 0; i < 2; ++i) {
        /* clip to [-1, 1], then within +-CAR_ACTION_RATE_LIMIT of the applied action (FastRLAP) */
        float a = action[i] == action[i] ? clampf(action[i], -1.0f, 1.0f) : 0.0f;
        car->applied[i] = clampf(a, car->applied[i] - CAR_ACTION_RATE_LIMIT, car->applied[i] + CAR_ACTION_RATE_LIMIT);
    }
    car->steer_rad = car->applied[0] * CAR_MAX_STEER_RAD;
    t = car->applied[1];
    car->speed_mps = t * (t >= 0.0f ? CAR_MAX_SPEED : CAR_MAX_REVERSE_SPEED);
}

static float le_float(const uint8_t *b)
{
    union { uint32_t u; float f; } v;
    v.u = (uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) | ((uint32_t)b[3] << 24);
    return v.f;
}

int car_loop_byte(car_loop_t *car, uint8_t byte, uint32_t now_ms)
{
    float action[POLICY_ACTION_SIZE];
    int i;
    if (!car_parser_feed(&car->parser, byte)) return 0;
    if (car->parser.len != CAR_PAYLOAD_BYTES) {
        car->frames_dropped++;
        return 0;
    }
    for (i = 0; i < POLICY_OBS_SIZE; ++i) {
        float v = le_float(&car->parser.payload[4 * i]);
        if (!(v >= -1.0e30f && v <= 1.0e30f)) { /* NaN or inf: not an observation */
            car->frames_dropped++;
            return 0;
        }
        car->obs[i] = v;
    }
    policy_act(car->obs, action);
    car_apply_action(car, action);
    car->last_seq = car->parser.seq;
    car->last_frame_ms = now_ms;
    car->have_frame = 1u;
    car->frames_ok++;
    return 1;
}

void car_loop_tick(car_loop_t *car, uint32_t now_ms)
{
    if (!car->have_frame || (uint32_t)(now_ms - car->last_frame_ms) >= CAR_INPUT_TIMEOUT_MS) {
        car->applied[1] = 0.0f; /* neutral throttle now; the ESC brakes to a stop */
        car->speed_mps = 0.0f;
        car->have_frame = 0u;
    }
}
