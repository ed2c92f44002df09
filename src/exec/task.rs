//! One task on one host: conditions, loop items, argument rendering, privilege escalation, the module run
//! with retries, changed_when/failed_when, ignore_errors, register, notify, facts, stats and events.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use super::connections;
use super::env::ExecEnv;
use super::loops;
use super::module_step::{self, ModuleRun};
use super::outcome::{End, TaskError, TaskOutcome};
use super::play::PlayCtx;
use super::run::Run;
use super::scope::task_scope;
use super::walk::Inherited;
use crate::modules::{ModuleCtx, ModuleError, args::to_bool};
use crate::playbook::{Action, Cond, Include, IncludeKind, MetaAction, Task};
use crate::report::{Event, Status, TaskResult};
use crate::template::{TemplateError, TemplateErrorKind};
use crate::transport::TransportError;
use crate::vars::{LayerKind, VarScope, Vars};
use crate::yaml::Span;

/// What the walker needs back from a host's run of a task.
pub(crate) struct TaskDone {
    pub host: String,
    pub status: Status,
    pub control: Option<MetaAction>,
    /// The registered result.
    pub result: Value,
    pub facts: Option<Vars>,
}

/// The name shown for a task; templates in it are rendered with the first host's variables.
pub(crate) fn display_name(run: &Run, pc: &PlayCtx, t: &Task, host: &str, inh: &Inherited) -> String {
    let name = t.display_name();
    if !name.contains("{{") {
        return name;
    }
    let scope = task_scope(run, pc, host, inh, Some(&t.kw.vars));
    match run.templar.render_value(&Value::String(name.clone()), &scope, &t.span) {
        Ok(Value::String(s)) => s,
        _ => name,
    }
}

fn tmpl_err(e: TemplateError) -> String {
    e.to_string()
}

/// Evaluate `when` conditions (all must hold). Literal booleans need no templating.
/// A task that could not reach its module. Offline, a template that needs what only a host knows (its facts,
/// a result an earlier task would have registered there) makes the task "needs a host", not a failure.
/// In check mode, a template that reads what an earlier task could not tell (a cluster not there yet) makes
/// the task undecided the same way.
fn task_error(run: &Run, e: TaskError) -> TaskOutcome {
    if let TaskError::Template(t) = &e {
        let undefined = t.undefined.as_deref().unwrap_or_default();
        if t.kind == TemplateErrorKind::Undefined && needs_host_knowledge(run, undefined) {
            let mut o = TaskOutcome::skipped(if run.opts.offline {
                format!("needs a host: {undefined} is known only when it runs there")
            } else {
                format!("not decided in check mode: {undefined} comes from a task that could not tell yet")
            });
            o.needs_host = true;
            return o;
        }
    }
    TaskOutcome::failed(e.to_string())
}

/// Whether an undefined expression (`ansible_facts.x`, `result.stdout`) stands for what only a host can tell
/// (offline), or for the result of a task that could not decide (offline or in check mode).
fn needs_host_knowledge(run: &Run, undefined: &str) -> bool {
    // Another host's variable reads `hostvars['w1'].name…`.
    let own = match undefined.strip_prefix("hostvars['") {
        Some(rest) => rest.split_once("'].").map_or("", |(_, v)| v),
        None => undefined,
    };
    let root = own.split(['.', '[']).next().unwrap_or_default();
    let unknown = run.unknown_results.lock().unwrap_or_else(|p| p.into_inner()).contains(root);
    unknown || (run.opts.offline && (root.starts_with("ansible_") || undefined.starts_with("hostvars")))
}

fn conditions_hold(run: &Run, conds: &[Cond], scope: &VarScope) -> Result<Option<String>, TemplateError> {
    for c in conds {
        let ok = match c.expr.trim() {
            "True" | "true" | "yes" => true,
            "False" | "false" | "no" => false,
            expr => run.templar.eval_condition(expr, scope, &c.span)?,
        };
        if !ok {
            return Ok(Some(c.expr.clone()));
        }
    }
    Ok(None)
}

fn truthy_opt(run: &Run, v: &Option<Value>, scope: &VarScope, span: &Span) -> Result<Option<bool>, String> {
    match v {
        None => Ok(None),
        Some(Value::String(s)) if s.contains("{{") || s.contains("{%") => {
            let r = run.templar.render_value(&Value::String(s.clone()), scope, span).map_err(tmpl_err)?;
            Ok(Some(to_bool(&r).unwrap_or(!r.is_null() && r != Value::String(String::new()))))
        }
        Some(v) => Ok(Some(to_bool(v).ok_or_else(|| format!("expected a boolean, found {v}"))?)),
    }
}

/// Whether `run_once` holds for the task, rendered (when it is a template) with the first host's variables.
/// A template that cannot be rendered counts as false: the task runs on every host.
pub(crate) fn run_once(run: &Run, pc: &PlayCtx, t: &Task, host: &str, eff: &Inherited) -> bool {
    // add_host acts on the inventory, not on a host: once per task, as Ansible's BYPASS_HOST_LOOP.
    if matches!(t.action, Action::AddHost) {
        return true;
    }
    if eff.run_once.is_none() {
        return false;
    }
    let scope = task_scope(run, pc, host, eff, Some(&t.kw.vars));
    truthy_opt(run, &eff.run_once, &scope, &t.span).ok().flatten().unwrap_or(false)
}

