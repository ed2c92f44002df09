//! setup (fact gathering): what the host is, in one round trip of plain shell (files read with the shell's
//! own `read` where it can, so few processes start): OS and release, kernel, hostname and fqdn, interfaces
//! and default routes, DNS, memory, processors, DMI, mounts, virtualization (incl. lxc and docker), service
//! and package manager, user, environment, kernel command line, date and time, local facts. Facts use
//! Ansible's names and shapes (`network`: interfaces, `system`: the rest), so roles can keep using them.

mod network;
mod system;

use serde_json::{Map, Value, json};

use super::{ArgKind, ArgSpec, Args, Module, ModuleCtx, ModuleError, ModuleSpec, Plan};

pub struct Setup;

static SPEC: ModuleSpec = ModuleSpec::new(&[
    ArgSpec::new("gather_subset", ArgKind::List).help("Accepted for Ansible compatibility; hlprov always gathers its one set."),
    ArgSpec::new("filter", ArgKind::List).help("Only return facts whose names match these globs."),
    ArgSpec::new("gather_timeout", ArgKind::Int).help("Accepted for Ansible compatibility."),
]);

/// Prints `key=value` lines (some repeat: `link=`, `addr=`, `mount=` …), then the environment after `__env__`.
/// Only coreutils, /proc and /sys reads, and iproute2.
const SCRIPT: &str = r#"
echo "nodename=$(uname -n)"
echo "kernel=$(uname -r)"
echo "kernel_version=$(uname -v)"
echo "arch=$(uname -m)"
echo "system=$(uname -s)"
if [ -r /etc/os-release ]; then sed -n 's/^\(ID\|ID_LIKE\|VERSION_ID\|VERSION_CODENAME\|PRETTY_NAME\|NAME\)=/os_\1=/p' /etc/os-release; fi
[ -r /etc/debian_version ] && read -r dv < /etc/debian_version && echo "debian_version=$dv"
fq=$(getent hosts "$(uname -n)" 2>/dev/null | awk '{print $2; exit}'); echo "fqdn=${fq:-$(uname -n)}"
awk -F':[ \t]*' '/^(MemTotal|MemFree|Buffers|Cached|SwapTotal|SwapFree|SwapCached):/ {split($2, v, " "); print "mem_" $1 "=" v[1]}' /proc/meminfo
awk '/^(processor|vendor_id|model name|physical id|core id|cpu cores|siblings|Processor|cpu|Vendor)[ \t]*:/ {print "cpu=" $0}' /proc/cpuinfo
if command -v ip >/dev/null 2>&1; then
  set -- $(ip -4 route show default 2>/dev/null | head -n1)
  gw=; dev=; while [ $# -gt 0 ]; do case "$1" in via) gw=$2; shift;; dev) dev=$2; shift;; esac; shift; done
  echo "gateway=$gw"; echo "interface=$dev"
  set -- $(ip -6 route show default 2>/dev/null | head -n1)
  gw=; dev=; while [ $# -gt 0 ]; do case "$1" in via) gw=$2; shift;; dev) dev=$2; shift;; esac; shift; done
  echo "gateway6=$gw"; echo "interface6=$dev"
  ip -d -o link show 2>/dev/null | while IFS= read -r l; do echo "link=$l"; done
  ip -o addr show 2>/dev/null | while IFS= read -r l; do echo "addr=$l"; done
fi
[ -r /etc/resolv.conf ] && while read -r k v; do case "$k" in nameserver|search|domain|options|sortlist) echo "dns=$k $v";; esac; done < /etc/resolv.conf
while read -r dev mnt fs opts rest; do echo "mount=$dev $mnt $fs $opts"; done < /proc/mounts
virt=none; role=
if [ -r /run/systemd/container ]; then virt=$(cat /run/systemd/container); role=guest
elif [ -e /.dockerenv ]; then virt=docker; role=guest
elif grep -qa 'container=lxc' /proc/1/environ 2>/dev/null; then virt=lxc; role=guest
elif grep -qa 'container=' /proc/1/environ 2>/dev/null; then virt=$(tr '\0' '\n' < /proc/1/environ | sed -n 's/^container=//p' | head -n1); role=guest
elif command -v systemd-detect-virt >/dev/null 2>&1 && v=$(systemd-detect-virt -v 2>/dev/null) && [ "$v" != none ]; then virt=$v; role=guest
elif [ -d /etc/pve ]; then virt=kvm; role=host
fi
echo "virt=$virt"; echo "virt_role=$role"
if [ -d /run/systemd/system ]; then echo service_mgr=systemd; else echo "service_mgr=$(cat /proc/1/comm 2>/dev/null)"; fi
for m in apt-get dnf yum apk pacman zypper; do if command -v $m >/dev/null 2>&1; then echo "pkg_mgr=$m"; break; fi; done
u=$(id -un); echo "user_id=$u"
getent passwd "$u" | { IFS=: read -r n _ _ _ gecos dir shell && echo "user_gecos=$gecos" && echo "user_dir=$dir" && echo "user_shell=$shell"; }
while read -r k r e _; do case "$k" in Uid:) echo "uid=$r $e";; Gid:) echo "gid=$r $e";; esac; done < /proc/self/status
LC_ALL=C date '+epoch=%s%nnanos=%N%nlocal=%Y %m %d %H %M %S%nweekday=%A%nweekday_number=%w%nweeknumber=%W%ntz=%Z%ntz_offset=%z'
if [ -r /etc/timezone ]; then read -r zone < /etc/timezone; echo "zone=$zone"; fi
[ -r /etc/machine-id ] && read -r x < /etc/machine-id && echo "machine_id=$x"
read -r x _ < /proc/uptime && echo "uptime=$x"
read -r a b c _ < /proc/loadavg && echo "loadavg=$a $b $c"
[ -r /proc/sys/crypto/fips_enabled ] && read -r x < /proc/sys/crypto/fips_enabled && echo "fips=$x"
read -r x < /proc/cmdline && echo "cmdline=$x"
if [ -e /sys/kernel/security/apparmor ]; then echo apparmor=enabled; else echo apparmor=disabled; fi
if [ -r /sys/fs/selinux/enforce ]; then read -r x < /sys/fs/selinux/enforce; echo "selinux=$x"; fi
if [ -n "$debian_chroot" ]; then echo chroot=1; elif [ -r /proc/1/root/. ]; then if [ / -ef /proc/1/root/. ]; then echo chroot=0; else echo chroot=1; fi; fi
for f in DMI_FILES; do x=; [ -r /sys/class/dmi/id/$f ] && read -r x < /sys/class/dmi/id/$f; echo "dmi_$f=$x"; done 2>/dev/null
for f in /etc/ansible/facts.d/*.fact; do [ -f "$f" ] || continue; n=${f##*/}; if [ -x "$f" ]; then x=$("$f" 2>/dev/null | base64 -w0); else x=$(base64 -w0 < "$f"); fi; echo "localfact=${n%.fact} $x"; done
[ -r /etc/lsb-release ] && while IFS= read -r l; do echo "lsb=$l"; done < /etc/lsb-release
[ -d /dev/dri ] && for d in /dev/dri/*; do echo "dri=$d"; done
echo __env__; export -p
"#;

/// The script's output: `key=value` lines, and the environment section.
pub struct Raw {
    kv: Vec<(String, String)>,
    env: String,
}

impl Raw {
    pub fn parse(out: &str) -> Raw {
        let (lines, env) = match (out.strip_prefix("__env__\n"), out.split_once("\n__env__\n")) {
            (Some(e), _) => ("", e),
            (None, Some((l, e))) => (l, e),
            (None, None) => (out, ""),
        };
        let env = env.to_string();
        // os-release values may be quoted; nothing else is unquoted (a command line may end in a quote).
        let unquote = |k: &str, v: &str| if k.starts_with("os_") { v.trim_matches('"').to_string() } else { v.to_string() };
        let kv = lines.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_string(), unquote(k, v))).collect();
        Raw { kv, env }
    }
    /// The last value of `k` ("" if none).
    pub fn get(&self, k: &str) -> String {
        self.kv.iter().rev().find(|(key, _)| key == k).map(|(_, v)| v.clone()).unwrap_or_default()
    }
    /// Every value of `k`, in order.
    pub fn all(&self, k: &str) -> Vec<String> {
        self.kv.iter().filter(|(key, _)| key == k).map(|(_, v)| v.clone()).collect()
    }
}

/// The script with the DMI file names filled in.
fn script() -> String {
    SCRIPT.replace("DMI_FILES", &system::DMI_FILES.iter().map(|(f, _)| *f).collect::<Vec<_>>().join(" "))
}

/// Ansible's os_family for an os-release ID (and ID_LIKE).
pub fn os_family(id: &str, id_like: &str) -> &'static str {
    let all: Vec<&str> = std::iter::once(id).chain(id_like.split_whitespace()).collect();
    for i in all {
        match i {
            "debian" | "ubuntu" | "raspbian" | "linuxmint" | "pop" | "kali" | "devuan" => return "Debian",
            "rhel" | "centos" | "fedora" | "rocky" | "almalinux" | "ol" | "amzn" => return "RedHat",
            "alpine" => return "Alpine",
            "arch" | "manjaro" => return "Archlinux",
            "opensuse" | "opensuse-leap" | "sles" | "suse" => return "Suse",
            _ => {}
        }
    }
    "Unknown"
}

/// Turn the script's output into facts (names without the `ansible_` prefix, as in `ansible_facts`).
pub fn parse_facts(out: &str) -> Map<String, Value> {
    let raw = Raw::parse(out);
    let get = |k: &str| raw.get(k);
    let nodename = get("nodename");
    let fqdn = get("fqdn");
    let version = get("os_VERSION_ID");
    let distribution = match get("os_ID").as_str() {
        "debian" => "Debian".to_string(),
        "ubuntu" => "Ubuntu".to_string(),
        "" => "Unknown".to_string(),
        other => {
            let mut c = other.chars();
            c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
        }
    };
    let distribution_version = if get("os_ID") == "debian" && !get("debian_version").is_empty() { get("debian_version") } else { version.clone() };
    let mounts: Vec<Value> = raw
        .all("mount")
        .iter()
        .filter_map(|m| {
            let f: Vec<&str> = m.split(' ').collect();
            (f.len() >= 4).then(|| json!({"device": f[0], "mount": f[1], "fstype": f[2], "options": f[3]}))
        })
        .collect();
    let pkg_mgr = match get("pkg_mgr").as_str() {
        "apt-get" => "apt".to_string(),
        other => other.to_string(),
    };
    let arch = get("arch");
    let ids = |k: &str| -> (u64, u64) {
        let v = get(k);
        let mut w = v.split_whitespace().map(|x| x.parse::<u64>().unwrap_or(0));
        (w.next().unwrap_or(0), w.next().unwrap_or(0))
    };
    let ((ruid, euid), (rgid, egid)) = (ids("uid"), ids("gid"));
    let mut f = Map::new();
    let mut put = |k: &str, v: Value| {
        f.insert(k.to_string(), v);
    };
    put("hostname", json!(nodename.split('.').next().unwrap_or_default()));
    put("nodename", json!(nodename));
    put("fqdn", json!(fqdn));
    put("domain", json!(fqdn.split_once('.').map(|(_, d)| d).unwrap_or("")));
    put("system", json!(get("system")));
    put("kernel", json!(get("kernel")));
    put("kernel_version", json!(get("kernel_version")));
    put("architecture", json!(arch));
    put("machine", json!(arch));
    put("userspace_architecture", json!(arch));
    let bits = if ["x86_64", "aarch64", "ppc64le", "ppc64", "s390x", "riscv64", "loongarch64"].contains(&arch.as_str()) { "64" } else { "32" };
    put("userspace_bits", json!(bits));
    put("os_family", json!(os_family(&get("os_ID"), &get("os_ID_LIKE"))));
    put("distribution", json!(distribution));
    put("distribution_major_version", json!(version.split('.').next().unwrap_or_default()));
    put("distribution_minor_version", json!(distribution_version.split('.').nth(1).unwrap_or("NA")));
    put("distribution_version", json!(distribution_version));
    put("distribution_release", json!(get("os_VERSION_CODENAME")));
    if !get("os_ID").is_empty() {
        let variety = if os_family(&get("os_ID"), &get("os_ID_LIKE")) == "Debian" { "Debian".to_string() } else { distribution.clone() };
        put("distribution_file_path", json!("/etc/os-release"));
        put("distribution_file_variety", json!(variety));
        put("distribution_file_parsed", json!(true));
    }
    for (k, v) in system::memory(&raw).into_iter().chain(system::processors(&raw, &arch)).chain(system::dmi(&raw)) {
        put(&k, v);
    }
    // Interfaces, each also a fact of its own (`eth0`; `:` and `-` made `_`, as Ansible's fact names are).
    let ifaces = network::interfaces(&raw);
    let (v4, v6) = network::all_addresses(&ifaces);
    put("default_ipv4", network::default_route(&ifaces, &get("interface"), &get("gateway"), None, false));
    put("default_ipv6", network::default_route(&ifaces, &get("interface6"), &get("gateway6"), None, true));
    put("all_ipv4_addresses", json!(v4));
    put("all_ipv6_addresses", json!(v6));
    put("interfaces", json!(ifaces.iter().filter(|(_, f)| f.contains_key("device")).map(|(n, _)| n.replace(':', "_")).collect::<Vec<_>>()));
    for (name, fact) in &ifaces {
        put(&name.replace([':', '-'], "_"), Value::Object(fact.clone()));
    }
    put("dns", network::dns(&raw));
    put("mounts", Value::Array(mounts));
    put("virtualization_type", json!(get("virt")));
    put("virtualization_role", json!(get("virt_role")));
    let virt = get("virt");
    let containers = ["docker", "lxc", "podman", "container-other", "systemd-nspawn", "openvz", "wsl"];
    let guest: Vec<&str> = match get("virt_role").as_str() {
        "guest" if containers.contains(&virt.as_str()) => vec!["container", virt.as_str()],
        "guest" => vec![virt.as_str()],
        _ => vec![],
    };
    put("virtualization_tech_guest", json!(guest));
    put("virtualization_tech_host", json!(if get("virt_role") == "host" { vec![virt.as_str()] } else { vec![] }));
    let lsb: Map<String, Value> =
        [("DISTRIB_ID", "id"), ("DISTRIB_RELEASE", "release"), ("DISTRIB_CODENAME", "codename"), ("DISTRIB_DESCRIPTION", "description")]
            .iter()
            .filter_map(|(k, name)| {
                let v = raw.all("lsb").iter().find_map(|l| l.strip_prefix(&format!("{k}=")).map(|v| v.trim_matches('"').to_string()))?;
                Some((name.to_string(), json!(v)))
            })
            .collect();
    let mut lsb = lsb;
    if let Some(major) = lsb.get("release").and_then(Value::as_str).map(|r| r.split('.').next().unwrap_or_default().to_string()) {
        lsb.insert("major_release".into(), json!(major));
    }
    put("lsb", Value::Object(lsb));
    put("service_mgr", json!(get("service_mgr")));
    put("pkg_mgr", json!(pkg_mgr));
    put("user_id", json!(get("user_id")));
    put("user_uid", json!(euid));
    put("user_gid", json!(egid));
    put("real_user_id", json!(ruid));
    put("effective_user_id", json!(euid));
    put("real_group_id", json!(rgid));
    put("effective_group_id", json!(egid));
    put("user_gecos", json!(get("user_gecos")));
    put("user_dir", json!(get("user_dir")));
    put("user_shell", json!(get("user_shell")));
    put("date_time", system::date_time(&raw));
    if !get("machine_id").is_empty() {
        put("machine_id", json!(get("machine_id")));
    }
    put("uptime_seconds", json!(get("uptime").split('.').next().unwrap_or("0").parse::<u64>().unwrap_or(0)));
    let load: Vec<f64> = get("loadavg").split_whitespace().map(|x| x.parse().unwrap_or(0.0)).collect();
    if load.len() == 3 {
        put("loadavg", json!({"1m": load[0], "5m": load[1], "15m": load[2]}));
    }
    put("fips", json!(get("fips") == "1"));
    let (cmdline, proc_cmdline) = system::cmdline(&get("cmdline"));
    put("cmdline", cmdline);
    put("proc_cmdline", proc_cmdline);
    put("apparmor", json!({"status": get("apparmor")}));
    put(
        "selinux",
        match get("selinux").as_str() {
            "" => json!({"status": "disabled"}),
            mode => json!({"status": "enabled", "mode": if mode == "1" { "enforcing" } else { "permissive" }}),
        },
    );
    put("is_chroot", json!(get("chroot") == "1"));
    put("local", system::local_facts(&raw));
    put("env", system::environment(&raw.env));
    put("dri_devices", json!(raw.all("dri")));
    f
}

#[async_trait::async_trait]
impl Module for Setup {
    fn name(&self) -> &'static str {
        "setup"
    }
    fn summary(&self) -> &'static str {
        "Gather facts about the host (what `gather_facts: true` runs), in one round trip of plain shell"
    }
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }
    fn notes(&self) -> &'static str {
        "hlprov gathers one set of facts, shaped as Ansible's: OS and release, kernel, hostname/fqdn, interfaces \
         (`ansible_eth0` …), default IPv4/IPv6, DNS, memory, processors, DMI, mounts, virtualization, service/package \
         manager, user, environment, kernel command line, date_time, lsb, local facts from /etc/ansible/facts.d \
         (JSON, INI or executables), and `dri_devices`. Not gathered: devices, device_links, lvm, python, \
         system_capabilities, iscsi/fibre channel/NVMe ids, locally_reachable_ips. gather_subset is accepted and ignored."
    }
    async fn plan(&self, ctx: &ModuleCtx<'_>, args: &Args) -> Result<Plan, ModuleError> {
        let out = ctx.read(&script()).await?;
        if !out.success() {
            return Err(ModuleError::failed(format!("fact gathering failed (rc={}): {}", out.rc(), out.stderr_text().trim())));
        }
        let mut facts = parse_facts(&out.stdout_text());
        let filters = args.list("filter");
        if !filters.is_empty() {
            facts.retain(|k, _| filters.iter().any(|f| crate::transport::known_hosts::wildcard(f.trim_start_matches("ansible_"), k)));
        }
        Ok(Plan::unchanged().facts(facts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_parse_from_the_script_output() {
        let out = "nodename=w1\nkernel=6.1.0\narch=x86_64\nsystem=Linux\nos_ID=debian\nos_VERSION_ID=\"12\"\nos_VERSION_CODENAME=bookworm\n\
                   debian_version=12.8\nfqdn=w1.lab\nmem_MemTotal=2048000\ncpu=processor\t: 0\ngateway=172.17.0.1\ninterface=eth0\n\
                   link=5: eth0@if6: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP \\    link/ether 02:42:ac:11:00:02 brd ff:ff:ff:ff:ff:ff\n\
                   addr=5: eth0    inet 172.17.0.2/16 brd 172.17.255.255 scope global eth0\\       valid_lft forever preferred_lft forever\n\
                   mount=overlay / overlay rw,relatime\nvirt=docker\nvirt_role=guest\nservice_mgr=systemd\npkg_mgr=apt-get\n\
                   uid=1000 0\ngid=1000 1000\nuser_dir=/home/w\n__env__\nexport HOME='/home/w'\n";
        let f = parse_facts(out);
        assert_eq!(f["os_family"], "Debian");
        assert_eq!(f["distribution"], "Debian");
        assert_eq!(f["distribution_version"], "12.8");
        assert_eq!(f["distribution_major_version"], "12");
        assert_eq!(f["distribution_release"], "bookworm");
        assert_eq!(f["default_ipv4"]["address"], "172.17.0.2");
        assert_eq!(f["default_ipv4"]["prefix"], "16");
        assert_eq!(f["memtotal_mb"], 2000);
        assert_eq!(f["mounts"][0]["mount"], "/");
        assert_eq!(f["virtualization_type"], "docker");
        assert_eq!(f["pkg_mgr"], "apt");
        assert_eq!(f["domain"], "lab");
        assert_eq!(f["distribution_minor_version"], "8");
        assert_eq!(f["eth0"]["macaddress"], "02:42:ac:11:00:02");
        assert_eq!(f["default_ipv4"]["macaddress"], "02:42:ac:11:00:02");
        assert_eq!((f["real_user_id"].clone(), f["effective_user_id"].clone(), f["user_uid"].clone()), (json!(1000), json!(0), json!(0)));
        assert_eq!(f["env"]["HOME"], "/home/w");
        assert_eq!(f["processor_vcpus"], 1);
    }

    #[test]
    fn os_family_follows_id_like() {
        assert_eq!(os_family("pop", ""), "Debian");
        assert_eq!(os_family("weird", "rhel fedora"), "RedHat");
    }
}
