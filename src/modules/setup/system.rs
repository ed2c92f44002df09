//! Hardware and system facts, computed as Ansible's Linux collectors compute them: processors (from
//! /proc/cpuinfo), memory (/proc/meminfo), DMI (/sys/class/dmi/id), the kernel command line, the
//! environment, local facts (/etc/ansible/facts.d), and the date and time.

use base64::Engine;
use serde_json::{Map, Value, json};

use super::Raw;

/// `processor`, `processor_count`, `processor_cores`, `processor_threads_per_core`, `processor_vcpus`,
/// `processor_nproc` from `cpu=KEY : VALUE` lines (Ansible's get_cpu_facts, x86 and ARM).
pub fn processors(raw: &Raw, arch: &str) -> Map<String, Value> {
    let mut processor = Vec::new();
    let (mut i, mut vendor_ids, mut model_names, mut processor_lines) = (0usize, 0, 0, 0usize);
    let mut sockets: Vec<(String, u64)> = Vec::new();
    let mut cores: Vec<(String, u64)> = Vec::new();
    let (mut physid, mut coreid) = (String::new(), String::new());
    let set = |list: &mut Vec<(String, u64)>, k: &str, v: u64, only_new: bool| match list.iter_mut().find(|(x, _)| x == k) {
        Some(e) if !only_new => e.1 = v,
        Some(_) => {}
        None => list.push((k.to_string(), v)),
    };
    for line in raw.all("cpu") {
        let (key, val) = line.split_once(':').map_or((line.trim(), ""), |(k, v)| (k.trim(), v.trim()));
        match key {
            "model name" | "Processor" | "vendor_id" | "cpu" | "Vendor" | "processor" => {
                processor.push(json!(val));
                match key {
                    "vendor_id" => vendor_ids += 1,
                    "model name" => model_names += 1,
                    "processor" => processor_lines += 1,
                    _ => {}
                }
                i += 1;
            }
            "physical id" => {
                physid = val.to_string();
                set(&mut sockets, &physid, 1, true);
            }
            "core id" => {
                coreid = val.to_string();
                set(&mut cores, &coreid, 1, true);
            }
            "cpu cores" => set(&mut sockets, &physid, val.parse().unwrap_or(0), false),
            "siblings" => set(&mut cores, &coreid, val.parse().unwrap_or(0), false),
            _ => {}
        }
    }
    if vendor_ids > 0 && vendor_ids == model_names {
        i = vendor_ids;
    }
    if arch.starts_with("armv") || arch.starts_with("aarch") || arch.starts_with("ppc") {
        i = processor_lines;
    }
    let count = if sockets.is_empty() { i as u64 } else { sockets.len() as u64 };
    let per_socket = sockets.first().map(|s| s.1).filter(|c| *c > 0).unwrap_or(1);
    // Python's round() rounds halves to even.
    let threads = match cores.first() {
        Some((_, siblings)) => (*siblings as f64 / per_socket as f64).round_ties_even() as u64,
        None => (1.0 / per_socket as f64).round_ties_even() as u64,
    };
    let mut f = Map::new();
    f.insert("processor".into(), Value::Array(processor));
    f.insert("processor_count".into(), json!(count));
    f.insert("processor_cores".into(), json!(per_socket));
    f.insert("processor_threads_per_core".into(), json!(threads));
    f.insert("processor_vcpus".into(), json!(threads * count * per_socket));
    f.insert("processor_nproc".into(), json!(processor_lines));
    f
}

