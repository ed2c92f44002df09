//! Lookups that read one value out of a file on the controller, found in the `files` search path as Ansible
//! finds it: `ini` (an INI file as Python's configparser reads it, or a Java properties file) and `csvfile`
//! (the column of the row whose key column matches). Options come as keyword arguments or, in the older style,
//! inside the term (`lookup('ini', 'user section=db file=app.ini')`).

use std::collections::BTreeMap;

use minijinja::Error;
use minijinja::value::{Kwargs, Value};

use super::context::ScopeObject;
use super::filters::{fail, text_of};
use super::ini_file::{IniFile, Options};

/// Options with their defaults; `kwargs` and then each term's inline `name=value` words override them.
struct Params {
    values: BTreeMap<&'static str, Value>,
    lookup: &'static str,
}

impl Params {
    fn new(lookup: &'static str, defaults: &[(&'static str, Value)], kw: &Kwargs) -> Result<Params, Error> {
        let mut values: BTreeMap<&'static str, Value> = defaults.iter().cloned().collect();
        for (name, _) in defaults {
            if let Some(v) = kw.get::<Option<Value>>(name)? {
                values.insert(name, v);
            }
        }
        // Ansible's older name for allow_no_value.
        if let Some(v) = kw.get::<Option<Value>>("allow_none")? {
            values.insert("allow_no_value", v);
        }
        kw.assert_all_used().map_err(|e| fail(format!("lookup('{lookup}'): {e}")))?;
        Ok(Params { values, lookup })
    }

    /// The key a term names, with its inline options applied to a copy of these. Words are split on blanks
    /// (quotes are literal, as in Ansible); a word `name=value` for a known option sets it, and the words
    /// after it continue its value (`section=my section`) for ini, as Ansible's `_parse_params` does; other
    /// words make the key (`New York`).
    fn for_term(&self, term: &str) -> Result<(String, Params), Error> {
        let mut values = self.values.clone();
        let mut key: Vec<&str> = Vec::new();
        let mut current: Option<&'static str> = None;
        for word in term.split_whitespace() {
            match word.split_once('=') {
                Some((name, v)) => {
                    let Some((k, _)) = self.values.get_key_value(name) else {
                        return Err(fail(format!("lookup('{}'): '{name}' is not a valid option.", self.lookup)));
                    };
                    values.insert(k, Value::from(v));
                    current = Some(k);
                }
                None => match current.filter(|_| self.lookup == "ini") {
                    Some(k) => {
                        let joined = format!("{} {word}", values.get(k).and_then(Value::as_str).unwrap_or_default());
                        values.insert(k, Value::from(joined));
                    }
                    None => key.push(word),
                },
            }
        }
        if key.is_empty() {
            return Err(fail(format!("lookup('{}'): No key to look up was provided in '{term}'", self.lookup)));
        }
        Ok((key.join(" "), Params { values, lookup: self.lookup }))
    }

    fn text(&self, name: &str) -> String {
        self.values.get(name).map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string)).unwrap_or_default()
    }

    fn flag(&self, name: &str) -> bool {
        match self.values.get(name) {
            Some(v) => match v.as_str() {
                Some(s) => crate::yaml::to_bool(&serde_json::Value::String(s.to_string())).unwrap_or(false),
                None => v.is_true(),
            },
            None => false,
        }
    }
}

/// `lookup('ini', key, section='global', file='ansible.ini', default='', re=False, type='ini', case_sensitive=False)`.
pub fn ini(obj: &ScopeObject, terms: &[Value], kw: &Kwargs) -> Result<Vec<Value>, Error> {
    let defaults = [
        ("section", Value::from("global")),
        ("file", Value::from("ansible.ini")),
        ("default", Value::from("")),
        ("re", Value::from(false)),
        ("type", Value::from("ini")),
        ("encoding", Value::from("utf-8")),
        ("case_sensitive", Value::from(false)),
        ("allow_no_value", Value::from(false)),
        ("interpolation", Value::from(true)),
    ];
    let base = Params::new("ini", &defaults, kw)?;
    let mut out = Vec::new();
    for t in terms {
        let (key, p) = base.for_term(&text_of(t)?)?;
        let file = p.text("file");
        let (path, mut text) = super::lookups::read(obj, &file, "files", "ini")?;
        let mut section = p.text("section");
        if p.text("type") == "properties" {
            text = format!("[java_properties]\n{text}");
            section = "java_properties".into();
        }
        let opts = Options { case_sensitive: p.flag("case_sensitive"), allow_no_value: p.flag("allow_no_value") };
        let parsed = IniFile::parse(&text, opts).map_err(|e| fail(format!("lookup('ini'): {}: {e}", path.display())))?;
        let items = parsed.items(&section).ok_or_else(|| fail(format!("lookup('ini'): No section '{section}' in '{file}'.")))?;
        let wanted = if opts.case_sensitive { key.clone() } else { key.to_lowercase() };
        let value = |v: &str| -> Result<Value, Error> {
            if !p.flag("interpolation") {
                return Ok(Value::from(v));
            }
            parsed.interpolate(&section, v).map(Value::from).map_err(|e| fail(format!("lookup('ini'): {file}: {e}")))
        };
        if p.flag("re") {
            let re = super::filters::compile_regex(&format!("^(?:{key})"), false, false)?;
            for (_, v) in items.iter().filter(|(k, _)| re.is_match(k)) {
                out.push(match v {
                    Some(v) => value(v)?,
                    None => Value::from(()),
                });
            }
        } else {
            match items.iter().find(|(k, _)| *k == wanted) {
                Some((_, Some(v))) => out.push(value(v)?),
                // A key without a value is None, which Ansible leaves out.
                Some((_, None)) => {}
                None => out.push(p.values.get("default").cloned().unwrap_or_default()),
            }
        }
    }
    Ok(out)
}

