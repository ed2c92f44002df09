//! Playbooks as data: plays, tasks, blocks, roles, includes and handlers, each with the file:line it came from.
//! [`load`] reads a playbook and everything it imports statically, and refuses bad input (unknown modules or
//! keywords, wrong argument types, missing roles or files) before anything runs. Running is exec's business.

pub mod action;
mod keywords;
mod load;
mod role;
mod task;

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::yaml::Span;

pub use action::{Action, MetaAction};
pub use keywords::{PLAY_KEYWORDS, TASK_KEYWORDS};
pub use load::{LoadError, LoadOptions, load, load_role, load_task_file};
pub use role::{RoleFiles, RoleScope};
pub use task::{ARGS_TEMPLATE, is_identifier, resolve_include_path, resolve_tasks_path};

/// A loaded playbook.
#[derive(Debug)]
pub struct Playbook {
    pub path: PathBuf,
    /// The playbook's folder: relative paths, `files/`, `templates/` and `group_vars/` are found from here.
    pub dir: PathBuf,
    pub plays: Vec<Arc<Play>>,
    /// Tasks naming a module hlprov does not have, in the order they were read (see [`MissingModule`]).
    pub missing: Vec<MissingModule>,
}

/// A task whose module hlprov does not have: where it is and the module as written.
#[derive(Clone, Debug)]
pub struct MissingModule {
    pub span: Span,
    pub module: String,
}

impl std::fmt::Display for MissingModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: module '{}' is not available in hlprov; the task fails if it runs on a host", self.span, self.module)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Strategy {
    /// Every host finishes a task before any host starts the next (Ansible's default).
    #[default]
    Linear,
    /// Each host runs through the play at its own pace (`host_pinned` too: hlprov keeps no worker pool that
    /// hosts could move between).
    Free,
}

impl Strategy {
    /// A strategy's name as Ansible spells it (none: linear).
    pub fn parse(name: Option<&str>) -> Result<Strategy, String> {
        match name.map(str::trim) {
            None | Some("linear") | Some("ansible.builtin.linear") => Ok(Strategy::Linear),
            Some("free" | "host_pinned" | "ansible.builtin.free" | "ansible.builtin.host_pinned") => Ok(Strategy::Free),
            Some(other) => Err(format!("strategy '{other}' is not supported (linear, free or host_pinned)")),
        }
    }
}

/// One play: a set of hosts and what to do to them.
#[derive(Debug)]
pub struct Play {
    pub span: Span,
    pub name: String,
    /// Host pattern (may hold a template, rendered with extra vars).
    pub hosts: String,
    /// Phase name in the phase graph (`phase:`), if the play names one.
    pub phase: Option<String>,
    /// Phases this one needs (`requires:`); None means "the play before this one".
    pub requires: Option<Vec<(String, Span)>>,
    /// Verification gate run after the play (`verify:`).
    pub verify: Vec<Node>,
    pub vars: Map<String, Value>,
    pub vars_files: Vec<(String, Span)>,
    pub gather_facts: bool,
    /// Batch sizes (`serial:`): numbers or percentages; the last one repeats.
    pub serial: Vec<Value>,
    pub max_fail_percentage: Option<f64>,
    pub any_errors_fatal: bool,
    pub strategy: Strategy,
    /// `strategy: "{{ … }}"`: rendered when the play starts (then `strategy` is only the fallback).
    pub strategy_template: Option<String>,
    pub force_handlers: bool,
    /// Keywords every task of the play inherits (become, environment, tags, …).
    pub kw: Keywords,
    pub pre_tasks: Vec<Node>,
    /// `roles:` (as role blocks) followed by `tasks:`.
    pub tasks: Vec<Node>,
    pub post_tasks: Vec<Node>,
    /// The handlers of its roles followed by the play's own (Ansible's order).
    pub handlers: Vec<Node>,
    /// The roles' handler files among `handlers`: an `include_role` of a role already in the play does not add
    /// its handlers again.
    pub role_handler_files: std::collections::HashSet<std::path::PathBuf>,
}