/// Run `t` on `host`.
pub(crate) async fn run_on_host(run: &Arc<Run>, pc: &Arc<PlayCtx>, t: &Arc<Task>, host: &str, eff: &Inherited, title: &str) -> TaskDone {
    let started = Instant::now();
    let scope = task_scope(run, pc, host, eff, Some(&t.kw.vars));
    // The event of one result, from its registered form (derived once by the caller).
    let event = |o: &TaskOutcome, registered: &Value, item: Option<String>, summary: bool| {
        // A no_log that cannot be evaluated hides the result: failing safe.
        let no_log = truthy_opt(run, &eff.no_log, &scope, &t.span).map_or(true, |v| v.unwrap_or(false));
        let shown = if no_log { o.censored() } else { registered.clone() };
        // A loop item can be the secret itself (a list of passwords): Ansible shows it as None.
        let item = if no_log { item.map(|_| "None".to_string()) } else { item };
        run.reporter.emit(Event::TaskResult(Box::new(TaskResult {
            host: host.to_string(),
            play: pc.play.name.clone(),
            phase: pc.phase.clone(),
            task: title.to_string(),
            location: t.span.to_string(),
            status: o.status(),
            item,
            msg: shown.get("msg").and_then(|m| m.as_str()).map(str::to_string),
            result: shown,
            diffs: if no_log || summary { vec![] } else { o.diffs.clone() },
            duration_ms: started.elapsed().as_millis() as u64,
            handler: eff.handler,
            gate: eff.gate,
            delegated_to: o.delegated_to.clone(),
            loop_summary: summary,
        })));
    };

    let Some(lp) = &t.loop_ else {
        let o = match conditions_hold(run, &eff.when, &scope) {
            Err(e) => task_error(run, e.into()),
            Ok(Some(expr)) => TaskOutcome::skipped_by(&expr),
            Ok(None) => run_item(run, t, host, eff, &scope).await,
        };
        return finish(run, pc, t, host, eff, o, |o, r| event(o, r, None, false));
    };

    let subdir = if matches!(t.action, Action::IncludeVars) { "vars" } else { "files" };
    let items = match loops::items(run, &t.span, lp, &scope, eff.role.as_deref(), subdir) {
        Ok(items) => items,
        Err(e) => {
            // As Ansible does: a loop that cannot be rendered is an error only if the task would run; a `when`
            // that is false without the item (a block's `when: extra_manifests is defined`) skips it.
            let o = match conditions_hold(run, &eff.when, &scope) {
                Ok(Some(expr)) => TaskOutcome::skipped_by(&expr),
                _ => task_error(run, e),
            };
            return finish(run, pc, t, host, eff, o, |o, r| event(o, r, None, false));
        }
    };
    let lc = &t.loop_control;
    let loop_var = match loop_var_name(run, &lc.loop_var, &scope, &t.span) {
        Ok(v) => v,
        Err(e) => return finish(run, pc, t, host, eff, task_error(run, e), |o, r| event(o, r, None, false)),
    };
    let mut scope = scope.clone();
    let mut results = Vec::new();
    let (mut any_changed, mut any_failed, mut all_skipped) = (false, false, !items.is_empty());
    let (mut needs_host, mut result_unknown) = (false, false);
    let mut facts_all: Option<Vars> = None;
    let mut control = None;
    for (i, item) in items.iter().cloned().enumerate() {
        if run.is_interrupted() {
            break;
        }
        let mut lv = Vars::new();
        // Items were rendered with the loop expression; rendering them again would run a template that a
        // host put into a registered result being looped over.
        lv.insert(loop_var.clone(), crate::vars::unsafe_text::wrap_all(item.clone()));
        lv.insert("ansible_loop_var".into(), Value::from(loop_var.clone()));
        if let Some(ix) = &lc.index_var {
            lv.insert(ix.clone(), Value::from(i));
            lv.insert("ansible_index_var".into(), Value::from(ix.clone()));
        }
        if lc.extended {
            lv.insert("ansible_loop".into(), crate::vars::unsafe_text::wrap_all(extended_loop(lc, &items, i)));
        }
        let item_scope = scope.with_layer(LayerKind::TaskVars, "loop item", Arc::new(lv));
        let label = match &lc.label {
            Some(l) => match run.templar.render_value(&Value::String(l.clone()), &item_scope, &t.span) {
                Ok(Value::String(s)) => s,
                Ok(v) => v.to_string(),
                Err(_) => l.clone(),
            },
            None => match &item {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            },
        };
        let o = match conditions_hold(run, &eff.when, &item_scope) {
            Err(e) => task_error(run, e.into()),
            Ok(Some(expr)) => TaskOutcome::skipped_by(&expr),
            Ok(None) => run_item(run, t, host, eff, &item_scope).await,
        };
        let mut registered = o.registered();
        event(&o, &registered, Some(label), false);
        if let Value::Object(m) = &mut registered {
            m.insert(loop_var.clone(), item.clone());
            m.insert("item".into(), item);
            m.insert("ansible_loop_var".into(), Value::String(loop_var.clone()));
            if let Some(ix) = &lc.index_var {
                m.insert("ansible_index_var".into(), Value::String(ix.clone()));
                m.insert(ix.clone(), Value::from(i));
            }
            if lc.extended {
                m.insert("ansible_loop".into(), extended_loop(lc, &items, i));
            }
        }
        any_changed |= o.changed && o.end != End::Skipped;
        needs_host |= o.needs_host;
        result_unknown |= o.result_unknown;
        any_failed |= o.is_failure();
        all_skipped &= o.end == End::Skipped;
        if let Some(f) = o.facts {
            // set_fact in a loop: the next item sees what this one set (building a list item by item).
            if o.end == End::Done && !o.gathered && !o.needs_host {
                for (k, v) in &f {
                    run.set_fact(host, k, v.clone());
                }
                scope = task_scope(run, pc, host, eff, Some(&t.kw.vars));
            }
            facts_all.get_or_insert_with(Vars::new).extend(f);
        }
        control = control.or(o.control);
        let stop = if lc.break_when.is_empty() || o.end == End::Skipped {
            Ok(false)
        } else {
            conditions_hold(run, &lc.break_when, &registered_scope(t, &item_scope, &registered)).map(|failed| failed.is_none())
        };
        results.push(registered);
        match stop {
            Ok(true) => break,
            Ok(false) => {}
            Err(e) => {
                let mut last = results.pop().unwrap_or_default();
                if let Value::Object(m) = &mut last {
                    m.insert("failed".into(), Value::Bool(true));
                    m.insert("msg".into(), Value::String(format!("break_when: {e}")));
                }
                results.push(last);
                any_failed = true;
                break;
            }
        }
        if let Some(p) = lc.pause {
            tokio::time::sleep(Duration::from_secs_f64(p)).await;
        }
    }
    let end = if any_failed {
        End::Failed
    } else if all_skipped || items.is_empty() {
        End::Skipped
    } else {
        End::Done
    };
    let mut agg = TaskOutcome::done(any_changed);
    agg.end = end;
    if items.is_empty() {
        // As Ansible reports a loop over nothing.
        agg.data.insert("skipped_reason".into(), Value::String("No items in the list".into()));
    } else {
        // As Ansible sums a loop up: `skipped` is always there (true only when every item was skipped).
        agg.data.insert("skipped".into(), Value::Bool(all_skipped && !any_failed));
        let msg = if any_failed {
            "One or more items failed"
        } else if all_skipped {
            "All items skipped"
        } else {
            "All items completed"
        };
        agg.msg = Some(msg.into());
    }
    agg.data.insert("results".into(), Value::Array(results));
    agg.facts = facts_all;
    agg.control = control;
    agg.needs_host = needs_host;
    agg.result_unknown = result_unknown;
    finish(run, pc, t, host, eff, agg, |o, r| event(o, r, None, true))
}

