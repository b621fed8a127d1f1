#!/usr/bin/env bash
# System packages the firmware work needs (host gcc, ARM cross-compiler, newlib, QEMU for the STM32F405).
# Installed with apt when missing and running as root; otherwise we say what to install.
set -u
need=()
# host C compiler: `robot-rl export` and `make demo` build and check the exported policy with it
command -v gcc >/dev/null 2>&1 || need+=(gcc libc6-dev)
command -v arm-none-eabi-gcc >/dev/null 2>&1 || need+=(gcc-arm-none-eabi)
[ -e /usr/lib/arm-none-eabi/newlib ] || [ -e /usr/lib/arm-none-eabi/include/stdlib.h ] \
  || [ -e /usr/include/newlib/stdlib.h ] || need+=(libnewlib-arm-none-eabi)
command -v qemu-system-arm >/dev/null 2>&1 || need+=(qemu-system-arm)
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing system packages for the firmware tools: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; then
    exit 0
  fi
  echo "warning: apt-get could not install ${need[*]}; firmware builds and QEMU tests will be skipped."
else
  echo "note: firmware builds and QEMU tests need: ${need[*]}."
  echo "      Install them with: sudo apt-get install ${need[*]}"
fi
exit 0
