//! Shell-style wildcards in host patterns (`web*`, `pve?`, `node[0-3]`, `[!a]*`), matching the whole name and
//! case-sensitively, as Python's `fnmatch.translate` + `re.match` do for Ansible.
//!
//! This file only matches one glob against one name; it must not know what hosts or groups are.

#[derive(Debug, Clone)]
enum Token {
    Char(char),
    AnyChar,
    Star,
    Class { negated: bool, items: Vec<(char, char)> },
}

/// A compiled wildcard pattern.
#[derive(Debug, Clone)]
pub struct Glob {
    tokens: Vec<Token>,
}

impl Glob {
    pub fn new(pattern: &str) -> Glob {
        let p: Vec<char> = pattern.chars().collect();
        let mut tokens = Vec::new();
        let mut i = 0;
        while i < p.len() {
            let c = p[i];
            i += 1;
            match c {
                '*' => {
                    if !matches!(tokens.last(), Some(Token::Star)) {
                        tokens.push(Token::Star);
                    }
                }
                '?' => tokens.push(Token::AnyChar),
                '[' => {
                    // A ']' right after '[' or '[!' is a member, not the end.
                    let mut j = i;
                    if j < p.len() && p[j] == '!' {
                        j += 1;
                    }
                    if j < p.len() && p[j] == ']' {
                        j += 1;
                    }
                    while j < p.len() && p[j] != ']' {
                        j += 1;
                    }
                    if j >= p.len() {
                        // No closing bracket: a literal '['.
                        tokens.push(Token::Char('['));
                        continue;
                    }
                    let body = &p[i..j];
                    i = j + 1;
                    let (negated, body) = match body.first() {
                        Some('!') => (true, &body[1..]),
                        _ => (false, body),
                    };
                    let mut items = Vec::new();
                    let mut k = 0;
                    while k < body.len() {
                        if k + 2 < body.len() && body[k + 1] == '-' {
                            // A reversed range (z-a) matches nothing, as Python drops it.
                            items.push((body[k], body[k + 2]));
                            k += 3;
                        } else {
                            items.push((body[k], body[k]));
                            k += 1;
                        }
                    }
                    tokens.push(Token::Class { negated, items });
                }
                _ => tokens.push(Token::Char(c)),
            }
        }
        Glob { tokens }
    }

    /// Does the whole of `name` match?
    pub fn is_match(&self, name: &str) -> bool {
        let s: Vec<char> = name.chars().collect();
        let (mut ti, mut si) = (0, 0);
        // Where to resume after the most recent star: (token after the star, next char to try).
        let mut backtrack: Option<(usize, usize)> = None;
        loop {
            if ti < self.tokens.len() {
                match &self.tokens[ti] {
                    Token::Star => {
                        backtrack = Some((ti + 1, si));
                        ti += 1;
                        continue;
                    }
                    tok if si < s.len() && one(tok, s[si]) => {
                        ti += 1;
                        si += 1;
                        continue;
                    }
                    _ => {}
                }
            } else if si == s.len() {
                return true;
            }
            match backtrack {
                Some((bt, bs)) if bs < s.len() => {
                    backtrack = Some((bt, bs + 1));
                    ti = bt;
                    si = bs + 1;
                }
                _ => return false,
            }
        }
    }
}

fn one(tok: &Token, c: char) -> bool {
    match tok {
        Token::Char(x) => *x == c,
        Token::AnyChar => true,
        Token::Class { negated, items } => items.iter().any(|(lo, hi)| *lo <= c && c <= *hi) != *negated,
        Token::Star => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, s: &str) -> bool {
        Glob::new(p).is_match(s)
    }

    #[test]
    fn matches_like_fnmatch() {
        assert!(m("web*", "web1") && m("web*", "web") && !m("web*", "aweb"));
        assert!(m("*.lan", "pve1.lan") && !m("*.lan", "pve1.lan2"));
        assert!(m("pve?", "pve1") && !m("pve?", "pve10"));
        assert!(m("w[1-2]", "w2") && !m("w[1-2]", "w3"));
        assert!(m("w[!1]", "w2") && !m("w[!1]", "w1"));
        assert!(m("a[]]", "a]") && m("a[!]]", "ab"));
        assert!(m("a[", "a[") && !m("a[", "a"));
        assert!(m("*a*b*", "xxaybzz") && !m("*a*b*", "ba"));
        assert!(!m("Web*", "web1"));
        assert!(m("w[z-a1]", "w1") && !m("w[z-a1]", "wb"));
    }
}
