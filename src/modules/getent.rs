//! getent: read a name service database (passwd, group, hosts, services …) with the host's `getent`, as
//! `ansible_facts.getent_<database>`: each entry's first field is the key, the rest its list of fields, as
//! Ansible's getent module splits them. Never changes anything.

use serde_json::{Map, Value};

use super::{ArgKind, ArgSpec, Args, Module, ModuleCtx, ModuleError, ModuleSpec, Plan};
use crate::transport::quote::quote;

pub struct Getent;

static SPEC: ModuleSpec = ModuleSpec::new(&[
    ArgSpec::new("database", ArgKind::Str).required().help("The database to read (passwd, group, shadow, hosts, services, …)."),
    ArgSpec::new("key", ArgKind::Str).help("Read only this entry; otherwise the whole database."),
    ArgSpec::new("service", ArgKind::Str).help("Ask this NSS service only (`getent -s`)."),
    ArgSpec::new("split", ArgKind::Str).help("Field separator; ':' for passwd, shadow, group and gshadow, whitespace otherwise."),
    ArgSpec::new("fail_key", ArgKind::Bool).default("yes").help("Fail when the key is not found (otherwise its entry is null)."),
]);

/// Databases whose fields are separated by colons.
const COLON: &[&str] = &["passwd", "shadow", "group", "gshadow"];

/// getent's lines → `{key: [fields…]}`; a key seen again becomes a list of field lists, as in Ansible.
pub fn parse(out: &str, split: Option<&str>) -> Map<String, Value> {
    let mut entries: Map<String, Value> = Map::new();
    let mut seen: Map<String, Value> = Map::new();
    for line in out.lines() {
        let record: Vec<&str> = match split {
            Some(s) => line.split(s).collect(),
            None => line.split_whitespace().collect(),
        };
        let Some((key, fields)) = record.split_first() else { continue };
        let fields = Value::Array(fields.iter().map(|f| Value::String(f.to_string())).collect());
        match entries.get_mut(*key) {
            Some(existing) => {
                if seen.insert(key.to_string(), Value::Bool(true)).is_none() {
                    *existing = Value::Array(vec![existing.take()]);
                }
                if let Value::Array(list) = existing {
                    list.push(fields);
                }
            }
            None => {
                entries.insert(key.to_string(), fields);
            }
        }
    }
    entries
}

#[async_trait::async_trait]
impl Module for Getent {
    fn name(&self) -> &'static str {
        "getent"
    }
    fn summary(&self) -> &'static str {
        "Read a name service database (passwd, group, hosts …) into `ansible_facts.getent_<database>`"
    }
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }
    fn notes(&self) -> &'static str {
        "The facts are also variables of their own name (`getent_passwd`), as in Ansible."
    }
    async fn plan(&self, ctx: &ModuleCtx<'_>, args: &Args) -> Result<Plan, ModuleError> {
        let database = args.req("database")?;
        let mut cmd = String::from("getent");
        if let Some(s) = args.str("service") {
            cmd.push_str(&format!(" -s {}", quote(s)));
        }
        cmd.push_str(&format!(" {}", quote(database)));
        if let Some(k) = args.str("key") {
            cmd.push_str(&format!(" {}", quote(k)));
        }
        let out = ctx.read(&cmd).await?;
        let split = args.str("split").or(COLON.contains(&database).then_some(":"));
        let mut entries = parse(&out.stdout_text(), split);
        let tree = format!("getent_{database}");
        let facts = |entries: Map<String, Value>| {
            let mut f = Map::new();
            f.insert(tree.clone(), Value::Object(entries));
            f
        };
        match out.rc() {
            0 => Ok(Plan::unchanged().facts(facts(entries))),
            2 => {
                let msg = "One or more supplied key could not be found in the database.";
                if args.bool("fail_key") {
                    return Err(ModuleError::failed(msg));
                }
                if let Some(k) = args.str("key") {
                    entries.entry(k.to_string()).or_insert(Value::Null);
                }
                Ok(Plan::unchanged().facts(facts(entries)).msg(msg))
            }
            1 => Err(ModuleError::failed("Missing arguments, or database unknown.")),
            3 => Err(ModuleError::failed("Enumeration not supported on this database.")),
            rc => Err(ModuleError::failed(format!("Unexpected failure! (rc={rc}): {}", out.stderr_text().trim()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn splits_like_ansible_and_lists_repeated_keys() {
        let p = super::parse("root:x:0:0:root:/root:/bin/bash\n", Some(":"));
        assert_eq!(p["root"], json!(["x", "0", "0", "root", "/root", "/bin/bash"]));
        let p = super::parse("127.0.0.1       localhost\n127.0.0.1  other a\n::1 localhost\n", None);
        assert_eq!(p["127.0.0.1"], json!([["localhost"], ["other", "a"]]));
        assert_eq!(p["::1"], json!(["localhost"]));
        let p = super::parse("g:x:5:\n", Some(":"));
        assert_eq!(p["g"], json!(["x", "5", ""]));
    }
}
