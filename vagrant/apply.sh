#!/usr/bin/env bash
# Converge the Vagrant VMs with the same site playbook, check that a second run changes nothing, then run every
# gate. On VMs the gates are strict: modules loaded, sysctls set, iscsid running, ext4/xfs under Longhorn's path.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p .hlprov
[ -f .hlprov/id_ed25519 ] || ssh-keygen -q -t ed25519 -N '' -C hlprov-vagrant -f .hlprov/id_ed25519
HLPROV=${HLPROV:-../target/release/hlprov}
[ -x "$HLPROV" ] || (cd .. && cargo build --release)
vagrant up
vagrant provision
"$HLPROV" ping -i inventory.yml
"$HLPROV" apply ../playbooks/site.yml -i inventory.yml
# The second run must report changed=0 on every host.
"$HLPROV" apply ../playbooks/site.yml -i inventory.yml --output json > .hlprov/second-run.jsonl
python3 - <<'PY'
import json
end = [json.loads(l) for l in open(".hlprov/second-run.jsonl") if '"run_end"' in l][-1]
changed = {host: s["changed"] for host, s in end["stats"] if s["changed"]}
assert end["exit_code"] == 0 and not changed, f"second run: exit {end['exit_code']}, changed: {changed}"
print("second run: changed=0 on every host")
PY
"$HLPROV" verify ../playbooks/site.yml -i inventory.yml
