//! Module arguments: each module declares its arguments once ([`ArgSpec`]); from that declaration hlprov
//! checks a task before anything runs (unknown names, missing required ones, wrong literal types, bad choices),
//! normalises aliases and Ansible's loose typing (`yes` is a bool, `"a,b"` is a list), and documents the module.

use serde_json::{Map, Value};

/// The type an argument takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgKind {
    Str,
    /// A path on the target (or the controller, for `src`): a string.
    Path,
    Bool,
    Int,
    /// A list; a string is split on commas, as Ansible does.
    List,
    Dict,
    /// A file mode: octal string ("0644"), symbolic ("u=rw,g=r"), or an integer as YAML gives `0644`.
    Mode,
    /// Anything (strings, numbers, structures), passed through.
    Raw,
}

/// One argument of a module.
#[derive(Clone, Copy, Debug)]
pub struct ArgSpec {
    pub name: &'static str,
    pub kind: ArgKind,
    pub required: bool,
    pub aliases: &'static [&'static str],
    pub choices: &'static [&'static str],
    /// Default, written as YAML would spell it (`"yes"`, `"0"`, `"present"`), or None.
    pub default: Option<&'static str>,
    pub help: &'static str,
}

impl ArgSpec {
    pub const fn new(name: &'static str, kind: ArgKind) -> ArgSpec {
        ArgSpec { name, kind, required: false, aliases: &[], choices: &[], default: None, help: "" }
    }
    pub const fn required(mut self) -> Self {
        self.required = true;
        self
    }
    pub const fn aliases(mut self, a: &'static [&'static str]) -> Self {
        self.aliases = a;
        self
    }
    pub const fn choices(mut self, c: &'static [&'static str]) -> Self {
        self.choices = c;
        self
    }
    pub const fn default(mut self, d: &'static str) -> Self {
        self.default = Some(d);
        self
    }
    pub const fn help(mut self, h: &'static str) -> Self {
        self.help = h;
        self
    }
}

/// How a module behaves in check mode; the engine acts on it, the module never sees check mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckMode {
    /// Its plan is exact: check mode reports the planned changes.
    Full,
    /// It runs commands whose effect cannot be known ahead (command, shell, script): a run that a guard
    /// (`creates`/`removes`) decided is reported as a change, any other is skipped in check mode.
    Guarded,
    /// It cannot be planned at all (raw): skipped in check mode without looking at the host.
    None,
}

