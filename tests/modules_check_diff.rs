//! Check mode and diffs, over the whole registry: every kind of change a module declares has an example here,
//! and for each one the module's plan holds that kind, `--check --diff` reports a change with a non-empty diff
//! and sends nothing but reads, and the same run without `--diff` shows no diff. A module that declares a new
//! kind without an example fails this test. Examples replay what a real host answered (tests/hostless).

mod common;
mod hostless;

use common::{TestEnv, run_module};
use hlprov::modules::{CheckMode, ModuleCtx, registry};
use hostless::Scripted;
use serde_json::{Value, json};

/// One example: a module, the kind of change it must plan, the host's state (a setup script run when
/// recording), the arguments, and controller files (name, content) the task needs.
struct Example {
    module: &'static str,
    kind: &'static str,
    setup: &'static str,
    args: fn() -> Value,
    files: &'static [(&'static str, &'static str)],
}

const fn ex(module: &'static str, kind: &'static str, setup: &'static str, args: fn() -> Value) -> Example {
    Example { module, kind, setup, args, files: &[] }
}

const UNIT: &str = "printf '[Unit]\\nDescription=demo\\n[Service]\\nExecStart=/bin/sleep 1000\\n[Install]\\nWantedBy=multi-user.target\\n' > /etc/systemd/system/hlprov-demo.service";
const USER: &str = "useradd -m -s /bin/sh alice";
/// iptables installed from Debian's archive.
const IPTABLES: &str = "apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iptables >/dev/null 2>&1";
/// ufw installed from Debian's archive (the firewall stays off).
const UFW: &str = "apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ufw >/dev/null 2>&1";
/// Two programs for an update-alternatives group `prog` (not installed as alternatives yet).
macro_rules! progs {
    () => {
        "printf '#!/bin/sh\\necho a\\n' > /usr/local/bin/prog-a && printf '#!/bin/sh\\necho b\\n' > /usr/local/bin/prog-b && chmod +x /usr/local/bin/prog-?"
    };
}
/// Both installed in the group `prog` (auto mode: prog-b, priority 20, is chosen).
macro_rules! prog_ab {
    () => {
        concat!(
            progs!(),
            " && update-alternatives --install /usr/local/bin/prog prog /usr/local/bin/prog-a 10 >/dev/null",
            " && update-alternatives --install /usr/local/bin/prog prog /usr/local/bin/prog-b 20 >/dev/null"
        )
    };
}

/// hlprov-demo 1.0 installed, 1.1 in a flat repository the lists know (Packages written by hand).
const DEMO_UPGRADE: &str = "set -e; d=$(mktemp -d); mk() { rm -rf $d/*; mkdir -p $d/DEBIAN; \
    printf 'Package: hlprov-demo\\nVersion: %s\\nArchitecture: all\\nMaintainer: t <t@example.org>\\nDescription: demo\\n' $1 > $d/DEBIAN/control; \
    dpkg-deb --build --root-owner-group $d /root/hlprov-demo_$1_all.deb >/dev/null; }; mk 1.0; mk 1.1; dpkg -i /root/hlprov-demo_1.0_all.deb >/dev/null; \
    mkdir -p /srv/repo; cp /root/hlprov-demo_1.1_all.deb /srv/repo/; cd /srv/repo; f=hlprov-demo_1.1_all.deb; \
    { dpkg-deb -f $f; echo \"Filename: ./$f\"; echo \"Size: $(stat -c %s $f)\"; echo \"SHA256: $(sha256sum $f | cut -c1-64)\"; echo; } > Packages; \
    echo 'deb [trusted=yes] file:/srv/repo ./' > /etc/apt/sources.list.d/demo.list; \
    apt-get update -q -o Dir::Etc::sourcelist=/etc/apt/sources.list.d/demo.list -o Dir::Etc::sourceparts=- -o APT::Get::List-Cleanup=0 >/dev/null";

/// git from Debian's archive and a repository at /srv/src with one commit on main.
macro_rules! git_source {
    () => {
        "apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq git >/dev/null 2>&1 && \
         git config --global user.email t@example.org && git config --global user.name t && git config --global init.defaultBranch main && \
         mkdir -p /srv/src && cd /srv/src && git init -q && echo 1 > f && git add f && git commit -qm one"
    };
}
const GIT_SOURCE: &str = git_source!();

