//! debconf: a package's configuration answers (preseeding), read with `debconf-show` and set with
//! `debconf-set-selections`, both part of debconf itself (on every Debian host). Decides as Ansible's debconf
//! module does; a password is compared on the host and never shown.

use serde_json::{Map, Value};

use super::args::value_text;
use super::{ArgKind, ArgSpec, Args, Change, Diff, Module, ModuleCtx, ModuleError, ModuleSpec, Plan, Step};
use crate::transport::quote::quote;

pub struct Debconf;

static SPEC: ModuleSpec = ModuleSpec::new(&[
    ArgSpec::new("name", ArgKind::Str).required().aliases(&["pkg"]).help("The package the question belongs to."),
    ArgSpec::new("question", ArgKind::Str).aliases(&["selection", "setting"]).help("The question (e.g. tzdata/Areas)."),
    ArgSpec::new("vtype", ArgKind::Str)
        .choices(&["boolean", "error", "multiselect", "note", "password", "seen", "select", "string", "text", "title"])
        .help("The question's type."),
    ArgSpec::new("value", ArgKind::Raw).aliases(&["answer"]).help("The answer (a list for multiselect)."),
    ArgSpec::new("unseen", ArgKind::Bool).default("no").help("Do not mark the question as seen (debconf-set-selections -u)."),
])
.changes(&["selection"]);

/// Quiet debconf: no terminal, so its frontends would complain on stderr.
const ENV: &str = "DEBIAN_FRONTEND=noninteractive; export DEBIAN_FRONTEND; ";

/// `debconf-show PKG` → question → value (`(password omitted)` for passwords).
fn parse_show(out: &str) -> Map<String, Value> {
    out.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim_start_matches('*').trim().to_string(), Value::String(v.trim().to_string())))
        .collect()
}

/// The answer as debconf will store it, and as it is compared: booleans lower case, a multiselect list as
/// given (Ansible sorts it only when it replaces an answer already there, and compares it sorted).
fn wanted(vtype: &str, value: &Value) -> Result<(String, Option<Vec<String>>), ModuleError> {
    match (vtype, value) {
        ("multiselect", Value::Array(items)) => {
            let list: Vec<String> = items.iter().map(value_text).collect();
            let mut sorted = list.clone();
            sorted.sort();
            Ok((list.join(", "), Some(sorted)))
        }
        ("boolean", v) => Ok((value_text(v).to_lowercase(), None)),
        (_, Value::Null) => Err(ModuleError::Args("when supplying a question you must supply a valid vtype and value".into())),
        (_, v) => Ok((value_text(v), None)),
    }
}

