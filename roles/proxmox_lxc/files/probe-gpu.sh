#!/bin/sh
# The GPU profile's proof, run inside the guest (the phase gate; tests/proxmox_lxc_vm.rs runs it in real LXC):
# the render node exists, a process whose only privilege is membership of the guest's render group opens it, and
# one without that membership is refused.
#   probe-gpu.sh [DEVICE] [GROUP]        (default /dev/dri/renderD128 render)
dev=${1:-/dev/dri/renderD128}
group=${2:-render}
[ -c "$dev" ] || { echo "$dev is missing"; exit 1; }
gid=$(getent group "$group" | cut -d: -f3)
[ -n "$gid" ] || { echo "there is no group $group"; exit 1; }
if ! out=$(setpriv --reuid=65534 --regid=65534 --groups="$gid" dd if="$dev" of=/dev/null count=0 2>&1); then
  echo "a member of $group (gid $gid) cannot open $dev: $out"
  exit 1
fi
if setpriv --reuid=65534 --regid=65534 --clear-groups dd if="$dev" of=/dev/null count=0 >/dev/null 2>&1; then
  echo "$dev opens without membership of $group (owner $(stat -c '%u:%g mode %a' "$dev")): the group is not what guards it"
  exit 1
fi
echo "$dev: a member of $group (gid $gid) opens it; a process without the group is refused"
