//! Parsing task lists: tasks, blocks, static imports (expanded here) and dynamic includes (kept for run time).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Map, Value};

use super::keywords::{BLOCK_KEYWORDS, TASK_KEYWORDS, lacking, suggest};
use super::load::{LoadError, Loader};
use super::{Block, Cond, Include, IncludeKind, Keywords, Loop, LoopControl, LoopKind, Node, RoleScope, Task, action};
use crate::modules::{ModuleSpec, args, registry};
use crate::yaml::{self, NodeKind};

/// Where a task list is being read: for relative paths and role context.
#[derive(Clone)]
pub(crate) struct Ctx {
    /// Folder that relative `import_tasks`/`include_tasks` names start from.
    pub base_dir: PathBuf,
    pub role: Option<Arc<RoleScope>>,
    pub handlers: bool,
}

fn err(node: &yaml::Node, msg: impl Into<String>) -> LoadError {
    LoadError::at(&node.span, msg)
}

impl Loader {
    /// Parse a list of tasks (a `tasks:` section or a tasks file).
    pub(crate) fn parse_task_list(&mut self, node: &yaml::Node, ctx: &Ctx) -> Result<Vec<Node>, LoadError> {
        if node.is_null() {
            return Ok(Vec::new());
        }
        let Some(items) = node.as_seq() else {
            return Err(err(node, format!("expected a list of tasks, found {}", node.type_name())));
        };
        let mut out = Vec::new();
        for item in items {
            out.extend(self.parse_entry(item, ctx)?);
        }
        Ok(out)
    }