/// A package dpkg unpacked and never configured, as an interrupted `apt-get install` leaves it.
const DPKG_INTERRUPTED: &str = "set -e; d=$(mktemp -d); mkdir -p $d/DEBIAN; \
    printf 'Package: hlprov-demo\\nVersion: 1.0\\nArchitecture: all\\nMaintainer: t <t@example.org>\\nDescription: demo\\n' > $d/DEBIAN/control; \
    dpkg-deb --build --root-owner-group $d /root/demo.deb >/dev/null; dpkg --unpack /root/demo.deb >/dev/null";

fn examples() -> Vec<Example> {
    vec![
        ex("file", "create", "true", || json!({"path": "/srv/app", "state": "directory"})),
        ex("file", "attributes", "mkdir -m 0700 /srv/app", || json!({"path": "/srv/app", "mode": "0755"})),
        ex("file", "remove", "touch /srv.conf", || json!({"path": "/srv.conf", "state": "absent"})),
        ex("file", "touch", "true", || json!({"path": "/srv.stamp", "state": "touch"})),
        ex("file", "link", "true", || json!({"path": "/srv.link", "src": "/etc/hostname", "state": "link"})),
        ex("copy", "content", "true", || json!({"content": "hello\n", "dest": "/etc/motd.d"})),
        ex(
            "copy",
            "attributes",
            "printf 'hello\\n' > /etc/greeting && chmod 0600 /etc/greeting",
            || json!({"content": "hello\n", "dest": "/etc/greeting", "mode": "0644"}),
        ),
        Example {
            module: "copy",
            kind: "create",
            setup: "true",
            args: || json!({"src": "site", "dest": "/srv/www"}),
            files: &[("site/index.html", "<h1>hi</h1>\n")],
        },
        Example {
            module: "copy",
            kind: "link",
            setup: "true",
            args: || json!({"src": "tree/", "dest": "/srv/tree", "local_follow": false}),
            files: &[("tree/a.txt", "a\n"), ("tree/@link:b.txt", "a.txt")],
        },
        Example {
            module: "template",
            kind: "content",
            setup: "true",
            args: || json!({"src": "motd.j2", "dest": "/etc/motd"}),
            files: &[("motd.j2", "Welcome to {{ 'h' ~ 1 }}\n")],
        },
        Example {
            module: "template",
            kind: "attributes",
            setup: "printf 'Welcome to h1\\n' > /etc/motd && chmod 0600 /etc/motd",
            args: || json!({"src": "motd.j2", "dest": "/etc/motd", "mode": "0644"}),
            files: &[("motd.j2", "Welcome to {{ 'h' ~ 1 }}\n")],
        },
        ex(
            "lineinfile",
            "content",
            "printf 'PermitRootLogin yes\\n' > /etc/sshd_demo",
            || json!({"path": "/etc/sshd_demo", "regexp": "^PermitRootLogin", "line": "PermitRootLogin no"}),
        ),
        ex(
            "lineinfile",
            "attributes",
            "printf 'a\\n' > /etc/demo && chmod 0600 /etc/demo",
            || json!({"path": "/etc/demo", "line": "a", "mode": "0644"}),
        ),
        ex("blockinfile", "content", "printf 'x\\n' > /etc/demo", || json!({"path": "/etc/demo", "block": "managed line"})),
        ex(
            "blockinfile",
            "attributes",
            "printf 'x\\n' > /etc/demo && chmod 0600 /etc/demo",
            || json!({"path": "/etc/demo", "block": "", "state": "absent", "mode": "0644"}),
        ),
        ex("replace", "content", "printf 'port=1\\n' > /etc/demo", || json!({"path": "/etc/demo", "regexp": "port=1", "replace": "port=2"})),
        ex(
            "replace",
            "attributes",
            "printf 'port=2\\n' > /etc/demo && chmod 0600 /etc/demo",
            || json!({"path": "/etc/demo", "regexp": "port=1", "replace": "port=2", "mode": "0644"}),
        ),
        ex(
            "k8s_secret",
            "content",
            "true",
            || json!({"name": "db", "namespace": "apps", "data": {"password": "s3cret-db-pw"}, "dest": "/srv/db-secret.yaml"}),
        ),
        ex("apt", "repair", DPKG_INTERRUPTED, || json!({"name": "sudo"})),
        ex("apt", "install", "true", || json!({"name": "tree"})),
        ex("apt", "remove", "true", || json!({"name": "sudo", "state": "absent"})),
        ex("apt", "clean", "true", || json!({"clean": true})),
        ex("apt", "update cache", "true", || json!({"update_cache": true})),
        ex("apt", "upgrade", DEMO_UPGRADE, || json!({"upgrade": "dist"})),
        ex("apt", "autoremove", "apt-mark auto sudo >/dev/null", || json!({"autoremove": true})),
        ex(
            "apt",
            "autoclean",
            "mkdir -p /var/cache/apt/archives && : > /var/cache/apt/archives/hlprov-demo_0.1_all.deb",
            || json!({"autoclean": true}),
        ),
        ex("package", "install", "true", || json!({"name": "tree", "state": "present"})),
        ex("package", "remove", "true", || json!({"name": "sudo", "state": "absent"})),
        ex("apt_repository", "sources", "true", || json!({"repo": "deb [trusted=yes] file:/srv/repo ./", "update_cache": false})),
        ex("deb822_repository", "sources", "true", || json!({"name": "demo", "uris": "file:/srv/repo", "suites": "./", "trusted": true})),
        ex(
            "deb822_repository",
            "remove",
            "printf 'Types: deb\\n' > /etc/apt/sources.list.d/demo.sources",
            || json!({"name": "demo", "state": "absent"}),
        ),
        ex(
            "deb822_repository",
            "key",
            "apt-get install -y -q curl >/dev/null && mkdir -p /etc/apt/keyrings && printf 'key\\n' > /etc/apt/keyrings/demo.gpg && chmod 0600 /etc/apt/keyrings/demo.gpg && cp /etc/apt/keyrings/demo.gpg /srv.key",
            || json!({"name": "demo", "uris": "file:/srv/repo", "suites": "./", "signed_by": "file:///srv.key"}),
        ),
        ex("systemd", "masked", UNIT, || json!({"name": "hlprov-demo", "masked": true})),
        ex("systemd", "enabled", UNIT, || json!({"name": "hlprov-demo", "enabled": true})),
        ex("systemd", "state", UNIT, || json!({"name": "hlprov-demo", "state": "started"})),
        ex("systemd_service", "masked", UNIT, || json!({"name": "hlprov-demo", "masked": true})),
        ex("systemd_service", "enabled", UNIT, || json!({"name": "hlprov-demo", "enabled": true})),
        ex("systemd_service", "state", UNIT, || json!({"name": "hlprov-demo", "state": "started"})),
        ex("service", "enabled", UNIT, || json!({"name": "hlprov-demo", "enabled": true})),
        ex("service", "state", UNIT, || json!({"name": "hlprov-demo", "state": "started"})),
        ex("reboot", "reboot", "true", || json!({})),
        ex("user", "create", "true", || json!({"name": "alice"})),
        ex("user", "remove", USER, || json!({"name": "alice", "state": "absent"})),
        ex("user", "modify", USER, || json!({"name": "alice", "shell": "/bin/bash"})),
        ex("user", "home", "useradd -m -s /bin/sh alice && rm -rf /home/alice", || json!({"name": "alice"})),
        ex("user", "password ageing", USER, || json!({"name": "alice", "password_expire_max": 90})),
        ex("group", "create", "true", || json!({"name": "media"})),
        ex("group", "remove", "groupadd media", || json!({"name": "media", "state": "absent"})),
        ex("group", "gid", "groupadd -g 3005 media", || json!({"name": "media", "gid": 3001})),
        ex("authorized_key", "keys", "true", || json!({"user": "root", "key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHlprovExampleKey alice@laptop"})),
        ex("hostname", "name", "true", || json!({"name": "nas-01"})),
        ex("sysctl", "file", "true", || json!({"name": "vm.swappiness", "value": "10", "sysctl_set": false, "reload": false})),
        ex("sysctl", "running value", "true", || json!({"name": "vm.swappiness", "value": "11", "sysctl_set": true, "reload": false})),
        ex(
            "sysctl",
            "reload",
            "echo vm.swappiness=12 > /etc/sysctl.d/99-demo.conf",
            || json!({"name": "vm.swappiness", "value": "12", "sysctl_file": "/etc/sysctl.d/99-demo.conf", "reload": true}),
        ),
        ex(
            "alternatives",
            "install",
            progs!(),
            || json!({"name": "prog", "path": "/usr/local/bin/prog-a", "link": "/usr/local/bin/prog", "state": "present"}),
        ),
        ex("alternatives", "select", prog_ab!(), || json!({"name": "prog", "path": "/usr/local/bin/prog-a", "priority": 10})),
        ex(
            "alternatives",
            "auto",
            concat!(prog_ab!(), " && update-alternatives --set prog /usr/local/bin/prog-a >/dev/null"),
            || json!({"name": "prog", "state": "auto"}),
        ),
        ex("alternatives", "remove", prog_ab!(), || json!({"name": "prog", "path": "/usr/local/bin/prog-a", "state": "absent"})),
        ex("timezone", "timezone", "true", || json!({"name": "Europe/Berlin"})),
        ex("cron", "content", "true", || json!({"name": "sweep", "cron_file": "hlprov-sweep", "user": "root", "job": "/bin/true", "hour": "4"})),
        ex(
            "cron",
            "remove",
            "printf '#Ansible: sweep\\n0 4 * * * root /bin/true\\n' > /etc/cron.d/hlprov-sweep",
            || json!({"name": "sweep", "cron_file": "hlprov-sweep", "state": "absent"}),
        ),
        ex("debconf", "selection", "true", || json!({"name": "tzdata", "question": "tzdata/Areas", "vtype": "select", "value": "Europe"})),
        ex("dpkg_selections", "selection", "true", || json!({"name": "sudo", "selection": "hold"})),
        ex(
            "assemble",
            "content",
            "mkdir -p /etc/demo.d && printf 'a\\n' > /etc/demo.d/10-a && printf 'b\\n' > /etc/demo.d/20-b",
            || json!({"src": "/etc/demo.d", "dest": "/etc/demo.conf"}),
        ),
        ex(
            "assemble",
            "attributes",
            "mkdir -p /etc/demo.d && printf 'a\\n' > /etc/demo.d/10-a && printf 'a\\n' > /etc/demo.conf && chmod 0644 /etc/demo.conf",
            || json!({"src": "/etc/demo.d", "dest": "/etc/demo.conf", "mode": "0600"}),
        ),
        ex(
            "known_hosts",
            "add",
            "true",
            || json!({"name": "gitlab.com", "key": "gitlab.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAfuCHKVTjquxvt6CM6tdG4SLp1Btn/nOeHHE5UOzRdf"}),
        ),
        ex(
            "known_hosts",
            "remove",
            "printf 'gitlab.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAfuCHKVTjquxvt6CM6tdG4SLp1Btn/nOeHHE5UOzRdf\\n' > /root/.ssh/known_hosts",
            || json!({"name": "gitlab.com", "state": "absent"}),
        ),
        ex("git", "clone", GIT_SOURCE, || json!({"repo": "/srv/src", "dest": "/opt/app"})),
        ex(
            "git",
            "update",
            concat!(git_source!(), " && git clone -q /srv/src /opt/app && cd /srv/src && echo 2 > f && git commit -qam two"),
            || json!({"repo": "/srv/src", "dest": "/opt/app"}),
        ),
        ex("iptables", "rule", IPTABLES, || json!({"chain": "INPUT", "protocol": "tcp", "destination_port": "6443", "jump": "ACCEPT"})),
        ex("iptables", "policy", IPTABLES, || json!({"chain": "FORWARD", "policy": "DROP"})),
        ex("ufw", "rule", UFW, || json!({"rule": "allow", "port": "6443", "proto": "tcp"})),
        ex("ufw", "policy", UFW, || json!({"default": "reject", "direction": "incoming"})),
        ex("ufw", "state", UFW, || json!({"state": "enabled"})),
        ex("modprobe", "boot config", "true", || json!({"name": "overlay", "persistent": "present"})),
        ex("mount", "fstab", "true", || json!({"path": "/mnt/scratch", "src": "tmpfs", "fstype": "tmpfs", "state": "present"})),
        ex(
            "mount",
            "mount",
            "echo 'tmpfs /mnt/scratch tmpfs defaults 0 0' >> /etc/fstab",
            || json!({"path": "/mnt/scratch", "src": "tmpfs", "fstype": "tmpfs", "state": "mounted"}),
        ),
        ex("get_url", "download", "true", || json!({"url": "file:///etc/hostname", "dest": "/srv.hostname"})),
        ex(
            "get_url",
            "attributes",
            "cp /etc/os-release /srv.os-release && chmod 0600 /srv.os-release",
            || json!({"url": "file:///etc/os-release", "dest": "/srv.os-release", "checksum": "sha256:__OS_RELEASE_SHA256__", "mode": "0644"}),
        ),
        ex(
            "unarchive",
            "unpack",
            "mkdir -p /srv/unpacked && tar -C /etc -cf /srv/etc.tar hostname",
            || json!({"src": "/srv/etc.tar", "dest": "/srv/unpacked", "remote_src": true}),
        ),
        ex(
            "unarchive",
            "attributes",
            "mkdir -p /srv/unpacked && tar -C /etc -cf /srv/etc.tar hostname && tar -C /srv/unpacked -xf /srv/etc.tar",
            || json!({"src": "/srv/etc.tar", "dest": "/srv/unpacked", "remote_src": true, "mode": "0600"}),
        ),
        ex("fetch", "controller copy", "true", || json!({"src": "/etc/hostname", "dest": "fetched/"})),
        ex("command", "run", "true", || json!({"cmd": "touch /srv.done", "creates": "/srv.done"})),
        ex("shell", "run", "true", || json!({"cmd": "date > /srv.done", "creates": "/srv.done"})),
        Example {
            module: "script",
            kind: "run",
            setup: "true",
            args: || json!({"cmd": "hello.sh", "creates": "/srv.done"}),
            files: &[("hello.sh", "#!/bin/sh\ntouch /srv.done\n")],
        },
        ex(
            "proxmox_lxc_raw",
            "lines",
            PVE_CONF,
            || json!({"vmid": 131, "lines": ["lxc.cgroup2.devices.allow: c 226:* rwm", "lxc.mount.entry: /dev/dri dev/dri none bind,optional,create=dir"]}),
        ),
        ex("proxmox_lxc_raw", "restart", PVE_CONF_RUNNING, || json!({"vmid": 131, "lines": ["lxc.cap.drop:"]})),
    ]
}

