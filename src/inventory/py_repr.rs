//! Python's text for numbers (`repr(float)`, `repr(complex)`), which Ansible's output shows: `1e-09`, `1e+16`,
//! `1.0`, `(1+2j)`. Used for JSON text laid out like Ansible's and for INI values Ansible turns into text.
//!
//! This file must not parse anything.

/// Python's `repr(float)`; `dot0` adds ".0" to integral values as `repr` does (complex parts omit it).
pub fn py_float_repr(f: f64, dot0: bool) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    // Shortest round-trip digits and decimal exponent, then Python's layout rules.
    let sci = format!("{:e}", f.abs());
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    let sign = if f.is_sign_negative() { "-" } else { "" };
    let body = if (-4..16).contains(&exp) {
        let point = exp + 1;
        if point <= 0 {
            format!("0.{}{}", "0".repeat((-point) as usize), digits)
        } else if (point as usize) >= digits.len() {
            let int = format!("{}{}", digits, "0".repeat(point as usize - digits.len()));
            if dot0 { format!("{int}.0") } else { int }
        } else {
            format!("{}.{}", &digits[..point as usize], &digits[point as usize..])
        }
    } else {
        let m = if digits.len() > 1 { format!("{}.{}", &digits[..1], &digits[1..]) } else { digits.clone() };
        format!("{}e{}{:02}", m, if exp < 0 { '-' } else { '+' }, exp.abs())
    };
    format!("{sign}{body}")
}

/// Python's `repr(complex)`, which is what `str()` gives Ansible for a complex INI value.
pub fn py_complex_repr(re: f64, im: f64) -> String {
    let imag = py_float_repr(im, false);
    if re == 0.0 && re.is_sign_positive() {
        return format!("{imag}j");
    }
    let sign = if imag.starts_with('-') { "" } else { "+" };
    format!("({}{sign}{imag}j)", py_float_repr(re, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_repr_matches_python() {
        assert_eq!(py_float_repr(1.0, true), "1.0");
        assert_eq!(py_float_repr(1.0, false), "1");
        assert_eq!(py_float_repr(1e16, true), "1e+16");
        assert_eq!(py_float_repr(1.5e-5, true), "1.5e-05");
        assert_eq!(py_float_repr(0.0001, true), "0.0001");
        assert_eq!(py_float_repr(123.456, true), "123.456");
        assert_eq!(py_float_repr(-0.0, false), "-0");
    }

    #[test]
    fn complex_repr_matches_python() {
        assert_eq!(py_complex_repr(1.0, 2.0), "(1+2j)");
        assert_eq!(py_complex_repr(0.0, 2.5), "2.5j");
        assert_eq!(py_complex_repr(-0.0, -1.0), "(-0-1j)");
    }
}
