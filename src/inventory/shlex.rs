//! Splitting an INI host line into words the way Ansible does: Python's `shlex.split(line, comments=True)`
//! (POSIX mode). Quotes group words and are removed, a backslash escapes the next character, and `#` starts a
//! comment wherever a new character of a word could begin (so `a#b` is the word `a`).
//!
//! This file only splits words; it must not interpret `key=value` pairs or values.

/// Why a line could not be split, with the 0-based char offset where the problem was seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShlexError {
    pub msg: &'static str,
    pub offset: usize,
}

/// A word and the 0-based char offset where it started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    pub text: String,
    pub offset: usize,
}

#[derive(Clone, Copy, PartialEq)]
enum State {
    Between,
    Word,
    Quote(char),
    /// After a backslash; remembers the state to go back to.
    Escape(Escaped),
}

#[derive(Clone, Copy, PartialEq)]
enum Escaped {
    Word,
    DoubleQuote,
}

/// Split `line` into words. Mirrors CPython's `shlex.shlex.read_token` with `posix=True`,
/// `whitespace_split=True` and `commenters='#'`.
pub fn split(line: &str) -> Result<Vec<Word>, ShlexError> {
    let mut words = Vec::new();
    let mut state = State::Between;
    let mut token = String::new();
    let mut quoted = false;
    let mut start = 0;
    let mut quote_start = 0;
    let chars: Vec<char> = line.chars().collect();
    let mut i = 0;
    let is_space = |c: char| matches!(c, ' ' | '\t' | '\r' | '\n');
    let push = |token: &mut String, quoted: &mut bool, start: usize, words: &mut Vec<Word>| {
        if !token.is_empty() || *quoted {
            words.push(Word { text: std::mem::take(token), offset: start });
        }
        *quoted = false;
    };
    while i < chars.len() {
        let c = chars[i];
        match state {
            State::Between => {
                if is_space(c) {
                } else if c == '#' {
                    break;
                } else {
                    start = i;
                    match c {
                        '\\' => state = State::Escape(Escaped::Word),
                        '"' | '\'' => {
                            quote_start = i;
                            state = State::Quote(c);
                        }
                        _ => {
                            token.push(c);
                            state = State::Word;
                        }
                    }
                }
            }
            State::Word => {
                if is_space(c) {
                    push(&mut token, &mut quoted, start, &mut words);
                    state = State::Between;
                } else if c == '#' {
                    // The rest of the line is a comment, even in the middle of a word.
                    push(&mut token, &mut quoted, start, &mut words);
                    state = State::Between;
                    break;
                } else if c == '"' || c == '\'' {
                    quote_start = i;
                    state = State::Quote(c);
                } else if c == '\\' {
                    state = State::Escape(Escaped::Word);
                } else {
                    token.push(c);
                }
            }
            State::Quote(q) => {
                quoted = true;
                if c == q {
                    state = State::Word;
                } else if q == '"' && c == '\\' {
                    state = State::Escape(Escaped::DoubleQuote);
                } else {
                    token.push(c);
                }
            }
            State::Escape(back) => {
                // Inside double quotes a backslash only escapes `"` and `\`; otherwise it is kept.
                if back == Escaped::DoubleQuote && c != '"' && c != '\\' {
                    token.push('\\');
                }
                token.push(c);
                state = match back {
                    Escaped::Word => State::Word,
                    Escaped::DoubleQuote => State::Quote('"'),
                };
            }
        }
        i += 1;
    }
    match state {
        State::Quote(_) => return Err(ShlexError { msg: "no closing quotation", offset: quote_start }),
        State::Escape(_) => return Err(ShlexError { msg: "no escaped character after the backslash", offset: chars.len().saturating_sub(1) }),
        State::Word | State::Between => push(&mut token, &mut quoted, start, &mut words),
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        split(s).unwrap().into_iter().map(|w| w.text).collect()
    }

    #[test]
    fn splits_like_python_shlex() {
        // Expected values checked against Python 3.11: shlex.split(s, comments=True).
        assert_eq!(words("a b\tc"), ["a", "b", "c"]);
        assert_eq!(words("x='a b' y=\"c d\""), ["x=a b", "y=c d"]);
        assert_eq!(words("mysecret=\"'03#pa33w0rd'\""), ["mysecret='03#pa33w0rd'"]);
        assert_eq!(words("a=1 # comment b=2"), ["a=1"]);
        assert_eq!(words("v=a#b w=1"), ["v=a"]);
        assert_eq!(words(r#"a\ b "q\"x\n""#), ["a b", "q\"x\\n"]);
        assert_eq!(words("''"), [""]);
        assert_eq!(words("'it''s'"), ["its"]);
        assert!(words("").is_empty());
    }

    #[test]
    fn reports_unclosed_quote_with_its_offset() {
        let err = split("host x='abc").unwrap_err();
        assert_eq!(err, ShlexError { msg: "no closing quotation", offset: 7 });
        assert!(split("host x=\\").is_err());
    }

    #[test]
    fn word_offsets_point_at_the_word() {
        let w = split("  h1   a=1").unwrap();
        assert_eq!((w[0].offset, w[1].offset), (2, 7));
    }
}
