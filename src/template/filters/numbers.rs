//! Number filters as Ansible's mathstuff has them: log, pow, root (floats, as Python's math module returns),
//! human_readable and human_to_bytes (Ansible's byte-size formatting).

use minijinja::value::{Kwargs, Value};
use minijinja::{Environment, Error};

use super::{add, fail};

pub fn register(env: &mut Environment<'static>) {
    add(env, "log", |x: f64, base: Option<f64>| -> Result<f64, Error> {
        check_positive(x, "log")?;
        Ok(match base {
            None => x.ln(),
            Some(10.0) => x.log10(),
            Some(b) => x.ln() / b.ln(),
        })
    });
    add(env, "pow", |x: f64, y: f64| x.powf(y));
    add(env, "root", |x: f64, base: Option<f64>| -> Result<f64, Error> {
        Ok(match base.unwrap_or(2.0) {
            2.0 => {
                if x < 0.0 {
                    return Err(fail("root: math domain error"));
                }
                x.sqrt()
            }
            b => x.powf(1.0 / b),
        })
    });
    add(env, "human_readable", |size: f64, isbits: Option<bool>, unit: Option<String>, kw: Kwargs| -> Result<String, Error> {
        let isbits = kw.get::<Option<bool>>("isbits")?.or(isbits).unwrap_or(false);
        let unit = kw.get::<Option<String>>("unit")?.or(unit);
        kw.assert_all_used()?;
        Ok(bytes_to_human(size, isbits, unit.as_deref()))
    });
    add(env, "human_to_bytes", |v: &Value, default_unit: Option<String>, kw: Kwargs| -> Result<Value, Error> {
        let isbits: bool = kw.get::<Option<bool>>("isbits")?.unwrap_or(false);
        kw.assert_all_used()?;
        human_to_bytes(&v.to_string(), default_unit.as_deref(), isbits).map(Value::from).map_err(fail)
    });
}

fn check_positive(x: f64, what: &str) -> Result<(), Error> {
    if x <= 0.0 { Err(fail(format!("{what}: math domain error"))) } else { Ok(()) }
}

const RANGES: [(char, i128); 9] =
    [('Y', 1 << 80), ('Z', 1 << 70), ('E', 1 << 60), ('P', 1 << 50), ('T', 1 << 40), ('G', 1 << 30), ('M', 1 << 20), ('K', 1 << 10), ('B', 1)];

/// Ansible's bytes_to_human: the largest unit the size reaches (or the one asked for), two decimals.
fn bytes_to_human(size: f64, isbits: bool, unit: Option<&str>) -> String {
    let base = if isbits { "bits" } else { "Bytes" };
    let want = unit.and_then(|u| u.chars().next()).map(|c| c.to_ascii_uppercase());
    let (suffix, limit) = RANGES
        .iter()
        .find(|(s, l)| match want {
            None => size >= *l as f64,
            Some(w) => w == *s,
        })
        .copied()
        .unwrap_or(('B', 1));
    let suffix = if limit != 1 { format!("{suffix}{}", &base[..1]) } else { base.to_string() };
    format!("{:.2} {suffix}", size / limit as f64)
}

/// Ansible's human_to_bytes: "10M", "1.5 GB", "2Kb" (with isbits) to a whole number.
fn human_to_bytes(text: &str, default_unit: Option<&str>, isbits: bool) -> Result<i128, String> {
    let re = regex::Regex::new(r"^([0-9]*\.?[0-9]+)(?:\s*([A-Za-z]+))?\s*$").expect("valid");
    let c = re.captures(text).ok_or_else(|| format!("human_to_bytes() can't interpret following string: {text}"))?;
    let num: f64 = c[1].parse().map_err(|_| format!("human_to_bytes() can't interpret following number: {}", &c[1]))?;
    let Some(unit) = c.get(2).map(|m| m.as_str()).or(default_unit) else {
        return Ok(num.round_ties_even() as i128);
    };
    let key = unit.chars().next().unwrap_or('B').to_ascii_uppercase();
    let limit =
        RANGES.iter().find(|(s, _)| *s == key).map(|(_, l)| *l).ok_or_else(|| {
            format!("human_to_bytes() failed to convert {text} (unit = {unit}). The suffix must be one of Y, Z, E, P, T, G, M, K, B")
        })?;
    if unit.len() > 1 {
        let names = ["byte", "kilobyte", "megabyte", "gigabyte", "terabyte", "petabyte", "exabyte", "zetabyte", "yottabyte"];
        let keys = ['B', 'K', 'M', 'G', 'T', 'P', 'E', 'Z', 'Y'];
        let i = keys.iter().position(|k| *k == key).unwrap_or(0);
        let (long, short) = if isbits {
            (names[i].replace("byte", "bit"), if key == 'B' { "b".to_string() } else { format!("{key}b") })
        } else {
            (names[i].to_string(), if key == 'B' { "B".to_string() } else { format!("{key}B") })
        };
        if unit.to_lowercase() != long && unit != short {
            let class = if isbits { ('b', "bit") } else { ('B', "byte") };
            let expect = if key == 'B' { format!("expect {} or {}", class.0, class.1) } else { format!("expect {key}{} or {key}", class.0) };
            return Err(format!("human_to_bytes() failed to convert {text}. Value is not a valid string ({expect})"));
        }
    }
    Ok((num * limit as f64).round_ties_even() as i128)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_sizes_read_and_print_as_ansible_does() {
        // Expected values from ansible-core 2.19's module_utils.common.text.formatters.
        assert_eq!(bytes_to_human(1024.0, false, None), "1.00 KB");
        assert_eq!(bytes_to_human(1.0, false, None), "1.00 Bytes");
        assert_eq!(bytes_to_human(1048576.0, true, None), "1.00 Mb");
        assert_eq!(bytes_to_human(1048576.0, false, Some("K")), "1024.00 KB");
        assert_eq!(human_to_bytes("10M", None, false), Ok(10485760));
        assert_eq!(human_to_bytes("1.5 GB", None, false), Ok(1610612736));
        assert_eq!(human_to_bytes("2Kb", None, true), Ok(2048));
        assert_eq!(human_to_bytes("10", Some("K"), false), Ok(10240));
        assert!(human_to_bytes("1Mb", None, false).unwrap_err().contains("expect MB or M"));
    }
}
