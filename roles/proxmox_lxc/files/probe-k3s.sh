#!/bin/sh
# The k3s profile's proof, run inside the guest (the phase gate; tests/proxmox_lxc_vm.rs runs it in real LXC):
# what kubelet and a container runtime need from an LXC guest.
#  - /dev/kmsg opens (kubelet's OOM watcher reads it);
#  - /proc/sys is writable beyond /proc/sys/net (kubelet sets vm.overcommit_memory, kernel.panic, …); the value is
#    written back unchanged;
#  - the namespaces and mounts of a nested container can be made (what runc does: new mount, PID, network, UTS and
#    IPC namespaces with their own /proc, /sys and a tmpfs).
rc=0
if [ ! -c /dev/kmsg ]; then
  echo "/dev/kmsg is missing (kubelet opens it)"; rc=1
elif ! out=$(dd if=/dev/kmsg of=/dev/null count=0 2>&1); then
  echo "/dev/kmsg does not open: $out"; rc=1
fi
v=$(cat /proc/sys/vm/overcommit_memory)
if ! out=$( (echo "$v" > /proc/sys/vm/overcommit_memory) 2>&1); then
  echo "/proc/sys is not writable (kubelet sets vm.overcommit_memory, kernel.panic, ...): $out"; rc=1
fi
if ! out=$(unshare --mount --pid --net --uts --ipc --fork --mount-proc sh -c 'mount -t sysfs sysfs /sys && mount -t tmpfs tmpfs /mnt' 2>&1); then
  echo "a nested container's namespaces and mounts cannot be made: $out"; rc=1
fi
[ $rc = 0 ] && echo "/dev/kmsg opens, /proc/sys is writable, nested namespaces and mounts work"
exit $rc