    fn parse_entry(&mut self, node: &yaml::Node, ctx: &Ctx) -> Result<Vec<Node>, LoadError> {
        let Some(entries) = node.as_map() else {
            return Err(err(node, format!("expected a task (a mapping with a module or `block:`), found {}", node.type_name())));
        };
        if node.get("block").is_some() {
            return Ok(vec![self.parse_block(node, ctx)?]);
        }
        let mut actions: Vec<(&yaml::Node, &yaml::Node)> = Vec::new();
        for (k, v) in entries {
            let key = k.key_string().unwrap_or_default();
            if let Some(msg) = lacking(&key) {
                return Err(err(k, msg));
            }
            if key.starts_with("with_") && !TASK_KEYWORDS.contains(&key.as_str()) {
                return Err(err(k, format!("`{key}:` (the {} lookup as a loop) is not supported by hlprov yet; see docs/compat.md", &key[5..])));
            }
            if key == "action" || key == "local_action" || !TASK_KEYWORDS.contains(&key.as_str()) {
                actions.push((k, v));
            }
        }
        if node.get("rescue").is_some() || node.get("always").is_some() {
            return Err(err(node, "`rescue:` and `always:` belong to a `block:`, and this task has none"));
        }
        let (key_node, value) = match actions.as_slice() {
            [] => return Err(err(node, "task has no module: expected one key naming a module (e.g. `command:`) or `block:`")),
            [one] => *one,
            many => {
                let names: Vec<String> = many.iter().map(|(k, _)| k.key_string().unwrap_or_default()).collect();
                let hint = names
                    .iter()
                    .find_map(|n| suggest(n, &TASK_KEYWORDS).map(|s| format!(" ('{n}' looks like the keyword '{s}')")))
                    .unwrap_or_default();
                return Err(err(node, format!("a task runs one module, but this one names several: {}{hint}", names.join(", "))));
            }
        };
        let key = key_node.key_string().unwrap_or_default();
        let (module_name, mut margs, local) = match key.as_str() {
            "action" | "local_action" => {
                let (m, a) = self.parse_action_value(value)?;
                (m, a, key == "local_action")
            }
            _ => (key.clone(), Map::new(), false),
        };
        let short = module_name.trim_start_matches("ansible.builtin.").trim_start_matches("ansible.legacy.");
        if let Some(allowed) = include_options(short) {
            // As Ansible does: a misspelt option (`task_from:`) is an error, not silently ignored.
            let unknown: Vec<String> =
                value.as_map().unwrap_or_default().iter().filter_map(|(k, _)| k.key_string()).filter(|k| !allowed.contains(&k.as_str())).collect();
            if !unknown.is_empty() {
                return Err(err(value, format!("Invalid options for {short}: {} (it takes {})", unknown.join(", "), allowed.join(", "))));
            }
            if let (Some(n), false) = (value.get("allow_duplicates"), short.starts_with("import")) {
                if opt_bool(value, "allow_duplicates")? != Some(true) {
                    return Err(err(
                        n,
                        "allow_duplicates: false on include_role is not supported by hlprov (docs/compat.md); the role runs each time it is included",
                    ));
                }
            }
        }
        match short {
            "import_tasks" => return self.import_tasks(node, value, ctx),
            "import_role" => return self.import_role(node, value, ctx),
            "include_tasks" | "include_role" => return Ok(vec![self.parse_include(node, &module_name, value, ctx)?]),
            "include" => return Err(err(key_node, "`include:` was removed from Ansible; use `include_tasks:` or `import_tasks:`")),
            "import_playbook" => return Err(err(key_node, "`import_playbook:` is only allowed at the top level of a playbook")),
            _ => {}
        }
        let templated = module_name.contains("{{");
        let engine_action = action::is_engine_action(&module_name);
        let module = registry::find(&module_name);
        let missing = module.is_none() && !engine_action && !templated;
        if missing {
            let hint = suggest(&module_name, &TASK_KEYWORDS).map(|s| format!("; did you mean the keyword '{s}'?")).unwrap_or_default();
            // A name that looks like a misspelt keyword is a mistake in the file, not a module for another system.
            if self.opts.strict || !hint.is_empty() {
                return Err(err(key_node, format!("unknown module '{module_name}'{hint} (see docs/modules.md for the modules hlprov has)")));
            }
            self.missing.push(super::MissingModule { span: key_node.span.clone(), module: module_name.clone() });
        }
        // set_fact takes any variable names; the other actions and modules declare their arguments.
        let spec = module.map(|m| m.spec()).or_else(|| match registry::short_name(&module_name) {
            "meta" => Some(action::meta_spec()),
            "include_vars" => Some(action::include_vars_spec()),
            "group_by" => Some(action::group_by_spec()),
            _ => None,
        });
        if key != "action" && key != "local_action" {
            margs = match (&value.kind, spec) {
                (NodeKind::Null, _) => Map::new(),
                (NodeKind::Map(_), _) => value.to_value().as_object().cloned().unwrap_or_default(),
                (NodeKind::Str(s), Some(spec)) => args::parse_string_args(spec, s).map_err(|e| err(value, format!("module '{module_name}': {e}")))?,
                // A missing module's free-form arguments are kept as written: nothing reads them.
                (NodeKind::Str(s), None) if missing => [("_raw_params".to_string(), Value::String(s.clone()))].into_iter().collect(),
                (NodeKind::Str(s), None) => args::parse_kv(s)
                    .map_err(|e| err(value, format!("{module_name}: {e}")))?
                    .into_iter()
                    .map(|(k, v)| (k, Value::String(v)))
                    .collect(),
                (_, None) if missing => [("_raw_params".to_string(), value.to_value())].into_iter().collect(),
                (_, Some(ModuleSpec { free_form: Some(f), .. })) => [(f.to_string(), value.to_value())].into_iter().collect(),
                _ => return Err(err(value, format!("module '{module_name}' expects a mapping of arguments, found {}", value.type_name()))),
            };
        }
        let mut args_template = false;
        if let Some(extra) = node.get("args") {
            match extra.to_value() {
                Value::Object(m) => {
                    for (k, v) in m {
                        margs.entry(k).or_insert(v);
                    }
                }
                // `args: "{{ a_mapping }}"`: merged when the task runs (the module checks it then), as Ansible does.
                Value::String(t) if t.contains("{{") => {
                    margs.insert(ARGS_TEMPLATE.into(), Value::String(t));
                    args_template = true;
                }
                _ => return Err(err(extra, "`args:` must be a mapping, or a template that gives one")),
            }
        }
        if let (Some(spec), false) = (spec, args_template) {
            spec.check(&margs, true).map_err(|e| err(key_node, format!("module '{module_name}': {e}")))?;
        }
        let task_action = match action::resolve(&module_name, &margs).map_err(|e| err(key_node, e))? {
            _ if templated => action::Action::Templated(module_name.as_str().into()),
            Some(a) => a,
            None => action::Action::Missing(module_name.as_str().into()),
        };
        let mut kw = parse_keywords(node)?;
        if local {
            kw.delegate_to = Some("localhost".into());
        }
        let (loop_, loop_control) = parse_loop(node)?;
        let name = opt_string(node, "name")?;
        let register = match opt_string(node, "register")? {
            Some(r) if !is_identifier(&r) => {
                return Err(err(node.get("register").unwrap_or(node), format!("register: '{r}' is not a valid variable name")));
            }
            r => r,
        };
        let (async_limit, async_job) = async_mode(node, registry::short_name(&module_name))?;
        let listen = if ctx.handlers { string_list(node, "listen")? } else { Vec::new() };
        if !ctx.handlers && node.get("listen").is_some() {
            return Err(err(node.get("listen").unwrap_or(node), "`listen:` only applies to handlers"));
        }
        Ok(vec![Node::Task(Arc::new(Task {
            span: node.span.clone(),
            name,
            action: task_action,
            args: margs,
            kw,
            loop_,
            loop_control,
            register,
            changed_when: opt_conds(node, "changed_when")?,
            failed_when: opt_conds(node, "failed_when")?,
            until: opt_conds(node, "until")?,
            retries: node.get("retries").map(yaml::Node::to_value),
            delay: node.get("delay").map(yaml::Node::to_value),
            notify: string_list(node, "notify")?,
            listen,
            read_only: opt_bool(node, "read_only")?.unwrap_or(false),
            async_limit,
            async_job,
            role: ctx.role.clone(),
        }))])
    }

