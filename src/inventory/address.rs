//! Host entries as inventories write them: `name`, `name:port`, `[ipv6]:port`, with `[a:b]` ranges, and their
//! expansion into host names. A port of Ansible's `parse_address` and `expand_hostname_range`, including the
//! quirks users' inventories rely on (a host that does not parse as an address is kept as written, without a port;
//! `[01:03]` keeps leading zeros; `[a:c]` ranges letters).
//!
//! This file must not know about inventory files or groups.

use std::sync::LazyLock;

use regex::Regex;

/// Most host names one entry may expand to; a typo like `[0:99999999]` should fail, not eat the memory.
pub const MAX_RANGE_HOSTS: usize = 100_000;

const NUMERIC_RANGE: &str = r"\[(?:[0-9]+:[0-9]+)(?::[0-9]+)?\]";
const HEX_RANGE: &str = r"\[(?:[0-9a-f]+:[0-9a-f]+)(?::[0-9]+)?\]";
const ALNUM_RANGE: &str = r"\[(?:[a-z]:[a-z]|[0-9]+:[0-9]+)(?::[0-9]+)?\]";

static BRACKETED_HOSTPORT: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^\[(.+)\]:([0-9]+)$").expect("regex"));
static HOSTPORT: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^((?:[^:\[\]]|\[[^\]]*\])*):([0-9]+)$").expect("regex"));
static IPV4: LazyLock<Regex> = LazyLock::new(|| {
    let c = format!(r"(?:[01]?[0-9]{{1,2}}|2[0-4][0-9]|25[0-5]|{NUMERIC_RANGE})");
    Regex::new(&format!(r"(?i)^(?:{c}\.){{3}}{c}$")).expect("regex")
});
static IPV6: LazyLock<Regex> = LazyLock::new(|| {
    let c = format!(r"(?:[0-9a-f]{{1,4}}|{HEX_RANGE})");
    let alts = [
        format!(r"(?:{c}:){{7}}{c}"),
        format!(r"(?:{c}:){{1,6}}:"),
        format!(r"(?:{c}:)(?::{c}){{1,6}}"),
        format!(r"(?:{c}:){{2}}(?::{c}){{1,5}}"),
        format!(r"(?:{c}:){{3}}(?::{c}){{1,4}}"),
        format!(r"(?:{c}:){{4}}(?::{c}){{1,3}}"),
        format!(r"(?:{c}:){{5}}(?::{c}){{1,2}}"),
        format!(r"(?:{c}:){{6}}(?::{c})"),
        format!(r":(?::{c}){{1,6}}"),
        format!(r"{c}?::"),
        format!(r"(?:0:){{6}}(?:{c}\.){{3}}{c}"),
        format!(r"::(?:ffff:)?(?:{c}\.){{3}}{c}"),
        format!(r"(?:0:){{5}}ffff:(?:{c}\.){{3}}{c}"),
    ];
    Regex::new(&format!(r"(?i)^(?:{})$", alts.join("|"))).expect("regex")
});
/// One label of a host name, except that it must not end in `-` or `_` (checked separately: no look-behind here).
static LABEL: LazyLock<Regex> = LazyLock::new(|| Regex::new(&format!(r"(?i)^(?:\w|{ALNUM_RANGE})(?:[\w-]|{ALNUM_RANGE})*$")).expect("regex"));

/// Is `s` an IPv4 or IPv6 address (ranges allowed)? Ansible keeps such names whole for `inventory_hostname_short`.
pub fn is_ip_address(s: &str) -> bool {
    IPV4.is_match(s) || IPV6.is_match(s)
}

fn is_hostname(s: &str) -> bool {
    s.split('.').all(|label| LABEL.is_match(label) && !label.ends_with(['-', '_']))
}

