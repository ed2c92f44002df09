//! Flow-control modules that run on the controller: debug, assert, fail, set_fact, meta. They only look at
//! variables (through [`TaskEnv`](super::TaskEnv)); the executor acts on what they return (facts, control).

use serde_json::{Map, Value};

use super::{ArgKind, ArgSpec, Args, Control, Module, ModuleCtx, ModuleError, ModuleSpec, Outcome};

pub struct Debug;
pub struct Assert;
pub struct Fail;
pub struct SetFact;
pub struct Meta;

static DEBUG_SPEC: ModuleSpec = ModuleSpec::new(&[
    ArgSpec::new("msg", ArgKind::Raw).help("What to print (any value); default 'Hello world!'."),
    ArgSpec::new("var", ArgKind::Str).help("A variable name or expression to print, without braces."),
    ArgSpec::new("verbosity", ArgKind::Int).default("0").help("Only print when run with at least this many -v."),
])
.mutually_exclusive(&[&["msg", "var"]]);

static ASSERT_SPEC: ModuleSpec = ModuleSpec::new(&[
    ArgSpec::new("that", ArgKind::Raw).required().help("A condition or list of conditions (bare Jinja expressions)."),
    ArgSpec::new("fail_msg", ArgKind::Raw).aliases(&["msg"]).help("Message when an assertion fails."),
    ArgSpec::new("success_msg", ArgKind::Raw).help("Message when all assertions pass."),
    ArgSpec::new("quiet", ArgKind::Bool).default("no").help("Say less on success."),
]);

static FAIL_SPEC: ModuleSpec = ModuleSpec::new(&[ArgSpec::new("msg", ArgKind::Raw).default("Failed as requested from task").help("Why.")]);

static SET_FACT_SPEC: ModuleSpec = ModuleSpec::new(&[ArgSpec::new("cacheable", ArgKind::Bool)
    .default("no")
    .help("Accepted for Ansible compatibility (hlprov keeps facts for the run).")]);

static META_SPEC: ModuleSpec = ModuleSpec::new(&[ArgSpec::new("action", ArgKind::Str)
    .required()
    .choices(&[
        "flush_handlers",
        "end_play",
        "end_host",
        "end_batch",
        "clear_facts",
        "clear_host_errors",
        "noop",
        "refresh_inventory",
        "reset_connection",
    ])
    .help("What to do.")])
.free_form("action");

#[async_trait::async_trait]
impl Module for Debug {
    fn name(&self) -> &'static str {
        "debug"
    }
    fn summary(&self) -> &'static str {
        "Print a message or the value of a variable"
    }
    fn spec(&self) -> &'static ModuleSpec {
        &DEBUG_SPEC
    }
    fn needs_host(&self) -> bool {
        false
    }
    async fn run(&self, ctx: &ModuleCtx<'_>, args: &Args) -> Result<Outcome, ModuleError> {
        if let Some(var) = args.str("var") {
            let value = ctx.task.eval(var).unwrap_or_else(|_| Value::String("VARIABLE IS NOT DEFINED!".into()));
            return Ok(Outcome::ok().with(var, value));
        }
        let msg = args.get("msg").cloned().unwrap_or_else(|| Value::String("Hello world!".into()));
        let mut o = Outcome::ok();
        o.data.insert("msg".into(), msg);
        Ok(o)
    }
}

/// `that:` as a list of expression strings.
fn conditions(v: &Value) -> Vec<String> {
    match v {
        Value::Array(items) => items.iter().map(value_text).collect(),
        other => vec![value_text(other)],
    }
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(b) => if *b { "True" } else { "False" }.into(),
        other => other.to_string(),
    }
}

#[async_trait::async_trait]
impl Module for Assert {
    fn name(&self) -> &'static str {
        "assert"
    }
    fn summary(&self) -> &'static str {
        "Fail unless every given condition holds"
    }
    fn spec(&self) -> &'static ModuleSpec {
        &ASSERT_SPEC
    }
    fn needs_host(&self) -> bool {
        false
    }
    async fn run(&self, ctx: &ModuleCtx<'_>, args: &Args) -> Result<Outcome, ModuleError> {
        for cond in conditions(args.get("that").unwrap_or(&Value::Null)) {
            let ok = ctx.task.condition(&cond).map_err(ModuleError::Failed)?;
            if !ok {
                let msg = args.get("fail_msg").map(value_text).unwrap_or_else(|| "Assertion failed".into());
                let mut o = Outcome::failed(msg).with("assertion", cond.clone()).with("evaluated_to", false);
                o.changed = false;
                return Ok(o);
            }
        }
        let msg = args.get("success_msg").map(value_text).unwrap_or_else(|| "All assertions passed".into());
        Ok(Outcome::ok().msg(msg))
    }
}

#[async_trait::async_trait]
impl Module for Fail {
    fn name(&self) -> &'static str {
        "fail"
    }
    fn summary(&self) -> &'static str {
        "Fail the task with a message"
    }
    fn spec(&self) -> &'static ModuleSpec {
        &FAIL_SPEC
    }
    fn needs_host(&self) -> bool {
        false
    }
    async fn run(&self, _ctx: &ModuleCtx<'_>, args: &Args) -> Result<Outcome, ModuleError> {
        Ok(Outcome::failed(args.get("msg").map(value_text).unwrap_or_default()))
    }
}

#[async_trait::async_trait]
impl Module for SetFact {
    fn name(&self) -> &'static str {
        "set_fact"
    }
    fn summary(&self) -> &'static str {
        "Set host variables for the rest of the run (each argument is a variable)"
    }
    fn spec(&self) -> &'static ModuleSpec {
        &SET_FACT_SPEC
    }
    fn needs_host(&self) -> bool {
        false
    }
    fn notes(&self) -> &'static str {
        "Facts last for the run; `cacheable` is accepted but there is no fact cache between runs."
    }
    async fn run(&self, _ctx: &ModuleCtx<'_>, args: &Args) -> Result<Outcome, ModuleError> {
        let mut facts = Map::new();
        for (k, v) in &args.0 {
            if k == "cacheable" {
                continue;
            }
            if !crate::playbook::is_identifier(k) {
                return Err(ModuleError::Args(format!("'{k}' is not a valid variable name")));
            }
            facts.insert(k.clone(), v.clone());
        }
        if facts.is_empty() {
            return Err(ModuleError::Args("set_fact needs at least one variable to set".into()));
        }
        Ok(Outcome { set_vars: Some(facts), ..Default::default() })
    }
}

#[async_trait::async_trait]
impl Module for Meta {
    fn name(&self) -> &'static str {
        "meta"
    }
    fn summary(&self) -> &'static str {
        "Act on the run itself: flush handlers, end the play or a host, clear facts"
    }
    fn spec(&self) -> &'static ModuleSpec {
        &META_SPEC
    }
    fn needs_host(&self) -> bool {
        false
    }
    fn notes(&self) -> &'static str {
        "refresh_inventory and reset_connection do nothing (hlprov reads the inventory once and keeps one connection per host)."
    }
    async fn run(&self, _ctx: &ModuleCtx<'_>, args: &Args) -> Result<Outcome, ModuleError> {
        let control = match args.req("action") {
            "flush_handlers" => Control::FlushHandlers,
            "end_play" | "end_batch" => Control::EndPlay,
            "end_host" => Control::EndHost,
            "clear_facts" => Control::ClearFacts,
            "clear_host_errors" => Control::ClearHostErrors,
            _ => Control::Noop,
        };
        Ok(Outcome { control: Some(control), ..Default::default() })
    }
}
