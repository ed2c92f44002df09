//! What a task does: run a module on a host, or act on the run itself. `set_fact` (host variables for the rest
//! of the run) and `meta` (flush handlers, end the play …) change the engine's state, not a host's, so they
//! are the engine's actions rather than modules: they are checked here when loaded and carried out by `exec`.

use serde_json::{Map, Value};

use crate::modules::registry::{self, short_name};
use crate::modules::{ArgKind, ArgSpec, Module, ModuleSpec};

/// What a task does.
#[derive(Clone)]
pub enum Action {
    Module(&'static dyn Module),
    /// A module hlprov does not have (as written, e.g. `ansible.builtin.dnf`): a warning when loaded, and a
    /// failure only if the task runs on a host, since multi-distribution roles name modules for other systems.
    Missing(std::sync::Arc<str>),
    /// `set_fact`: every argument (but `cacheable`) becomes a host variable.
    SetFact,
    /// `include_vars`: a vars file's variables become host variables (found in the role's vars/ first).
    IncludeVars,
    /// `meta`: act on the run.
    Meta(MetaAction),
    /// `group_by`: put the host in a group (made if new) for the rest of the run.
    GroupBy,
    /// `add_host`: add a host (with variables and groups) to the inventory for the rest of the run; runs once
    /// per task (or loop item), not once per host, as in Ansible.
    AddHost,
    /// `action: "{{ pkg_mgr }} name=x"`: the module is named by a template, resolved when the task runs;
    /// its arguments are kept as written (a `k=v` string under `_raw_params`, or a mapping).
    Templated(std::sync::Arc<str>),
}

impl Action {
    pub fn name(&self) -> &str {
        match self {
            Action::Module(m) => m.name(),
            Action::Missing(name) => name,
            Action::SetFact => "set_fact",
            Action::IncludeVars => "include_vars",
            Action::Meta(_) => "meta",
            Action::GroupBy => "group_by",
            Action::AddHost => "add_host",
            Action::Templated(name) => name,
        }
    }
}

/// What a `meta` task does to the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetaAction {
    FlushHandlers,
    EndPlay,
    EndHost,
    ClearFacts,
    ClearHostErrors,
    /// noop, and the actions hlprov has no use for (refresh_inventory, reset_connection).
    Noop,
}

impl MetaAction {
    fn parse(word: &str) -> Option<MetaAction> {
        Some(match word {
            "flush_handlers" => MetaAction::FlushHandlers,
            "end_play" | "end_batch" => MetaAction::EndPlay,
            "end_host" => MetaAction::EndHost,
            "clear_facts" => MetaAction::ClearFacts,
            "clear_host_errors" => MetaAction::ClearHostErrors,
            "noop" | "refresh_inventory" | "reset_connection" => MetaAction::Noop,
            _ => return None,
        })
    }
}

/// An action of the engine, described as modules are (for `hlprov modules` and docs/modules.md).
pub struct EngineAction {
    pub name: &'static str,
    pub summary: &'static str,
    pub notes: &'static str,
    pub spec: &'static ModuleSpec,
}

static SET_FACT_SPEC: ModuleSpec = ModuleSpec::new(&[ArgSpec::new("cacheable", ArgKind::Bool)
    .default("no")
    .help("Accepted for Ansible compatibility (hlprov keeps facts for the run).")]);

const META_WORDS: &[&str] =
    &["flush_handlers", "end_play", "end_host", "end_batch", "clear_facts", "clear_host_errors", "noop", "refresh_inventory", "reset_connection"];

static META_SPEC: ModuleSpec =
    ModuleSpec::new(&[ArgSpec::new("action", ArgKind::Str).required().choices(META_WORDS).help("What to do.")]).free_form("action");

static INCLUDE_VARS_SPEC: ModuleSpec = ModuleSpec::new(&[
    ArgSpec::new("file", ArgKind::Str)
        .required()
        .help("The vars file: absolute, or searched in the role's vars/, the role, the playbook's vars/ and the playbook's folder."),
    ArgSpec::new("name", ArgKind::Str).help("Put the file's variables under this one variable instead."),
])
.free_form("file");

static GROUP_BY_SPEC: ModuleSpec = ModuleSpec::new(&[
    ArgSpec::new("key", ArgKind::Str).required().help("The group to put the host in (made if new; spaces become `-`)."),
    ArgSpec::new("parents", ArgKind::Raw).default("all").help("The groups the new group goes under (a name or a list)."),
]);