/// A container's config in PVE's format (current section, pending, a snapshot) where a Proxmox node keeps it.
const PVE_CONF: &str = "mkdir -p /etc/pve/lxc && printf 'arch: amd64\\ncores: 4\\nhostname: w3\\nlxc.apparmor.profile: unconfined\\n\\n[pve:pending]\\ncores: 6\\n\\n[snap1]\\nlxc.cap.drop: \\nsnaptime: 1\\n' > /etc/pve/lxc/131.conf";
/// The same, with a stand-in for PVE's `pct` that says the guest runs (the container is not a PVE node).
const PVE_CONF_RUNNING: &str = "mkdir -p /etc/pve/lxc && printf 'arch: amd64\\nhostname: w3\\n' > /etc/pve/lxc/131.conf && printf '#!/bin/sh\\n[ \"$1\" = status ] && echo \"status: running\"\\n' > /usr/local/sbin/pct && chmod 0755 /usr/local/sbin/pct";

/// Modules whose kinds need a host with a kernel of its own to be planned (a container refuses them even in
/// check mode, saying so): their examples are in the VM lab's tests.
const NEEDS_OWN_KERNEL: &[(&str, &str)] = &[("modprobe", "load"), ("modprobe", "unload")];

/// Kinds of the Proxmox API modules: planned from a PVE API, which no container here can answer. Each one's
/// check-mode diff (and none without --diff) is proven against the simulated PVE in tests/proxmox_simulated_pve.rs
/// (`simulated_pve_every_kind_of_change_shows_a_diff_in_check_mode_and_none_without_diff`).
const API_ONLY: &[(&str, &str)] = &[
    ("proxmox_lxc", "create"),
    ("proxmox_lxc", "config"),
    ("proxmox_lxc", "start"),
    ("proxmox_lxc", "stop"),
    ("proxmox_lxc", "restart"),
    ("proxmox_lxc", "remove"),
    ("proxmox_template", "download"),
];