    /// `action: copy src=a dest=b` or `action: {module: copy, src: a}`.
    fn parse_action_value(&self, value: &yaml::Node) -> Result<(String, Map<String, Value>), LoadError> {
        match &value.kind {
            NodeKind::Str(s) => {
                let (m, rest) = split_module_word(s.trim());
                let a = match registry::find(m) {
                    // A module named by a template: its arguments are parsed when the name is known.
                    _ if m.contains("{{") => [("_raw_params".to_string(), Value::String(rest.to_string()))].into_iter().collect(),
                    Some(module) => args::parse_string_args(module.spec(), rest).map_err(|e| err(value, e))?,
                    None if action::is_engine_action(m) => {
                        args::parse_kv(rest).map_err(|e| err(value, e))?.into_iter().map(|(k, v)| (k, Value::String(v))).collect()
                    }
                    None if self.opts.strict => return Err(err(value, format!("unknown module '{m}'"))),
                    None => [("_raw_params".to_string(), Value::String(rest.to_string()))].into_iter().collect(),
                };
                Ok((m.to_string(), a))
            }
            NodeKind::Map(_) => {
                let mut m = value.to_value().as_object().cloned().unwrap_or_default();
                let Some(Value::String(module)) = m.remove("module") else {
                    return Err(err(value, "`action:` as a mapping needs `module:`"));
                };
                Ok((module, m))
            }
            _ => Err(err(value, "`action:` takes 'module args' or a mapping with `module:`")),
        }
    }