/// add_host's own arguments; any other argument is a variable of the new host.
static ADD_HOST_SPEC: ModuleSpec = ModuleSpec::new(&[
    ArgSpec::new("name", ArgKind::Str).required().aliases(&["host", "hostname"]).help("The host (`name:port` sets its port)."),
    ArgSpec::new("groups", ArgKind::Raw).aliases(&["group", "groupname"]).help("Its groups: a list, or names separated by commas."),
]);

/// The arguments `group_by` takes.
pub fn group_by_spec() -> &'static ModuleSpec {
    &GROUP_BY_SPEC
}

/// add_host's own arguments (the others are host variables).
pub fn add_host_spec() -> &'static ModuleSpec {
    &ADD_HOST_SPEC
}

/// The arguments `include_vars` takes (its free-form file name).
pub fn include_vars_spec() -> &'static ModuleSpec {
    &INCLUDE_VARS_SPEC
}

/// The arguments `meta` takes (its free-form action word).
pub fn meta_spec() -> &'static ModuleSpec {
    &META_SPEC
}

/// The engine's actions.
pub static ENGINE_ACTIONS: &[EngineAction] = &[
    EngineAction {
        name: "set_fact",
        summary: "Set host variables for the rest of the run (each argument is a variable)",
        notes: "Facts last for the run; `cacheable` is accepted but there is no fact cache between runs.",
        spec: &SET_FACT_SPEC,
    },
    EngineAction {
        name: "include_vars",
        summary: "Read a vars file into host variables for the rest of the run",
        notes: "One file (not `dir:`, `files_matching`, `depth`); its variables take the precedence of set_fact. SOPS files are decrypted as everywhere else.",
        spec: &INCLUDE_VARS_SPEC,
    },
    EngineAction {
        name: "meta",
        summary: "Act on the run itself: flush handlers, end the play or a host, clear facts",
        notes: "refresh_inventory and reset_connection do nothing (hlprov reads the inventory files once, changed during the run only by group_by and add_host, and keeps one connection per host).",
        spec: &META_SPEC,
    },
    EngineAction {
        name: "group_by",
        summary: "Put the host in a group, made if new, for the rest of the run (later plays can target it)",
        notes: "The group's group_vars files are read as for a group of the inventory. `changed` is true when the inventory changed (Ansible's inventory manager decides the same).",
        spec: &GROUP_BY_SPEC,
    },
    EngineAction {
        name: "add_host",
        summary: "Add a host, with variables and groups, to the inventory for the rest of the run",
        notes: "Runs once per task (or loop item), not per host, as in Ansible. Every argument but name and groups is a variable of the host. The host joins later plays, not the running one.",
        spec: &ADD_HOST_SPEC,
    },
];

/// Whether `name` is an engine action (`set_fact`, `ansible.builtin.meta` …).
pub fn is_engine_action(name: &str) -> bool {
    ENGINE_ACTIONS.iter().any(|a| a.name == short_name(name))
}

/// The action a task names, with its arguments checked. `args` are the task's arguments as written.
pub fn resolve(name: &str, args: &Map<String, Value>) -> Result<Option<Action>, String> {
    match short_name(name) {
        "set_fact" => {
            let vars: Vec<&String> = args.keys().filter(|k| *k != "cacheable").collect();
            if vars.is_empty() {
                return Err("set_fact needs at least one variable to set".into());
            }
            if let Some(bad) = vars.iter().find(|k| !super::is_identifier(k)) {
                return Err(format!("set_fact: '{bad}' is not a valid variable name"));
            }
            Ok(Some(Action::SetFact))
        }
        "include_vars" => Ok(Some(Action::IncludeVars)),
        "group_by" => Ok(Some(Action::GroupBy)),
        "add_host" => {
            if !["name", "host", "hostname"].iter().any(|k| args.contains_key(*k)) {
                return Err("add_host: name, host or hostname needs to be provided".into());
            }
            Ok(Some(Action::AddHost))
        }
        "meta" => {
            let word = args.get("action").and_then(Value::as_str).unwrap_or_default();
            match MetaAction::parse(word.trim()) {
                Some(m) => Ok(Some(Action::Meta(m))),
                None => Err(format!("meta: unknown action '{word}' (one of: {})", META_WORDS.join(", "))),
            }
        }
        _ => Ok(registry::find(name).map(Action::Module)),
    }
}
