/* Out-of-tree controller: the exported policy (policy.h/policy.c from `robot-rl export`) commands
 * one normalized force per motor (controlModeForce), so the firmware's supervisor, watchdog and
 * battery compensation stay between the network and the motors.
 *
 * Observation, as config/robots/crazyflie.yaml lays it out (and the twin builds it):
 *   pos_error   state position - setpoint position, world frame, m
 *   rot_matrix  body-to-world rotation from the estimator's quaternion (x, y, z, w), row-major
 *   lin_vel     state velocity, world frame, m/s
 *   body_rates  gyro, converted from the firmware's deg/s to rad/s
 *   last_action the previous action in [-1, 1]
 * Motor order M1..M4 (front-right, back-right, back-left, front-left) is the firmware's and the twin's.
 *
 * Params (group policy): enable (0: motors get zero force), rate_hz (policy steps per second;
 * default the rate it was trained at), deadman_ms (no fresh setpoint within this: zero force).
 * Setpoints: absolute position on x, y and z (high-level commander, cflib position setpoints); any
 * other, and the commander's null setpoint before the first command, gets zero force.
 * Log (group policy): infer_us, the last inference in microseconds.
 *
 * Clocks: the commander stamps setpoints with the FreeRTOS tick count (xTaskGetTickCount), and the
 * supervisor measures setpoint age in ticks, so the dead man does too. The microsecond timer starts
 * later than the tick count and drifts from it: it only times the inference.
 */
#include <stdbool.h>
#include <stdint.h>

/* the Kconfig options first: controller.h declares the out-of-tree hooks only under
 * CONFIG_CONTROLLER_OOT, and without them the compiler would not check the signatures below */
#include "autoconf.h"

#include "FreeRTOS.h"
#include "task.h"

#define DEBUG_MODULE "POLICY"
#include "controller.h"
#include "debug.h"
#include "log.h"
#include "param.h"
#include "stabilizer_types.h"
#include "usec_time.h"

#ifndef CONFIG_CONTROLLER_OOT
#error "the policy app is an out-of-tree controller: set CONFIG_CONTROLLER_OOT=y (firmware/crazyflie/app-config)"
#endif

#include "policy.h"

#if !defined(POLICY_OBS_POS_ERROR_OFFSET) || !defined(POLICY_OBS_LAST_ACTION_OFFSET)
#error "policy.h lacks the crazyflie observation fields: re-export a policy trained on config/robots/crazyflie.yaml"
#endif
_Static_assert(POLICY_OBS_SIZE == 22, "this controller builds the 22-entry crazyflie observation");
_Static_assert(POLICY_ACTION_SIZE == 4, "this controller commands 4 motor forces");
_Static_assert(POLICY_OBS_POS_ERROR_OFFSET == 0 && POLICY_OBS_ROT_MATRIX_OFFSET == 3 &&
                   POLICY_OBS_LIN_VEL_OFFSET == 12 && POLICY_OBS_BODY_RATES_OFFSET == 15 &&
                   POLICY_OBS_LAST_ACTION_OFFSET == 18,
               "observation layout differs from config/robots/crazyflie.yaml: re-export");

#define DEG_TO_RAD 0.017453292519943295f

static uint8_t enable = 1;
static uint16_t rate_hz = POLICY_POLICY_HZ;
static uint16_t deadman_ms = 200;
static uint32_t infer_us;

/* static, not on the 1.8 KB stabilizer stack */
static float obs[POLICY_OBS_SIZE];
static float action[POLICY_ACTION_SIZE];
static float forces[POLICY_ACTION_SIZE];
static bool selftest_ok;

void controllerOutOfTreeInit(void)
{
    int i;
    for (i = 0; i < POLICY_ACTION_SIZE; ++i) {
        action[i] = -1.0f; /* motors off: what the twin's episodes start from */
        forces[i] = 0.0f;
    }
}

bool controllerOutOfTreeTest(void)
{
    float err = 0.0f;
    selftest_ok = policy_selftest(&err) == 0;
    if (!selftest_ok) {
        DEBUG_PRINT("%s: golden vectors FAIL (max error %d ppm): refusing to fly\n", POLICY_MODEL_HASH,
                    (int)(err * 1e6f));
    } else {
        DEBUG_PRINT("%s (%s, exporter %s): golden vectors pass\n", POLICY_MODEL_HASH, POLICY_MODE,
                    POLICY_EXPORTER_VERSION);
    }
    controllerOutOfTreeInit();
    return selftest_ok;
}

