/* Stub of the firmware's src/modules/interface/stabilizer_types.h: the types the app reads and writes,
 * with the firmware's field order and layout (checked against crazyflie-firmware 2026.08, see README.md). */
#ifndef STABILIZER_TYPES_H
#define STABILIZER_TYPES_H
#include <stdbool.h>
#include <stdint.h>

#define STABILIZER_NR_OF_MOTORS 4
#define RATE_1000_HZ 1000
#define RATE_MAIN_LOOP RATE_1000_HZ
#define RATE_DO_EXECUTE(RATE_HZ, TICK) ((TICK % (RATE_MAIN_LOOP / RATE_HZ)) == 0)

typedef uint32_t stabilizerStep_t;

typedef struct { uint32_t timestamp; float roll; float pitch; float yaw; } attitude_t;
struct vec3_s { uint32_t timestamp; float x; float y; float z; };
typedef struct vec3_s vector_t;
typedef struct vec3_s point_t;
typedef struct vec3_s velocity_t;
typedef struct vec3_s acc_t;
typedef struct vec3_s jerk_t;
typedef struct quaternion_s { /* no timestamp, unlike the vec3 types */
    union {
        struct { float q0; float q1; float q2; float q3; };
        struct { float x; float y; float z; float w; };
    };
} quaternion_t;
typedef union { struct { float x; float y; float z; }; float axis[3]; } Axis3f;
typedef struct { float pressure; float temperature; float asl; } baro_t;

typedef struct {
    Axis3f acc;  /* g */
    Axis3f gyro; /* deg/s */
    Axis3f mag;  /* gauss */
    baro_t baro;
#ifdef LOG_SEC_IMU
    Axis3f accSec;  /* g */
    Axis3f gyroSec; /* deg/s */
#endif
    uint64_t interruptTimestamp;
} sensorData_t;

typedef struct {
    attitude_t attitude; /* deg */
    quaternion_t attitudeQuaternion;
    point_t position;    /* m, world */
    velocity_t velocity; /* m/s, world */
    acc_t acc;           /* Gs, world, gravity removed */
} state_t;

typedef enum { modeDisable = 0, modeAbs, modeVelocity } stab_mode_t;

typedef struct {
    uint32_t timestamp; /* FreeRTOS ticks (xTaskGetTickCount), 1 ms each */
    attitude_t attitude;
    attitude_t attitudeRate;
    quaternion_t attitudeQuaternion;
    float thrust;
    point_t position;
    velocity_t velocity;
    acc_t acceleration;  /* m/s^2 */
    jerk_t jerk;         /* m/s^3 */
    bool velocity_body;
    struct { stab_mode_t x, y, z, roll, pitch, yaw, quat; } mode;
} setpoint_t;

typedef enum { controlModeLegacy = 0, controlModeForceTorque = 1, controlModeForce = 2 } control_mode_t;

typedef struct {
    union {
        struct { int16_t roll; int16_t pitch; int16_t yaw; float thrust; };
        struct { float thrustSi; union { float torque[3]; struct { float torqueX; float torqueY; float torqueZ; }; }; };
        float normalizedForces[STABILIZER_NR_OF_MOTORS]; /* 0..1 of full thrust, M1..M4 */
    };
    control_mode_t controlMode;
} control_t;

#endif