    fn parse_block(&mut self, node: &yaml::Node, ctx: &Ctx) -> Result<Node, LoadError> {
        let mut kw = parse_keywords(node)?;
        kw.notify = string_list(node, "notify")?;
        for (k, _) in node.as_map().unwrap_or_default() {
            let key = k.key_string().unwrap_or_default();
            if let Some(msg) = lacking(&key) {
                return Err(err(k, msg));
            }
            if !BLOCK_KEYWORDS.contains(&key.as_str()) {
                let hint = if registry::find(&key).is_some() { " (a block holds tasks under `block:`; put the module in a task there)" } else { "" };
                return Err(err(k, format!("'{key}' is not allowed on a block{hint}")));
            }
        }
        let list = |l: &mut Loader, key: &str| -> Result<Vec<Node>, LoadError> {
            match node.get(key) {
                Some(n) => l.parse_task_list(n, ctx),
                None => Ok(Vec::new()),
            }
        };
        let block = list(self, "block")?;
        let rescue = list(self, "rescue")?;
        let always = list(self, "always")?;
        Ok(Node::Block(Arc::new(Block { span: node.span.clone(), name: opt_string(node, "name")?, block, rescue, always, kw, role: None })))
    }

    fn import_tasks(&mut self, node: &yaml::Node, value: &yaml::Node, ctx: &Ctx) -> Result<Vec<Node>, LoadError> {
        let file = match (&value.kind, value.get("file")) {
            (NodeKind::Str(s), _) => s.clone(),
            (_, Some(f)) => f.as_str().map(str::to_string).ok_or_else(|| err(f, "`file:` must be a string"))?,
            _ => return Err(err(value, "import_tasks needs a file name")),
        };
        if file.contains("{{") {
            return Err(err(value, "import_tasks is static and cannot use a templated file name; use include_tasks"));
        }
        let role_tasks = ctx.role.as_ref().map(|r| r.path.join("tasks"));
        let path = resolve_include_path(&ctx.base_dir, role_tasks.as_deref(), &self.playbook_dir, &file);
        let nodes =
            self.load_tasks_file(&path, &Ctx { base_dir: path.parent().map(Path::to_path_buf).unwrap_or_default(), ..ctx.clone() }, &value.span)?;
        let mut kw = parse_keywords(node)?;
        // A static import's keywords are its tasks', notify included.
        kw.notify = string_list(node, "notify")?;
        Ok(vec![Node::Block(Arc::new(Block { span: node.span.clone(), name: None, block: nodes, rescue: vec![], always: vec![], kw, role: None }))])
    }

    fn import_role(&mut self, node: &yaml::Node, value: &yaml::Node, _ctx: &Ctx) -> Result<Vec<Node>, LoadError> {
        let name = value.get("name").and_then(|n| n.as_str()).ok_or_else(|| err(value, "import_role needs `name:`"))?;
        // `tasks_from: "{{ omit }}"` (written for include_role and import_role alike) is no tasks_from.
        let from = |key: &str| -> Result<Option<String>, LoadError> {
            match value.get(key) {
                None => Ok(None),
                Some(n) => match n.as_str() {
                    Some(t) if is_omit(t) => Ok(None),
                    Some(t) => self.static_template(&format!("`{key}: {t}` of import_role"), t, &n.span).map(Some),
                    None => Err(err(n, format!("`{key}:` must be a string"))),
                },
            }
        };
        let files = super::RoleFiles::from_options(from)?;
        let mut kw = parse_keywords(node)?;
        kw.notify = string_list(node, "notify")?;
        let params = node.get("vars").map(|v| v.to_value().as_object().cloned().unwrap_or_default()).unwrap_or_default();
        let once = match opt_bool(value, "allow_duplicates")? {
            None | Some(true) => super::role::Once::Never,
            Some(false) => super::role::Once::Always,
        };
        let block = self.role_block(once, name, params, &files, kw, &value.span)?;
        Ok(block.into_iter().collect())
    }