/// `memtotal_mb`, `memfree_mb`, `swaptotal_mb`, `swapfree_mb` and `memory_mb` from `mem_KEY=KB` lines.
pub fn memory(raw: &Raw) -> Map<String, Value> {
    let mb = |k: &str| raw.get(&format!("mem_{k}")).parse::<u64>().ok().map(|kb| kb / 1024);
    let (total, free, buffers, cached) = (mb("MemTotal"), mb("MemFree"), mb("Buffers"), mb("Cached"));
    let (swap_total, swap_free, swap_cached) = (mb("SwapTotal"), mb("SwapFree"), mb("SwapCached"));
    let sub = |a: Option<u64>, b: Option<u64>| Some(a?.saturating_sub(b?));
    let nocache_free = (|| Some(cached? + free? + buffers?))();
    let mut f = Map::new();
    for (k, v) in [("memtotal_mb", total), ("memfree_mb", free), ("swaptotal_mb", swap_total), ("swapfree_mb", swap_free)] {
        f.insert(k.into(), json!(v.unwrap_or(0)));
    }
    f.insert(
        "memory_mb".into(),
        json!({
            "real": {"total": total, "used": sub(total, free), "free": free},
            "nocache": {"free": nocache_free, "used": sub(total, nocache_free)},
            "swap": {"total": swap_total, "free": swap_free, "used": sub(swap_total, swap_free), "cached": swap_cached},
        }),
    );
    f
}

/// Chassis types as SMBIOS numbers them (Ansible's FORM_FACTOR).
const FORM_FACTOR: &[&str] = &[
    "Unknown",
    "Other",
    "Unknown",
    "Desktop",
    "Low Profile Desktop",
    "Pizza Box",
    "Mini Tower",
    "Tower",
    "Portable",
    "Laptop",
    "Notebook",
    "Hand Held",
    "Docking Station",
    "All In One",
    "Sub Notebook",
    "Space-saving",
    "Lunch Box",
    "Main Server Chassis",
    "Expansion Chassis",
    "Sub Chassis",
    "Bus Expansion Chassis",
    "Peripheral Chassis",
    "RAID Chassis",
    "Rack Mount Chassis",
    "Sealed-case PC",
    "Multi-system",
    "CompactPCI",
    "AdvancedTCA",
    "Blade",
    "Blade Enclosure",
    "Tablet",
    "Convertible",
    "Detachable",
    "IoT Gateway",
    "Embedded PC",
    "Mini PC",
    "Stick PC",
];

/// The DMI files read, and the fact each becomes ("NA" when unreadable, as in Ansible).
pub const DMI_FILES: &[(&str, &str)] = &[
    ("bios_date", "bios_date"),
    ("bios_vendor", "bios_vendor"),
    ("bios_version", "bios_version"),
    ("board_asset_tag", "board_asset_tag"),
    ("board_name", "board_name"),
    ("board_serial", "board_serial"),
    ("board_vendor", "board_vendor"),
    ("board_version", "board_version"),
    ("chassis_asset_tag", "chassis_asset_tag"),
    ("chassis_serial", "chassis_serial"),
    ("chassis_vendor", "chassis_vendor"),
    ("chassis_version", "chassis_version"),
    ("product_name", "product_name"),
    ("product_serial", "product_serial"),
    ("product_uuid", "product_uuid"),
    ("product_version", "product_version"),
    ("sys_vendor", "system_vendor"),
    ("chassis_type", "form_factor"),
];

pub fn dmi(raw: &Raw) -> Map<String, Value> {
    let mut f = Map::new();
    for (file, fact) in DMI_FILES {
        let v = raw.get(&format!("dmi_{file}"));
        let v = if v.is_empty() { "NA".to_string() } else { v };
        let v = match (*file, v.parse::<usize>()) {
            ("chassis_type", Ok(n)) => FORM_FACTOR.get(n).map_or_else(|| format!("unknown ({n})"), |s| s.to_string()),
            _ => v,
        };
        f.insert(fact.to_string(), json!(v));
    }
    f
}