/// The loop variable's name: `loop_control.loop_var` may be a template (`"{{ role_prefix }}_item"`).
pub(crate) fn loop_var_name(run: &Run, raw: &str, scope: &VarScope, span: &Span) -> Result<String, TaskError> {
    if !raw.contains("{{") {
        return Ok(raw.to_string());
    }
    match run.templar.render_value(&Value::String(raw.to_string()), scope, span)? {
        Value::String(s) if crate::playbook::is_identifier(&s) => Ok(s),
        other => Err(TaskError::Msg(format!("{span}: loop_var '{raw}' must render to a variable name, got {other}"))),
    }
}

/// `ansible_loop` for item `i` (loop_control.extended), with Ansible's keys; previtem and nextitem only where
/// there is one.
fn extended_loop(lc: &crate::playbook::LoopControl, items: &[Value], i: usize) -> Value {
    let total = items.len();
    let mut l = serde_json::json!({"index": i + 1, "index0": i, "first": i == 0, "last": i + 1 == total, "length": total,
        "revindex": total - i, "revindex0": total - i - 1});
    if i > 0 {
        l["previtem"] = items[i - 1].clone();
    }
    if i + 1 < total {
        l["nextitem"] = items[i + 1].clone();
    }
    if lc.extended_allitems {
        l["allitems"] = Value::Array(items.to_vec());
    }
    l
}

/// Finish a task's result: ignore_errors, then the event (`emit`) and the host's state.
fn finish(run: &Run, pc: &PlayCtx, t: &Task, host: &str, eff: &Inherited, o: TaskOutcome, emit: impl Fn(&TaskOutcome, &Value)) -> TaskDone {
    let o = apply_ignore(run, pc, t, host, eff, o);
    let registered = o.registered();
    emit(&o, &registered);
    if o.status() == Status::Failed {
        let task = failed_task(run, pc, t, host, eff);
        pc.last_failure.lock().unwrap_or_else(|p| p.into_inner()).insert(host.to_string(), (task, registered.clone()));
    }
    record(run, pc, t, host, o, registered, &eff.notify)
}

/// Last adjustments: ignore_errors, and gate checks never count as changes.
fn apply_ignore(run: &Run, pc: &PlayCtx, t: &Task, host: &str, eff: &Inherited, mut o: TaskOutcome) -> TaskOutcome {
    if eff.gate && o.end == End::Done {
        o.changed = false;
    }
    if o.end != End::Failed {
        return o;
    }
    // A gate that does not hold in check mode is a report (nothing was applied), shown as an ignored failure.
    if eff.gate && run.opts.check {
        o.ignored = true;
        return o;
    }
    let scope = task_scope(run, pc, host, eff, Some(&t.kw.vars));
    o.ignored = truthy_opt(run, &eff.ignore_errors, &scope, &t.span).ok().flatten().unwrap_or(false);
    o
}