/// A condition (`when`, `changed_when`, `failed_when`, `until`): a Jinja expression or a literal boolean.
#[derive(Clone, Debug, PartialEq)]
pub struct Cond {
    pub expr: String,
    pub span: Span,
}

/// The keywords of one level (play, role, block, include, task), and, merged with [`Keywords::under`], the
/// keywords in force for a task: the executor keeps this same struct as it walks down the tree.
#[derive(Clone, Debug, Default)]
pub struct Keywords {
    pub when: Vec<Cond>,
    pub tags: Vec<String>,
    /// `become:` (a reserved word in Rust).
    pub escalate: Option<bool>,
    pub become_user: Option<String>,
    /// `environment:` mappings, outermost first (one per level that set one).
    pub environment: Vec<Value>,
    /// `vars:` of a block or task (block/task precedence level).
    pub vars: Map<String, Value>,
    pub ignore_errors: Option<Value>,
    pub ignore_unreachable: Option<bool>,
    pub check_mode: Option<Value>,
    pub diff: Option<bool>,
    pub no_log: Option<Value>,
    pub delegate_to: Option<String>,
    /// A boolean, or a template rendered for the first host when the task runs.
    pub run_once: Option<Value>,
    pub any_errors_fatal: Option<bool>,
    /// Per-task time limit in seconds.
    pub timeout: Option<u64>,
    /// `notify:` of a block or static import, for the tasks inside that name none (a task's own wins).
    pub notify: Vec<String>,
}

impl Keywords {
    /// The keywords in force under `self` for a level with `inner`'s own: conditions, tags and environments add
    /// up; every other keyword the inner level sets wins. `vars` are not merged here (they are scope layers).
    pub fn under(&self, inner: &Keywords) -> Keywords {
        let mut n = self.clone();
        n.vars = Map::new();
        n.when.extend(inner.when.iter().cloned());
        for t in &inner.tags {
            if !n.tags.contains(t) {
                n.tags.push(t.clone());
            }
        }
        n.environment.extend(inner.environment.iter().cloned());
        if !inner.notify.is_empty() {
            n.notify = inner.notify.clone();
        }
        macro_rules! override_with_inner {
            ($($f:ident),*) => { $( if inner.$f.is_some() { n.$f = inner.$f.clone(); } )* };
        }
        override_with_inner!(
            escalate,
            become_user,
            ignore_errors,
            ignore_unreachable,
            check_mode,
            diff,
            no_log,
            delegate_to,
            run_once,
            any_errors_fatal,
            timeout
        );
        n
    }
}

/// Which loop keyword a task used; they differ in how the list is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoopKind {
    Loop,
    WithItems,
    WithList,
    WithDict,
    WithIndexedItems,
    WithFileglob,
    WithSequence,
    WithFirstFound,
    WithTogether,
    WithNested,
    WithSubelements,
    WithFlattened,
    WithRandomChoice,
    /// `with_file`, `with_lines`, `with_pipe`, …: the controller lookup of that name, as a loop.
    WithLookup(&'static str),
}

#[derive(Clone, Debug)]
pub struct Loop {
    pub kind: LoopKind,
    pub expr: Value,
}

#[derive(Clone, Debug)]
pub struct LoopControl {
    /// A variable name, or a template that renders to one (checked when the task runs).
    pub loop_var: String,
    pub index_var: Option<String>,
    pub label: Option<String>,
    pub pause: Option<f64>,
    pub extended: bool,
    /// `extended_allitems: false` leaves `ansible_loop.allitems` out (a long list copied into every item).
    pub extended_allitems: bool,
    /// Stop after the first item for which one of these holds (the item's result is registered by then).
    pub break_when: Vec<Cond>,
}

impl Default for LoopControl {
    fn default() -> Self {
        LoopControl {
            loop_var: "item".into(),
            index_var: None,
            label: None,
            pause: None,
            extended: false,
            extended_allitems: true,
            break_when: Vec::new(),
        }
    }
}

