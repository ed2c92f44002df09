//! Network facts from `ip -d -o link show`, `ip -o addr show` and the default routes, shaped as Ansible's Linux
//! network collector shapes them: one fact per interface (`ansible_eth0`), `default_ipv4`/`default_ipv6` filled
//! from the interface that holds the address, `all_ipv4_addresses`/`all_ipv6_addresses`; and `dns` from
//! /etc/resolv.conf.

use std::net::Ipv4Addr;

use serde_json::{Map, Value, json};

use super::Raw;

/// Interfaces by name (as the kernel names them), each an Ansible interface fact.
pub fn interfaces(raw: &Raw) -> Vec<(String, Map<String, Value>)> {
    let mut out: Vec<(String, Map<String, Value>)> = Vec::new();
    for line in raw.all("link") {
        if let Some((name, fact)) = link(&line) {
            out.push((name, fact));
        }
    }
    for line in raw.all("addr") {
        add_address(&mut out, &line);
    }
    out
}

/// One `ip -d -o link show` line → the interface's name and fact.
fn link(line: &str) -> Option<(String, Map<String, Value>)> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let name = words.get(1)?.trim_end_matches(':');
    let name = name.split('@').next().unwrap_or(name).to_string();
    let flags = words.get(2).map(|f| f.trim_matches(['<', '>'])).unwrap_or_default();
    let has_flag = |f: &str| flags.split(',').any(|x| x == f);
    let after = |key: &str| words.iter().position(|w| *w == key).and_then(|i| words.get(i + 1)).copied();
    let mut f = Map::new();
    f.insert("device".into(), json!(name));
    f.insert("active".into(), json!(has_flag("UP")));
    f.insert("promisc".into(), json!(has_flag("PROMISC")));
    if let Some(mtu) = after("mtu").and_then(|m| m.parse::<u64>().ok()) {
        f.insert("mtu".into(), json!(mtu));
    }
    let link = words.iter().find(|w| w.starts_with("link/"));
    let kind = match link.map(|l| &l[5..]) {
        _ if line.contains(" bridge forward_delay ") => "bridge",
        _ if line.contains(" bond mode ") => "bonding",
        Some("ether") => "ether",
        Some("loopback") => "loopback",
        Some("ppp") => "ppp",
        Some("none") => "tunnel",
        _ => "unknown",
    };
    f.insert("type".into(), json!(kind));
    if let Some(mac) = link.and_then(|l| after(l)).filter(|m| m.contains(':') && *m != "00:00:00:00:00:00") {
        f.insert("macaddress".into(), json!(mac));
    }
    Some((name, f))
}

/// The dotted netmask, network and prefix of an IPv4 address with its prefix length.
fn v4_network(address: &str, prefix: u32) -> Option<(String, String)> {
    let a: Ipv4Addr = address.parse().ok()?;
    let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - prefix.min(32)) };
    Some((Ipv4Addr::from(mask).to_string(), Ipv4Addr::from(u32::from(a) & mask).to_string()))
}

/// One `ip -o addr show` line: its address joins its interface (or the label's, for an alias like eth0:1).
fn add_address(ifaces: &mut Vec<(String, Map<String, Value>)>, line: &str) {
    let head = line.split('\\').next().unwrap_or_default();
    let words: Vec<&str> = head.split_whitespace().collect();
    let (Some(dev), Some(family), Some(addr)) = (words.get(1), words.get(2), words.get(3)) else { return };
    let after = |key: &str| words.iter().position(|w| *w == key).and_then(|i| words.get(i + 1)).copied();
    let entry = |ifaces: &mut Vec<(String, Map<String, Value>)>, name: &str| -> usize {
        if let Some(i) = ifaces.iter().position(|(n, _)| n == name) {
            return i;
        }
        ifaces.push((name.to_string(), Map::new()));
        ifaces.len() - 1
    };
    match *family {
        "inet" => {
            let (address, prefix) = addr.split_once('/').unwrap_or((addr, "32"));
            let Some((netmask, network)) = v4_network(address, prefix.parse().unwrap_or(32)) else { return };
            let v = json!({"address": address, "broadcast": after("brd").unwrap_or(""), "netmask": netmask, "network": network, "prefix": prefix});
            // The label (eth0, or eth0:1 for an alias) is the last word, after scope and flags.
            let label = words.last().copied().filter(|l| l.starts_with(*dev)).unwrap_or(dev);
            let i = entry(ifaces, label);
            let fact = &mut ifaces[i].1;
            if words.contains(&"secondary") || fact.contains_key("ipv4") {
                push(fact, "ipv4_secondaries", v);
            } else {
                fact.insert("ipv4".into(), v);
            }
        }
        "inet6" => {
            let (address, prefix) = addr.split_once('/').unwrap_or((addr, "128"));
            let v = json!({"address": address, "prefix": prefix, "scope": after("scope").unwrap_or("")});
            let i = entry(ifaces, dev);
            push(&mut ifaces[i].1, "ipv6", v);
        }
        _ => {}
    }
}