/// Apply a finished task to the host: state, stats, register, facts, notify.
/// `inherited_notify`: what an enclosing block or import notifies, for a task that names none itself.
fn record(run: &Run, pc: &PlayCtx, t: &Task, host: &str, o: TaskOutcome, registered: Value, inherited_notify: &[String]) -> TaskDone {
    let status = o.status();
    match status {
        Status::Failed => pc.update(host, |s| s.failed = true),
        Status::Unreachable if !pc.play.kw.ignore_unreachable.unwrap_or(false) => pc.update(host, |s| s.unreachable = true),
        _ => {}
    }
    run.stats_mut(host, |s| match status {
        Status::Ok => s.ok += 1,
        Status::Changed => {
            s.ok += 1;
            s.changed += 1;
        }
        Status::Failed => s.failed += 1,
        Status::Unreachable => s.unreachable += 1,
        Status::Skipped => s.skipped += 1,
        Status::Ignored => s.ignored += 1,
    });
    if status == Status::Changed {
        pc.changed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let notify = if t.notify.is_empty() { inherited_notify } else { &t.notify };
        if !notify.is_empty() {
            pc.notify(host, notify);
        }
    }
    if o.needs_host {
        pc.needs_host.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    if o.needs_host && matches!(t.action, Action::SetFact) {
        // Facts a set_fact would have set from what only a host knows are unknown as well: marked, so what reads
        // them is undecided too (a default of the same name must not stand in for them).
        let names: Vec<String> = t.args.keys().filter(|k| *k != "cacheable").cloned().collect();
        run.unknown_results.lock().unwrap_or_else(|p| p.into_inner()).extend(names.iter().cloned());
        for k in &names {
            run.set_fact(host, k, crate::vars::host_only::marker());
        }
    }
    if let Some(reg) = &t.register {
        if o.needs_host || o.result_unknown {
            // What a task that could not decide (offline: any task that works on a host, even when its output
            // could be shown from its arguments; check mode: one missing what an earlier phase would set up)
            // would have registered is unknown: what reads it is not decided either.
            run.unknown_results.lock().unwrap_or_else(|p| p.into_inner()).insert(reg.clone());
            run.register(host, reg, crate::vars::host_only::marker());
        } else {
            run.register(host, reg, registered.clone());
        }
    }
    if let Some(facts) = &o.facts {
        if o.gathered {
            let setup = matches!(&t.action, Action::Module(m) if m.name() == "setup");
            run.set_facts_gathered(host, facts.clone(), !setup);
        } else if !matches!(status, Status::Failed | Status::Skipped) {
            for (k, v) in facts {
                run.set_fact(host, k, v.clone());
            }
        }
    }
    TaskDone { host: host.to_string(), status, control: o.control, result: registered, facts: if o.gathered { None } else { o.facts } }
}

/// What `ansible_failed_task` shows of a task: its keywords as written and its arguments rendered for the host
/// (as written when they need a loop item, which Ansible leaves unrendered too).
fn failed_task(run: &Run, pc: &PlayCtx, t: &Task, host: &str, eff: &Inherited) -> Value {
    let scope = task_scope(run, pc, host, eff, Some(&t.kw.vars));
    let args = run.templar.render_value(&Value::Object(t.args.clone()), &scope, &t.span).unwrap_or_else(|_| Value::Object(t.args.clone()));
    serde_json::json!({
        "name": t.name.clone().unwrap_or_default(),
        "action": t.action.name(),
        "args": args,
        "register": t.register,
        "loop": t.loop_.as_ref().map(|l| l.expr.clone()),
        "loop_control": {"loop_var": t.loop_control.loop_var},
        "notify": t.notify,
        "tags": t.kw.tags,
        "when": t.kw.when.iter().map(|c| c.expr.clone()).collect::<Vec<_>>(),
        "delegate_to": t.kw.delegate_to,
    })
}

/// Mark a host failed for something that happened outside a module (a bad include, …).
pub(crate) fn fail_host(run: &Run, pc: &PlayCtx, host: &str, span: &Span, name: &str, msg: String) {
    pc.update(host, |s| s.failed = true);
    run.stats_mut(host, |s| s.failed += 1);
    let o = TaskOutcome::failed(msg);
    let task = serde_json::json!({"name": name, "action": "include_tasks", "args": {}});
    pc.last_failure.lock().unwrap_or_else(|p| p.into_inner()).insert(host.to_string(), (task, o.registered()));
    emit_outside(run, pc, host, span, name, o);
}

/// An include that failed on a host before it brought anything in (its file name, loop or condition could not
/// be rendered): failed there, or ignored if its `ignore_errors` says so, as Ansible does. One that could not
/// be decided (offline, or in check mode, it reads what only the host or the cluster could tell) is skipped
/// there with the reason.
pub(crate) fn include_error(run: &Run, pc: &PlayCtx, inc: &crate::playbook::Include, host: &str, eff: &Inherited, e: TaskError) {
    let (span, name) = (&inc.span, inc.name.as_deref().unwrap_or("include"));
    let mut o = task_error(run, e);
    if o.needs_host {
        run.stats_mut(host, |s| s.skipped += 1);
        pc.needs_host.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        emit_outside(run, pc, host, span, name, o);
        return;
    }
    let scope = task_scope(run, pc, host, eff, Some(&inc.kw.vars));
    if truthy_opt(run, &eff.ignore_errors, &scope, span).ok().flatten().unwrap_or(false) {
        o.ignored = true;
        run.stats_mut(host, |s| s.ignored += 1);
        emit_outside(run, pc, host, span, name, o);
    } else {
        fail_host(run, pc, host, span, name, o.msg.unwrap_or_default());
    }
}

fn emit_outside(run: &Run, pc: &PlayCtx, host: &str, span: &Span, name: &str, o: TaskOutcome) {
    let msg = o.msg.clone();
    run.reporter.emit(Event::TaskResult(Box::new(TaskResult {
        host: host.to_string(),
        play: pc.play.name.clone(),
        phase: pc.phase.clone(),
        task: name.to_string(),
        location: span.to_string(),
        status: o.status(),
        item: None,
        msg,
        result: o.registered(),
        diffs: vec![],
        duration_ms: 0,
        handler: false,
        gate: false,
        delegated_to: None,
        loop_summary: false,
    })));
}

/// Connection variables, rendered (they may be templates such as `ansible_host: "{{ lab_address }}"`).
const CONNECTION_VARS: &[&str] = &[
    "ansible_host",
    "ansible_ssh_host",
    "ansible_port",
    "ansible_ssh_port",
    "ansible_user",
    "ansible_ssh_user",
    "remote_user",
    "ansible_connection",
    "ansible_ssh_private_key_file",
    "ansible_private_key_file",
    "ansible_ssh_common_args",
    "ansible_ssh_extra_args",
    "ansible_host_key_checking",
    "ansible_ssh_timeout",
    "ansible_timeout",
    "ansible_ssh_retries",
    "ansible_become_password",
    "ansible_become_pass",
    "ansible_sudo_pass",
    "ansible_password",
    "ansible_ssh_pass",
];

fn connection_vars(run: &Run, scope: &VarScope, span: &Span) -> Result<Vars, String> {
    let mut out = Vars::new();
    for name in CONNECTION_VARS {
        if let Some(v) = scope.get(name) {
            let v = run.templar.render_value(v, scope, span).map_err(tmpl_err)?;
            out.insert(name.to_string(), v);
        }
    }
    Ok(out)
}

fn render_env(run: &Run, eff: &Inherited, scope: &VarScope, span: &Span) -> Result<Vec<(String, String)>, String> {
    let mut env: Vec<(String, String)> = Vec::new();
    for e in &eff.environment {
        let rendered = run.templar.render_value(e, scope, span).map_err(tmpl_err)?;
        let Value::Object(m) = rendered else {
            return Err(format!("environment must be a mapping, got {rendered}"));
        };
        for (k, v) in m {
            let v = match v {
                Value::String(s) => s,
                other => other.to_string(),
            };
            env.retain(|(ek, _)| *ek != k);
            env.push((k, v));
        }
    }
    Ok(env)
}

/// `include_vars`: the file's variables, set as facts are (the role's vars/ is searched first, as in Ansible).
fn include_vars(run: &Run, t: &Task, args: &Map<String, Value>) -> TaskOutcome {
    let Some(file) = args.get("file").and_then(Value::as_str) else {
        return TaskOutcome::failed(format!("{}: include_vars needs a file name", t.span));
    };
    let p = std::path::Path::new(file);
    let mut candidates = Vec::new();
    if p.is_absolute() {
        candidates.push(p.to_path_buf());
    } else {
        if let Some(r) = &t.role {
            candidates.extend([r.path.join("vars").join(p), r.path.join(p)]);
        }
        candidates.extend([run.playbook.dir.join("vars").join(p), run.playbook.dir.join(p)]);
    }
    let Some(found) = candidates.iter().find(|c| c.is_file()) else {
        let searched: Vec<String> = candidates.iter().map(|c| c.display().to_string()).collect();
        return TaskOutcome::failed(format!("{}: include_vars: could not find '{file}' (searched: {})", t.span, searched.join(", ")));
    };
    let vars = match crate::vars_file::load(found) {
        Ok(v) => v.vars,
        Err(e) => return TaskOutcome::failed(format!("include_vars: {e}")),
    };
    let facts: Vars = match args.get("name").and_then(Value::as_str) {
        Some(name) => [(name.to_string(), Value::Object(vars))].into_iter().collect(),
        None => vars.into_iter().collect(),
    };
    let mut o = TaskOutcome::done(false);
    o.facts = Some(facts);
    o
}

/// A list argument given as a list or as names separated by commas.
fn names(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(a)) => a.iter().map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_string)).collect(),
        Some(Value::String(s)) => s.split(',').map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect(),
        _ => Vec::new(),
    }
}