/// One CSV record as Python's csv module (excel dialect) splits it: quoted fields, `""` for a quote.
fn csv_fields(line: &str, delimiter: char) -> Vec<String> {
    let (mut out, mut cur, mut quoted, mut chars) = (Vec::new(), String::new(), false, line.chars().peekable());
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cur.push('"');
            }
            (true, '"') => quoted = false,
            (false, '"') if cur.is_empty() => quoted = true,
            (false, c) if c == delimiter => out.push(std::mem::take(&mut cur)),
            (_, c) => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// `lookup('csvfile', key, file='ansible.csv', col=1, keycol=0, delimiter='TAB', default=None)`.
pub fn csvfile(obj: &ScopeObject, terms: &[Value], kw: &Kwargs) -> Result<Vec<Value>, Error> {
    let defaults = [
        ("file", Value::from("ansible.csv")),
        ("col", Value::from("1")),
        ("keycol", Value::from("0")),
        ("delimiter", Value::from("TAB")),
        ("default", Value::from(())),
        ("encoding", Value::from("utf-8")),
    ];
    let base = Params::new("csvfile", &defaults, kw)?;
    if terms.is_empty() {
        return Err(fail("lookup('csvfile'): Search key is required but was not found"));
    }
    let mut out = Vec::new();
    for t in terms {
        let (key, p) = base.for_term(&text_of(t)?)?;
        let delimiter = match p.text("delimiter").as_str() {
            "TAB" | "\\t" => '\t',
            d => d.chars().next().unwrap_or(','),
        };
        let index = |name: &str| p.text(name).parse::<usize>().map_err(|_| fail(format!("lookup('csvfile'): {name} must be a number")));
        let (col, keycol) = (index("col")?, index("keycol")?);
        let (_, text) = super::lookups::read(obj, &p.text("file"), "files", "csvfile")?;
        let found = text.lines().map(|l| csv_fields(l, delimiter)).find(|row| row.get(keycol).is_some_and(|k| *k == key));
        match found {
            Some(row) => {
                let v = row.get(col).ok_or_else(|| fail(format!("lookup('csvfile'): the row of '{key}' has no column {col}")))?;
                out.push(Value::from(v.as_str()));
            }
            None => {
                let d = p.values.get("default").cloned().unwrap_or_default();
                if !d.is_none() {
                    out.push(d);
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_split_on_blanks_with_literal_quotes_and_multi_word_values() {
        let p = Params { values: [("section", Value::from("global")), ("file", Value::from("a.ini"))].into_iter().collect(), lookup: "ini" };
        let (key, q) = p.for_term("user name section=my section file=x.ini").unwrap();
        assert_eq!((key.as_str(), q.text("section").as_str(), q.text("file").as_str()), ("user name", "my section", "x.ini"));
        let c = Params { values: [("file", Value::from("a.csv"))].into_iter().collect(), lookup: "csvfile" };
        assert_eq!(c.for_term("O'Brien file=x.csv").unwrap().0, "O'Brien");
        assert!(c.for_term("k bogus=1").is_err());
    }

    #[test]
    fn csv_records_split_as_pythons_excel_dialect() {
        assert_eq!(csv_fields("a,\"b,c\",\"say \"\"hi\"\"\",", ','), ["a", "b,c", "say \"hi\"", ""]);
        assert_eq!(csv_fields("k\tv", '\t'), ["k", "v"]);
    }
}
