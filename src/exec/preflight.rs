//! Checks made before any host is touched: every `notify:` names a handler, every template and condition in
//! the playbook compiles (but `when:`, which fails its task at run time, as in Ansible), and the vars_files
//! without templates load (SOPS files decrypt with this machine's key). Errors name the file:line.

use std::collections::HashSet;

use serde_json::Value;

use super::PreflightError;
use super::run::Run;
use crate::playbook::{Cond, Keywords, Node};
use crate::template::Templar;
use crate::yaml::Span;

pub(crate) fn check(run: &Run) -> Result<(), PreflightError> {
    super::play::preload_static_vars_files(run).map_err(PreflightError)?;
    check_handlers(run)?;
    check_templates(run)
}

/// Every `notify:` must name a handler (or a `listen:` topic) of its play.
fn check_handlers(run: &Run) -> Result<(), PreflightError> {
    fn collect(nodes: &[Node], out: &mut Vec<(String, String)>) {
        for n in nodes {
            match n {
                Node::Task(t) => out.extend(t.notify.iter().map(|x| (x.clone(), t.span.to_string()))),
                Node::Block(b) => {
                    out.extend(b.kw.notify.iter().map(|x| (x.clone(), b.span.to_string())));
                    collect(&b.block, out);
                    collect(&b.rescue, out);
                    collect(&b.always, out);
                }
                Node::Include(_) => {}
            }
        }
    }
    for play in &run.playbook.plays {
        fn handler_names(nodes: &[Node], names: &mut HashSet<String>) {
            for h in nodes {
                match h {
                    Node::Task(t) => {
                        names.extend(t.name.clone());
                        names.extend(t.listen.iter().cloned());
                    }
                    Node::Include(i) => {
                        names.extend(i.name.clone());
                        names.extend(i.listen.iter().cloned());
                    }
                    Node::Block(b) => handler_names(&b.block, names),
                }
            }
        }
        let mut names: HashSet<String> = HashSet::new();
        handler_names(&play.handlers, &mut names);
        let mut notified = Vec::new();
        for section in [&play.pre_tasks, &play.tasks, &play.post_tasks, &play.handlers, &play.verify] {
            collect(section, &mut notified);
        }
        for (name, at) in notified {
            if !name.contains("{{") && !names.contains(&name) {
                return Err(PreflightError(format!("{at}: notify '{name}': no handler of this play has that name or listens to it")));
            }
        }
    }
    Ok(())
}

/// Every template in arguments, loops and keywords, and every condition, must compile.
fn check_templates(run: &Run) -> Result<(), PreflightError> {
    let t = &run.templar;
    for play in &run.playbook.plays {
        check_kw(t, &play.kw, &play.span)?;
        check_value(t, &Value::Object(play.vars.clone()), &play.span)?;
        for section in [&play.pre_tasks, &play.tasks, &play.post_tasks, &play.handlers, &play.verify] {
            check_nodes(t, section)?;
        }
    }
    Ok(())
}

fn check_nodes(t: &Templar, nodes: &[Node]) -> Result<(), PreflightError> {
    for n in nodes {
        match n {
            Node::Task(task) => {
                check_kw(t, &task.kw, &task.span)?;
                check_value(t, &Value::Object(task.args.clone()), &task.span)?;
                if let Some(l) = &task.loop_ {
                    check_value(t, &l.expr, &task.span)?;
                }
                for conds in [&task.changed_when, &task.failed_when, &task.until].into_iter().flatten() {
                    check_conds(t, conds)?;
                }
            }
            Node::Block(b) => {
                check_kw(t, &b.kw, &b.span)?;
                for part in [&b.block, &b.rescue, &b.always] {
                    check_nodes(t, part)?;
                }
            }
            Node::Include(i) => check_kw(t, &i.kw, &i.span)?,
        }
    }
    Ok(())
}

fn check_kw(t: &Templar, kw: &Keywords, span: &Span) -> Result<(), PreflightError> {
    // `when:` is not checked here: as in Ansible, a condition that cannot be evaluated (a syntax error, a
    // template inside it) fails its task when it runs, where ignore_errors and rescue apply.
    check_value(t, &Value::Object(kw.vars.clone()), span)?;
    for e in &kw.environment {
        check_value(t, e, span)?;
    }
    Ok(())
}

fn check_conds(t: &Templar, conds: &[Cond]) -> Result<(), PreflightError> {
    for c in conds {
        t.check_syntax(&c.expr, true, &c.span).map_err(|e| PreflightError(e.to_string()))?;
    }
    Ok(())
}

fn check_value(t: &Templar, v: &Value, span: &Span) -> Result<(), PreflightError> {
    match v {
        Value::String(s) if crate::modules::args::holds_template(v) => t.check_syntax(s, false, span).map_err(|e| PreflightError(e.to_string())),
        Value::Array(a) => a.iter().try_for_each(|x| check_value(t, x, span)),
        Value::Object(m) => m.values().try_for_each(|x| check_value(t, x, span)),
        _ => Ok(()),
    }
}
