//! alternatives: Debian's update-alternatives groups (which program `editor` or `iptables` runs). One
//! `update-alternatives --query` decides; each change is one update-alternatives command. Results follow
//! community.general.alternatives.

use super::{ArgKind, ArgSpec, Args, Change, Diff, Module, ModuleCtx, ModuleError, ModuleSpec, Plan, Step};
use crate::transport::quote::quote;

pub struct Alternatives;

static SPEC: ModuleSpec = ModuleSpec::new(&[
    ArgSpec::new("name", ArgKind::Str).required().help("The generic name of the group (e.g. editor, iptables)."),
    ArgSpec::new("path", ArgKind::Path).help("The alternative (the real program). Required unless state is auto."),
    ArgSpec::new("link", ArgKind::Path).help("The generic link (e.g. /usr/bin/editor); needed only to create a new group."),
    ArgSpec::new("priority", ArgKind::Int).default("50").help("The alternative's priority, used in auto mode."),
    ArgSpec::new("state", ArgKind::Str)
        .choices(&["selected", "present", "auto", "absent"])
        .default("selected")
        .help("selected: installed and chosen (manual mode); present: installed only; auto: the group in auto mode; absent: removed."),
])
.changes(&["install", "select", "auto", "remove"]);

/// What `update-alternatives --query` says about a group (empty when it does not exist).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Group {
    pub link: Option<String>,
    pub manual: bool,
    pub value: Option<String>,
    /// (path, priority) of each alternative.
    pub alternatives: Vec<(String, i64)>,
}

impl Group {
    pub fn parse(out: &str) -> Group {
        let mut g = Group::default();
        for line in out.lines() {
            let Some((key, value)) = line.split_once(": ") else { continue };
            let value = value.trim().to_string();
            match key {
                "Link" => g.link = Some(value),
                "Status" => g.manual = value == "manual",
                "Value" if value != "none" => g.value = Some(value),
                "Alternative" => g.alternatives.push((value, 0)),
                "Priority" => {
                    if let Some(last) = g.alternatives.last_mut() {
                        last.1 = value.parse().unwrap_or(0);
                    }
                }
                _ => {}
            }
        }
        g
    }

    fn priority(&self, path: &str) -> Option<i64> {
        self.alternatives.iter().find(|(p, _)| p == path).map(|(_, prio)| *prio)
    }

    /// The state a diff shows: mode, chosen alternative, and every alternative with its priority.
    fn describe(&self) -> String {
        let mut s = format!("status: {}\nvalue: {}\n", if self.manual { "manual" } else { "auto" }, self.value.as_deref().unwrap_or("none"));
        for (p, prio) in &self.alternatives {
            s.push_str(&format!("alternative: {p} (priority {prio})\n"));
        }
        s
    }
}

fn diff(name: &str, before: &Group, after: &Group) -> Diff {
    Diff {
        before_header: format!("alternatives {name}"),
        after_header: format!("alternatives {name}"),
        before: before.describe(),
        after: after.describe(),
    }
}

#[async_trait::async_trait]
impl Module for Alternatives {
    fn name(&self) -> &'static str {
        "alternatives"
    }
    fn summary(&self) -> &'static str {
        "Install, choose or remove an alternative of an update-alternatives group"
    }
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }
    fn notes(&self) -> &'static str {
        "Debian's update-alternatives only; `subcommands`/`slaves` and `family` are not supported."
    }
    async fn plan(&self, ctx: &ModuleCtx<'_>, args: &Args) -> Result<Plan, ModuleError> {
        let name = args.req("name")?;
        let state = args.req("state")?;
        let path = args.str("path");
        let priority = args.int("priority").unwrap_or(50);
        if path.is_none() && state != "auto" {
            return Err(ModuleError::Args(format!("state is {state} but all of the following are missing: path")));
        }
        let out = ctx.read(&format!("update-alternatives --query {} 2>/dev/null", quote(name))).await?;
        let current = if out.success() { Group::parse(&out.stdout_text()) } else { Group::default() };
        let mut plan = Plan::unchanged();
        let mut after = current.clone();

        if state == "absent" {
            let path = path.unwrap_or_default();
            if current.priority(path).is_some() {
                after.alternatives.retain(|(p, _)| p != path);
                if after.value.as_deref() == Some(path) {
                    after.value = after.alternatives.iter().max_by_key(|(_, prio)| *prio).map(|(p, _)| p.clone());
                    after.manual = false;
                }
                let script = format!("update-alternatives --remove {} {}", quote(name), quote(path));
                plan = plan.change(Change::new("remove", diff(name, &current, &after), Step::run(script, format!("removing {path} from {name}"))));
            }
            return Ok(plan);
        }
        if let Some(path) = path {
            if current.priority(path) != Some(priority) {
                let Some(link) = args.str("link").map(str::to_string).or(current.link.clone()) else {
                    return Err(ModuleError::failed("Needed to install the alternative, but unable to do so as we are missing the link"));
                };
                after.link = Some(link.clone());
                after.alternatives.retain(|(p, _)| p != path);
                after.alternatives.push((path.to_string(), priority));
                if !after.manual || after.value.is_none() {
                    after.value = after.alternatives.iter().max_by_key(|(_, prio)| *prio).map(|(p, _)| p.clone());
                }
                let script = format!("update-alternatives --install {} {} {} {priority}", quote(&link), quote(name), quote(path));
                let step = Step::run(script, format!("installing {path} as an alternative for {name}"));
                plan = plan.change(Change::new("install", diff(name, &current, &after), step));
            }
        }
        let before = after.clone();
        match (state, path) {
            ("selected", Some(path)) if !after.manual || after.value.as_deref() != Some(path) => {
                after.manual = true;
                after.value = Some(path.to_string());
                let script = format!("update-alternatives --set {} {}", quote(name), quote(path));
                plan = plan.change(Change::new("select", diff(name, &before, &after), Step::run(script, format!("choosing {path} for {name}"))));
            }
            ("auto", _) if after.manual => {
                if current.alternatives.is_empty() && path.is_none() {
                    return Err(ModuleError::failed(format!("no alternatives for {name}")));
                }
                after.manual = false;
                after.value = after.alternatives.iter().max_by_key(|(_, prio)| *prio).map(|(p, _)| p.clone());
                let script = format!("update-alternatives --auto {}", quote(name));
                plan = plan.change(Change::new("auto", diff(name, &before, &after), Step::run(script, format!("setting {name} to auto mode"))));
            }
            _ => {}
        }
        Ok(plan)
    }
}

#[cfg(test)]
mod tests {
    use super::Group;

    #[test]
    fn query_output_is_read() {
        let out = "Name: editor\nLink: /usr/bin/editor\nSlaves:\n editor.1.gz /usr/share/man/man1/editor.1.gz\nStatus: manual\nBest: /bin/nano\nValue: /usr/bin/vim.basic\n\nAlternative: /bin/nano\nPriority: 40\nSlaves:\n editor.1.gz /usr/share/man/man1/nano.1.gz\n\nAlternative: /usr/bin/vim.basic\nPriority: 30\n";
        let g = Group::parse(out);
        assert_eq!(g.link.as_deref(), Some("/usr/bin/editor"));
        assert!(g.manual);
        assert_eq!(g.value.as_deref(), Some("/usr/bin/vim.basic"));
        assert_eq!(g.alternatives, vec![("/bin/nano".to_string(), 40), ("/usr/bin/vim.basic".to_string(), 30)]);
    }
}