#[async_trait::async_trait]
impl Module for Debconf {
    fn name(&self) -> &'static str {
        "debconf"
    }
    fn summary(&self) -> &'static str {
        "Set a package's debconf answers (preseeding)"
    }
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }
    fn notes(&self) -> &'static str {
        "A password's current value is read on the host with `debconf-communicate` (Ansible needs debconf-utils' \
         `debconf-get-selections`) and compared there; both values are kept out of output and diffs."
    }
    async fn plan(&self, ctx: &ModuleCtx<'_>, args: &Args) -> Result<Plan, ModuleError> {
        let pkg = args.req("name")?;
        let given = ["question", "vtype", "value"].map(|k| args.has(k));
        if given.iter().any(|g| *g) && !given.iter().all(|g| *g) {
            let missing: Vec<&str> = ["question", "vtype", "value"].into_iter().filter(|k| !args.has(k)).collect();
            return Err(ModuleError::Args(format!("parameters are required together: question, vtype, value; missing: {}", missing.join(", "))));
        }
        let show =
            format!("{ENV}command -v debconf-show >/dev/null || {{ echo 'debconf is not installed' >&2; exit 127; }}; debconf-show {}", quote(pkg));
        let question = args.str("question");
        let vtype = args.str("vtype").unwrap_or_default();
        // debconf-show omits passwords: the stored one's sha256 comes back, compared here (the password never
        // travels to the host to be compared, nor back).
        let password_check = (vtype == "password" && question.is_some()).then(|| {
            format!(
                "; echo '--'; awk -v q={q} '/^Name: /{{n=substr($0,7)}} n==q && /^Value: /{{printf \"%s\", substr($0,8); exit}} /^$/{{n=\"\"}}' \
                 /var/cache/debconf/passwords.dat 2>/dev/null | sha256sum | cut -c1-64",
                q = quote(question.unwrap_or_default())
            )
        });
        let out = ctx.read_ok(&format!("{show}{}", password_check.as_deref().unwrap_or("")), "debconf-show").await?;
        let text = out.stdout_text();
        let (shown, stored_sha256) = match text.rsplit_once("--\n") {
            Some((s, rest)) if password_check.is_some() => (s.to_string(), Some(rest.trim().to_string())),
            _ => (text.to_string(), None),
        };
        let prev = parse_show(&shown);
        let Some(q) = question else {
            return Ok(Plan::unchanged().with("msg", "").with("current", prev));
        };
        let (value, list) = wanted(vtype, args.get("value").unwrap_or(&Value::Null))?;
        if vtype == "password" {
            crate::redact::register(&value);
        }
        let changed = match prev.get(q).and_then(Value::as_str) {
            None => true,
            Some(_) if vtype == "password" => stored_sha256.as_deref() != Some(super::helpers::remote_file::sha256_hex(value.as_bytes()).as_str()),
            Some(have) if vtype == "boolean" => have.to_lowercase() != value,
            Some(have) => match &list {
                Some(l) => {
                    let mut h: Vec<String> = have.split(',').map(|i| i.trim().to_string()).collect();
                    h.sort();
                    &h != l
                }
                None => have != value,
            },
        };
        let before = prev.get(q).cloned().unwrap_or(Value::String(String::new()));
        if !changed {
            return Ok(Plan::unchanged().with("msg", "").with("current", prev));
        }
        let value = match &list {
            Some(sorted) if prev.contains_key(q) => sorted.join(", "),
            _ => value,
        };
        let shown_value = |v: &str| if vtype == "password" { "********".to_string() } else { v.to_string() };
        let d = Diff {
            before_header: format!("debconf {pkg}"),
            after_header: format!("debconf {pkg}"),
            before: format!("{q}: {}\n", shown_value(before.as_str().unwrap_or_default())),
            after: format!("{q}: {}\n", shown_value(&value)),
        };
        let mut current = Map::new();
        current.insert(q.to_string(), Value::String(shown_value(&value)));
        let mut previous = Map::new();
        previous.insert(q.to_string(), before);
        let line = format!("{pkg} {q} {vtype} {value}");
        let unseen = if args.bool("unseen") { " -u" } else { "" };
        let step = Step::Run {
            script: format!("{ENV}debconf-set-selections{unseen}"),
            stdin: Some(line.into_bytes()),
            what: format!("setting {q} of {pkg}"),
        };
        Ok(Plan::unchanged().with("msg", "").with("current", current).with("previous", previous).change(Change::new("selection", d, step)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn debconf_show_lines_become_questions_and_answers() {
        let out = "  tzdata/Zones/Etc: UTC\n* tzdata/Areas: Europe\n* foo/secret: (password omitted)\n  foo/empty:\n";
        let m = parse_show(out);
        assert_eq!(m["tzdata/Areas"], "Europe");
        assert_eq!(m["tzdata/Zones/Etc"], "UTC");
        assert_eq!(m["foo/empty"], "");
        assert_eq!(m.len(), 4);
    }

    #[test]
    fn answers_are_compared_as_debconf_stores_them() {
        assert_eq!(wanted("boolean", &json!(true)).unwrap().0, "true");
        assert_eq!(wanted("boolean", &json!("Yes")).unwrap().0, "yes");
        assert_eq!(wanted("multiselect", &json!(["b", "a"])).unwrap(), ("b, a".to_string(), Some(vec!["a".to_string(), "b".to_string()])));
        assert_eq!(wanted("string", &json!("x y")).unwrap().0, "x y");
        assert!(wanted("string", &Value::Null).is_err());
    }
}
