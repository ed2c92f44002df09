//! INI files read as Python's configparser reads them (what Ansible's `ini` lookup and local facts use):
//! `[section]` headers, `key = value` or `key: value`, indented continuation lines, `#`/`;` comment lines,
//! a `[DEFAULT]` section whose options every section has, option names lower-cased unless case-sensitive.

use std::collections::BTreeSet;

/// One section: its options in file order (None: a key without a value, where allowed).
pub type Section = Vec<(String, Option<String>)>;

/// A parsed file: sections in order, and the DEFAULT section's options.
#[derive(Debug, Default, PartialEq)]
pub struct IniFile {
    pub sections: Vec<(String, Section)>,
    pub defaults: Section,
}

/// How to read: configparser's `optionxform` (lower-case) unless `case_sensitive`; bare keys only with
/// `allow_no_value`.
#[derive(Clone, Copy, Default)]
pub struct Options {
    pub case_sensitive: bool,
    pub allow_no_value: bool,
}

impl IniFile {
    pub fn parse(text: &str, opts: Options) -> Result<IniFile, String> {
        let mut file = IniFile::default();
        // Where options go: None before any header.
        let mut current: Option<usize> = None;
        let mut in_default = false;
        let mut seen_sections = BTreeSet::new();
        let mut last: Option<(usize, usize)> = None;
        for (n, line) in text.lines().enumerate() {
            let lineno = n + 1;
            let stripped = line.trim();
            if stripped.is_empty() || stripped.starts_with('#') || stripped.starts_with(';') {
                if stripped.is_empty() {
                    last = None;
                }
                continue;
            }
            let indented = line.starts_with([' ', '\t']);
            if indented {
                if let Some((indent, idx)) = last {
                    let here = line.len() - line.trim_start().len();
                    if here > indent {
                        let target = if in_default { &mut file.defaults } else { &mut file.sections[current.unwrap_or(0)].1 };
                        let value = target[idx].1.get_or_insert_with(String::new);
                        value.push('\n');
                        value.push_str(stripped);
                        continue;
                    }
                }
            }
            if let Some(name) = stripped.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
                last = None;
                if name == "DEFAULT" {
                    in_default = true;
                    continue;
                }
                if !seen_sections.insert(name.to_string()) {
                    return Err(format!("line {lineno}: section '{name}' already exists"));
                }
                in_default = false;
                file.sections.push((name.to_string(), Vec::new()));
                current = Some(file.sections.len() - 1);
                continue;
            }
            if current.is_none() && !in_default {
                return Err(format!("line {lineno}: file contains no section headers"));
            }
            let split = stripped.find(['=', ':']);
            let (key, value) = match split {
                Some(at) => (stripped[..at].trim(), Some(stripped[at + 1..].trim().to_string())),
                None if opts.allow_no_value => (stripped, None),
                None => return Err(format!("line {lineno}: '{stripped}' is not `key = value`")),
            };
            let key = if opts.case_sensitive { key.to_string() } else { key.to_lowercase() };
            let target = if in_default { &mut file.defaults } else { &mut file.sections[current.unwrap_or(0)].1 };
            if target.iter().any(|(k, _)| *k == key) {
                return Err(format!("line {lineno}: option '{key}' already exists in this section"));
            }
            target.push((key, value));
            last = Some((line.len() - line.trim_start().len(), target.len() - 1));
        }
        Ok(file)
    }

    /// `value` of `section` as configparser's BasicInterpolation gives it: `%%` is `%`, `%(name)s` the value of
    /// option `name` of the section (or DEFAULT), itself interpolated; any other `%` is an error.
    pub fn interpolate(&self, section: &str, value: &str) -> Result<String, String> {
        self.interpolate_depth(section, value, 0)
    }

    fn interpolate_depth(&self, section: &str, value: &str, depth: usize) -> Result<String, String> {
        if depth > 10 {
            return Err(format!("interpolation too deep in section '{section}' (a loop of %(…)s references?)"));
        }
        let mut out = String::new();
        let mut rest = value;
        while let Some(at) = rest.find('%') {
            out.push_str(&rest[..at]);
            let after = &rest[at + 1..];
            if let Some(r) = after.strip_prefix('%') {
                out.push('%');
                rest = r;
            } else if let Some((name, r)) = after.strip_prefix('(').and_then(|a| a.split_once(")s")) {
                let items = self.items(section).unwrap_or_else(|| self.defaults.clone());
                let key = name.to_lowercase();
                let v = items.iter().find(|(k, _)| k.to_lowercase() == key).and_then(|(_, v)| v.clone());
                let v = v.ok_or_else(|| format!("bad interpolation: option '{name}' in section '{section}' is not there"))?;
                out.push_str(&self.interpolate_depth(section, &v, depth + 1)?);
                rest = r;
            } else {
                return Err(format!("'%' must be followed by '%' or '(', found: '%{after}'"));
            }
        }
        out.push_str(rest);
        Ok(out)
    }

    /// A section's options with the DEFAULT ones it does not override (configparser's `items(section)`).
    pub fn items(&self, section: &str) -> Option<Section> {
        let own = &self.sections.iter().find(|(n, _)| n == section)?.1;
        let mut out = self.defaults.iter().filter(|(k, _)| !own.iter().any(|(o, _)| o == k)).cloned().collect::<Section>();
        out.extend(own.iter().cloned());
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_as_pythons_configparser() {
        let text = "# comment\n[DEFAULT]\nzone = eu\n\n[db]\nUser = app\nhosts: a\n  b\n; note\n[web]\nport=80\nzone = us\n";
        let f = IniFile::parse(text, Options::default()).unwrap();
        let db = f.items("db").unwrap();
        assert_eq!(db, vec![("zone".into(), Some("eu".into())), ("user".into(), Some("app".into())), ("hosts".into(), Some("a\nb".into()))]);
        assert_eq!(f.items("web").unwrap().iter().find(|(k, _)| k == "zone").unwrap().1.as_deref(), Some("us"));
        assert!(f.items("nope").is_none());
        let cs = IniFile::parse("[s]\nKey = 1\n", Options { case_sensitive: true, ..Default::default() }).unwrap();
        assert_eq!(cs.items("s").unwrap()[0].0, "Key");
    }

    #[test]
    fn values_are_interpolated_as_basic_interpolation_does() {
        let f = IniFile::parse("[DEFAULT]\nbase = /srv\n[app]\ndir = %(base)s/app\npct = 50%%\nbad = 5%\n", Options::default()).unwrap();
        assert_eq!(f.interpolate("app", "%(dir)s/data").unwrap(), "/srv/app/data");
        assert_eq!(f.interpolate("app", "50%%").unwrap(), "50%");
        assert!(f.interpolate("app", "5%").unwrap_err().contains("'%' must be followed"));
        assert!(f.interpolate("app", "%(nope)s").is_err());
    }

    #[test]
    fn what_configparser_refuses_is_refused_with_the_line() {
        assert!(IniFile::parse("a = 1\n", Options::default()).unwrap_err().contains("no section headers"));
        assert!(IniFile::parse("[s]\na = 1\nA = 2\n", Options::default()).unwrap_err().contains("line 3: option 'a' already exists"));
        assert!(IniFile::parse("[s]\nbare\n", Options::default()).unwrap_err().contains("line 2"));
        let f = IniFile::parse("[s]\nbare\n", Options { allow_no_value: true, ..Default::default() }).unwrap();
        assert_eq!(f.items("s").unwrap(), vec![("bare".to_string(), None)]);
        assert!(IniFile::parse("[s]\n[s]\n", Options::default()).unwrap_err().contains("already exists"));
    }
}