static void build_observation(const setpoint_t *setpoint, const sensorData_t *sensors, const state_t *state)
{
    const float qx = state->attitudeQuaternion.x, qy = state->attitudeQuaternion.y;
    const float qz = state->attitudeQuaternion.z, qw = state->attitudeQuaternion.w;
    float *r = &obs[POLICY_OBS_ROT_MATRIX_OFFSET];
    int i;
    obs[POLICY_OBS_POS_ERROR_OFFSET + 0] = state->position.x - setpoint->position.x;
    obs[POLICY_OBS_POS_ERROR_OFFSET + 1] = state->position.y - setpoint->position.y;
    obs[POLICY_OBS_POS_ERROR_OFFSET + 2] = state->position.z - setpoint->position.z;
    /* same formula as controllers/quadrotor.py rotation_from_quaternion */
    r[0] = 1.0f - 2.0f * (qy * qy + qz * qz);
    r[1] = 2.0f * (qx * qy - qw * qz);
    r[2] = 2.0f * (qx * qz + qw * qy);
    r[3] = 2.0f * (qx * qy + qw * qz);
    r[4] = 1.0f - 2.0f * (qx * qx + qz * qz);
    r[5] = 2.0f * (qy * qz - qw * qx);
    r[6] = 2.0f * (qx * qz - qw * qy);
    r[7] = 2.0f * (qy * qz + qw * qx);
    r[8] = 1.0f - 2.0f * (qx * qx + qy * qy);
    obs[POLICY_OBS_LIN_VEL_OFFSET + 0] = state->velocity.x;
    obs[POLICY_OBS_LIN_VEL_OFFSET + 1] = state->velocity.y;
    obs[POLICY_OBS_LIN_VEL_OFFSET + 2] = state->velocity.z;
    obs[POLICY_OBS_BODY_RATES_OFFSET + 0] = sensors->gyro.x * DEG_TO_RAD;
    obs[POLICY_OBS_BODY_RATES_OFFSET + 1] = sensors->gyro.y * DEG_TO_RAD;
    obs[POLICY_OBS_BODY_RATES_OFFSET + 2] = sensors->gyro.z * DEG_TO_RAD;
    for (i = 0; i < POLICY_ACTION_SIZE; ++i) obs[POLICY_OBS_LAST_ACTION_OFFSET + i] = action[i];
}

static void command(control_t *control, bool fly)
{
    int i;
    control->controlMode = controlModeForce;
    for (i = 0; i < POLICY_ACTION_SIZE; ++i) control->normalizedForces[i] = fly ? forces[i] : 0.0f;
}

void controllerOutOfTree(control_t *control, const setpoint_t *setpoint, const sensorData_t *sensors,
                         const state_t *state, const stabilizerStep_t stabilizerStep)
{
    /* ticks, as the commander stamps setpoints; unsigned difference: correct across a wrap */
    const uint32_t setpoint_age = (uint32_t)(xTaskGetTickCount() - setpoint->timestamp);
    const bool fresh = setpoint_age <= (uint32_t)M2T(deadman_ms);
    /* the policy flies to a position: the commander's null setpoint (every mode modeDisable, what it
     * holds before the first command) and velocity or attitude setpoints get zero force */
    const bool position_setpoint =
        setpoint->mode.x == modeAbs && setpoint->mode.y == modeAbs && setpoint->mode.z == modeAbs;
    const bool fly = selftest_ok && enable && fresh && position_setpoint;
    uint64_t start;
    if (!fly) {
        controllerOutOfTreeInit();
        command(control, false);
        return;
    }
    if (rate_hz == 0u || rate_hz > RATE_MAIN_LOOP || !RATE_DO_EXECUTE(rate_hz, stabilizerStep)) {
        command(control, true); /* between policy steps: hold the last forces */
        return;
    }
    build_observation(setpoint, sensors, state);
    start = usecTimestamp();
    policy_act(obs, action);
    infer_us = (uint32_t)(usecTimestamp() - start);
    policy_to_physical(action, forces); /* [-1, 1] -> [0, 1] of full thrust */
    command(control, true);
}

PARAM_GROUP_START(policy)
PARAM_ADD(PARAM_UINT8, enable, &enable)
PARAM_ADD(PARAM_UINT16, rate_hz, &rate_hz)
PARAM_ADD(PARAM_UINT16, deadman_ms, &deadman_ms)
PARAM_GROUP_STOP(policy)

LOG_GROUP_START(policy)
LOG_ADD(LOG_UINT32, infer_us, &infer_us)
LOG_GROUP_STOP(policy)
