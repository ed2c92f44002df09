//! Reading a playbook file (and what it imports) into the model, with precise errors.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Map, Value};

use super::keywords::{PLAY_KEYWORDS, lacking, suggest};
use super::task::{Ctx, conds, opt_bool, opt_string, parse_keywords, string_list};
use super::{Node, Play, Playbook, RoleScope, Strategy};
use crate::yaml::{self, NodeKind, Span, YamlError};

/// A playbook problem, with where it is.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{span}: {msg}")]
pub struct LoadError {
    pub span: Span,
    pub msg: String,
}

impl LoadError {
    pub fn at(span: &Span, msg: impl Into<String>) -> LoadError {
        LoadError { span: span.clone(), msg: msg.into() }
    }
}

impl From<YamlError> for LoadError {
    fn from(e: YamlError) -> Self {
        LoadError { span: e.span, msg: e.msg }
    }
}

/// Settings for loading.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// Extra folders to find roles in (after the playbook's own roles/).
    pub roles_path: Vec<PathBuf>,
    /// Refuse a task naming a module hlprov does not have (`--strict`), instead of warning and failing the
    /// task only if it runs.
    pub strict: bool,
}

pub(crate) struct Loader {
    pub(crate) opts: LoadOptions,
    pub(crate) playbook_dir: PathBuf,
    /// Files being imported right now, to refuse import cycles.
    importing: Vec<PathBuf>,
    pub(crate) role_stack: Vec<PathBuf>,
    /// Roles already placed in the current play (a role runs once per play unless allow_duplicates).
    pub(crate) play_roles: HashSet<String>,
    pub(crate) role_handlers_seen: HashSet<PathBuf>,
    /// Handlers contributed by the current play's roles.
    pub(crate) play_handlers: Vec<Node>,
    /// Tasks naming a module hlprov does not have (not strict): reported as warnings.
    pub(crate) missing: Vec<super::MissingModule>,
    /// `vars:` of the `import_playbook` being read (they become play vars of its plays, over their own).
    import_vars: Map<String, Value>,
    /// What is known while loading a play (its vars and import vars): static role names may use it.
    pub(crate) static_vars: Map<String, Value>,
}

impl Loader {
    fn new(playbook_dir: PathBuf, opts: LoadOptions) -> Loader {
        Loader {
            opts,
            playbook_dir,
            importing: Vec::new(),
            role_stack: Vec::new(),
            play_roles: HashSet::new(),
            role_handlers_seen: HashSet::new(),
            play_handlers: Vec::new(),
            missing: Vec::new(),
            import_vars: Map::new(),
            static_vars: Map::new(),
        }
    }

    pub(crate) fn load_tasks_file(&mut self, path: &Path, ctx: &Ctx, from: &Span) -> Result<Vec<Node>, LoadError> {
        if !path.is_file() {
            return Err(LoadError::at(from, format!("tasks file {} not found", path.display())));
        }
        let canonical = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        if self.importing.contains(&canonical) {
            return Err(LoadError::at(from, format!("{} imports itself (import cycle)", path.display())));
        }
        self.importing.push(canonical);
        let result = yaml::load_file(path).map_err(LoadError::from).and_then(|doc| self.parse_task_list(&doc, ctx));
        self.importing.pop();
        result
    }

    fn load_playbook_file(&mut self, path: &Path, from: Option<&Span>) -> Result<Vec<Arc<Play>>, LoadError> {
        let canonical = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        if self.importing.contains(&canonical) {
            let span = from.cloned().unwrap_or_else(|| Span::new(path.display().to_string(), 1, 1));
            return Err(LoadError::at(&span, format!("{} imports itself (import cycle)", path.display())));
        }
        let doc = yaml::load_file(path)?;
        self.importing.push(canonical);
        let result = self.parse_plays(&doc, path);
        self.importing.pop();
        result
    }

    fn parse_plays(&mut self, doc: &yaml::Node, path: &Path) -> Result<Vec<Arc<Play>>, LoadError> {
        let Some(items) = doc.as_seq() else {
            return Err(LoadError::at(&doc.span, format!("a playbook is a list of plays, found {}", doc.type_name())));
        };
        let mut plays = Vec::new();
        for item in items {
            if let Some(target) = item.get("import_playbook") {
                let name = target.as_str().ok_or_else(|| LoadError::at(&target.span, "import_playbook needs a file name"))?;
                let base = path.parent().unwrap_or(Path::new("."));
                let file = base.join(name);
                if !file.is_file() {
                    return Err(LoadError::at(&target.span, format!("playbook {} not found", file.display())));
                }
                let outer = self.import_vars.clone();
                if let Some(v) = item.get("vars") {
                    let Some(map) = v.to_value().as_object().cloned() else {
                        return Err(LoadError::at(&v.span, "`vars:` of an import_playbook must be a mapping"));
                    };
                    self.import_vars.extend(map);
                }
                let imported = self.load_playbook_file(&file, Some(&target.span));
                self.import_vars = outer;
                plays.extend(imported?);
                continue;
            }
            plays.push(Arc::new(self.parse_play(item, path)?));
        }
        Ok(plays)
    }