/// Split an address into host and port, as Ansible's `parse_address(address, allow_ranges=True)`.
/// `None` means the text is not a valid host (the caller then keeps it whole, without a port).
pub fn parse_address(address: &str) -> Option<(String, Option<u32>)> {
    let mut host = address.to_string();
    let mut port = None;
    // Ansible tries both forms in turn, the second on what the first left.
    for re in [&*BRACKETED_HOSTPORT, &*HOSTPORT] {
        if let Some(c) = re.captures(&host) {
            let p = c[2].parse::<u32>().ok()?;
            let h = c[1].to_string();
            host = h;
            port = Some(p);
        }
    }
    if IPV4.is_match(&host) || IPV6.is_match(&host) || is_hostname(&host) { Some((host, port)) } else { None }
}

/// Expand one host entry (as written in an inventory) into host names and an optional port.
pub fn expand_host_entry(entry: &str) -> Result<(Vec<String>, Option<u32>), String> {
    let (pattern, port) = parse_address(entry).unwrap_or_else(|| (entry.to_string(), None));
    if !pattern.contains('[') {
        return Ok((vec![pattern], port));
    }
    // Ansible expands the first range and recurses on each result; a stack keeps that order without recursion.
    let mut out = Vec::new();
    let mut stack = vec![pattern];
    while let Some(cur) = stack.pop() {
        if !cur.contains('[') {
            out.push(cur);
            continue;
        }
        let items = expand_first_range(&cur)?;
        if out.len() + stack.len() + items.len() > MAX_RANGE_HOSTS {
            return Err(format!("host range expands to more than {MAX_RANGE_HOSTS} hosts"));
        }
        stack.extend(items.into_iter().rev());
    }
    Ok((out, port))
}

/// Ansible's `expand_hostname_range` for the first `[begin:end(:step)]` of `line` only.
fn expand_first_range(line: &str) -> Result<Vec<String>, String> {
    // Ansible replaces the first '[' and first ']' with '|' and splits on '|': any other '|' breaks that split.
    let open = line.find('[').ok_or("host range has no '['")?;
    let close = line.find(']').ok_or("host range has '[' but no ']'")?;
    let mut marked = line.to_string();
    marked.replace_range(open..open + 1, "|");
    marked.replace_range(close..close + 1, "|");
    let parts: Vec<&str> = marked.split('|').collect();
    let [head, nrange, tail] = parts[..] else {
        return Err(format!("cannot read the host range in '{line}'"));
    };
    let bounds: Vec<&str> = nrange.split(':').collect();
    if bounds.len() != 2 && bounds.len() != 3 {
        return Err("host range must be begin:end or begin:end:step".into());
    }
    let beg = if bounds[0].is_empty() { "0" } else { bounds[0] };
    let end = bounds[1];
    if end.is_empty() {
        return Err("host range must specify end value".into());
    }
    let step_text = bounds.get(2).copied().unwrap_or("1");
    let step = py_int(step_text).ok_or_else(|| format!("host range step '{step_text}' is not a number"))?;
    let width = if beg.starts_with('0') && beg.len() > 1 {
        if beg.len() != end.len() {
            return Err("host range must specify equal-length begin and end formats".into());
        }
        Some(beg.len())
    } else {
        None
    };
    let items: Vec<String> = match (letter_index(beg), letter_index(end)) {
        (Some(b), Some(e)) => {
            if b > e {
                return Err("host range must have begin <= end".into());
            }
            match step {
                0 => return Err("host range step must not be zero".into()),
                // Python's slice with a negative step over a forward range is empty.
                s if s < 0 => Vec::new(),
                s => LETTERS[b..=e].chars().step_by(s as usize).map(String::from).collect(),
            }
        }
        _ => {
            let b = py_int(beg).ok_or_else(|| format!("host range begin '{beg}' is not a number or a letter"))? as i128;
            let e = py_int(end).ok_or_else(|| format!("host range end '{end}' is not a number or a letter"))? as i128;
            let step = step as i128;
            if step == 0 {
                return Err("host range step must not be zero".into());
            }
            // Python's range(b, e + 1, step): an empty range is allowed and yields no hosts.
            let ceil = |n: i128, d: i128| (n + d - 1) / d;
            let count = if step > 0 { ceil((e + 1 - b).max(0), step) } else { ceil((b - e - 1).max(0), -step) };
            if count > MAX_RANGE_HOSTS as i128 {
                return Err(format!("host range expands to more than {MAX_RANGE_HOSTS} hosts"));
            }
            (0..count)
                .map(|k| {
                    let v = b + k * step;
                    match width {
                        Some(w) => zfill(v, w),
                        None => v.to_string(),
                    }
                })
                .collect()
        }
    };
    Ok(items.into_iter().map(|item| format!("{head}{item}{tail}")).collect())
}

