#!/usr/bin/env python3
"""Record what the real ansible-core renders for each case in cases.py.

Writes src/template/testdata/ansible_oracle.json, read by src/template/tests.rs. Needs ansible-core and the
`ansible` package (for ansible.utils' ipaddr and ansible.posix' json callback) plus netaddr:
    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install ansible-core ansible netaddr passlib
    PATH=/tmp/venv/bin:$PATH python3 tools/ansible-oracle/gen.py
"""
import json, os, subprocess, sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DATA = os.path.join(ROOT, "src", "template", "testdata")
sys.path.insert(0, HERE)
from cases import CASES, VARS  # noqa: E402

play = [{
    "hosts": "localhost",
    "gather_facts": False,
    "vars": VARS,
    "tasks": [{"name": c[0], "debug": {"msg": c[1]}, "ignore_errors": True} for c in CASES],
}]
pb = os.path.join(DATA, "oracle", "oracle-playbook.json.yml")
with open(pb, "w") as f:
    json.dump(play, f, indent=1)
env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", HLPROV_ORACLE_ENV="from-env",
           ANSIBLE_DEPRECATION_WARNINGS="False", PYTHONHASHSEED="0")
env.pop("HLPROV_ORACLE_UNSET", None)
out = subprocess.run(["ansible-playbook", "-i", "localhost,", "-c", "local", pb], env=env, capture_output=True, text=True,
                     cwd=os.path.join(DATA, "oracle"))
os.remove(pb)
doc = json.loads(out.stdout[out.stdout.index("{"):])
version = subprocess.run(["ansible", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
results = []
for case, task in zip(CASES, doc["plays"][0]["tasks"]):
    r = task["hosts"]["localhost"]
    entry = {"name": case[0], "template": case[1]}
    if len(case) > 2:
        entry["compare"] = case[2]
    if r.get("failed"):
        entry["error"] = r.get("msg")
    else:
        entry["result"] = r.get("msg")
    results.append(entry)
with open(os.path.join(DATA, "ansible_oracle.json"), "w") as f:
    json.dump({"generated_by": "tools/ansible-oracle/gen.py", "ansible": version, "vars": VARS, "cases": results},
              f, indent=1, ensure_ascii=False)
    f.write("\n")
print(f"{len(results)} cases recorded with {version}")