/// Everything a module declares about its arguments and its changes.
#[derive(Clone, Copy, Debug)]
pub struct ModuleSpec {
    pub args: &'static [ArgSpec],
    /// The argument a free-form string goes to (`command: ls -l` → `cmd`), for modules that take one.
    pub free_form: Option<&'static str>,
    /// Groups of arguments of which at most one may be given.
    pub mutually_exclusive: &'static [&'static [&'static str]],
    /// Groups of arguments of which at least one must be given.
    pub required_one_of: &'static [&'static [&'static str]],
    pub check_mode: CheckMode,
    /// The kinds of change its plans can hold (`create`, `remove`, `attributes` …): each has an example in the
    /// module's tests whose `--check --diff` must show a diff.
    pub changes: &'static [&'static str],
    /// A critical section: stopping it halfway would break the host (a package manager run, a file being
    /// written, a service restart, a reboot). A second Ctrl-C never abandons such a task.
    pub critical: bool,
}

impl ModuleSpec {
    pub const fn new(args: &'static [ArgSpec]) -> ModuleSpec {
        ModuleSpec {
            args,
            free_form: None,
            mutually_exclusive: &[],
            required_one_of: &[],
            check_mode: CheckMode::Full,
            changes: &[],
            critical: false,
        }
    }
    pub const fn critical(mut self) -> Self {
        self.critical = true;
        self
    }
    pub const fn check_mode(mut self, c: CheckMode) -> Self {
        self.check_mode = c;
        self
    }
    pub const fn changes(mut self, kinds: &'static [&'static str]) -> Self {
        self.changes = kinds;
        self
    }
    pub const fn free_form(mut self, arg: &'static str) -> Self {
        self.free_form = Some(arg);
        self
    }
    pub const fn mutually_exclusive(mut self, g: &'static [&'static [&'static str]]) -> Self {
        self.mutually_exclusive = g;
        self
    }
    pub const fn required_one_of(mut self, g: &'static [&'static [&'static str]]) -> Self {
        self.required_one_of = g;
        self
    }

    fn find(&self, name: &str) -> Option<&ArgSpec> {
        self.args.iter().find(|a| a.name == name || a.aliases.contains(&name))
    }

    /// Check and normalise arguments. With `templated_ok`, values still holding `{{ }}` skip type checks
    /// (they are checked again after rendering).
    pub fn check(&self, raw: &Map<String, Value>, templated_ok: bool) -> Result<Args, String> {
        let mut out = Map::new();
        for (key, value) in raw {
            let Some(spec) = self.find(key) else {
                let known: Vec<&str> = self.args.iter().map(|a| a.name).collect();
                return Err(format!("unsupported argument '{key}' (known: {})", known.join(", ")));
            };
            if out.contains_key(spec.name) {
                return Err(format!("argument '{}' given twice (as '{key}' and an alias)", spec.name));
            }
            if value.is_null() {
                continue;
            }
            let v = if templated_ok && holds_template(value) { value.clone() } else { coerce(spec, value)? };
            out.insert(spec.name.to_string(), v);
        }
        for group in self.mutually_exclusive {
            let given: Vec<&str> = group.iter().copied().filter(|g| out.contains_key(*g)).collect();
            if given.len() > 1 {
                return Err(format!("arguments are mutually exclusive: {}", given.join(", ")));
            }
        }
        for group in self.required_one_of {
            if !group.iter().any(|g| out.contains_key(*g)) {
                return Err(format!("one of these arguments is required: {}", group.join(", ")));
            }
        }
        for spec in self.args {
            if out.contains_key(spec.name) {
                continue;
            }
            if spec.required {
                return Err(format!("missing required argument '{}'", spec.name));
            }
            if let Some(d) = spec.default {
                let parsed = match crate::yaml::resolve_plain(d.to_string()) {
                    crate::yaml::NodeKind::Str(s) => Value::String(s),
                    crate::yaml::NodeKind::Bool(b) => Value::Bool(b),
                    crate::yaml::NodeKind::Int(i) => Value::from(i),
                    _ => Value::String(d.to_string()),
                };
                out.insert(spec.name.to_string(), coerce(spec, &parsed)?);
            }
        }
        Ok(Args(out))
    }
}

/// Does a value (or anything inside it) still hold a Jinja expression?
pub fn holds_template(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains("{{") || s.contains("{%"),
        Value::Array(a) => a.iter().any(holds_template),
        Value::Object(m) => m.values().any(holds_template),
        _ => false,
    }
}

fn coerce(spec: &ArgSpec, v: &Value) -> Result<Value, String> {
    let name = spec.name;
    let out = match spec.kind {
        ArgKind::Str | ArgKind::Path => match v {
            Value::String(_) => v.clone(),
            Value::Number(n) => Value::String(n.to_string()),
            // YAML 1.1 turned `upgrade: yes` into a boolean; like Ansible, give it back the choice it spelled.
            Value::Bool(b) if !spec.choices.is_empty() => {
                let spelled = if *b { ["yes", "true", "on"] } else { ["no", "false", "off"] };
                let choice = spelled.iter().find(|c| spec.choices.contains(c)).copied();
                Value::String(choice.map(str::to_string).unwrap_or_else(|| if *b { "True" } else { "False" }.into()))
            }
            Value::Bool(b) => Value::String(if *b { "True" } else { "False" }.into()),
            _ => return Err(format!("argument '{name}' must be a string, not {}", type_name(v))),
        },
        ArgKind::Bool => Value::Bool(to_bool(v).ok_or_else(|| format!("argument '{name}' must be a boolean (yes/no/true/false), not {v}"))?),
        ArgKind::Int => match v {
            Value::Number(n) if n.is_i64() || n.is_u64() => v.clone(),
            Value::String(s) => s.trim().parse::<i64>().map(Value::from).map_err(|_| format!("argument '{name}' must be an integer, not '{s}'"))?,
            _ => return Err(format!("argument '{name}' must be an integer, not {}", type_name(v))),
        },
        ArgKind::List => match v {
            Value::Array(_) => v.clone(),
            Value::String(s) => Value::Array(s.split(',').map(|p| Value::String(p.trim().to_string())).filter(|p| p != "").collect()),
            Value::Number(_) | Value::Bool(_) => Value::Array(vec![coerce(&ArgSpec::new(name, ArgKind::Str), v)?]),
            _ => return Err(format!("argument '{name}' must be a list, not {}", type_name(v))),
        },
        ArgKind::Dict => match v {
            Value::Object(_) => v.clone(),
            Value::String(s) if s.trim().starts_with('{') => {
                serde_json::from_str(s).map_err(|_| format!("argument '{name}' must be a mapping, not a string that is not JSON"))?
            }
            Value::String(s) => Value::Object(parse_kv(s)?.into_iter().map(|(k, v)| (k, Value::String(v))).collect()),
            _ => return Err(format!("argument '{name}' must be a mapping, not {}", type_name(v))),
        },
        ArgKind::Mode => match v {
            // YAML gave us `0644` as the integer 420: Ansible treats an int mode as the numeric mode.
            Value::Number(n) => Value::String(format!(
                "{:04o}",
                n.as_u64().filter(|m| *m <= 0o7777).ok_or_else(|| format!("argument '{name}': {n} is not a file mode"))?
            )),
            Value::String(s) => {
                crate::modules::helpers::mode::parse(s).map_err(|e| format!("argument '{name}': {e}"))?;
                v.clone()
            }
            _ => return Err(format!("argument '{name}' must be a file mode like '0644' or 'u=rw,g=r,o=r', not {}", type_name(v))),
        },
        ArgKind::Raw => v.clone(),
    };
    if !spec.choices.is_empty() {
        let s = match &out {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        if !spec.choices.contains(&s.as_str()) {
            return Err(format!("argument '{name}' must be one of {}, not '{s}'", spec.choices.join(", ")));
        }
    }
    Ok(out)
}

/// A value as text the way Python's `str()` shows it (strings as they are, True/False).
pub fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(b) => if *b { "True" } else { "False" }.into(),
        other => other.to_string(),
    }
}

