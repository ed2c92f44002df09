//! Modules that run on the controller and only look at variables (through [`TaskEnv`](super::TaskEnv)): debug,
//! assert, fail. (set_fact and meta act on the run itself: they are the engine's, see `playbook::action`.)

use serde_json::Value;

use super::args::value_text;
use super::{ArgKind, ArgSpec, Args, Module, ModuleCtx, ModuleError, ModuleSpec, Plan};

pub struct Debug;
pub struct Assert;
pub struct Fail;

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
    async fn plan(&self, ctx: &ModuleCtx<'_>, args: &Args) -> Result<Plan, ModuleError> {
        if let Some(var) = args.str("var") {
            let value = ctx.task.eval(var).unwrap_or_else(|_| Value::String("VARIABLE IS NOT DEFINED!".into()));
            return Ok(Plan::unchanged().with(var, value));
        }
        let msg = args.get("msg").cloned().unwrap_or_else(|| Value::String("Hello world!".into()));
        Ok(Plan::unchanged().with("msg", msg))
    }
}

/// `that:` as a list of expression strings.
fn conditions(v: &Value) -> Vec<String> {
    match v {
        Value::Array(items) => items.iter().map(value_text).collect(),
        other => vec![value_text(other)],
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
    async fn plan(&self, ctx: &ModuleCtx<'_>, args: &Args) -> Result<Plan, ModuleError> {
        for cond in conditions(args.get("that").unwrap_or(&Value::Null)) {
            let ok = ctx.task.condition(&cond).map_err(ModuleError::Template)?;
            if !ok {
                let msg = args.get("fail_msg").map(value_text).unwrap_or_else(|| "Assertion failed".into());
                return Err(ModuleError::failed(msg).with("assertion", cond.clone()).with("evaluated_to", false));
            }
        }
        let msg = args.get("success_msg").map(value_text).unwrap_or_else(|| "All assertions passed".into());
        Ok(Plan::unchanged().msg(msg))
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
    async fn plan(&self, _ctx: &ModuleCtx<'_>, args: &Args) -> Result<Plan, ModuleError> {
        Err(ModuleError::failed(args.get("msg").map(value_text).unwrap_or_default()))
    }
}
