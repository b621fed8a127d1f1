/* Stub of the firmware's controller.h: the out-of-tree controller hooks (CONFIG_CONTROLLER_OOT). */
#ifndef CONTROLLER_H
#define CONTROLLER_H
#include <stdbool.h>
#include "stabilizer_types.h"

void controllerOutOfTreeInit(void);
bool controllerOutOfTreeTest(void);
void controllerOutOfTree(control_t *control, const setpoint_t *setpoint, const sensorData_t *sensors,
                         const state_t *state, const stabilizerStep_t stabilizerStep);
#endif