pub use crate::yaml::{to_bool, type_name};

/// Checked, normalised arguments with typed accessors. Defaults are already filled in.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Args(pub Map<String, Value>);

impl Args {
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }
    pub fn has(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }
    pub fn str(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(Value::as_str)
    }
    /// A string argument that the spec marks required or gives a default. Missing, it is an argument error
    /// (the spec's check normally finds it first), never an empty string.
    pub fn req(&self, name: &str) -> Result<&str, super::ModuleError> {
        self.str(name).ok_or_else(|| super::ModuleError::Args(format!("missing required argument: {name}")))
    }
    pub fn bool(&self, name: &str) -> bool {
        self.0.get(name).and_then(to_bool).unwrap_or(false)
    }
    pub fn int(&self, name: &str) -> Option<i64> {
        self.0.get(name).and_then(Value::as_i64)
    }
    pub fn list(&self, name: &str) -> Vec<String> {
        match self.0.get(name) {
            Some(Value::Array(a)) => a.iter().map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())).collect(),
            _ => Vec::new(),
        }
    }
}

/// Split a shell-like string into words (POSIX rules: quotes, backslashes), as Python's shlex.split does.
pub fn shell_words(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(x) => cur.push(x),
                        None => return Err("unterminated single quote".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(x @ ('"' | '\\' | '$' | '`')) => cur.push(x),
                            Some('\n') => {}
                            Some(x) => {
                                cur.push('\\');
                                cur.push(x);
                            }
                            None => return Err("unterminated double quote".into()),
                        },
                        Some(x) => cur.push(x),
                        None => return Err("unterminated double quote".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some('\n') => {}
                    Some(x) => cur.push(x),
                    None => return Err("trailing backslash".into()),
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

/// The index just past the Jinja block (`{{ }}`, `{% %}`, `{# #}`) that opens at `i`, if one does: its quotes
/// and brackets are Jinja's (`{{ a | default('b c') }}` is one word, its quotes kept).
fn jinja_block_end(c: &[char], i: usize) -> Option<usize> {
    let close = match (c.get(i), c.get(i + 1)) {
        (Some('{'), Some('{')) => '}',
        (Some('{'), Some('%')) => '%',
        (Some('{'), Some('#')) => '#',
        _ => return None,
    };
    let (mut j, mut depth, mut quote) = (i + 2, 0i32, None::<char>);
    while j < c.len() {
        match (quote, c[j]) {
            (Some(_), '\\') => j += 1,
            (Some(q), x) if x == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c[j]),
            (None, '(' | '[') => depth += 1,
            (None, '{') if close == '}' => depth += 1,
            (None, ')' | ']') => depth -= 1,
            (None, x) if x == close && depth <= 0 && c.get(j + 1) == Some(&'}') => return Some(j + 2),
            (None, '}') => depth -= 1,
            _ => {}
        }
        j += 1;
    }
    None
}

/// Ansible's `split_args`: split on spaces and newlines, keeping a quoted string or a Jinja block (`{{ }}`,
/// `{% %}`, `{# #}`) in one word, quotes kept (`q='x y'`, `msg={{ a | default('b c') }}`); a lone `\` at the
/// end of a line continues it.
fn split_args(args: &str) -> Result<Vec<String>, String> {
    let mut params: Vec<String> = Vec::new();
    let mut quote_char: Option<char> = None;
    let mut depths = [0usize; 3];
    const BLOCKS: [(&str, &str); 3] = [("{{", "}}"), ("{%", "%}"), ("{#", "#}")];
    let lines: Vec<&str> = args.split('\n').collect();
    for (line_no, line) in lines.iter().enumerate() {
        let mut continued = false;
        for (idx, token) in line.split(' ').enumerate() {
            if token.is_empty() && idx != 0 {
                // Several spaces in a row: kept, for a quoted string or block to be put back as written.
                match params.last_mut() {
                    Some(p) => p.push(' '),
                    None => params.push(" ".into()),
                }
                continue;
            }
            let was_inside_quotes = quote_char.is_some();
            if token == "\\" && !was_inside_quotes {
                continued = true;
                continue;
            }
            quote_char = quote_state(token, quote_char);
            let inside_quotes = quote_char.is_some();
            let in_block = depths.iter().any(|&d| d > 0);
            let mut appended = false;
            if inside_quotes && !was_inside_quotes && !in_block {
                params.push(token.to_string());
                appended = true;
            } else if in_block || inside_quotes || was_inside_quotes {
                let last = params.last_mut().ok_or("failed at splitting arguments")?;
                if !(idx == 0 && was_inside_quotes) && idx > 0 {
                    last.push(' ');
                }
                last.push_str(token);
                appended = true;
            }
            for (depth, (open, close)) in depths.iter_mut().zip(BLOCKS) {
                let (opens, closes) = (token.matches(open).count(), token.matches(close).count());
                if opens != closes {
                    *depth = (*depth + opens).saturating_sub(closes);
                    if !appended {
                        params.push(token.to_string());
                        appended = true;
                    }
                }
            }
            if depths.iter().all(|&d| d == 0) && !inside_quotes && !appended && !token.is_empty() {
                params.push(token.to_string());
            }
        }
        if lines.len() > 1 && line_no != lines.len() - 1 && !continued {
            match params.last_mut() {
                Some(p) => p.push('\n'),
                None => params.push("\n".into()),
            }
        }
    }
    if depths.iter().any(|&d| d > 0) || quote_char.is_some() {
        return Err("failed at splitting arguments, either an unbalanced jinja2 block or quotes".into());
    }
    Ok(params)
}

/// Whether a quoted string is still open after `token` (Ansible's `_get_quote_state`).
fn quote_state(token: &str, mut quote: Option<char>) -> Option<char> {
    let mut prev = None;
    for c in token.chars() {
        if (c == '"' || c == '\'') && prev != Some('\\') {
            match quote {
                Some(q) if q == c => quote = None,
                Some(_) => {}
                None => quote = Some(c),
            }
        }
        prev = Some(c);
    }
    quote
}

/// Python's escapes in a `k=v` word, as Ansible's parse_kv decodes them: `\n`, `\t`, `\\`, `\"`, `\'`,
/// `\a\b\f\r\v`, `\xHH`, `\uHHHH`, `\UHHHHHHHH` (other backslashes stay).
fn decode_escapes(s: &str) -> String {
    let c: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < c.len() {
        if c[i] != '\\' || i + 1 == c.len() {
            out.push(c[i]);
            i += 1;
            continue;
        }
        let simple = match c[i + 1] {
            '\\' => Some('\\'),
            '\'' => Some('\''),
            '"' => Some('"'),
            'a' => Some('\u{7}'),
            'b' => Some('\u{8}'),
            'f' => Some('\u{c}'),
            'n' => Some('\n'),
            'r' => Some('\r'),
            't' => Some('\t'),
            'v' => Some('\u{b}'),
            _ => None,
        };
        if let Some(ch) = simple {
            out.push(ch);
            i += 2;
            continue;
        }
        let digits = match c[i + 1] {
            'x' => 2,
            'u' => 4,
            'U' => 8,
            _ => 0,
        };
        let hex: String = c.iter().skip(i + 2).take(digits).collect();
        match (digits > 0 && hex.len() == digits && hex.chars().all(|h| h.is_ascii_hexdigit()))
            .then(|| u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32))
            .flatten()
        {
            Some(ch) => {
                out.push(ch);
                i += 2 + digits;
            }
            None => {
                out.push('\\');
                i += 1;
            }
        }
    }
    out
}