    fn parse_include(&mut self, node: &yaml::Node, module: &str, value: &yaml::Node, ctx: &Ctx) -> Result<Node, LoadError> {
        let get_str = |key: &str| -> Result<Option<String>, LoadError> {
            match value.get(key) {
                None => Ok(None),
                Some(n) => n.as_str().map(|s| Some(s.to_string())).ok_or_else(|| err(n, format!("`{key}:` must be a string"))),
            }
        };
        let kind = if module.ends_with("include_tasks") {
            let file = match &value.kind {
                NodeKind::Str(s) => s.clone(),
                _ => get_str("file")?.ok_or_else(|| err(value, "include_tasks needs a file name"))?,
            };
            IncludeKind::Tasks { file }
        } else {
            let name = get_str("name")?.ok_or_else(|| err(value, "include_role needs `name:`"))?;
            IncludeKind::Role { name, files: super::RoleFiles::from_options(get_str)? }
        };
        let apply = match value.get("apply") {
            Some(a) => parse_keywords(a)?,
            None => Keywords::default(),
        };
        // Ansible refuses these on a dynamic include (its keywords apply to the include, not to what it brings
        // in; `apply:` is for that), and a role included as a handler.
        let what = if module.ends_with("include_tasks") { "TaskInclude" } else { "IncludeRole" };
        if node.get("notify").is_some() {
            return Err(err(node, format!("'notify' is not a valid attribute for a {what}")));
        }
        if let (Some(n), false) = (node.get("listen"), ctx.handlers) {
            return Err(err(n, "`listen:` only applies to handlers"));
        }
        let listen = if ctx.handlers { string_list(node, "listen")? } else { Vec::new() };
        if ctx.handlers && what == "IncludeRole" {
            return Err(err(node, "Using 'include_role' as a handler is not supported."));
        }
        let register = match opt_string(node, "register")? {
            Some(r) if !is_identifier(&r) => {
                return Err(err(node.get("register").unwrap_or(node), format!("register: '{r}' is not a valid variable name")));
            }
            r => r,
        };
        // As before: anything but a true boolean (a template too) is a private include.
        let public = matches!(opt_bool(value, "public"), Ok(Some(true)));
        let (loop_, loop_control) = parse_loop(node)?;
        Ok(Node::Include(Arc::new(Include {
            span: node.span.clone(),
            name: opt_string(node, "name")?,
            kind,
            kw: parse_keywords(node)?,
            loop_,
            loop_control,
            apply,
            base_dir: ctx.base_dir.clone(),
            role: ctx.role.clone(),
            register,
            public,
            listen,
        })))
    }
}

/// Where a templated `args:` waits in a task's arguments until the task runs (see exec's `run_item`).
pub const ARGS_TEMPLATE: &str = "__hlprov_args_template";

/// The options `import_tasks`, `include_tasks`, `import_role` and `include_role` take (ansible-core 2.19).
fn include_options(module: &str) -> Option<&'static [&'static str]> {
    Some(match module {
        "import_tasks" => &["file", "_raw_params"],
        "include_tasks" => &["file", "apply", "_raw_params"],
        "import_role" => &["name", "tasks_from", "vars_from", "defaults_from", "handlers_from", "allow_duplicates", "public", "rolespec_validate"],
        "include_role" => {
            &["name", "tasks_from", "vars_from", "defaults_from", "handlers_from", "apply", "allow_duplicates", "public", "rolespec_validate"]
        }
        _ => return None,
    })
}

/// The module word of `action: copy src=a` and the rest; a templated word (`{{ pkg_mgr }}`) may hold spaces.
fn split_module_word(s: &str) -> (&str, &str) {
    let end = if s.starts_with("{{") {
        s.find("}}").map(|e| e + 2).and_then(|e| s[e..].find(char::is_whitespace).map(|w| e + w)).unwrap_or(s.len())
    } else {
        s.find(char::is_whitespace).unwrap_or(s.len())
    };
    (&s[..end], s[end..].trim_start())
}

/// `{{ omit }}` as written.
fn is_omit(s: &str) -> bool {
    s.strip_prefix("{{").and_then(|r| r.strip_suffix("}}")).is_some_and(|inner| inner.trim() == "omit")
}