/// Append to the list at `key`, making it first.
fn push(fact: &mut Map<String, Value>, key: &str, v: Value) {
    if let Some(a) = fact.entry(key).or_insert_with(|| json!([])).as_array_mut() {
        a.push(v);
    }
}

/// Every IPv4 address but 127.x, every IPv6 address but ::1, as Ansible lists them.
pub fn all_addresses(ifaces: &[(String, Map<String, Value>)]) -> (Vec<String>, Vec<String>) {
    let (mut v4, mut v6) = (Vec::new(), Vec::new());
    for (_, f) in ifaces {
        let firsts = f.get("ipv4").into_iter().chain(f.get("ipv4_secondaries").and_then(Value::as_array).into_iter().flatten());
        v4.extend(firsts.filter_map(|a| a["address"].as_str()).filter(|a| !a.starts_with("127.")).map(str::to_string));
        v6.extend(
            f.get("ipv6")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|a| a["address"].as_str())
                .filter(|a| *a != "::1")
                .map(str::to_string),
        );
    }
    (v4, v6)
}

/// `default_ipv4` / `default_ipv6`: the default route's interface and gateway, with the interface's address
/// (the one `address` names for IPv4, its first global one for IPv6) and its link facts.
pub fn default_route(ifaces: &[(String, Map<String, Value>)], dev: &str, gateway: &str, address: Option<&str>, v6: bool) -> Value {
    let Some((_, f)) = ifaces.iter().find(|(n, _)| n == dev) else { return json!({}) };
    let mut d = Map::new();
    let addr = if v6 {
        f.get("ipv6").and_then(Value::as_array).and_then(|a| a.iter().find(|x| x["scope"] == "global")).cloned()
    } else {
        let all = f.get("ipv4").into_iter().chain(f.get("ipv4_secondaries").and_then(Value::as_array).into_iter().flatten());
        all.clone().find(|x| address.is_none_or(|want| x["address"] == want)).cloned()
    };
    let Some(Value::Object(addr)) = addr else { return json!({}) };
    d.extend(addr);
    d.insert("gateway".into(), json!(gateway));
    d.insert("interface".into(), json!(dev));
    if !v6 {
        d.insert("alias".into(), json!(dev));
    }
    for k in ["macaddress", "mtu", "type"] {
        if let Some(v) = f.get(k) {
            d.insert(k.into(), v.clone());
        }
    }
    Value::Object(d)
}