/// Ansible's `unquote`: the text inside matching outer quotes, if it has them.
fn unquote(s: &str) -> &str {
    let b = s.as_bytes();
    if b.len() > 1 && b[0] == b[b.len() - 1] && (b[0] == b'"' || b[0] == b'\'') && b[b.len() - 2] != b'\\' { &s[1..s.len() - 1] } else { s }
}

/// One word of `k=v` arguments as Ansible's parse_kv reads it: escapes decoded, split at the first `=` that is
/// not escaped, the value unquoted. None when the word is no `k=v`.
fn kv_pair(word: &str) -> Option<(String, String)> {
    let x = decode_escapes(word);
    let pos = x.char_indices().skip(1).find(|&(i, c)| c == '=' && !x[..i].ends_with('\\')).map(|(i, _)| i)?;
    Some((x[..pos].trim().to_string(), unquote(x[pos + 1..].trim()).to_string()))
}

/// Parse `k=v k2='v 2'` (Ansible's parse_kv without free form).
pub fn parse_kv(s: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for word in split_args(s)? {
        if word.trim().is_empty() {
            continue;
        }
        let Some(kv) = kv_pair(&word) else {
            return Err(format!("expected key=value, found '{}'", word.trim()));
        };
        out.push(kv);
    }
    Ok(out)
}