    fn parse_play(&mut self, node: &yaml::Node, path: &Path) -> Result<Play, LoadError> {
        let Some(entries) = node.as_map() else {
            return Err(LoadError::at(&node.span, format!("a play is a mapping (hosts:, tasks:, …), found {}", node.type_name())));
        };
        for (k, _) in entries {
            let key = k.key_string().unwrap_or_default();
            if let Some(msg) = lacking(&key) {
                return Err(LoadError::at(&k.span, msg));
            }
            if !PLAY_KEYWORDS.contains(&key.as_str()) {
                let hint = suggest(&key, &PLAY_KEYWORDS).map(|s| format!("; did you mean '{s}'?")).unwrap_or_default();
                let tasky = if crate::modules::registry::find(&key).is_some() { " (modules go in a task list such as `tasks:`)" } else { "" };
                return Err(LoadError::at(&k.span, format!("unknown play keyword '{key}'{hint}{tasky}")));
            }
        }
        let hosts = match node.get("hosts") {
            None => return Err(LoadError::at(&node.span, "a play needs `hosts:` (a host pattern such as `all` or `k3s_servers`)")),
            Some(h) => match &h.kind {
                NodeKind::Str(s) => s.clone(),
                NodeKind::Seq(items) => items.iter().filter_map(|i| i.key_string()).collect::<Vec<_>>().join(":"),
                _ => return Err(LoadError::at(&h.span, "`hosts:` must be a pattern string or a list of patterns")),
            },
        };
        let mut kw = parse_keywords(node)?;
        let mut vars = std::mem::take(&mut kw.vars);
        // As in Ansible, an import_playbook's vars win over the imported play's own.
        vars.extend(self.import_vars.clone());
        self.static_vars = vars.clone();
        if !kw.when.is_empty() {
            return Err(LoadError::at(&node.span, "`when:` is not allowed on a play; put it on tasks, blocks or roles"));
        }
        let base_dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        self.play_roles.clear();
        self.role_handlers_seen.clear();
        self.play_handlers.clear();
        let ctx = Ctx { base_dir, role: None, handlers: false };
        let section = |l: &mut Loader, key: &str, handlers: bool| -> Result<Vec<Node>, LoadError> {
            match node.get(key) {
                Some(n) => l.parse_task_list(n, &Ctx { handlers, ..ctx.clone() }),
                None => Ok(Vec::new()),
            }
        };
        let pre_tasks = section(self, "pre_tasks", false)?;
        let mut tasks = Vec::new();
        if let Some(roles) = node.get("roles") {
            let Some(list) = roles.as_seq() else {
                return Err(LoadError::at(&roles.span, "`roles:` must be a list of role names or role entries"));
            };
            for entry in list {
                let (name, params, rkw) = self.role_entry(entry)?;
                if let Some(block) = self.role_block(
                    super::role::Once::UnlessMetaAllowsDuplicates,
                    &name,
                    params,
                    &super::role::RoleFiles::default(),
                    rkw,
                    &entry.span,
                )? {
                    tasks.push(block);
                }
            }
        }
        tasks.extend(section(self, "tasks", false)?);
        let post_tasks = section(self, "post_tasks", false)?;
        // Ansible's order: the roles' handlers, then the play's own.
        let own_handlers = section(self, "handlers", true)?;
        let mut handlers = std::mem::take(&mut self.play_handlers);
        handlers.extend(own_handlers);
        let verify = section(self, "verify", false)?;

        let name = opt_string(node, "name")?.unwrap_or_else(|| hosts.clone());
        let requires = match node.get("requires") {
            None => None,
            Some(r) => {
                let list = match &r.kind {
                    NodeKind::Str(s) => vec![(s.clone(), r.span.clone())],
                    NodeKind::Seq(items) => items
                        .iter()
                        .map(|i| {
                            i.as_str()
                                .map(|s| (s.to_string(), i.span.clone()))
                                .ok_or_else(|| LoadError::at(&i.span, "`requires:` entries are phase names"))
                        })
                        .collect::<Result<_, _>>()?,
                    NodeKind::Null => Vec::new(),
                    _ => return Err(LoadError::at(&r.span, "`requires:` must be a phase name or a list of them")),
                };
                Some(list)
            }
        };
        let serial = match node.get("serial") {
            None => Vec::new(),
            Some(s) => {
                let items: Vec<&yaml::Node> = match &s.kind {
                    NodeKind::Seq(items) => items.iter().collect(),
                    _ => vec![s],
                };
                let mut out = Vec::new();
                for i in items {
                    let ok = match &i.kind {
                        NodeKind::Int(n) => *n > 0,
                        NodeKind::Str(p) => p.contains("{{") || p.trim_end_matches('%').trim().parse::<f64>().is_ok_and(|v| v > 0.0),
                        _ => false,
                    };
                    if !ok {
                        return Err(LoadError::at(&i.span, "`serial:` takes a positive number of hosts or a percentage like '30%'"));
                    }
                    out.push(i.to_value());
                }
                out
            }
        };
        let max_fail_percentage = match node.get("max_fail_percentage") {
            None => None,
            Some(m) => Some(
                m.to_value()
                    .as_f64()
                    .filter(|v| (0.0..=100.0).contains(v))
                    .ok_or_else(|| LoadError::at(&m.span, "`max_fail_percentage:` must be a number from 0 to 100"))?,
            ),
        };
        let strategy_raw = opt_string(node, "strategy")?;
        let strategy_template = strategy_raw.clone().filter(|s| s.contains("{{"));
        let strategy = match strategy_raw.as_deref() {
            Some(t) if t.contains("{{") => Strategy::Linear,
            s => Strategy::parse(s).map_err(|e| LoadError::at(&node.get("strategy").unwrap_or(node).span, e))?,
        };
        let vars_files = string_list(node, "vars_files")?
            .into_iter()
            .map(|f| (f, node.get("vars_files").map(|n| n.span.clone()).unwrap_or_else(|| node.span.clone())))
            .collect();
        let _ = conds(node, "when")?;
        Ok(Play {
            span: node.span.clone(),
            name,
            hosts,
            phase: opt_string(node, "phase")?,
            requires,
            verify,
            vars,
            vars_files,
            gather_facts: opt_bool(node, "gather_facts")?.unwrap_or(true),
            serial,
            max_fail_percentage,
            any_errors_fatal: kw.any_errors_fatal.unwrap_or(false),
            strategy,
            strategy_template,
            force_handlers: opt_bool(node, "force_handlers")?.unwrap_or(false),
            kw,
            pre_tasks,
            tasks,
            post_tasks,
            handlers,
            role_handler_files: std::mem::take(&mut self.role_handlers_seen),
        })
    }
}

