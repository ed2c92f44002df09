//! One module on one host: the module plans, and the engine alone decides what happens to the plan. Outside
//! check mode the changes are applied; in check mode they are reported as they would be made; diffs are kept
//! only when asked for. This is the only place that makes an [`ApplyCtx`].

use crate::modules::{ApplyCtx, Args, CheckMode, EngineToken, Module, ModuleCtx, ModuleError, Outcome, Plan};

/// How the module step ended.
#[derive(Debug)]
pub enum ModuleRun {
    /// It ran (or in check mode, would run): ok or changed.
    Done(Outcome),
    /// Check mode, and the module cannot say what it would do: skipped with this message.
    Skipped(String),
    /// Check mode, and what the module needs is not there yet (a cluster an earlier phase would start): what
    /// it can tell anyway (`outcome`, if anything), and why it cannot decide. Its results are unknown.
    Undecided { outcome: Option<Outcome>, why: String },
}

/// What Ansible says of a module that has no check mode.
const NO_CHECK_MODE: &str = "skipped, running in check mode";

/// Plan `module` with `args` on the host of `ctx`, then apply the plan, or in `check` mode report it.
pub async fn run(module: &dyn Module, ctx: ModuleCtx<'_>, args: &Args, check: bool, diff: bool) -> Result<ModuleRun, ModuleError> {
    let spec = module.spec();
    if check && spec.check_mode == CheckMode::None {
        return Ok(ModuleRun::Skipped(NO_CHECK_MODE.into()));
    }
    let mut plan = module.plan(&ctx, args).await?;
    check_kinds(module, &plan)?;
    if let Some(why) = plan.undecided.take() {
        if !check {
            return Err(ModuleError::failed(why));
        }
        let outcome = (!plan.is_empty()).then(|| {
            let mut o = Outcome::from_plan(&plan);
            if !diff {
                o.diffs.clear();
            }
            o
        });
        return Ok(ModuleRun::Undecided { outcome, why });
    }
    if let Some(msg) = plan.skip {
        return Ok(ModuleRun::Skipped(msg));
    }
    let mut outcome = if check {
        if plan.unpredictable && spec.check_mode == CheckMode::Guarded {
            return Ok(ModuleRun::Skipped(plan.msg.clone().unwrap_or_else(|| NO_CHECK_MODE.into())));
        }
        Outcome::from_plan(&plan)
    } else if plan.has_work() {
        let act = ApplyCtx::new(ctx, &EngineToken(()));
        module.apply(&act, args, plan).await?
    } else {
        Outcome::from_plan(&plan)
    };
    if !diff {
        outcome.diffs.clear();
    }
    Ok(ModuleRun::Done(outcome))
}

/// What `module` would make from its arguments alone, without a host (`hlprov render`).
pub fn render(module: &dyn Module, ctx: &ModuleCtx<'_>, args: &Args, diff: bool) -> Result<ModuleRun, ModuleError> {
    let Some(plan) = module.render(ctx, args) else {
        return Ok(ModuleRun::Skipped(format!("needs a host: {} decides from what it finds there", module.name())));
    };
    let plan = plan?;
    check_kinds(module, &plan)?;
    let mut outcome = Outcome::from_plan(&plan);
    if !diff {
        outcome.diffs.clear();
    }
    Ok(ModuleRun::Done(outcome))
}

/// A plan may only hold the kinds of change the module's spec declares (tests show each kind's diff).
fn check_kinds(module: &dyn Module, plan: &Plan) -> Result<(), ModuleError> {
    if plan.unpredictable && module.spec().check_mode == CheckMode::Full {
        return Err(ModuleError::Internal(format!(
            "module {} planned an unpredictable change but declares full check mode (module bug)",
            module.name()
        )));
    }
    match plan.changes.iter().find(|c| !module.spec().changes.contains(&c.kind)) {
        Some(c) => Err(ModuleError::Internal(format!(
            "module {} planned a change of kind '{}' that its spec does not declare (module bug)",
            module.name(),
            c.kind
        ))),
        None => Ok(()),
    }
}
