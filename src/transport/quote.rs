//! The one shell-quoting helper. Every remote command line hlprov builds goes through [`quote`] (or
//! [`join`]), so arguments holding spaces, quotes, `$()`, backticks or newlines reach the target literally.

/// Quote one argument for a POSIX shell: wrap in single quotes, and write each `'` as `'\''`.
/// Plain words made only of safe characters are left bare so commands stay readable in `-vvv` output.
pub fn quote(arg: &str) -> String {
    if !arg.is_empty() && arg.bytes().all(is_safe) {
        return arg.to_string();
    }
    let mut out = String::with_capacity(arg.len() + 2);
    out.push('\'');
    for c in arg.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// Quote each argument and join them with spaces: an argv as one shell command line.
pub fn join<S: AsRef<str>>(argv: &[S]) -> String {
    argv.iter().map(|a| quote(a.as_ref())).collect::<Vec<_>>().join(" ")
}

/// Quote a path pattern so that only its glob characters (`*`, `?`, `[`, `]`) stay active for the shell.
pub fn glob(pattern: &str) -> String {
    let mut out = String::new();
    let mut literal = String::new();
    for c in pattern.chars() {
        if matches!(c, '*' | '?' | '[' | ']') {
            if !literal.is_empty() {
                out.push_str(&quote(&std::mem::take(&mut literal)));
            }
            out.push(c);
        } else {
            literal.push(c);
        }
    }
    if !literal.is_empty() || out.is_empty() {
        out.push_str(&quote(&literal));
    }
    out
}

fn is_safe(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/' | b'=' | b':' | b',' | b'+' | b'@' | b'%')
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// What /bin/sh makes of a quoted argument: it must be the argument, byte for byte.
    fn through_sh(arg: &str) -> String {
        let out = Command::new("/bin/sh").arg("-c").arg(format!("printf %s {}", quote(arg))).output().unwrap();
        String::from_utf8(out.stdout).unwrap()
    }

    #[test]
    fn hostile_arguments_survive_the_shell_literally() {
        for arg in ["plain", "", "two words", "it's", "$(touch /tmp/pwned)", "`id`", "a\nb", "*", "x;y|z&", "\\n", "'''", "-n", "é ü"] {
            assert_eq!(through_sh(arg), arg, "argument {arg:?}");
        }
        assert!(!std::path::Path::new("/tmp/pwned").exists());
    }

    #[test]
    fn glob_keeps_only_glob_characters_active() {
        assert_eq!(glob("/tmp/a b*.txt"), "'/tmp/a b'*.txt");
        let out = Command::new("/bin/sh")
            .arg("-c")
            .arg(format!("for f in {}; do printf '%s|' \"$f\"; done", glob("/nonexistent/$(id)*")))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "/nonexistent/$(id)*|");
    }

    #[test]
    fn safe_words_stay_bare() {
        assert_eq!(quote("/etc/hosts"), "/etc/hosts");
        assert_eq!(join(&["ls", "-l", "a b"]), "ls -l 'a b'");
    }
}