/// Kinds that only a Kubernetes API server can plan: k8s decides create/update/delete from the server's own
/// answers (the live object and a server-side dry run), and no API server can run on this machine. Its decision
/// is tested as a pure function of kubectl's real outputs (tests/k8s_module.rs); a host without a cluster gives
/// a clear error, also tested there.
const NEEDS_CLUSTER: &[(&str, &str)] =
    &[("k8s", "create"), ("k8s", "update"), ("k8s", "delete"), ("k8s_app", "create"), ("k8s_app", "update"), ("k8s_app", "delete")];

/// The controller files of an example, in a folder of their own (`@link:NAME` makes a symlink).
fn controller_files(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, content) in files {
        let path = dir.path().join(name.replace("@link:", ""));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        if name.contains("@link:") {
            std::os::unix::fs::symlink(content, &path).unwrap();
        } else {
            std::fs::write(&path, content).unwrap();
        }
    }
    dir
}

#[test]
fn every_declared_kind_of_change_has_an_example() {
    let have = examples();
    let mut missing = Vec::new();
    for m in registry::all() {
        let spec = m.spec();
        if spec.check_mode == CheckMode::None {
            // Skipped in check mode by definition (raw, uri, wait_for): there is no plan to show.
            continue;
        }
        for kind in spec.changes {
            let covered = have.iter().any(|e| e.module == m.name() && e.kind == *kind)
                || NEEDS_OWN_KERNEL.contains(&(m.name(), *kind))
                || API_ONLY.contains(&(m.name(), *kind))
                || NEEDS_CLUSTER.contains(&(m.name(), *kind));
            if !covered {
                missing.push(format!("{} / {kind}", m.name()));
            }
        }
    }
    assert!(missing.is_empty(), "kinds of change without an example: {missing:?}");
    for e in &have {
        let m = registry::find(e.module).unwrap_or_else(|| panic!("no module {}", e.module));
        assert!(m.spec().changes.contains(&e.kind), "{} does not declare the kind '{}'", e.module, e.kind);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_kind_of_change_shows_a_diff_in_check_mode_and_none_without_diff() {
    let os_release_sha256 = {
        use sha2::Digest;
        // The example's checksum is the one the host image's /etc/os-release has (recorded with it).
        let rec = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/hostless/os-release.sha256")).unwrap_or_default();
        if hostless::recording() {
            let out = std::process::Command::new("docker").args(["run", "--rm", "hlprov-host:bookworm", "cat", "/etc/os-release"]).output().unwrap();
            let sum = hex::encode(sha2::Sha256::digest(&out.stdout));
            std::fs::write(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/hostless/os-release.sha256"), &sum).unwrap();
            sum
        } else {
            rec.trim().to_string()
        }
    };
    for e in examples() {
        let name = format!("check-diff-{}-{}", e.module, e.kind.replace(' ', "-"));
        let t = Scripted::scenario(&name, e.setup).await;
        let conn = t.connection();
        let files = controller_files(e.files);
        let env = TestEnv::new(files.path());
        let args = serde_json::from_str::<Value>(&(e.args)().to_string().replace("__OS_RELEASE_SHA256__", &os_release_sha256)).unwrap();
        let module = registry::find(e.module).unwrap();
        let checked = module.spec().check(args.as_object().unwrap(), false).unwrap_or_else(|err| panic!("{name}: {err}"));

        // The module's own plan holds the kind.
        let mut ctx = ModuleCtx::new("test-host", Some(&conn), &env);
        ctx.diff = true;
        let plan = module.plan(&ctx, &checked).await.unwrap_or_else(|err| panic!("{name}: planning failed: {err}"));
        let kinds: Vec<&str> = plan.changes.iter().map(|c| c.kind).collect();
        assert!(kinds.contains(&e.kind), "{name}: planned {kinds:?}");

        // Through the engine: --check --diff shows it, nothing but reads went to the host.
        let before = t.sent().len();
        let r = run_module(&conn, &env, e.module, args.clone(), true, true).await.unwrap_or_else(|err| panic!("{name}: {err}"));
        assert!(r.changed && !r.failed && !r.skipped, "{name}: {:?}", r.to_value());
        assert!(!r.diffs.is_empty() && r.diffs.iter().all(|d| !(d.before.is_empty() && d.after.is_empty())), "{name}: {:?}", r.diffs);
        let writes: Vec<_> = t.sent()[before..].iter().filter(|c| !c.probe).map(|c| c.script.clone()).collect();
        assert!(writes.iter().all(|w| is_read_only(w)), "{name}: check mode sent a change: {writes:?}");

        // Without --diff, the same run shows none.
        let r = run_module(&conn, &env, e.module, args.clone(), true, false).await.unwrap();
        assert!(r.changed && r.diffs.is_empty(), "{name}: a diff without --diff: {:?}", r.diffs);
        t.finish();
    }
}

/// Commands that are sent on a channel of their own although they only read (a read with stdin, such as a
/// probe fed an archive) — recognised by what they run.
fn is_read_only(script: &str) -> bool {
    !script.contains("mv -f")
        && !script.contains("rm -")
        && !script.contains("mkdir")
        && !script.contains("chmod")
        && !script.contains("apt-get install")
}