/// Where a dynamic include's file is, as Ansible looks: beside the including file, in its role's tasks/,
/// then in the playbook's folder (first that exists; the first candidate otherwise, for the error).
pub fn resolve_include_path(including_dir: &Path, role_tasks: Option<&Path>, playbook_dir: &Path, file: &str) -> PathBuf {
    let mut bases = vec![including_dir];
    bases.extend(role_tasks);
    bases.push(playbook_dir);
    let found = bases.iter().map(|b| resolve_tasks_path(b, file)).find(|p| p.exists());
    found.unwrap_or_else(|| resolve_tasks_path(including_dir, file))
}

/// `tasks/foo.yml` relative to where the including file is.
pub fn resolve_tasks_path(base: &Path, file: &str) -> PathBuf {
    let p = Path::new(file);
    if p.is_absolute() {
        return p.to_path_buf();
    }
    let direct = base.join(p);
    if direct.exists() {
        return direct;
    }
    // Inside a role, `tasks/` is the base; a role's `tasks/x.yml` may also be written from the role root.
    base.parent().map(|b| b.join(p)).filter(|c| c.exists()).unwrap_or(direct)
}

/// Keywords shared by tasks, blocks, roles and plays.
pub(crate) fn parse_keywords(node: &yaml::Node) -> Result<Keywords, LoadError> {
    let mut kw = Keywords {
        when: conds(node, "when")?,
        tags: string_list(node, "tags")?,
        escalate: opt_bool(node, "become")?,
        become_user: opt_string(node, "become_user")?,
        environment: node.get("environment").map(yaml::Node::to_value).into_iter().collect(),
        ignore_errors: node.get("ignore_errors").map(yaml::Node::to_value),
        ignore_unreachable: opt_bool(node, "ignore_unreachable")?,
        check_mode: node.get("check_mode").map(yaml::Node::to_value),
        diff: opt_bool(node, "diff")?,
        no_log: node.get("no_log").map(yaml::Node::to_value),
        delegate_to: opt_string(node, "delegate_to")?,
        run_once: opt_bool_or_template(node, "run_once")?,
        any_errors_fatal: opt_bool(node, "any_errors_fatal")?,
        timeout: None,
        vars: Map::new(),
        notify: Vec::new(),
    };
    if let Some(m) = node.get("become_method").and_then(|n| n.as_str()) {
        if m != "sudo" {
            return Err(err(node.get("become_method").unwrap_or(node), format!("become_method '{m}' is not supported; hlprov escalates with sudo")));
        }
    }
    if let Some(v) = node.get("vars") {
        match v.to_value() {
            Value::Object(m) => kw.vars = m,
            Value::Null => {}
            _ => return Err(err(v, format!("`vars:` must be a mapping, found {}", v.type_name()))),
        }
    }
    if let Some(t) = node.get("timeout") {
        match &t.kind {
            NodeKind::Int(i) if *i >= 0 => kw.timeout = Some(*i as u64),
            _ => return Err(err(t, "`timeout:` must be a whole number of seconds")),
        }
    }
    for e in &kw.environment {
        if !matches!(e, Value::Object(_) | Value::String(_) | Value::Array(_)) {
            return Err(err(node.get("environment").unwrap_or(node), "`environment:` must be a mapping of variable names to values"));
        }
    }
    Ok(kw)
}

