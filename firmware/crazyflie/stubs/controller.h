/* Stub of the firmware's src/modules/interface/controller/controller.h: the out-of-tree controller
 * hooks, declared (as in the firmware) only when CONFIG_CONTROLLER_OOT is set. */
#ifndef CONTROLLER_H
#define CONTROLLER_H
#include <stdbool.h>
#include "stabilizer_types.h"

#ifdef CONFIG_CONTROLLER_OOT
void controllerOutOfTreeInit(void);
bool controllerOutOfTreeTest(void);
void controllerOutOfTree(control_t *control, const setpoint_t *setpoint, const sensorData_t *sensors,
                         const state_t *state, const stabilizerStep_t stabilizerStep);
#endif
#endif
