//! "ipaddr-lite": the parts of ansible.utils' ipaddr family roles use most: `ipaddr(query)` with address,
//! prefix, network, netmask, broadcast, net, host, cidr/subnet, size, first_usable, last_usable or a host
//! index; `ipv4`/`ipv6` (same, restricted to one family) and `nthhost`. Invalid input gives `false`, as in
//! ansible.utils. Lists are filtered item by item.

use std::net::IpAddr;

use minijinja::value::{Value, ValueKind};
use minijinja::{Environment, Error};

use super::{add, defined, fail};

pub fn register(env: &mut Environment<'static>) {
    add(env, "ipaddr", ipaddr);
    add(env, "ipv4", |v: &Value, q: Option<Value>| family(v, q, 4));
    add(env, "ipv6", |v: &Value, q: Option<Value>| family(v, q, 6));
    add(env, "nthhost", nthhost);
    env.add_filter("ansible.utils.ipaddr", ipaddr);
    env.add_filter("ansible.netcommon.ipaddr", ipaddr);
    env.add_filter("ansible.utils.nthhost", nthhost);
    env.add_filter("ansible.utils.ipv4", |v: &Value, q: Option<Value>| family(v, q, 4));
    env.add_filter("ansible.utils.ipv6", |v: &Value, q: Option<Value>| family(v, q, 6));
}

/// An address with its prefix length (32/128 when none was written).
#[derive(Clone, Copy, Debug)]
struct Cidr {
    addr: u128,
    prefix: u32,
    v6: bool,
    /// A prefix was written (`10.0.0.1/24`), as opposed to a bare address.
    explicit: bool,
}

impl Cidr {
    fn bits(&self) -> u32 {
        if self.v6 { 128 } else { 32 }
    }
    fn mask(&self) -> u128 {
        let host_bits = self.bits() - self.prefix;
        let all = if self.v6 { u128::MAX } else { u32::MAX as u128 };
        if host_bits >= 128 { 0 } else { all & !((1u128 << host_bits) - 1) }
    }
    fn network(&self) -> u128 {
        self.addr & self.mask()
    }
    fn size(&self) -> u128 {
        let host_bits = self.bits() - self.prefix;
        if host_bits >= 128 { u128::MAX } else { 1u128 << host_bits }
    }
    fn broadcast(&self) -> u128 {
        self.network() | !self.mask() & if self.v6 { u128::MAX } else { u32::MAX as u128 }
    }
    fn fmt(&self, a: u128) -> String {
        if self.v6 { std::net::Ipv6Addr::from(a).to_string() } else { std::net::Ipv4Addr::from(a as u32).to_string() }
    }
}

fn parse(s: &str) -> Option<Cidr> {
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let ip: IpAddr = addr.trim().parse().ok()?;
    let (addr, v6) = match ip {
        IpAddr::V4(a) => (u32::from(a) as u128, false),
        IpAddr::V6(a) => (u128::from(a), true),
    };
    let bits = if v6 { 128 } else { 32 };
    let prefix = match prefix {
        None => bits,
        Some(p) => match p.parse::<u32>() {
            Ok(n) if n <= bits => n,
            Ok(_) => return None,
            // A dotted netmask (10.0.0.1/255.255.255.0).
            Err(_) => {
                let m: std::net::Ipv4Addr = p.parse().ok()?;
                let m = u32::from(m);
                if v6 || m.leading_ones() + m.trailing_zeros() != 32 {
                    return None;
                }
                m.leading_ones()
            }
        },
    };
    Some(Cidr { addr, prefix, v6, explicit: s.contains('/') })
}

fn query(c: Cidr, q: &str) -> Result<Value, Error> {
    let with_prefix = |a: u128| format!("{}/{}", c.fmt(a), c.prefix);
    let is_network = c.addr == c.network();
    Ok(match q {
        "" => Value::from(if c.explicit { with_prefix(c.addr) } else { c.fmt(c.addr) }),
        "address" => {
            if c.explicit && c.size() > 1 && is_network {
                Value::from(())
            } else {
                Value::from(c.fmt(c.addr))
            }
        }
        "prefix" => Value::from(c.prefix),
        "network" => Value::from(c.fmt(c.network())),
        "netmask" => Value::from(c.fmt(c.mask())),
        "broadcast" => {
            if c.size() > 1 {
                Value::from(c.fmt(c.broadcast()))
            } else {
                Value::from(())
            }
        }
        "net" => {
            if is_network && c.size() > 1 {
                Value::from(with_prefix(c.addr))
            } else {
                Value::from(false)
            }
        }
        "host" => {
            if c.size() == 1 || !is_network {
                Value::from(with_prefix(c.addr))
            } else {
                Value::from(false)
            }
        }
        "cidr" | "subnet" => Value::from(with_prefix(c.network())),
        "size" => Value::from(c.size() as u64),
        // The address as a number (ansible.utils' 'int'), to compare addresses.
        "int" => Value::from(c.addr),
        "first_usable" if c.size() > 2 => Value::from(c.fmt(c.network() + 1)),
        "last_usable" if c.size() > 2 => Value::from(c.fmt(c.broadcast() - 1)),
        "first_usable" | "last_usable" => Value::from(()),
        other => match other.parse::<i64>() {
            Ok(n) => nth(c, n).map(|a| Value::from(with_prefix(a))).unwrap_or(Value::from(false)),
            Err(_) => return Err(fail(format!("ipaddr: hlprov does not support the query '{other}'"))),
        },
    })
}

fn nth(c: Cidr, n: i64) -> Option<u128> {
    let size = c.size();
    let idx = if n < 0 { size.checked_sub(n.unsigned_abs() as u128)? } else { n as u128 };
    (idx < size).then(|| c.network() + idx)
}

fn apply(v: &Value, q: Option<Value>, want: Option<u8>) -> Result<Value, Error> {
    defined(v)?;
    if matches!(v.kind(), ValueKind::Seq | ValueKind::Iterable) {
        let mut out = Vec::new();
        for item in v.try_iter()? {
            let r = apply(&item, q.clone(), want)?;
            if r.is_true() {
                out.push(r);
            }
        }
        return Ok(Value::from(out));
    }
    let q = match &q {
        None => String::new(),
        Some(q) if q.is_none() => String::new(),
        Some(q) => q.as_str().map(str::to_string).unwrap_or_else(|| q.to_string()),
    };
    let Some(c) = v.as_str().and_then(parse) else { return Ok(Value::from(false)) };
    if want.is_some_and(|w| (w == 6) != c.v6) {
        return Ok(Value::from(false));
    }
    query(c, &q)
}

fn ipaddr(v: &Value, q: Option<Value>) -> Result<Value, Error> {
    apply(v, q, None)
}

fn family(v: &Value, q: Option<Value>, f: u8) -> Result<Value, Error> {
    apply(v, q, Some(f))
}

/// `'10.0.0.0/8' | nthhost(305)` → `10.0.1.49`.
fn nthhost(v: &Value, n: i64) -> Result<Value, Error> {
    defined(v)?;
    let Some(c) = v.as_str().and_then(parse) else { return Ok(Value::from(false)) };
    Ok(nth(c, n).map(|a| Value::from(c.fmt(a))).unwrap_or(Value::from(false)))
}
