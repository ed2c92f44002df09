//! File modes as Ansible accepts them: octal strings ("0644", "644"), symbolic ("u=rw,g=r,o=", "u+x,go-w",
//! "a+X"), or "preserve". Symbolic modes are applied to the current mode, so they need it.

/// A parsed mode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    Octal(u32),
    Symbolic(Vec<Clause>),
    /// Keep the source's mode (copy/template).
    Preserve,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Clause {
    who: u32,
    op: char,
    perms: String,
}

pub fn parse(s: &str) -> Result<Mode, String> {
    let s = s.trim();
    if s == "preserve" {
        return Ok(Mode::Preserve);
    }
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_digit()) {
        let v = u32::from_str_radix(s, 8).map_err(|_| format!("'{s}' is not an octal mode (digits 0-7)"))?;
        if v > 0o7777 {
            return Err(format!("'{s}' is larger than 07777"));
        }
        return Ok(Mode::Octal(v));
    }
    let mut clauses = Vec::new();
    for part in s.split(',') {
        let op_at = part.find(['=', '+', '-']).ok_or_else(|| format!("'{s}' is not a mode: '{part}' has no =, + or -"))?;
        let (who_s, rest) = part.split_at(op_at);
        let mut who = 0;
        for c in who_s.chars() {
            who |= match c {
                'u' => 0o4700,
                'g' => 0o2070,
                'o' => 0o1007,
                'a' => 0o7777,
                _ => return Err(format!("'{s}' is not a mode: unknown class '{c}'")),
            };
        }
        if who == 0 {
            who = 0o7777;
        }
        let op = rest.chars().next().unwrap_or('=');
        let perms = &rest[1..];
        if let Some(bad) = perms.chars().find(|c| !"rwxXst".contains(*c)) {
            return Err(format!("'{s}' is not a mode: unknown permission '{bad}'"));
        }
        clauses.push(Clause { who, op, perms: perms.to_string() });
    }
    Ok(Mode::Symbolic(clauses))
}

impl Mode {
    /// The resulting permission bits, given the current ones (and whether the path is a directory, for X).
    pub fn apply(&self, current: u32, is_dir: bool) -> u32 {
        match self {
            Mode::Octal(v) => *v,
            Mode::Preserve => current,
            Mode::Symbolic(clauses) => {
                let mut mode = current & 0o7777;
                for c in clauses {
                    let any_x = mode & 0o111 != 0;
                    let mut bits = 0;
                    for p in c.perms.chars() {
                        bits |= match p {
                            'r' => 0o444,
                            'w' => 0o222,
                            'x' => 0o111,
                            'X' if is_dir || any_x => 0o111,
                            's' => 0o6000,
                            't' => 0o1000,
                            _ => 0,
                        };
                    }
                    let mask = c.who;
                    match c.op {
                        '+' => mode |= bits & mask,
                        '-' => mode &= !(bits & mask),
                        _ => mode = (mode & !mask) | (bits & mask),
                    }
                }
                mode
            }
        }
    }
}

impl Mode {
    /// The mode as GNU chmod takes it, with an explicit class in every clause (GNU's `+x` without a class
    /// would honour the umask; Ansible's means `a+x`).
    pub fn to_chmod(&self) -> String {
        match self {
            Mode::Octal(v) => format!("{v:04o}"),
            Mode::Preserve => String::new(),
            Mode::Symbolic(clauses) => clauses
                .iter()
                .map(|c| {
                    let who = if c.who == 0o7777 {
                        "a".to_string()
                    } else {
                        [(0o700, 'u'), (0o070, 'g'), (0o007, 'o')].iter().filter(|(m, _)| c.who & m != 0).map(|(_, l)| *l).collect()
                    };
                    format!("{who}{}{}", c.op, c.perms)
                })
                .collect::<Vec<_>>()
                .join(","),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn octal_and_symbolic_modes() {
        assert_eq!(parse("0644").unwrap().apply(0, false), 0o644);
        assert_eq!(parse("755").unwrap().apply(0, false), 0o755);
        assert_eq!(parse("u=rw,g=r,o=").unwrap().apply(0o777, false), 0o640);
        assert_eq!(parse("u+x,go-w").unwrap().apply(0o666, false), 0o744);
        assert_eq!(parse("a+X").unwrap().apply(0o644, true), 0o755);
        assert_eq!(parse("a+X").unwrap().apply(0o644, false), 0o644);
        assert_eq!(parse("u+s").unwrap().apply(0o755, false), 0o4755);
        assert!(parse("z=rw").is_err());
        assert!(parse("0888").is_err());
        assert_eq!(parse("u=rw,go-w,+X").unwrap().to_chmod(), "u=rw,go-w,a+X");
    }
}