/// Parse a module's string arguments (`file: path=/x state=touch`, or `command: ls -l creates=/y`).
/// For free-form modules, words of the form `known_arg=value` become arguments and the rest, kept as written,
/// is the free-form value.
pub fn parse_string_args(spec: &ModuleSpec, s: &str) -> Result<Map<String, Value>, String> {
    let mut out = Map::new();
    let Some(free_arg) = spec.free_form else {
        for (k, v) in parse_kv(s)? {
            out.insert(k, Value::String(v));
        }
        return Ok(out);
    };
    // Walk the raw text word by word; the free-form part is the original text minus the extracted words, so its
    // quoting, spacing and newlines (a multi-line `shell: |` script) stay exactly as written.
    let mut cut: Vec<(usize, usize)> = Vec::new();
    for (start, end) in split_raw_words(s) {
        let raw = &s[start..end];
        if let Some((k, v)) = kv_pair(raw) {
            if k != free_arg && spec.find(&k).is_some() {
                out.insert(k, Value::String(v));
                cut.push((start, end));
            }
        }
    }
    let mut free = String::with_capacity(s.len());
    let mut at = 0;
    for (start, end) in cut {
        free.push_str(s[at..start].trim_end_matches([' ', '\t']));
        at = end;
    }
    free.push_str(&s[at..]);
    if !free.trim().is_empty() {
        out.insert(free_arg.to_string(), Value::String(free.trim().to_string()));
    }
    Ok(out)
}