/// `dns` from resolv.conf lines (`dns=KEYWORD VALUE…`): nameservers, search, domain, sortlist, options.
pub fn dns(raw: &Raw) -> Value {
    let mut d = Map::new();
    for line in raw.all("dns") {
        let mut w = line.split_whitespace();
        let key = w.next().unwrap_or_default();
        let rest: Vec<&str> = w.collect();
        match key {
            "nameserver" => {
                if let Some(a) = d.entry("nameservers").or_insert_with(|| json!([])).as_array_mut() {
                    a.extend(rest.first().map(|x| json!(x)));
                }
            }
            "domain" => {
                d.insert("domain".into(), json!(rest.first().copied().unwrap_or_default()));
            }
            "search" | "sortlist" => {
                d.insert(key.into(), json!(rest));
            }
            "options" => {
                let opts = d.entry("options").or_insert_with(|| json!({}));
                for o in rest {
                    let (k, v) = o.split_once(':').map_or((o, json!(true)), |(k, v)| (k, json!(v)));
                    opts[k] = v;
                }
            }
            _ => {}
        }
    }
    Value::Object(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interfaces_read_from_ip_output_as_ansible_shapes_them() {
        let raw = Raw::parse(concat!(
            "link=1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000\\    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00 promiscuity 0\n",
            "link=5: eth0@if6: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP mode DEFAULT group default \\    link/ether 02:42:ac:11:00:02 brd ff:ff:ff:ff:ff:ff link-netnsid 0 promiscuity 0 \\    veth\n",
            "link=7: br-lan: <BROADCAST,MULTICAST> mtu 1500 qdisc noop state DOWN \\    link/ether 4e:1c:0b:aa:bb:cc brd ff:ff:ff:ff:ff:ff promiscuity 0 \\    bridge forward_delay 1500 hello_time 200\n",
            "addr=1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever\n",
            "addr=1: lo    inet6 ::1/128 scope host \\       valid_lft forever preferred_lft forever\n",
            "addr=5: eth0    inet 172.17.0.2/16 brd 172.17.255.255 scope global eth0\\       valid_lft forever preferred_lft forever\n",
            "addr=5: eth0    inet 172.17.0.9/16 brd 172.17.255.255 scope global secondary eth0\\       valid_lft forever preferred_lft forever\n",
            "addr=5: eth0    inet 10.9.0.1/24 scope global eth0:1\\       valid_lft forever preferred_lft forever\n",
            "addr=5: eth0    inet6 2001:db8::2/64 scope global \\       valid_lft forever preferred_lft forever\n",
            "addr=5: eth0    inet6 fe80::42:acff:fe11:2/64 scope link \\       valid_lft forever preferred_lft forever\n",
        ));
        let ifaces = interfaces(&raw);
        let get = |n: &str| Value::Object(ifaces.iter().find(|(x, _)| x == n).unwrap().1.clone());
        assert_eq!(
            get("eth0"),
            json!({"device": "eth0", "active": true, "promisc": false, "mtu": 1500, "type": "ether", "macaddress": "02:42:ac:11:00:02",
                   "ipv4": {"address": "172.17.0.2", "broadcast": "172.17.255.255", "netmask": "255.255.0.0", "network": "172.17.0.0", "prefix": "16"},
                   "ipv4_secondaries": [{"address": "172.17.0.9", "broadcast": "172.17.255.255", "netmask": "255.255.0.0", "network": "172.17.0.0", "prefix": "16"}],
                   "ipv6": [{"address": "2001:db8::2", "prefix": "64", "scope": "global"}, {"address": "fe80::42:acff:fe11:2", "prefix": "64", "scope": "link"}]})
        );
        assert_eq!(get("lo")["type"], "loopback");
        assert!(get("lo").get("macaddress").is_none());
        assert_eq!((get("br-lan")["type"].clone(), get("br-lan")["active"].clone()), (json!("bridge"), json!(false)));
        assert_eq!(get("eth0:1")["ipv4"]["network"], "10.9.0.0");
        let (v4, v6) = all_addresses(&ifaces);
        assert_eq!(v4, ["172.17.0.2", "172.17.0.9", "10.9.0.1"]);
        assert_eq!(v6, ["2001:db8::2", "fe80::42:acff:fe11:2"]);
        let d4 = default_route(&ifaces, "eth0", "172.17.0.1", Some("172.17.0.2"), false);
        assert_eq!(d4["netmask"], "255.255.0.0");
        assert_eq!(
            (d4["gateway"].clone(), d4["macaddress"].clone(), d4["mtu"].clone()),
            (json!("172.17.0.1"), json!("02:42:ac:11:00:02"), json!(1500))
        );
        let d6 = default_route(&ifaces, "eth0", "fe80::1", None, true);
        assert_eq!((d6["address"].clone(), d6["gateway"].clone()), (json!("2001:db8::2"), json!("fe80::1")));
        assert_eq!(default_route(&ifaces, "wg0", "", None, false), json!({}));
    }

    #[test]
    fn resolv_conf_becomes_the_dns_fact() {
        let raw = Raw::parse("dns=nameserver 10.0.0.1\ndns=nameserver 10.0.0.2\ndns=search lab home.arpa\ndns=options ndots:2 rotate\n");
        assert_eq!(
            dns(&raw),
            json!({"nameservers": ["10.0.0.1", "10.0.0.2"], "search": ["lab", "home.arpa"], "options": {"ndots": "2", "rotate": true}})
        );
    }
}
