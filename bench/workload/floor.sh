#!/bin/sh
# The raw-SSH floor: per host, one OpenSSH ControlMaster connection, then one plain `ssh` command per task
# of the workload (the minimal check that task needs, from CMDFILE), one after the other; all hosts at once.
# No tool can do a no-op run in fewer round trips without batching tasks together.
#   floor.sh CMDFILE CONTROL_DIR KEY KNOWN_HOSTS PORT...
set -eu
cmds=$1 ctl=$2 key=$3 kh=$4
shift 4
mkdir -p "$ctl"

one_host() {
  port=$1
  set -- -o ControlPath="$ctl/$port" -o UserKnownHostsFile="$kh" -o StrictHostKeyChecking=yes -o BatchMode=yes \
    -o IdentitiesOnly=yes -i "$key" -p "$port" root@127.0.0.1
  ssh -o ControlMaster=yes -o ControlPersist=yes -fN "$@"
  status=0
  while IFS= read -r cmd; do
    case $cmd in '' | '#'*) continue ;; esac
    rc=0
    ssh -n -o ControlMaster=no "$@" "$cmd" >/dev/null 2>&1 || rc=$?
    # 255 is ssh's own failure; anything else is the check's answer (a missing path before the first run).
    if [ "$rc" -eq 255 ]; then status=1; break; fi
  done < "$cmds"
  ssh -O exit "$@" 2>/dev/null || true
  return "$status"
}

pids=
for port in "$@"; do
  one_host "$port" &
  pids="$pids $!"
done
failed=0
for pid in $pids; do wait "$pid" || failed=$((failed + 1)); done
[ "$failed" -eq 0 ] || { echo "floor: $failed host(s) failed" >&2; exit 1; }
echo "floor: $# host(s) ok"
