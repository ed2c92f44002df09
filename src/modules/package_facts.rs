//! package_facts: the host's installed packages as `ansible_facts.packages`, read from dpkg in one round trip.
//! Never changes anything. Debian family only (the `apt` manager of Ansible's module).

use serde_json::{Map, Value, json};

use super::{ArgKind, ArgSpec, Args, Module, ModuleCtx, ModuleError, ModuleSpec, Plan};

pub struct PackageFacts;

static SPEC: ModuleSpec = ModuleSpec::new(&[
    ArgSpec::new("manager", ArgKind::List).default("auto").help("Package managers to ask: auto or apt (dpkg's database)."),
    ArgSpec::new("strategy", ArgKind::Str).choices(&["first", "all"]).default("first").help("Accepted for compatibility: there is one manager."),
]);

/// Installed packages only (dpkg also lists removed packages whose config files remain).
const SCRIPT: &str = "dpkg-query -W -f='${db:Status-Status}\\t${Package}\\t${Version}\\t${Architecture}\\t${source:Package}\\n'";

/// dpkg-query's lines → `{name: [{name, version, arch, source, category?}]}` as Ansible's apt manager reports.
pub fn parse(out: &str) -> Map<String, Value> {
    let mut packages: Map<String, Value> = Map::new();
    for line in out.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let [status, name, version, arch, ..] = f.as_slice() else { continue };
        if *status != "installed" {
            continue;
        }
        let entry = json!({"name": name, "version": version, "arch": arch, "source": "apt"});
        match packages.entry(name.to_string()).or_insert_with(|| Value::Array(Vec::new())) {
            Value::Array(list) => list.push(entry),
            _ => unreachable!("every entry is a list"),
        }
    }
    packages
}

#[async_trait::async_trait]
impl Module for PackageFacts {
    fn name(&self) -> &'static str {
        "package_facts"
    }
    fn summary(&self) -> &'static str {
        "Read the installed packages into `ansible_facts.packages`"
    }
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }
    fn notes(&self) -> &'static str {
        "Only the apt manager (dpkg's database); rpm, pacman and the language managers are not read. Entries \
         carry name, version, arch and source, not apt's category and origin."
    }
    async fn plan(&self, ctx: &ModuleCtx<'_>, args: &Args) -> Result<Plan, ModuleError> {
        let managers: Vec<String> = match args.get("manager") {
            Some(Value::Array(a)) => a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
            Some(Value::String(s)) => vec![s.clone()],
            _ => vec!["auto".into()],
        };
        if let Some(other) = managers.iter().find(|m| !matches!(m.as_str(), "auto" | "apt")) {
            return Err(ModuleError::Unsupported(format!("package_facts: manager '{other}' is not supported (auto or apt)")));
        }
        let out = ctx.read(SCRIPT).await?;
        if !out.success() {
            return Err(ModuleError::failed(format!(
                "Could not detect a supported package manager from the following list: {managers:?}, or the required Python library is not installed ({})",
                out.stderr_text().trim()
            )));
        }
        let mut facts = Map::new();
        facts.insert("packages".into(), Value::Object(parse(&out.stdout_text())));
        Ok(Plan::unchanged().facts(facts))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_installed_packages_each_as_a_list() {
        let out = "installed\tcurl\t7.88.1-10+deb12u8\tamd64\tcurl\nconfig-files\told\t1.0\tamd64\told\ninstalled\tlibc6\t2.36-9\tamd64\tglibc\ninstalled\tlibc6\t2.36-9\ti386\tglibc\n";
        let p = super::parse(out);
        assert_eq!(p.len(), 2);
        assert_eq!(p["curl"][0]["version"], "7.88.1-10+deb12u8");
        assert_eq!(p["libc6"].as_array().unwrap().len(), 2);
        assert!(!p.contains_key("old"));
    }
}