pub(crate) fn parse_loop(node: &yaml::Node) -> Result<(Option<Loop>, LoopControl), LoadError> {
    const KINDS: &[(&str, LoopKind)] = &[
        ("loop", LoopKind::Loop),
        ("with_items", LoopKind::WithItems),
        ("with_list", LoopKind::WithList),
        ("with_dict", LoopKind::WithDict),
        ("with_indexed_items", LoopKind::WithIndexedItems),
        ("with_fileglob", LoopKind::WithFileglob),
        ("with_sequence", LoopKind::WithSequence),
        ("with_first_found", LoopKind::WithFirstFound),
        ("with_together", LoopKind::WithTogether),
        ("with_nested", LoopKind::WithNested),
        ("with_cartesian", LoopKind::WithNested),
        ("with_subelements", LoopKind::WithSubelements),
        ("with_flattened", LoopKind::WithFlattened),
        ("with_random_choice", LoopKind::WithRandomChoice),
        ("with_file", LoopKind::WithLookup("file")),
        ("with_lines", LoopKind::WithLookup("lines")),
        ("with_pipe", LoopKind::WithLookup("pipe")),
        ("with_env", LoopKind::WithLookup("env")),
        ("with_template", LoopKind::WithLookup("template")),
        ("with_ini", LoopKind::WithLookup("ini")),
        ("with_csvfile", LoopKind::WithLookup("csvfile")),
        ("with_inventory_hostnames", LoopKind::WithLookup("inventory_hostnames")),
    ];
    let found: Vec<(&str, LoopKind, &yaml::Node)> = KINDS.iter().filter_map(|(k, kind)| node.get(k).map(|n| (*k, *kind, n))).collect();
    let loop_ = match found.as_slice() {
        [] => None,
        [(_, kind, n)] => Some(Loop { kind: *kind, expr: n.to_value() }),
        many => {
            let names: Vec<&str> = many.iter().map(|(k, _, _)| *k).collect();
            return Err(err(node, format!("a task can loop only one way, but uses {}", names.join(" and "))));
        }
    };
    let mut lc = LoopControl::default();
    if let Some(c) = node.get("loop_control") {
        let Some(entries) = c.as_map() else {
            return Err(err(c, "`loop_control:` must be a mapping"));
        };
        for (k, v) in entries {
            match k.key_string().unwrap_or_default().as_str() {
                "loop_var" => {
                    lc.loop_var = v
                        .as_str()
                        .filter(|s| is_identifier(s) || s.contains("{{"))
                        .ok_or_else(|| err(v, "loop_var must be a variable name"))?
                        .to_string()
                }
                "index_var" => {
                    lc.index_var =
                        Some(v.as_str().filter(|s| is_identifier(s)).ok_or_else(|| err(v, "index_var must be a variable name"))?.to_string())
                }
                "label" => lc.label = Some(v.as_str().map(str::to_string).unwrap_or_else(|| v.to_value().to_string())),
                "pause" => lc.pause = Some(v.to_value().as_f64().ok_or_else(|| err(v, "pause must be a number of seconds"))?),
                "extended" => lc.extended = matches!(v.kind, NodeKind::Bool(true)),
                "extended_allitems" => lc.extended_allitems = !matches!(v.kind, NodeKind::Bool(false)),
                "break_when" => lc.break_when = conds(c, "break_when")?,
                other => {
                    return Err(err(
                        k,
                        format!("unknown loop_control option '{other}' (loop_var, index_var, label, pause, extended, extended_allitems, break_when)"),
                    ));
                }
            }
        }
    }
    if loop_.is_none() && node.get("loop_control").is_some() {
        return Err(err(node, "`loop_control:` without a loop"));
    }
    Ok((loop_, lc))
}

/// The modules that can run as background jobs.
const BACKGROUND: &[&str] = &["command", "shell", "script"];

/// `async:`/`poll:`: (the time limit of a polled job, or of a background job when `poll: 0`). Only command,
/// shell and script can run in the background.
fn async_mode(node: &yaml::Node, module: &str) -> Result<(Option<u64>, Option<u64>), LoadError> {
    let number = |key: &str| -> Result<Option<u64>, LoadError> {
        match node.get(key) {
            None => Ok(None),
            Some(n) => match &n.kind {
                NodeKind::Int(i) if *i >= 0 => Ok(Some(*i as u64)),
                NodeKind::Str(s) if s.trim().parse::<u64>().is_ok() => Ok(s.trim().parse().ok()),
                _ => Err(err(n, format!("`{key}:` must be a whole number of seconds"))),
            },
        }
    };
    let (limit, poll) = (number("async")?, number("poll")?);
    match (limit, poll) {
        (Some(l), Some(0)) if l > 0 && BACKGROUND.contains(&module) => Ok((None, Some(l))),
        (Some(l), Some(0)) if l > 0 => Err(err(
            node.get("poll").unwrap_or(node),
            format!(
                "async with poll: 0 (a fire-and-forget job) is supported for {} only, not for '{module}': \
                 use a poll above 0 (docs/compat.md)",
                BACKGROUND.join(", ")
            ),
        )),
        (Some(0), _) => Ok((None, None)),
        (l, _) => Ok((l, None)),
    }
}