/// Split on unquoted whitespace: the byte range of each word as written (quotes included).
fn split_raw_words(s: &str) -> Vec<(usize, usize)> {
    let mut words = Vec::new();
    let (mut start, mut quote, mut escaped) = (None, None, false);
    let chars: Vec<char> = s.chars().collect();
    // A Jinja block is part of one word, whatever spaces and quotes it holds.
    let mut skip_to = 0usize;
    for (n, (i, c)) in s.char_indices().enumerate() {
        if n < skip_to {
            continue;
        }
        if quote.is_none()
            && !escaped
            && let Some(end) = jinja_block_end(&chars, n)
        {
            start.get_or_insert(i);
            skip_to = end;
            continue;
        }
        if escaped {
            escaped = false;
            continue;
        }
        match (c, quote) {
            ('\\', q) if q != Some('\'') => escaped = true,
            ('\'' | '"', None) => {
                quote = Some(c);
                start.get_or_insert(i);
            }
            (c2, Some(q)) if c2 == q => quote = None,
            (c2, None) if c2.is_whitespace() => {
                if let Some(st) = start.take() {
                    words.push((st, i));
                }
            }
            _ => {
                start.get_or_insert(i);
            }
        }
    }
    if let Some(st) = start {
        words.push((st, s.len()));
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SPEC: ModuleSpec = ModuleSpec::new(&[
        ArgSpec::new("cmd", ArgKind::Str),
        ArgSpec::new("chdir", ArgKind::Path),
        ArgSpec::new("creates", ArgKind::Path),
        ArgSpec::new("force", ArgKind::Bool).default("no"),
        ArgSpec::new("state", ArgKind::Str).choices(&["present", "absent"]).default("present"),
        ArgSpec::new("mode", ArgKind::Mode),
        ArgSpec::new("names", ArgKind::List).aliases(&["name", "pkg"]),
    ])
    .free_form("cmd");

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn shell_words_follow_posix_rules() {
        assert_eq!(shell_words(r#"echo "a b" 'c d' e\ f"#).unwrap(), ["echo", "a b", "c d", "e f"]);
        assert!(shell_words("echo 'open").is_err());
    }

    #[test]
    fn key_values_keep_jinja_blocks_whole() {
        let kv = parse_kv("path=/x/{{ inventory_hostname }} state=touch msg={{ a | default('b c') }} q='x y' d=\"{{ \"z\" }} w\"").unwrap();
        assert_eq!(kv[0], ("path".to_string(), "/x/{{ inventory_hostname }}".to_string()));
        assert_eq!(kv[1], ("state".to_string(), "touch".to_string()));
        assert_eq!(kv[2], ("msg".to_string(), "{{ a | default('b c') }}".to_string()));
        assert_eq!(kv[3], ("q".to_string(), "x y".to_string()));
        assert_eq!(kv[4], ("d".to_string(), "{{ \"z\" }} w".to_string()));
        // As ansible-core 2.19's parse_kv: Python escapes decoded, then outer quotes removed; quotes inside a word
        // stay (copy content=a\nb writes two lines; content="x\ty\\n" a tab and a literal \n).
        let kv = parse_kv(r#"a=x\ny b="x\ty\\n" c='it''s' d=a"b c"d e=\u00e9\x41 f=\q g==h"#).unwrap();
        let want = [("a", "x\ny"), ("b", "x\ty\\n"), ("c", "it''s"), ("d", "a\"b c\"d"), ("e", "éA"), ("f", "\\q"), ("g", "=h")];
        assert_eq!(kv, want.map(|(k, v)| (k.to_string(), v.to_string())));
        assert_eq!(parse_kv("a=1\nb=2 \\\nc=3").unwrap().len(), 3);
        assert!(parse_kv("a='open").unwrap_err().contains("unbalanced"));
        assert!(parse_kv("a={{ x").unwrap_err().contains("unbalanced"));
        let m = parse_string_args(&SPEC, "echo {{ x | join(' ') }} creates={{ dir ~ '/a b' }}").unwrap();
        assert_eq!(m.get("cmd").unwrap(), "echo {{ x | join(' ') }}");
        assert_eq!(m.get("creates").unwrap(), "{{ dir ~ '/a b' }}");
    }

    #[test]
    fn free_form_keeps_quoting_and_extracts_known_args() {
        let m = parse_string_args(&SPEC, "grep 'a b' /etc/x creates=/tmp/y chdir=/srv").unwrap();
        assert_eq!(m.get("cmd").unwrap(), "grep 'a b' /etc/x");
        assert_eq!(m.get("creates").unwrap(), "/tmp/y");
        assert_eq!(m.get("chdir").unwrap(), "/srv");
        // An unknown k=v stays part of the command.
        assert_eq!(parse_string_args(&SPEC, "env FOO=bar").unwrap().get("cmd").unwrap(), "env FOO=bar");
        // A multi-line script keeps its lines and indentation.
        let script = "for m in a b; do\n  echo $m\ndone\nchdir=/srv\n";
        let m = parse_string_args(&SPEC, script).unwrap();
        assert_eq!(m.get("cmd").unwrap(), "for m in a b; do\n  echo $m\ndone");
        assert_eq!(m.get("chdir").unwrap(), "/srv");
    }

    #[test]
    fn check_normalises_types_aliases_and_defaults() {
        let a = SPEC.check(&obj(json!({"name": "curl,jq", "force": "yes", "mode": 420})), false).unwrap();
        assert_eq!(a.list("names"), ["curl", "jq"]);
        assert!(a.bool("force"));
        assert_eq!(a.str("mode"), Some("0644"));
        assert_eq!(a.str("state"), Some("present"));
    }

    #[test]
    fn check_refuses_bad_input_with_a_reason() {
        assert!(SPEC.check(&obj(json!({"bogus": 1})), false).unwrap_err().contains("unsupported argument 'bogus'"));
        assert!(SPEC.check(&obj(json!({"state": "gone"})), false).unwrap_err().contains("one of present, absent"));
        assert!(SPEC.check(&obj(json!({"force": "maybe"})), false).unwrap_err().contains("boolean"));
        assert!(SPEC.check(&obj(json!({"mode": "0999"})), false).is_err());
        assert!(SPEC.check(&obj(json!({"force": "{{ x }}"})), true).is_ok(), "templated values are checked later");
        static YES_NO: [ArgSpec; 1] = [ArgSpec::new("upgrade", ArgKind::Str).choices(&["no", "yes", "dist"])];
        let yes_no = ModuleSpec::new(&YES_NO);
        assert_eq!(yes_no.check(&obj(json!({"upgrade": true})), false).unwrap().str("upgrade"), Some("yes"), "a YAML bool matches a yes/no choice");
    }
}