/// Load a playbook and everything it imports statically. Nothing runs; every error is found here.
pub fn load(path: &Path, opts: &LoadOptions) -> Result<Playbook, LoadError> {
    let dir = path.parent().map(|p| if p.as_os_str().is_empty() { Path::new(".") } else { p }).unwrap_or(Path::new(".")).to_path_buf();
    if !path.is_file() {
        return Err(LoadError::at(&Span::new(path.display().to_string(), 0, 0), "playbook not found"));
    }
    let mut loader = Loader::new(dir.clone(), opts.clone());
    let plays = loader.load_playbook_file(path, None)?;
    Ok(Playbook { path: path.to_path_buf(), dir, plays, missing: loader.missing })
}

/// Load a tasks file at run time (`include_tasks`).
pub fn load_task_file(
    path: &Path,
    role: Option<Arc<RoleScope>>,
    playbook_dir: &Path,
    opts: &LoadOptions,
    from: &Span,
) -> Result<Vec<Node>, LoadError> {
    let mut loader = Loader::new(playbook_dir.to_path_buf(), opts.clone());
    let ctx = Ctx { base_dir: path.parent().unwrap_or(Path::new(".")).to_path_buf(), role, handlers: false };
    loader.load_tasks_file(path, &ctx, from)
}

/// Load a role at run time (`include_role`): its block, and the handlers of handler files not yet in the play
/// (`handlers_loaded`: the handler files the play has, updated).
pub fn load_role(
    name: &str,
    files: &super::role::RoleFiles,
    playbook_dir: &Path,
    opts: &LoadOptions,
    handlers_loaded: &mut HashSet<PathBuf>,
    from: &Span,
) -> Result<(Node, Vec<Node>), LoadError> {
    let mut loader = Loader::new(playbook_dir.to_path_buf(), opts.clone());
    loader.role_handlers_seen = std::mem::take(handlers_loaded);
    let block = loader.role_block(super::role::Once::Never, name, Map::new(), files, super::Keywords::default(), from);
    *handlers_loaded = std::mem::take(&mut loader.role_handlers_seen);
    let block = block?.ok_or_else(|| LoadError::at(from, "role was already loaded"))?;
    Ok((block, std::mem::take(&mut loader.play_handlers)))
}