/// Split a command line as Python's `shlex.split(posix=False)` does: on blanks, quotes kept.
fn split_keeping_quotes(s: &str) -> Vec<String> {
    let (mut out, mut cur, mut quote) = (Vec::new(), String::new(), None::<char>);
    for c in s.chars() {
        match (quote, c) {
            (None, c) if c.is_whitespace() => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            (None, '"' | '\'') => {
                quote = Some(c);
                cur.push(c);
            }
            (Some(q), c) if c == q => {
                quote = None;
                cur.push(c);
            }
            (_, c) => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// `cmdline` (the last value of a repeated key) and `proc_cmdline` (repeated values as a list).
pub fn cmdline(line: &str) -> (Value, Value) {
    let (mut last, mut all) = (Map::new(), Map::new());
    for piece in split_keeping_quotes(line) {
        match piece.split_once('=') {
            None => {
                last.insert(piece.clone(), json!(true));
                all.insert(piece, json!(true));
            }
            Some((k, v)) => {
                last.insert(k.to_string(), json!(v));
                match all.get_mut(k) {
                    Some(Value::Array(a)) => a.push(json!(v)),
                    Some(old) => *old = json!([old.clone(), v]),
                    None => {
                        all.insert(k.to_string(), json!(v));
                    }
                }
            }
        }
    }
    (Value::Object(last), Value::Object(all))
}

/// `env`: the variables of `export -p` output (dash's `export NAME='v'`, bash's `declare -x NAME="v"`).
pub fn environment(text: &str) -> Value {
    let words = crate::modules::args::shell_words(text).unwrap_or_default();
    // HLPROV_CMD is hlprov's own tag on the command (to find it on the host), not the host's environment.
    let env: Map<String, Value> =
        words.iter().filter_map(|w| w.split_once('=')).filter(|(k, _)| *k != "HLPROV_CMD").map(|(k, v)| (k.to_string(), json!(v))).collect();
    Value::Object(env)
}

/// `local`: each /etc/ansible/facts.d/NAME.fact (its content, or an executable's output) read as JSON, else
/// as INI (sections of options, names lower-cased as Python's configparser does), else Ansible's message.
pub fn local_facts(raw: &Raw) -> Value {
    let mut local = Map::new();
    for line in raw.all("localfact") {
        let (name, b64) = line.split_once(' ').unwrap_or((line.as_str(), ""));
        let text = base64::engine::general_purpose::STANDARD.decode(b64.trim()).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
        let fact = serde_json::from_str::<Value>(&text)
            .ok()
            .or_else(|| ini(&text))
            .unwrap_or_else(|| json!(format!("error loading facts as JSON or ini - please check content: /etc/ansible/facts.d/{name}.fact")));
        local.insert(name.to_string(), fact);
    }
    Value::Object(local)
}

/// An INI local fact: sections of options, as configparser reads it.
fn ini(text: &str) -> Option<Value> {
    let file = crate::template::ini_file::IniFile::parse(text, Default::default()).ok()?;
    let mut out = Map::new();
    for (name, _) in &file.sections {
        let mut opts = Map::new();
        for (k, v) in file.items(name).unwrap_or_default() {
            // configparser's `get` interpolates (%(x)s, %%), as Ansible reads local facts.
            let v = match v {
                Some(v) => json!(file.interpolate(name, &v).ok()?),
                None => Value::Null,
            };
            opts.insert(k, v);
        }
        out.insert(name.clone(), Value::Object(opts));
    }
    Some(Value::Object(out))
}

/// Ansible's `date_time` facts from one `date` on the host: its local fields as the host prints them, the UTC
/// ones computed from the same instant, `tz_dst` from the host's zone name (/etc/timezone) where known.
pub fn date_time(raw: &Raw) -> Value {
    let get = |k: &str| raw.get(k);
    let epoch: i64 = get("epoch").parse().unwrap_or(0);
    let micros = get("nanos").parse::<i64>().unwrap_or(0) / 1000;
    let local: Vec<String> = get("local").split(' ').map(str::to_string).collect();
    let field = |i: usize| local.get(i).cloned().unwrap_or_default();
    let (year, month, day, hour, minute, second) = (field(0), field(1), field(2), field(3), field(4), field(5));
    let utc = jiff::Timestamp::new(epoch, (micros * 1000) as i32).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    json!({
        "year": year, "month": month, "day": day, "hour": hour, "minute": minute, "second": second,
        "weekday": get("weekday"), "weekday_number": get("weekday_number"), "weeknumber": get("weeknumber"),
        "epoch": epoch.to_string(), "epoch_int": epoch.to_string(),
        "date": format!("{year}-{month}-{day}"), "time": format!("{hour}:{minute}:{second}"),
        "iso8601": utc.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "iso8601_micro": format!("{}.{micros:06}Z", utc.strftime("%Y-%m-%dT%H:%M:%S")),
        "iso8601_basic": format!("{year}{month}{day}T{hour}{minute}{second}{micros:06}"),
        "iso8601_basic_short": format!("{year}{month}{day}T{hour}{minute}{second}"),
        "tz": get("tz"), "tz_dst": dst_name(&get("zone"), utc).unwrap_or_else(|| get("tz")), "tz_offset": get("tz_offset"),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn processors_are_counted_as_ansible_counts_them() {
        // Two sockets of two cores with hyper-threading (4 logical CPUs per socket).
        let mut text = String::new();
        for n in 0..8 {
            text.push_str(&format!(
                "cpu=processor\t: {n}\ncpu=vendor_id\t: GenuineIntel\ncpu=model name\t: Xeon\ncpu=physical id\t: {}\ncpu=siblings\t: 4\ncpu=core id\t: {}\ncpu=cpu cores\t: 2\n",
                n / 4,
                n % 2
            ));
        }
        let f = processors(&Raw::parse(&text), "x86_64");
        assert_eq!(
            (f["processor_count"].clone(), f["processor_cores"].clone(), f["processor_threads_per_core"].clone()),
            (json!(2), json!(2), json!(2))
        );
        assert_eq!((f["processor_vcpus"].clone(), f["processor_nproc"].clone()), (json!(8), json!(8)));
        assert_eq!(f["processor"].as_array().unwrap()[..3], [json!("0"), json!("GenuineIntel"), json!("Xeon")]);
        // A VM's cpuinfo without topology lines (as on this lab's hosts).
        let f = processors(&Raw::parse("cpu=processor\t: 0\ncpu=vendor_id\t: GenuineIntel\ncpu=model name\t: QEMU\n"), "x86_64");
        assert_eq!((f["processor_count"].clone(), f["processor_cores"].clone(), f["processor_vcpus"].clone()), (json!(1), json!(1), json!(1)));
    }

    #[test]
    fn memory_in_megabytes_with_ansibles_derived_figures() {
        let raw = Raw::parse(
            "mem_MemTotal=2048000\nmem_MemFree=1024000\nmem_Buffers=10240\nmem_Cached=102400\nmem_SwapTotal=0\nmem_SwapFree=0\nmem_SwapCached=0\n",
        );
        let f = memory(&raw);
        assert_eq!(f["memtotal_mb"], 2000);
        assert_eq!(f["memory_mb"]["real"], json!({"total": 2000, "used": 1000, "free": 1000}));
        assert_eq!(f["memory_mb"]["nocache"], json!({"free": 1110, "used": 890}));
    }

    #[test]
    fn command_line_environment_dmi_and_local_facts() {
        let (last, all) = cmdline("BOOT_IMAGE=/vmlinuz root=UUID=ab ro console=tty0 console=ttyS0 quiet \"a b\"=1");
        assert_eq!(last, json!({"BOOT_IMAGE": "/vmlinuz", "root": "UUID=ab", "ro": true, "console": "ttyS0", "quiet": true, "\"a b\"": "1"}));
        assert_eq!(all["console"], json!(["tty0", "ttyS0"]));
        let env = environment("export HOME='/root'\nexport MSG='it'\\''s\nthere'\nexport UNSET\n");
        assert_eq!(env, json!({"HOME": "/root", "MSG": "it's\nthere"}));
        let f = dmi(&Raw::parse("dmi_sys_vendor=QEMU\ndmi_chassis_type=1\ndmi_product_name=\n"));
        assert_eq!((f["system_vendor"].clone(), f["form_factor"].clone(), f["product_name"].clone()), (json!("QEMU"), json!("Other"), json!("NA")));
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let raw = Raw::parse(&format!(
            "localfact=app {}\nlocalfact=site {}\nlocalfact=bad {}\n",
            b64("{\"version\": 3}"),
            b64("[general]\nName = lab\nrole: nas\n"),
            b64("not facts")
        ));
        assert_eq!(
            local_facts(&raw),
            json!({"app": {"version": 3}, "site": {"general": {"name": "lab", "role": "nas"}},
                   "bad": "error loading facts as JSON or ini - please check content: /etc/ansible/facts.d/bad.fact"})
        );
    }
}
