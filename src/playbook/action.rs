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
        notes: "refresh_inventory and reset_connection do nothing (hlprov reads the inventory once and keeps one connection per host).",
        spec: &META_SPEC,
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
