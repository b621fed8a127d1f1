/* Stub of FreeRTOS's task.h: the tick count since the scheduler started (what the commander stamps
 * setpoints with). */
#ifndef TASK_H
#define TASK_H
#include "FreeRTOS.h"
TickType_t xTaskGetTickCount(void);
#endif
