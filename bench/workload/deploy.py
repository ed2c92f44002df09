"""The benchmark's host-prep workload for pyinfra: the same tasks as site.yml, to the same paths.

The runner sets BENCH_SYSTEM=1 when hlprov has the system modules (group, user, apt) and the workload has its
20 tasks; otherwise the 16 file tasks run and the service user is www-data, as in site-files.yml.
"""

import os
from io import StringIO

from pyinfra import host
from pyinfra.facts.files import File
from pyinfra.operations import apt, files, server

HERE = os.path.dirname(os.path.abspath(__file__))
SYSTEM = os.environ.get("BENCH_SYSTEM") == "1"

app_name = "hlbench"
app_root = "/opt/hlbench"
app_user = "hlbench" if SYSTEM else "www-data"
app_port = 8080
template_vars = dict(
    app_name=app_name,
    app_root=app_root,
    app_user=app_user,
    app_port=app_port,
    app_workers=4,
    app_features=["metrics", "tracing", "compression"],
    inventory_hostname=host.name,
)
# Ansible's template module renders with trim_blocks; the templates are written for that.
ANSIBLE_JINJA = {"trim_blocks": True}

if SYSTEM:
    server.group(name="service group", group="hlbench", system=True)
    server.user(
        name="service user",
        user="hlbench",
        group="hlbench",
        system=True,
        shell="/usr/sbin/nologin",
        home=app_root,
        create_home=False,
        ensure_home=False,
    )
    apt.packages(name="ca-certificates is installed", packages=["ca-certificates"])
    apt.packages(name="sudo is installed", packages=["sudo"])

files.directory(name="application root", path=app_root, mode="755")
files.directory(name="bin folder", path=f"{app_root}/bin", mode="755")
files.directory(name="data folder", path=f"{app_root}/data", user=app_user, group=app_user, mode="750")
files.directory(name="config folder", path="/etc/hlbench", mode="755")
files.put(name="health check script", src=f"{HERE}/files/healthcheck.sh", dest=f"{app_root}/bin/healthcheck.sh", mode="755")
files.put(name="release file", src=StringIO(f"{app_name} 1.4.2\n"), dest="/etc/hlbench/release", mode="644")
files.put(name="log rotation", src=f"{HERE}/files/logrotate", dest="/etc/logrotate.d/hlbench", mode="644")
files.template(
    name="application config",
    src=f"{HERE}/templates/app.conf.j2",
    dest="/etc/hlbench/app.conf",
    user="root",
    group=app_user,
    mode="640",
    jinja_env_kwargs=ANSIBLE_JINJA,
    **template_vars,
)
files.template(
    name="systemd unit",
    src=f"{HERE}/templates/hlbench.service.j2",
    dest="/etc/systemd/system/hlbench.service",
    mode="644",
    jinja_env_kwargs=ANSIBLE_JINJA,
    **template_vars,
)
files.put(
    name="kernel settings",
    src=StringIO("vm.swappiness = 10\nnet.core.somaxconn = 1024\n"),
    dest="/etc/sysctl.d/90-hlbench.conf",
    mode="644",
)
files.line(name="environment, mode", path="/etc/hlbench/env", line="^HLBENCH_MODE=.*", replace="HLBENCH_MODE=production")
files.line(name="environment, port", path="/etc/hlbench/env", line="^HLBENCH_PORT=.*", replace=f"HLBENCH_PORT={app_port}")
files.line(name="environment, log file", path="/etc/hlbench/env", line="^HLBENCH_LOG=/var/log/hlbench/app.log$")
files.block(
    name="open file limits",
    path="/etc/security/limits.d/90-hlbench.conf",
    content=f"{app_user} soft nofile 65536\n{app_user} hard nofile 65536",
    marker="# {mark} HLBENCH LIMITS",
)
# files.block has no mode argument (it creates the file 0600): one more operation for blockinfile's mode.
files.file(name="open file limits, mode", path="/etc/security/limits.d/90-hlbench.conf", mode="644")
# pyinfra has no `creates:`; its idiom is a condition on a fact, which pyinfra gathers before it acts.
if not host.get_fact(File, path=f"{app_root}/data/.initialized"):
    server.shell(name="first-run marker", commands=[f"cp /etc/hlbench/release {app_root}/data/.initialized"])
files.link(name="current release link", path=f"{app_root}/current", target=f"{app_root}/bin")
