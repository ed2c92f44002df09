//! One precedence level of variables and where it sits in Ansible's 22-level order.
//! Only the ordering lives here; lookups are in `scope.rs`.

use std::sync::Arc;

use super::Vars;

/// The precedence levels hlprov has, lowest first. The order of the variants *is* the precedence: a later
/// kind wins over an earlier one. Several layers of one kind (e.g. the inventory groups of a host) keep the
/// order in which they were pushed, the last one winning.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LayerKind {
    /// `roles/x/defaults/main.yml` (Ansible level 2).
    RoleDefaults,
    /// Inventory group variables, handed over by the inventory already ordered: `all` first, parents before
    /// children, then alphabetically (Ansible levels 3-7).
    InventoryGroup,
    /// Inventory host variables (Ansible levels 8-10).
    InventoryHost,
    /// Gathered facts (Ansible level 11). Module output: never templated.
    Facts,
    /// `vars:` of the play (level 12).
    PlayVars,
    /// `vars_prompt:` answers (level 13).
    VarsPrompt,
    /// `vars_files:` of the play (level 14).
    VarsFiles,
    /// `roles/x/vars/main.yml` (level 15).
    RoleVars,
    /// `vars:` of an enclosing block (level 16); nested blocks push one layer each, outermost first.
    BlockVars,
    /// `vars:` of the task (level 17).
    TaskVars,
    /// `include_vars` results (level 18).
    IncludeVars,
    /// `set_fact` results (level 19).
    SetFact,
    /// `register:` results (level 19, same level as set_fact: the later assignment wins, so the executor
    /// pushes these in the order they happen). Module output: never templated.
    Registered,
    /// Parameters given to a role (`roles: [{role: x, param: 1}]`, `include_role` vars) (level 20).
    RoleParams,
    /// Parameters of `include_tasks`/`import_tasks` (level 21).
    IncludeParams,
    /// `-e` extra vars (level 22): always win over user variables.
    ExtraVars,
    /// Magic variables (`inventory_hostname`, `groups`, ...): Ansible adds them last, over everything.
    Magic,
}

impl LayerKind {
    /// All kinds, lowest precedence first.
    pub const ALL: [LayerKind; 17] = [
        LayerKind::RoleDefaults,
        LayerKind::InventoryGroup,
        LayerKind::InventoryHost,
        LayerKind::Facts,
        LayerKind::PlayVars,
        LayerKind::VarsPrompt,
        LayerKind::VarsFiles,
        LayerKind::RoleVars,
        LayerKind::BlockVars,
        LayerKind::TaskVars,
        LayerKind::IncludeVars,
        LayerKind::SetFact,
        LayerKind::Registered,
        LayerKind::RoleParams,
        LayerKind::IncludeParams,
        LayerKind::ExtraVars,
        LayerKind::Magic,
    ];

    /// Precedence rank: higher wins. set_fact and register share a rank (Ansible level 19).
    pub fn rank(self) -> u8 {
        match self {
            LayerKind::Registered => LayerKind::SetFact as u8,
            other => other as u8,
        }
    }

    /// Values of this layer are never templated again. Facts and registered results come from hosts (Ansible
    /// marks them unsafe), so a `{{` in a command's output is never run. set_fact values were rendered when
    /// they were set (as in ansible-core 2.19, template output is not templated twice): rendering them again
    /// would run a `{{ lookup('pipe', …) }}` that a host put into a registered result copied with set_fact.
    pub fn is_unsafe(self) -> bool {
        matches!(self, LayerKind::Facts | LayerKind::Registered | LayerKind::SetFact)
    }

    /// A short name for messages and docs.
    pub fn describe(self) -> &'static str {
        match self {
            LayerKind::RoleDefaults => "role defaults",
            LayerKind::InventoryGroup => "inventory group vars",
            LayerKind::InventoryHost => "inventory host vars",
            LayerKind::Facts => "facts",
            LayerKind::PlayVars => "play vars",
            LayerKind::VarsPrompt => "vars_prompt",
            LayerKind::VarsFiles => "vars_files",
            LayerKind::RoleVars => "role vars",
            LayerKind::BlockVars => "block vars",
            LayerKind::TaskVars => "task vars",
            LayerKind::IncludeVars => "include_vars",
            LayerKind::SetFact => "set_fact",
            LayerKind::Registered => "registered result",
            LayerKind::RoleParams => "role params",
            LayerKind::IncludeParams => "include params",
            LayerKind::ExtraVars => "extra vars",
            LayerKind::Magic => "magic variables",
        }
    }
}

/// One layer: its kind, a label saying where it came from (a file, "group_vars/web", "-e"), and its variables.
#[derive(Clone, Debug)]
pub struct Layer {
    pub kind: LayerKind,
    pub label: Arc<str>,
    pub vars: Arc<Vars>,
}
