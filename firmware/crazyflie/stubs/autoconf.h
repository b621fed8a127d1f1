/* Stub of the Kconfig header the firmware build generates (build/include/generated/autoconf.h)
 * from firmware/crazyflie/app-config merged into the defaults: the options the app reads. */
#ifndef AUTOCONF_H
#define AUTOCONF_H
#define CONFIG_CONTROLLER_OOT 1
#endif
