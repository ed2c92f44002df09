//! Roles: roles/NAME/{tasks,handlers,templates,files,defaults,vars,meta}. A role becomes a block whose tasks
//! see the role's variables and find files in the role's folders; its meta dependencies run first.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Map, Value};

use super::load::{LoadError, Loader};
use super::task::{Ctx, parse_keywords};
use super::{Block, Keywords, Node, TASK_KEYWORDS};
use crate::vars_file;
use crate::yaml::{self, Span};

/// Which of a role's files to read: `tasks_from`, `vars_from`, `defaults_from`, `handlers_from` (names in the
/// role's tasks/, vars/, defaults/, handlers/, with or without `.yml`); `main` where not given.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RoleFiles {
    pub tasks: Option<String>,
    pub vars: Option<String>,
    pub defaults: Option<String>,
    pub handlers: Option<String>,
}

impl RoleFiles {
    /// The option that names each file, with the role folder it is in.
    const OPTIONS: [(&'static str, &'static str); 4] =
        [("tasks_from", "tasks"), ("vars_from", "vars"), ("defaults_from", "defaults"), ("handlers_from", "handlers")];

    /// Read from the options: `option("tasks_from")`, … (None where not given).
    pub fn from_options<E>(mut option: impl FnMut(&str) -> Result<Option<String>, E>) -> Result<RoleFiles, E> {
        let [tasks, vars, defaults, handlers] = Self::OPTIONS.map(|(name, _)| option(name));
        Ok(RoleFiles { tasks: tasks?, vars: vars?, defaults: defaults?, handlers: handlers? })
    }

    /// Each name given, changed by `f` (rendered, for `include_role`).
    pub fn map(&self, mut f: impl FnMut(Option<&str>) -> Option<String>) -> RoleFiles {
        RoleFiles {
            tasks: f(self.tasks.as_deref()),
            vars: f(self.vars.as_deref()),
            defaults: f(self.defaults.as_deref()),
            handlers: f(self.handlers.as_deref()),
        }
    }

    /// The options as written: (`tasks_from`, value), … for those given.
    pub fn options(&self) -> impl Iterator<Item = (&'static str, &str)> + '_ {
        Self::OPTIONS.iter().filter_map(|(name, dir)| self.given(dir).as_deref().map(|v| (*name, v)))
    }

    /// The name given for the role folder `dir`.
    fn given(&self, dir: &str) -> &Option<String> {
        match dir {
            "tasks" => &self.tasks,
            "vars" => &self.vars,
            "defaults" => &self.defaults,
            _ => &self.handlers,
        }
    }

    /// The file `NAME` (or main) of the role's folder `dir`; a named file that does not exist is an error, with
    /// Ansible's words.
    fn file(&self, role: &Path, dir: &str, span: &Span) -> Result<Option<PathBuf>, LoadError> {
        let given = self.given(dir);
        let name = given.as_deref().map(|t| t.trim_end_matches(".yml").trim_end_matches(".yaml")).unwrap_or("main");
        match main_file(&role.join(dir), name) {
            Some(p) => Ok(Some(p)),
            None if given.is_some() => Err(LoadError::at(
                span,
                format!(
                    "Could not find specified file in role: {dir}/{name} (role '{}' has no {name}.yml, {name}.yaml or {name} in {dir}/)",
                    role.file_name().unwrap_or_default().to_string_lossy()
                ),
            )),
            None => Ok(None),
        }
    }
}

/// Whether a role listed again in a play runs again. As in Ansible: `roles:` entries and dependencies run once
/// per play unless the role's meta says `allow_duplicates: true`; an `import_role` runs wherever it is written,
/// unless it says `allow_duplicates: false`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Once {
    UnlessMetaAllowsDuplicates,
    Never,
    Always,
}

/// A role as its tasks see it.
#[derive(Debug)]
pub struct RoleScope {
    pub name: String,
    pub path: PathBuf,
    /// defaults/main.yml (lowest precedence of all variables).
    pub defaults: Arc<Map<String, Value>>,
    /// vars/main.yml (above play vars and vars_files).
    pub vars: Arc<Map<String, Value>>,
    /// Parameters given where the role was listed (`roles: [{role: x, vars: {…}}]`).
    pub params: Arc<Map<String, Value>>,
    /// The roles this one depends on: their defaults and vars are visible here too.
    pub deps: Vec<Arc<RoleScope>>,
}