/// `group_by`: the host joins the group (spaces in names become `-`, as Ansible makes them).
fn group_by(run: &Run, host: &str, args: &Map<String, Value>) -> TaskOutcome {
    let Some(key) = args.get("key").map(|k| k.as_str().map_or_else(|| k.to_string(), str::to_string)) else {
        return TaskOutcome::failed("the 'key' param is required when using group_by");
    };
    let group = key.replace(' ', "-");
    let parents: Vec<String> = match names(args.get("parents")) {
        p if p.is_empty() => vec!["all".into()],
        p => p.iter().map(|n| n.replace(' ', "-")).collect(),
    };
    match run.change_inventory(|inv| inv.group_by(host, &group, &parents)) {
        Ok(changed) => {
            let mut o = TaskOutcome::done(changed);
            o.data.insert("add_group".into(), Value::from(group));
            o.data.insert("parent_groups".into(), Value::from(parents));
            o
        }
        Err(e) => TaskOutcome::failed(format!("group_by: {e}")),
    }
}

/// `add_host`: the host, with every other argument as its variable, joins the inventory and its groups.
fn add_host(run: &Run, args: &Map<String, Value>) -> TaskOutcome {
    let Some(given) = ["name", "hostname", "host"].iter().find_map(|k| args.get(*k)).and_then(Value::as_str) else {
        return TaskOutcome::failed("add_host: name, host or hostname needs to be provided");
    };
    let groups = names(["groupname", "groups", "group"].iter().find_map(|k| args.get(*k)));
    let mut vars: Map<String, Value> = args
        .iter()
        .filter(|(k, _)| !["name", "hostname", "host", "groupname", "groups", "group"].contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    // `name:port` sets the port, as Ansible's parse_address does.
    let name = match given.rsplit_once(':') {
        Some((n, port)) if !n.contains(':') && port.parse::<u16>().is_ok() => {
            vars.insert("ansible_ssh_port".into(), Value::from(port.parse::<u16>().unwrap_or(22)));
            n.to_string()
        }
        _ => given.to_string(),
    };
    match run.change_inventory(|inv| inv.add_host(&name, &groups, &vars)) {
        Ok(changed) => {
            let mut o = TaskOutcome::done(changed);
            o.data.insert("add_host".into(), serde_json::json!({"host_name": name, "groups": groups, "host_vars": vars}));
            o
        }
        Err(e) => TaskOutcome::failed(format!("add_host: {e}")),
    }
}

/// The action a templated module name (`action: "{{ pkg_mgr }} name=x"`) stands for on this host, with its
/// arguments parsed as that module's (still to be rendered).
fn templated_action(run: &Run, t: &Task, name: &str, scope: &VarScope) -> Result<(Action, Map<String, Value>), TaskError> {
    let module = match run.templar.render_value(&Value::String(name.to_string()), scope, &t.span)? {
        Value::String(s) => s.trim().to_string(),
        other => return Err(TaskError::Msg(format!("{}: the module name '{name}' rendered to {other}, not a name", t.span))),
    };
    let mut args = t.args.clone();
    if let Some(Value::String(free)) = args.remove("_raw_params") {
        let spec = match crate::modules::registry::find(&module) {
            Some(m) => Some(m.spec()),
            None => match crate::modules::registry::short_name(&module) {
                "meta" => Some(crate::playbook::action::meta_spec()),
                "include_vars" => Some(crate::playbook::action::include_vars_spec()),
                _ => None,
            },
        };
        let parsed = match spec {
            Some(spec) => crate::modules::args::parse_string_args(spec, &free),
            None => crate::modules::args::parse_kv(&free).map(|kv| kv.into_iter().map(|(k, v)| (k, Value::String(v))).collect()),
        };
        args.extend(parsed.map_err(|e| TaskError::Msg(format!("{}: module '{module}': {e}", t.span)))?);
    }
    let action = crate::playbook::action::resolve(&module, &args)
        .map_err(|e| TaskError::Msg(format!("{}: {e}", t.span)))?
        .unwrap_or_else(|| Action::Missing(module.as_str().into()));
    Ok((action, args))
}

/// One run of the task's action (with retries for `until`), on one host, for one item.
async fn run_item(run: &Arc<Run>, t: &Arc<Task>, host: &str, eff: &Inherited, scope: &VarScope) -> TaskOutcome {
    let (action, raw_args) = match &t.action {
        Action::Templated(name) => match templated_action(run, t, name, scope) {
            Ok(r) => r,
            Err(e) => return task_error(run, e),
        },
        other => (other.clone(), t.args.clone()),
    };
    let mut rendered = match run.templar.render_value(&Value::Object(raw_args), scope, &t.span) {
        Ok(Value::Object(m)) => m,
        Ok(_) => Map::new(),
        Err(e) => return task_error(run, e.into()),
    };
    // `args: "{{ a_mapping }}"`: its keys, under those the task writes itself.
    match rendered.remove(crate::playbook::ARGS_TEMPLATE) {
        None => {}
        Some(Value::Object(extra)) => {
            for (k, v) in extra {
                rendered.entry(k).or_insert(v);
            }
        }
        Some(other) => return TaskOutcome::failed(format!("{}: `args:` must give a mapping, it gave {other}", t.span)),
    }
    let module = match &action {
        Action::Module(m) => *m,
        // A template naming another template is not followed.
        Action::Templated(name) => return TaskOutcome::failed(format!("{}: the module name '{name}' is still a template", t.span)),
        Action::Missing(name) => {
            return TaskOutcome::failed(format!(
                "{}: module '{name}' is not available in hlprov, and task '{}' runs it on host {host} (see docs/modules.md for the modules hlprov has)",
                t.span,
                t.display_name()
            ));
        }
        Action::SetFact => {
            let facts: Vars = rendered.into_iter().filter(|(k, _)| k != "cacheable").collect();
            let mut o = TaskOutcome::done(false);
            o.facts = Some(facts);
            return o;
        }
        Action::IncludeVars => return include_vars(run, t, &rendered),
        Action::GroupBy => return group_by(run, host, &rendered),
        Action::AddHost => return add_host(run, &rendered),
        Action::Meta(m) => {
            let mut o = TaskOutcome::done(false);
            o.control = Some(*m);
            return o;
        }
    };
    let args = match module.spec().check(&rendered, false) {
        Ok(a) => a,
        Err(e) => return TaskOutcome::failed(format!("{}: module '{}': {e}", t.span, module.name())),
    };
    let check = match truthy_opt(run, &eff.check_mode, scope, &t.span) {
        Ok(Some(c)) => c,
        Ok(None) => run.opts.check,
        Err(e) => return TaskOutcome::failed(format!("check_mode: {e}")),
    } && !t.read_only;
    let diff = eff.diff.unwrap_or(run.opts.diff);
    let env = match render_env(run, eff, scope, &t.span) {
        Ok(e) => e,
        Err(e) => return TaskOutcome::failed(e),
    };
    // Variables (ansible_become*) win over keywords, which win over the command line, as in Ansible.
    let var_bool = |name: &str| scope.get(name).and_then(|v| run.templar.render_value(v, scope, &t.span).ok()).and_then(|v| to_bool(&v));
    let var_str =
        |name: &str| scope.get(name).and_then(|v| run.templar.render_value(v, scope, &t.span).ok()).and_then(|v| v.as_str().map(str::to_string));
    let escalate = var_bool("ansible_become").or(eff.escalate).unwrap_or(run.opts.escalate);
    let become_user = escalate
        .then(|| var_str("ansible_become_user").or(eff.become_user.clone()).or(run.opts.become_user.clone()).unwrap_or_else(|| "root".into()));

    let delegate = match &eff.delegate_to {
        Some(d) => match run.templar.render_value(&Value::String(d.clone()), scope, &t.span) {
            Ok(Value::String(s)) => Some(s),
            Ok(other) => Some(other.to_string()),
            Err(e) => return TaskOutcome::failed(tmpl_err(e)),
        },
        None => None,
    };
    let target_host = delegate.clone().unwrap_or_else(|| host.to_string());
    if run.opts.offline && module.needs_host() {
        // No host: the module shows what it would make from its arguments alone, or says it needs one.
        let task_env = ExecEnv::new(run.clone(), scope.clone(), eff.role.clone(), host.to_string());
        let mut ctx = ModuleCtx::new(host, None, &task_env);
        ctx.diff = diff;
        let mut o = to_outcome(run, module_step::render(module, &ctx, &args, diff));
        o.delegated_to = delegate;
        o.result_unknown = true;
        return o;
    }
    let conn = if module.needs_host() {
        let conn_scope = if delegate.is_some() { run.host_scope(&target_host) } else { scope.clone() };
        let vars = match connection_vars(run, &conn_scope, &t.span) {
            Ok(v) => v,
            Err(e) => return TaskOutcome::failed(e),
        };
        match connections::target(&target_host, &vars, &run.opts.connect) {
            Ok(target) => Some(run.pool.get(&target_host, &target)),
            Err(e) => return TaskOutcome::unreachable(format!("{target_host}: {e}")),
        }
    } else {
        None
    };
    let task_env = ExecEnv::new(run.clone(), scope.clone(), eff.role.clone(), host.to_string());
    let timeout = t.async_limit.or(eff.timeout).or(run.opts.task_timeout).map(Duration::from_secs);

    let until = t.until.as_deref().unwrap_or_default();
    let render_num = |v: &Option<Value>, default: u64| -> u64 {
        match v {
            None => default,
            Some(v) => run
                .templar
                .render_value(v, scope, &t.span)
                .ok()
                .and_then(|v| v.as_u64().or_else(|| v.as_str()?.trim().parse().ok()))
                .unwrap_or(default),
        }
    };
    let attempts = if until.is_empty() {
        1
    } else if t.retries.is_some() {
        render_num(&t.retries, 3) + 1
    } else {
        3
    };
    let delay = render_num(&t.delay, 5);
    let lock = run.pool.lock(&target_host);
    let mut last = None;
    for attempt in 1..=attempts {
        let outcome = {
            let _guard = if module.needs_host() { Some(lock.lock().await) } else { None };
            let mut ctx = ModuleCtx::new(host, conn.as_deref(), &task_env);
            ctx.diff = diff;
            ctx.become_user = become_user.clone();
            ctx.env = env.clone();
            ctx.timeout = timeout;
            ctx.background = t.async_job;
            // The time limit covers the whole task, not only each command the module runs.
            let step = module_step::run(module, ctx, &args, check, diff);
            let limited = async {
                match timeout {
                    Some(t) => tokio::time::timeout(t, step).await.unwrap_or(Err(ModuleError::Transport(TransportError::Timeout(t)))),
                    None => step.await,
                }
            };
            // A critical section (a package manager run, a file write, a restart) is never abandoned: stopping it
            // halfway would break the host. Anything else is abandoned on a second Ctrl-C.
            let critical = module.spec().critical && !check;
            let _running = run.opts.interrupt.enter(host, &t.display_name(), critical);
            let r = if critical {
                limited.await
            } else {
                tokio::select! {
                    r = limited => r,
                    _ = run.opts.interrupt.killed() => Err(ModuleError::failed("interrupted: the task was abandoned after the second Ctrl-C")),
                }
            };
            // A cancelled module may have left a command running on the host: stop it before the host moves on.
            if let Some(c) = &conn {
                c.stop_abandoned().await;
            }
            r
        };
        let outcome = match (outcome, t.async_limit) {
            (Err(ModuleError::Transport(TransportError::Timeout(_))), Some(n)) => {
                Err(ModuleError::failed(format!("async task did not complete within the requested time - {n}s")))
            }
            (o, _) => o,
        };
        let mut o = to_outcome(run, outcome);
        if t.async_limit.is_some() && o.end != End::Failed {
            // What Ansible's async wrapper adds to a job it polled to its end.
            o.data.insert("started".into(), Value::Bool(true));
            o.data.insert("finished".into(), Value::Bool(true));
        }
        o.delegated_to = delegate.clone();
        if let Err(e) = apply_conditions(run, t, scope, &mut o) {
            o = TaskOutcome::failed(e);
        }
        if !until.is_empty() {
            o.data.insert("attempts".into(), Value::from(attempt));
            let reg_scope = registered_scope(t, scope, &o.registered());
            match conditions_hold(run, until, &reg_scope).map_err(tmpl_err) {
                Ok(None) => {
                    last = Some(o);
                    break;
                }
                Ok(Some(_)) if attempt < attempts => {
                    run.reporter.warn(format!("FAILED - RETRYING: [{host}]: {} ({} retries left)", t.display_name(), attempts - attempt));
                    tokio::time::sleep(Duration::from_secs(delay)).await;
                    continue;
                }
                Ok(Some(_)) => {
                    o.end = End::Failed;
                    if o.msg.as_deref().is_none_or(str::is_empty) {
                        o.msg = Some(format!("gave up after {attempt} attempts: the until condition never held"));
                    }
                }
                Err(e) => o = TaskOutcome::failed(e),
            }
        }
        last = Some(o);
        if until.is_empty() {
            break;
        }
    }
    last.unwrap_or_else(|| TaskOutcome::failed("the task did not run"))
}

fn registered_scope(t: &Task, scope: &VarScope, result: &Value) -> VarScope {
    match &t.register {
        Some(name) => {
            let mut v = Vars::new();
            v.insert(name.clone(), result.clone());
            scope.with_layer(LayerKind::Registered, "this result", Arc::new(v))
        }
        None => scope.clone(),
    }
}

/// changed_when / failed_when, evaluated with the result registered.
fn apply_conditions(run: &Run, t: &Task, scope: &VarScope, o: &mut TaskOutcome) -> Result<(), String> {
    if matches!(o.end, End::Unreachable | End::Skipped) {
        return Ok(());
    }
    if let Some(conds) = &t.changed_when {
        let reg = registered_scope(t, scope, &o.registered());
        o.changed = conditions_hold(run, conds, &reg).map_err(tmpl_err)?.is_none();
    }
    if let Some(conds) = &t.failed_when {
        let reg = registered_scope(t, scope, &o.registered());
        // failed_when items are OR-ed, unlike when.
        let mut failed = false;
        for c in conds {
            if conditions_hold(run, std::slice::from_ref(c), &reg).map_err(tmpl_err)?.is_none() {
                failed = true;
                break;
            }
        }
        o.data.insert("failed_when_result".into(), Value::Bool(failed));
        o.end = if failed { End::Failed } else { End::Done };
    }
    Ok(())
}

/// What the module step returned, as the task's record.
fn to_outcome(run: &Run, r: Result<ModuleRun, ModuleError>) -> TaskOutcome {
    match r {
        Err(ModuleError::Template(e)) => task_error(run, e.into()),
        Ok(ModuleRun::Done(o)) => TaskOutcome::from_module(o),
        Ok(ModuleRun::Undecided { outcome: None, why }) => {
            let mut o = TaskOutcome::skipped(why);
            o.needs_host = true;
            o
        }
        Ok(ModuleRun::Undecided { outcome: Some(out), why }) => {
            let mut o = TaskOutcome::from_module(out);
            o.msg = Some(why);
            o.result_unknown = true;
            o
        }
        Ok(ModuleRun::Skipped(msg)) => {
            let mut o = TaskOutcome::skipped(msg);
            o.needs_host = run.opts.offline;
            o
        }
        Err(ModuleError::Transport(e)) if e.is_unreachable() => TaskOutcome::unreachable(e.to_string()),
        Err(ModuleError::Failed(f)) => {
            let mut o = TaskOutcome::failed(f.msg);
            o.data = f.data;
            o.changed = f.changed;
            o
        }
        Err(e) => TaskOutcome::failed(e.to_string()),
    }
}

/// An include_role option (`tasks_from: "{{ x | default(omit) }}"`), rendered for `host`; `omit` (or an error,
/// reported when the role's file is looked for) leaves it unset or as written.
pub(crate) fn render_include_option(run: &Run, pc: &PlayCtx, inc: &Include, host: &str, eff: &Inherited, raw: Option<&str>) -> Option<String> {
    let raw = raw?;
    if !raw.contains("{{") {
        return Some(raw.to_string());
    }
    let scope = task_scope(run, pc, host, eff, Some(&inc.kw.vars));
    match run.templar.render_value(&Value::String(raw.to_string()), &scope, &inc.span) {
        Ok(Value::String(s)) if s == run.templar.omit_token() || s.is_empty() => None,
        Ok(Value::String(s)) => Some(s),
        Ok(Value::Null) => None,
        Ok(other) => Some(other.to_string()),
        Err(_) => Some(raw.to_string()),
    }
}

/// What an include brings in on a host, once per loop item: the file (or role) it resolves to, with the
/// parameters its tasks see and what `register:` records for it.
pub(crate) struct Included {
    pub target: String,
    pub params: Arc<Vars>,
    pub registered: Value,
}

pub(crate) fn resolve_include(run: &Run, pc: &PlayCtx, inc: &Include, host: &str, eff: &Inherited) -> Result<Vec<Included>, TaskError> {
    let scope = task_scope(run, pc, host, eff, Some(&inc.kw.vars));
    let items: Vec<Option<Value>> = match &inc.loop_ {
        None => vec![None],
        Some(lp) => loops::items(run, &inc.span, lp, &scope, eff.role.as_deref(), "files")
            .map_err(|e| TaskError::Msg(e.to_string()))?
            .into_iter()
            .map(Some)
            .collect(),
    };
    let all: Vec<Value> = items.iter().flatten().cloned().collect();
    let lc = &inc.loop_control;
    let mut out = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let mut params = inc.kw.vars.clone();
        let item_value = item.clone();
        if let Some(item) = item {
            let var = loop_var_name(run, &lc.loop_var, &scope, &inc.span)?;
            params.insert(var, crate::vars::unsafe_text::wrap_all(item));
            if let Some(ix) = &lc.index_var {
                params.insert(ix.clone(), Value::from(i));
            }
            if lc.extended {
                params.insert("ansible_loop".into(), crate::vars::unsafe_text::wrap_all(extended_loop(lc, &all, i)));
            }
        }
        let item_scope = scope.with_layer(LayerKind::IncludeParams, "include params", Arc::new(params.clone()));
        if conditions_hold(run, &eff.when, &item_scope).map_err(TaskError::from)?.is_some() {
            continue;
        }
        let raw = match &inc.kind {
            IncludeKind::Tasks { file } => file.clone(),
            IncludeKind::Role { name, .. } => name.clone(),
        };
        let target = match run.templar.render_value(&Value::String(raw), &item_scope, &inc.span).map_err(TaskError::from)? {
            Value::String(s) => s,
            other => other.to_string(),
        };
        let (resolved, args) = match &inc.kind {
            IncludeKind::Tasks { .. } => {
                let role_tasks = inc.role.as_ref().map(|r| r.path.join("tasks"));
                let path = crate::playbook::resolve_include_path(&inc.base_dir, role_tasks.as_deref(), &run.playbook.dir, &target);
                (path.display().to_string(), serde_json::Map::new())
            }
            IncludeKind::Role { files, .. } => {
                let mut args: serde_json::Map<String, Value> = [("name".to_string(), Value::String(target.clone()))].into_iter().collect();
                for (k, v) in files.options() {
                    args.insert(k.into(), Value::String(v.to_string()));
                }
                (target.clone(), args)
            }
        };
        // What Ansible registers for an include: the name as rendered and the include's arguments.
        let mut registered: serde_json::Map<String, Value> =
            [("changed".to_string(), Value::Bool(false)), ("include_args".to_string(), Value::Object(args))].into_iter().collect();
        if matches!(inc.kind, IncludeKind::Tasks { .. }) {
            registered.insert("include".into(), Value::String(target.clone()));
        }
        if let Some(item) = item_value {
            let var = loop_var_name(run, &lc.loop_var, &scope, &inc.span)?;
            registered.insert(var.clone(), item);
            registered.insert("ansible_loop_var".into(), Value::String(var));
        }
        let target = resolved;
        // Rendered now, so inner tasks see the values of this item; one that reads something undefined stays as
        // written and fails only where an inner task uses it, as Ansible's lazy variables do.
        let omit = run.templar.omit_token();
        let mut rendered = Vars::new();
        for (k, v) in params {
            match run.templar.render_value(&v, &item_scope, &inc.span) {
                Ok(r) if r.as_str() == Some(omit) => {}
                Ok(r) => {
                    rendered.insert(k, r);
                }
                Err(e) if e.kind == TemplateErrorKind::Undefined => {
                    rendered.insert(k, v);
                }
                Err(e) => return Err(e.into()),
            }
        }
        out.push(Included { target, params: Arc::new(rendered), registered: Value::Object(registered) });
    }
    Ok(out)
}