/// A task that runs a module.
pub struct Task {
    pub span: Span,
    pub name: Option<String>,
    pub action: Action,
    /// The module's arguments as written (rendered per host at run time).
    pub args: Map<String, Value>,
    pub kw: Keywords,
    pub loop_: Option<Loop>,
    pub loop_control: LoopControl,
    pub register: Option<String>,
    pub changed_when: Option<Vec<Cond>>,
    pub failed_when: Option<Vec<Cond>>,
    pub until: Option<Vec<Cond>>,
    pub retries: Option<Value>,
    pub delay: Option<Value>,
    pub notify: Vec<String>,
    /// Topics a handler answers to (`listen:`), besides its name.
    pub listen: Vec<String>,
    /// Marks a task that only reads: it runs even in check mode (phase gates).
    pub read_only: bool,
    /// `async: N` with `poll:` above 0: Ansible starts a job and polls it until it ends or N seconds pass,
    /// which for the play is the task run with a time limit of N seconds.
    pub async_limit: Option<u64>,
    /// `async: N` with `poll: 0`: a background job of at most N seconds, read later with async_status
    /// (command, shell and script only; refused when loading for other modules).
    pub async_job: Option<u64>,
    pub role: Option<Arc<RoleScope>>,
}

impl std::fmt::Debug for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Task").field("span", &self.span).field("name", &self.name).field("action", &self.action.name()).finish()
    }
}

impl Task {
    /// A task hlprov makes itself (fact gathering): a module with no arguments and default keywords.
    pub fn synthetic(span: Span, name: &str, module: &'static dyn crate::modules::Module, kw: Keywords) -> Task {
        Task {
            span,
            name: Some(name.to_string()),
            action: Action::Module(module),
            args: Map::new(),
            kw,
            loop_: None,
            loop_control: LoopControl::default(),
            register: None,
            changed_when: None,
            failed_when: None,
            until: None,
            retries: None,
            delay: None,
            notify: Vec::new(),
            listen: Vec::new(),
            read_only: false,
            async_limit: None,
            async_job: None,
            role: None,
        }
    }

    /// The name shown in output: `role : name`, or the module and its arguments when unnamed.
    pub fn display_name(&self) -> String {
        let base = match &self.name {
            Some(n) => n.clone(),
            None => self.action.name().to_string(),
        };
        match &self.role {
            Some(r) => format!("{} : {base}", r.name),
            None => base,
        }
    }
}

/// `block:` with optional `rescue:` and `always:`; roles are blocks with a role scope.
#[derive(Debug)]
pub struct Block {
    pub span: Span,
    pub name: Option<String>,
    pub block: Vec<Node>,
    pub rescue: Vec<Node>,
    pub always: Vec<Node>,
    pub kw: Keywords,
    /// Set when this block is a role's body: its variables and files apply inside.
    pub role: Option<Arc<RoleScope>>,
}

/// What a dynamic include brings in.
#[derive(Clone, Debug)]
pub enum IncludeKind {
    /// `include_tasks: FILE` (FILE may be templated).
    Tasks { file: String },
    /// `include_role: {name: …, tasks_from: …}`.
    Role { name: String, files: RoleFiles },
}

/// `include_tasks` / `include_role`: resolved per host when reached.
#[derive(Debug)]
pub struct Include {
    pub span: Span,
    pub name: Option<String>,
    pub kind: IncludeKind,
    pub kw: Keywords,
    pub loop_: Option<Loop>,
    pub loop_control: LoopControl,
    /// Keywords to apply to the included tasks (`apply:`).
    pub apply: Keywords,
    /// Folder relative file names are resolved against.
    pub base_dir: PathBuf,
    pub role: Option<Arc<RoleScope>>,
    /// `register:` on the include: what it included (`include`, `include_args`), per item in a loop.
    pub register: Option<String>,
    /// `public:` on include_role: its defaults and vars stay visible after it (to the rest of the play).
    pub public: bool,
    /// Topics an include used as a handler answers to (`listen:`), besides its name.
    pub listen: Vec<String>,
}

#[derive(Debug, Clone)]
pub enum Node {
    Task(Arc<Task>),
    Block(Arc<Block>),
    Include(Arc<Include>),
}

impl Node {
    pub fn span(&self) -> &Span {
        match self {
            Node::Task(t) => &t.span,
            Node::Block(b) => &b.span,
            Node::Include(i) => &i.span,
        }
    }
}