/// A file `NAME.yml`, `NAME.yaml` or `NAME` in a folder, if any exists.
pub(crate) fn main_file(dir: &Path, name: &str) -> Option<PathBuf> {
    [format!("{name}.yml"), format!("{name}.yaml"), name.to_string()].into_iter().map(|n| dir.join(n)).find(|p| p.is_file())
}

impl Loader {
    pub(crate) fn find_role(&self, name: &str, span: &Span) -> Result<PathBuf, LoadError> {
        let mut candidates = Vec::new();
        if name.contains('/') {
            candidates.push(self.playbook_dir.join(name));
        }
        candidates.push(self.playbook_dir.join("roles").join(name));
        // A project keeps playbooks/ and roles/ side by side.
        if let Some(parent) = self.playbook_dir.parent() {
            candidates.push(parent.join("roles").join(name));
        }
        for p in &self.opts.roles_path {
            candidates.push(p.join(name));
        }
        candidates.push(self.playbook_dir.join(name));
        if let Some(found) = candidates.iter().find(|c| c.is_dir()) {
            return Ok(found.clone());
        }
        let searched: Vec<String> = candidates.iter().map(|c| c.display().to_string()).collect();
        Err(LoadError::at(span, format!("role '{name}' not found (looked in: {})", searched.join(", "))))
    }

    /// A role (and, first, its dependencies) as a block, or None when it already ran in this play and `once`
    /// says it runs once.
    pub(crate) fn role_block(
        &mut self,
        once: Once,
        name: &str,
        params: Map<String, Value>,
        files: &RoleFiles,
        kw: Keywords,
        span: &Span,
    ) -> Result<Option<Node>, LoadError> {
        let name = &self.static_role_name(name, span)?;
        let path = self.find_role(name, span)?;
        let meta = match super::role::main_file(&path.join("meta"), "main") {
            Some(p) => yaml::load_file(&p).map_err(LoadError::from)?,
            None => yaml::Node { kind: yaml::NodeKind::Null, span: span.clone(), tag: None },
        };
        let meta_allows_duplicates = matches!(meta.get("allow_duplicates").map(|n| &n.kind), Some(yaml::NodeKind::Bool(true)));
        let key = format!("{}|{}|{:?}", path.display(), Value::Object(params.clone()), files);
        let first_time = self.play_roles.insert(key);
        let runs_once = match once {
            Once::UnlessMetaAllowsDuplicates => !meta_allows_duplicates,
            Once::Never => false,
            Once::Always => true,
        };
        if runs_once && !first_time {
            return Ok(None);
        }
        if self.role_stack.contains(&path) {
            return Err(LoadError::at(span, format!("role '{name}' depends on itself (through meta dependencies)")));
        }
        self.role_stack.push(path.clone());
        let result = self.role_block_inner(name, &path, &meta, params, files, kw, span);
        self.role_stack.pop();
        result.map(Some)
    }