const LETTERS: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// Python's `string.ascii_letters.index(s)`: a substring search, so only one letter (or a run like "ab") matches.
fn letter_index(s: &str) -> Option<usize> {
    if s.is_empty() {
        return Some(0);
    }
    LETTERS.find(s)
}

/// Python's `str(v).zfill(w)`.
fn zfill(v: i128, w: usize) -> String {
    let digits = v.unsigned_abs().to_string();
    let sign = if v < 0 { "-" } else { "" };
    let pad = w.saturating_sub(digits.len() + sign.len());
    format!("{sign}{}{digits}", "0".repeat(pad))
}

/// Python's `int(text)` for the forms inventories use: optional sign, digits with single underscores, spaces around.
pub fn py_int(text: &str) -> Option<i64> {
    let t = text.trim();
    let (neg, body) = match t.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    if body.is_empty() || body.starts_with('_') || body.ends_with('_') || body.contains("__") || !body.chars().all(|c| c.is_ascii_digit() || c == '_')
    {
        return None;
    }
    let v: i64 = body.replace('_', "").parse().ok()?;
    Some(if neg { -v } else { v })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(entry: &str) -> Vec<String> {
        expand_host_entry(entry).unwrap().0
    }

    #[test]
    fn ranges_expand_like_ansible() {
        assert_eq!(hosts("node[01:03]"), ["node01", "node02", "node03"]);
        assert_eq!(hosts("n[a:c]"), ["na", "nb", "nc"]);
        assert_eq!(hosts("s[1:10:4]"), ["s1", "s5", "s9"]);
        assert_eq!(hosts("x[08:09]-y[1:2]"), ["x08-y1", "x08-y2", "x09-y1", "x09-y2"]);
        assert_eq!(hosts("10.0.0.[1:2]"), ["10.0.0.1", "10.0.0.2"]);
        assert_eq!(hosts("h[:2]"), ["h0", "h1", "h2"]);
        assert_eq!(hosts("h[3:1]"), Vec::<String>::new());
        assert_eq!(hosts("l[y:B]"), ["ly", "lz", "lA", "lB"]);
    }

    #[test]
    fn ports_are_split_off_valid_hosts_only() {
        assert_eq!(expand_host_entry("w1:2222").unwrap(), (vec!["w1".to_string()], Some(2222)));
        assert_eq!(expand_host_entry("n[a:b]:22").unwrap(), (vec!["na".to_string(), "nb".to_string()], Some(22)));
        assert_eq!(expand_host_entry("[::1]:2200").unwrap(), (vec!["::1".to_string()], Some(2200)));
        assert_eq!(expand_host_entry("fe80::1").unwrap(), (vec!["fe80::1".to_string()], None));
        // Not a valid host name: kept whole, port and all, as Ansible does.
        assert_eq!(expand_host_entry("we@ird:22").unwrap(), (vec!["we@ird:22".to_string()], None));
        assert_eq!(expand_host_entry("-x").unwrap(), (vec!["-x".to_string()], None));
    }

    #[test]
    fn bad_ranges_are_errors() {
        assert!(expand_host_entry("h[1-3]").unwrap_err().contains("begin:end"));
        assert!(expand_host_entry("h[01:3]").unwrap_err().contains("equal-length"));
        assert!(expand_host_entry("h[1:]").unwrap_err().contains("end value"));
        assert!(expand_host_entry("h[0:99999999]").unwrap_err().contains("more than"));
        assert!(expand_host_entry("h[1:3:0]").is_err());
    }

    #[test]
    fn ip_addresses_are_recognised() {
        assert!(is_ip_address("192.168.1.10"));
        assert!(is_ip_address("fe80::1"));
        assert!(!is_ip_address("pve1.lan"));
    }
}
