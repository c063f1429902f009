#!/bin/sh
# tiercast on OpenWrt: the executable is built against glibc (official Node builds are
# glibc-only) while OpenWrt's C library is musl, so the package carries glibc's loader and
# the libraries the executable needs in /usr/lib/tiercast/lib, and runs the executable
# through that loader. `exec` keeps the PID, so procd supervises the agent itself.
# Inside the program process.execPath is the loader, not the executable.
#
# TIERCAST_EMULATOR is for tests only: a host without binfmt_misc runs this script in a
# chroot under qemu-user and names the emulator here. Leave it unset on a device.
exec ${TIERCAST_EMULATOR:+"$TIERCAST_EMULATOR"} /usr/lib/tiercast/lib/@LOADER@ \
  --library-path /usr/lib/tiercast/lib /usr/lib/tiercast/tiercast "$@"