pub(crate) fn opt_string(node: &yaml::Node, key: &str) -> Result<Option<String>, LoadError> {
    match node.get(key) {
        None => Ok(None),
        Some(n) => match &n.kind {
            NodeKind::Null => Ok(None),
            NodeKind::Str(s) => Ok(Some(s.clone())),
            NodeKind::Int(_) | NodeKind::Float(_) | NodeKind::Bool(_) => Ok(n.key_string()),
            _ => Err(err(n, format!("`{key}:` must be a string, found {}", n.type_name()))),
        },
    }
}

/// A boolean keyword that may also be a template (`run_once: "{{ is_first }}"`), rendered when it is used.
fn opt_bool_or_template(node: &yaml::Node, key: &str) -> Result<Option<Value>, LoadError> {
    match node.get(key) {
        Some(n) if matches!(&n.kind, NodeKind::Str(s) if s.contains("{{")) => Ok(Some(n.to_value())),
        _ => Ok(opt_bool(node, key)?.map(Value::Bool)),
    }
}

pub(crate) fn opt_bool(node: &yaml::Node, key: &str) -> Result<Option<bool>, LoadError> {
    match node.get(key) {
        None => Ok(None),
        Some(n) => match &n.kind {
            NodeKind::Bool(b) => Ok(Some(*b)),
            NodeKind::Str(s) => args::to_bool(&Value::String(s.clone()))
                .map(Some)
                .ok_or_else(|| err(n, format!("`{key}:` must be a boolean (yes/no/true/false), found '{s}'"))),
            _ => Err(err(n, format!("`{key}:` must be a boolean, found {}", n.type_name()))),
        },
    }
}

/// A string, a comma-separated string, or a list of strings.
pub(crate) fn string_list(node: &yaml::Node, key: &str) -> Result<Vec<String>, LoadError> {
    let Some(n) = node.get(key) else { return Ok(Vec::new()) };
    match &n.kind {
        NodeKind::Null => Ok(Vec::new()),
        NodeKind::Str(s) if key == "tags" => Ok(s.split(',').map(|t| t.trim().to_string()).filter(|t| !t.is_empty()).collect()),
        NodeKind::Seq(items) => items.iter().map(|i| i.key_string().ok_or_else(|| err(i, format!("`{key}:` entries must be strings")))).collect(),
        _ => n.key_string().map(|s| vec![s]).ok_or_else(|| err(n, format!("`{key}:` must be a string or a list of strings"))),
    }
}

pub(crate) fn conds(node: &yaml::Node, key: &str) -> Result<Vec<Cond>, LoadError> {
    Ok(opt_conds(node, key)?.unwrap_or_default())
}

fn opt_conds(node: &yaml::Node, key: &str) -> Result<Option<Vec<Cond>>, LoadError> {
    let Some(n) = node.get(key) else { return Ok(None) };
    let one = |c: &yaml::Node| -> Result<Cond, LoadError> {
        let expr = match &c.kind {
            NodeKind::Str(s) => s.clone(),
            NodeKind::Bool(b) => if *b { "True" } else { "False" }.to_string(),
            NodeKind::Int(i) => i.to_string(),
            _ => return Err(err(c, format!("`{key}:` must be an expression or a list of expressions, found {}", c.type_name()))),
        };
        Ok(Cond { expr, span: c.span.clone() })
    };
    match &n.kind {
        NodeKind::Null => Ok(None),
        NodeKind::Seq(items) => Ok(Some(items.iter().map(one).collect::<Result<_, _>>()?)),
        _ => Ok(Some(vec![one(n)?])),
    }
}

pub fn is_identifier(s: &str) -> bool {
    !s.is_empty() && !s.starts_with(|c: char| c.is_ascii_digit()) && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}
