/* RC car: the exported policy on an Arduino-class board (see ../README.md).
 * Copy ../car_loop.c, ../car_loop.h, ../car_config.h and the export's policy.c/policy.h into this
 * folder, then build and upload with the Arduino IDE or arduino-cli. Observations arrive as
 * frames on Serial (car_loop.h); the steering servo and the ESC take 1000-2000 us pulses. */
#include <Servo.h>

extern "C" {
#include "car_loop.h"
}

// Wiring and pulse widths: check your servo's end stops and your ESC's neutral before driving.
static const int STEERING_PIN = 9;
static const int ESC_PIN = 10;
static const int NEUTRAL_US = 1500;
static const int SPAN_US = 500;  // +-500 us: full left/right, full forward/reverse speed

static Servo steering;
static Servo esc;
static car_loop_t car;

static int pulse(float fraction)
{
    if (fraction > 1.0f) fraction = 1.0f;
    if (fraction < -1.0f) fraction = -1.0f;
    return NEUTRAL_US + (int)(fraction * SPAN_US);
}

void setup()
{
    Serial.begin(115200);
    steering.attach(STEERING_PIN);
    esc.attach(ESC_PIN);
    esc.writeMicroseconds(NEUTRAL_US);  // most ESCs arm on a neutral pulse
    steering.writeMicroseconds(NEUTRAL_US);
    car_loop_init(&car);
    float err = 0.0f;
    if (policy_selftest(&err) != 0) {
        // a wrong export never drives: stay neutral and report forever
        for (;;) {
            Serial.println(F("policy golden vectors FAIL: re-export"));
            delay(1000);
        }
    }
}

void loop()
{
    const uint32_t now = millis();
    while (Serial.available() > 0) car_loop_byte(&car, (uint8_t)Serial.read(), now);
    car_loop_tick(&car, millis());
    steering.writeMicroseconds(pulse(car.steer_rad / CAR_MAX_STEER_RAD));
    const float top = car.speed_mps >= 0.0f ? CAR_MAX_SPEED : CAR_MAX_REVERSE_SPEED;
    esc.writeMicroseconds(pulse(car.speed_mps / top));
}