    #[allow(clippy::too_many_arguments)]
    fn role_block_inner(
        &mut self,
        name: &str,
        path: &Path,
        meta: &yaml::Node,
        params: Map<String, Value>,
        files: &RoleFiles,
        kw: Keywords,
        span: &Span,
    ) -> Result<Node, LoadError> {
        let mut body = Vec::new();
        let mut deps = Vec::new();
        if let Some(list) = meta.get("dependencies") {
            for dep in list.as_seq().unwrap_or_default() {
                let (dep_name, dep_params, dep_kw) = self.role_entry(dep)?;
                if let Some(node) =
                    self.role_block(Once::UnlessMetaAllowsDuplicates, &dep_name, dep_params, &RoleFiles::default(), dep_kw, &dep.span)?
                {
                    if let Node::Block(b) = &node {
                        if let Some(scope) = &b.role {
                            deps.push(scope.clone());
                        }
                    }
                    body.push(node);
                }
            }
        }
        let read_vars = |dir: &str| -> Result<Map<String, Value>, LoadError> {
            match files.file(path, dir, span)? {
                Some(p) => Ok(vars_file::load(&p).map_err(LoadError::from)?.vars),
                None => Ok(Map::new()),
            }
        };
        let scope = Arc::new(RoleScope {
            name: name.rsplit('/').next().unwrap_or(name).to_string(),
            path: path.to_path_buf(),
            defaults: Arc::new(read_vars("defaults")?),
            vars: Arc::new(read_vars("vars")?),
            params: Arc::new(params),
            deps,
        });
        let ctx = Ctx { base_dir: path.join("tasks"), role: Some(scope.clone()), handlers: false };
        if let Some(file) = files.file(path, "tasks", span)? {
            body.extend(self.load_tasks_file(&file, &ctx, span)?);
        }
        // A role's handlers file joins the play's handlers once, however often the role runs (Ansible runs a
        // notified handler once per flush, not once per inclusion of its role).
        if let Some(file) = files.file(path, "handlers", span)? {
            if self.role_handlers_seen.insert(file.clone()) {
                let hctx = Ctx { base_dir: path.join("handlers"), role: Some(scope.clone()), handlers: true };
                let handlers = self.load_tasks_file(&file, &hctx, span)?;
                self.play_handlers.extend(handlers);
            }
        }
        Ok(Node::Block(Arc::new(Block { span: span.clone(), name: None, block: body, rescue: vec![], always: vec![], kw, role: Some(scope) })))
    }

    /// One entry of `roles:` or `dependencies:`: a name, or a mapping with `role:`/`name:`, keywords and parameters.
    /// A static role name (`roles:`, `import_role`) given as a template is rendered with what is known when the
    /// playbook is loaded: the play's vars and its import_playbook's vars (as Ansible does; extra vars are not
    /// known to the loader). Names known only at run time belong in `include_role`.
    fn static_role_name(&self, name: &str, span: &Span) -> Result<String, LoadError> {
        self.static_template(&format!("role name '{name}'"), name, span)
    }

    /// Render `text` (a role name, an import_role `tasks_from`, …) with what the loader knows: the play's vars
    /// and its import_playbook's vars; `what` names it in the error.
    pub(crate) fn static_template(&self, what: &str, text: &str, span: &Span) -> Result<String, LoadError> {
        if !text.contains("{{") {
            return Ok(text.to_string());
        }
        let mut scope = crate::vars::VarScope::new();
        scope.push(crate::vars::LayerKind::PlayVars, "play vars", std::sync::Arc::new(self.static_vars.clone()));
        crate::template::Templar::new().render_text(text, &scope, span).map_err(|e| {
            LoadError::at(
                span,
                format!(
                    "{what} must be known when the playbook is loaded (from the play's vars or an import_playbook's vars): {}; use include_role for a value known only at run time",
                    e.message
                ),
            )
        })
    }

    pub(crate) fn role_entry(&self, node: &yaml::Node) -> Result<(String, Map<String, Value>, Keywords), LoadError> {
        if let Some(name) = node.as_str() {
            return Ok((name.to_string(), Map::new(), Keywords::default()));
        }
        let Some(entries) = node.as_map() else {
            return Err(LoadError::at(&node.span, format!("a role entry is a name or a mapping with `role:`, found {}", node.type_name())));
        };
        let name = node
            .get("role")
            .or_else(|| node.get("name"))
            .and_then(|n| n.as_str())
            .ok_or_else(|| LoadError::at(&node.span, "a role entry needs `role:` (the role's name)"))?
            .to_string();
        let mut kw = parse_keywords(node)?;
        // Role `vars:` are role parameters (they outrank play vars), not block vars.
        let mut params = std::mem::take(&mut kw.vars);
        for (k, v) in entries {
            let key = k.key_string().unwrap_or_default();
            if key != "role" && key != "name" && !TASK_KEYWORDS.contains(&key.as_str()) {
                params.insert(key, v.to_value());
            }
        }
        Ok((name, params, kw))
    }
}
