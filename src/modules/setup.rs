//! setup (fact gathering): what the host is, in one round trip of plain shell: OS family and release,
//! architecture, kernel, hostname, fqdn, default IPv4, memory, CPUs, mounts, virtualization (incl. lxc and
//! docker), service and package manager. Facts use Ansible's names, so roles can keep using them.

use serde_json::{Map, Value, json};

use super::{ArgKind, ArgSpec, Args, Module, ModuleCtx, ModuleError, ModuleSpec, Plan};

pub struct Setup;

static SPEC: ModuleSpec = ModuleSpec::new(&[
    ArgSpec::new("gather_subset", ArgKind::List).help("Accepted for Ansible compatibility; hlprov always gathers its one set."),
    ArgSpec::new("filter", ArgKind::List).help("Only return facts whose names match these globs."),
    ArgSpec::new("gather_timeout", ArgKind::Int).help("Accepted for Ansible compatibility."),
]);

/// Prints `key=value` lines; `mount=` lines repeat. Only coreutils, procps-free /proc reads and iproute2.
const SCRIPT: &str = r#"
echo "nodename=$(uname -n)"
echo "kernel=$(uname -r)"
echo "kernel_version=$(uname -v)"
echo "arch=$(uname -m)"
echo "system=$(uname -s)"
if [ -r /etc/os-release ]; then sed -n 's/^\(ID\|ID_LIKE\|VERSION_ID\|VERSION_CODENAME\|PRETTY_NAME\|NAME\)=/os_\1=/p' /etc/os-release; fi
[ -r /etc/debian_version ] && echo "debian_version=$(cat /etc/debian_version)"
fq=$(getent hosts "$(uname -n)" 2>/dev/null | awk '{print $2; exit}'); echo "fqdn=${fq:-$(uname -n)}"
awk '/^MemTotal:/ {print "memtotal_kb=" $2} /^MemFree:/ {print "memfree_kb=" $2} /^SwapTotal:/ {print "swaptotal_kb=" $2}' /proc/meminfo
echo "vcpus=$(grep -c '^processor' /proc/cpuinfo)"
if command -v ip >/dev/null 2>&1; then
  set -- $(ip -4 route show default 2>/dev/null | head -n1)
  gw=; dev=; while [ $# -gt 0 ]; do case "$1" in via) gw=$2; shift;; dev) dev=$2; shift;; esac; shift; done
  echo "gateway=$gw"; echo "interface=$dev"
  [ -n "$dev" ] && ip -4 -o addr show dev "$dev" 2>/dev/null | awk '{print "address=" $4; exit}'
  ip -o link show 2>/dev/null | awk -F': ' '{sub(/@.*/, "", $2); print "iface=" $2}'
  ip -o addr show 2>/dev/null | awk '$2 != "lo" && ($3 == "inet" || $3 == "inet6") {split($4, a, "/"); print ($3 == "inet" ? "ipv4=" : "ipv6=") a[1]}'
fi
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
echo "user_id=$(id -un)"; echo "user_uid=$(id -u)"; echo "user_gid=$(id -g)"
LC_ALL=C date '+epoch=%s%nnanos=%N%nlocal=%Y %m %d %H %M %S%nweekday=%A%nweekday_number=%w%nweeknumber=%W%ntz=%Z%ntz_offset=%z'
if [ -r /etc/timezone ]; then read -r zone < /etc/timezone; echo "zone=$zone"; fi
[ -d /dev/dri ] && for d in /dev/dri/*; do echo "dri=$d"; done
true
"#;

/// Ansible's `date_time` facts from one `date` on the host: its local fields as the host prints them, the UTC
/// ones computed from the same instant, `tz_dst` from the host's zone name (/etc/timezone) where known.
fn date_time(get: &dyn Fn(&str) -> String) -> Value {
    let epoch: i64 = get("epoch").parse().unwrap_or(0);
    let micros = get("nanos").parse::<i64>().unwrap_or(0) / 1000;
    let local: Vec<String> = get("local").split(' ').map(str::to_string).collect();
    let field = |i: usize| local.get(i).cloned().unwrap_or_default();
    let (year, month, day, hour, minute, second) = (field(0), field(1), field(2), field(3), field(4), field(5));
    let utc = jiff::Timestamp::new(epoch, (micros * 1000) as i32).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let tz = get("tz");
    json!({
        "year": year, "month": month, "day": day, "hour": hour, "minute": minute, "second": second,
        "weekday": get("weekday"), "weekday_number": get("weekday_number"), "weeknumber": get("weeknumber"),
        "epoch": epoch.to_string(), "epoch_int": epoch.to_string(),
        "date": format!("{year}-{month}-{day}"), "time": format!("{hour}:{minute}:{second}"),
        "iso8601": utc.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "iso8601_micro": format!("{}.{micros:06}Z", utc.strftime("%Y-%m-%dT%H:%M:%S")),
        "iso8601_basic": format!("{year}{month}{day}T{hour}{minute}{second}{micros:06}"),
        "iso8601_basic_short": format!("{year}{month}{day}T{hour}{minute}{second}"),
        "tz": tz, "tz_dst": dst_name(&get("zone"), utc).unwrap_or_else(|| get("tz")), "tz_offset": get("tz_offset"),
    })
}

/// Python's `time.tzname[1]` for a zone: the abbreviation it uses in summer time (its standard one if it has none).
fn dst_name(zone: &str, now: jiff::Timestamp) -> Option<String> {
    let tz = jiff::tz::TimeZone::get(zone.trim()).ok()?;
    let year = now.to_zoned_datetime(tz.clone()).year();
    let mut standard = None;
    for month in [1, 7] {
        let at = jiff::civil::date(year, month, 1).to_zoned_datetime(tz.clone()).ok()?.timestamp();
        let info = tz.to_offset_info(at);
        if info.dst().is_dst() {
            return Some(info.abbreviation().to_string());
        }
        standard.get_or_insert_with(|| info.abbreviation().to_string());
    }
    standard
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
    let mut kv: Vec<(&str, &str)> = Vec::new();
    for line in out.lines() {
        if let Some((k, v)) = line.split_once('=') {
            kv.push((k, v.trim_matches('"')));
        }
    }
    let get = |k: &str| kv.iter().rev().find(|(key, _)| *key == k).map(|(_, v)| v.to_string()).unwrap_or_default();
    let all = |k: &str| kv.iter().filter(|(key, _)| *key == k).map(|(_, v)| v.to_string()).collect::<Vec<_>>();
    let kb_to_mb = |k: &str| get(k).parse::<u64>().map(|v| v / 1024).unwrap_or(0);
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
    let address = get("address");
    let (ip, prefix) = address.split_once('/').map(|(a, p)| (a.to_string(), p.to_string())).unwrap_or((address.clone(), String::new()));
    let mounts: Vec<Value> = all("mount")
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
    put("architecture", json!(get("arch")));
    put("machine", json!(get("arch")));
    put("os_family", json!(os_family(&get("os_ID"), &get("os_ID_LIKE"))));
    put("distribution", json!(distribution));
    put(
        "distribution_version",
        json!(if get("os_ID") == "debian" && !get("debian_version").is_empty() { get("debian_version") } else { version.clone() }),
    );
    put("distribution_major_version", json!(version.split('.').next().unwrap_or_default()));
    put("distribution_release", json!(get("os_VERSION_CODENAME")));
    put("memtotal_mb", json!(kb_to_mb("memtotal_kb")));
    put("memfree_mb", json!(kb_to_mb("memfree_kb")));
    put("swaptotal_mb", json!(kb_to_mb("swaptotal_kb")));
    let vcpus: u64 = get("vcpus").parse().unwrap_or(0);
    put("processor_vcpus", json!(vcpus));
    put("processor_nproc", json!(vcpus));
    put(
        "default_ipv4",
        if ip.is_empty() { json!({}) } else { json!({"address": ip, "prefix": prefix, "interface": get("interface"), "gateway": get("gateway")}) },
    );
    // Every address but the loopback's, link-local included, as Ansible lists them.
    let mut v4 = all("ipv4");
    if v4.is_empty() && !ip.is_empty() {
        v4.push(ip.clone());
    }
    put("all_ipv4_addresses", json!(v4));
    put("all_ipv6_addresses", json!(all("ipv6")));
    put("interfaces", json!(all("iface")));
    put("mounts", Value::Array(mounts));
    put("virtualization_type", json!(get("virt")));
    put("virtualization_role", json!(get("virt_role")));
    put("service_mgr", json!(get("service_mgr")));
    put("pkg_mgr", json!(pkg_mgr));
    put("user_id", json!(get("user_id")));
    put("user_uid", json!(get("user_uid").parse::<u64>().unwrap_or(0)));
    put("user_gid", json!(get("user_gid").parse::<u64>().unwrap_or(0)));
    put("date_time", date_time(&get));
    put("dri_devices", json!(all("dri")));
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
        "hlprov gathers a fixed, smaller set of facts (OS, kernel, arch, hostname/fqdn, default IPv4, memory, CPUs, mounts, virtualization, service/package manager, user, dri devices); gather_subset is accepted and ignored."
    }
    async fn plan(&self, ctx: &ModuleCtx<'_>, args: &Args) -> Result<Plan, ModuleError> {
        let out = ctx.read(SCRIPT).await?;
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
                   debian_version=12.8\nfqdn=w1.lab\nmemtotal_kb=2048000\nvcpus=4\ngateway=172.17.0.1\ninterface=eth0\naddress=172.17.0.2/16\n\
                   mount=overlay / overlay rw,relatime\nvirt=docker\nvirt_role=guest\nservice_mgr=systemd\npkg_mgr=apt-get\n";
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
    }

    #[test]
    fn os_family_follows_id_like() {
        assert_eq!(os_family("pop", ""), "Debian");
        assert_eq!(os_family("weird", "rhel fedora"), "RedHat");
    }
}
