//! Walking task lists over a set of hosts. In the linear strategy every host finishes a task before any host
//! starts the next; blocks run their `rescue:` for the hosts that failed and `always:` for every host that
//! entered; dynamic includes are resolved per host and run for each group of hosts that included the same
//! thing; handlers run at flush points for the hosts that notified them.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use futures::StreamExt;
use serde_json::Value;

use super::play::PlayCtx;
use super::run::Run;
use super::task::{self, TaskDone};
use crate::playbook::MetaAction;
use crate::playbook::{Block, Include, IncludeKind, Keywords, Node, Play, RoleScope, Strategy, Task};
use crate::report::{Event, Status};
use crate::vars::Vars;

/// What is in force at a point of the tree: the keywords blocks, roles, includes and the play pass down (the
/// playbook's own [`Keywords`], merged), and what the walk itself knows (role, variables, handler, gate).
#[derive(Clone, Default)]
pub(crate) struct Inherited {
    pub kw: Keywords,
    pub block_vars: Vec<Arc<Vars>>,
    pub role: Option<Arc<RoleScope>>,
    pub include_params: Vec<Arc<Vars>>,
    /// Inside a block that has a `rescue:` (failures there do not abort the play).
    pub rescuable: bool,
    pub handler: bool,
    pub gate: bool,
}

impl std::ops::Deref for Inherited {
    type Target = Keywords;
    fn deref(&self) -> &Keywords {
        &self.kw
    }
}

impl std::ops::DerefMut for Inherited {
    fn deref_mut(&mut self) -> &mut Keywords {
        &mut self.kw
    }
}

impl Inherited {
    pub fn for_play(play: &Play) -> Inherited {
        Inherited::default().with_kw(&play.kw, false)
    }

    /// Add a level's keywords. `vars` become block vars when `vars_as_block` (blocks, roles, imports).
    pub fn with_kw(&self, kw: &Keywords, vars_as_block: bool) -> Inherited {
        let mut n = self.clone();
        n.kw = self.kw.under(kw);
        if vars_as_block && !kw.vars.is_empty() {
            n.block_vars.push(Arc::new(kw.vars.clone()));
        }
        n
    }

    fn in_role(&self, role: &Option<Arc<RoleScope>>) -> Inherited {
        let mut n = self.clone();
        if role.is_some() {
            n.role = role.clone();
        }
        n
    }
}

/// Whether a task with these tags runs under --tags/--skip-tags (Ansible's rules, incl. always/never).
pub(crate) fn tags_selected(tags: &[String], only: &[String], skip: &[String]) -> bool {
    let has = |t: &str| tags.iter().any(|x| x == t);
    let tagged = tags.iter().any(|t| t != "always" && t != "never") || has("always");
    if !skip.is_empty()
        && (tags.iter().any(|t| skip.contains(t))
            || (skip.iter().any(|s| s == "tagged") && tagged)
            || (skip.iter().any(|s| s == "untagged") && !tagged))
    {
        return false;
    }
    if has("always") {
        return true;
    }
    let only_all = only.is_empty() || only.iter().all(|o| o == "all");
    if has("never") {
        return tags.iter().any(|t| only.contains(t));
    }
    if only_all || only.iter().any(|o| o == "all") {
        return true;
    }
    (only.iter().any(|o| o == "tagged") && tagged) || (only.iter().any(|o| o == "untagged") && !tagged) || tags.iter().any(|t| only.contains(t))
}

/// Run a list of nodes on `hosts` (each host still active when its turn comes).
pub(crate) async fn run_nodes(run: &Arc<Run>, pc: &Arc<PlayCtx>, nodes: &[Node], hosts: &[String], inh: &Inherited) {
    if pc.strategy() == Strategy::Free && hosts.len() > 1 && !inh.handler {
        // Each host goes at its own pace.
        let jobs = hosts.iter().map(|h| {
            let (run, pc, inh, nodes, host) = (run.clone(), pc.clone(), inh.clone(), nodes.to_vec(), h.clone());
            async move { Box::pin(run_nodes_linear(&run, &pc, &nodes, std::slice::from_ref(&host), &inh)).await }
        });
        futures::stream::iter(jobs).buffer_unordered(run.opts.forks.max(1)).collect::<Vec<()>>().await;
        return;
    }
    run_nodes_linear(run, pc, nodes, hosts, inh).await
}

async fn run_nodes_linear(run: &Arc<Run>, pc: &Arc<PlayCtx>, nodes: &[Node], hosts: &[String], inh: &Inherited) {
    for node in nodes {
        if pc.aborted() || run.is_interrupted() {
            return;
        }
        let active: Vec<String> = hosts.iter().filter(|h| pc.is_active(h)).cloned().collect();
        if active.is_empty() {
            return;
        }
        match node {
            Node::Task(t) => run_task_slot(run, pc, t, &active, inh).await,
            Node::Block(b) => Box::pin(run_block(run, pc, b, &active, inh)).await,
            Node::Include(i) => Box::pin(run_include(run, pc, i, &active, inh)).await,
        }
    }
}

async fn run_block(run: &Arc<Run>, pc: &Arc<PlayCtx>, block: &Arc<Block>, hosts: &[String], inh: &Inherited) {
    let inner = inh.in_role(&block.role).with_kw(&block.kw, true);
    let mut body = inner.clone();
    body.rescuable = inh.rescuable || !block.rescue.is_empty();
    run_nodes(run, pc, &block.block, hosts, &body).await;

    let failed: Vec<String> = hosts.iter().filter(|h| pc.host(h).failed && !pc.host(h).unreachable).cloned().collect();
    if !block.rescue.is_empty() && !failed.is_empty() && !pc.aborted() {
        for h in &failed {
            pc.update(h, |s| s.failed = false);
            // As Ansible's non-persistent facts: visible in rescue:, always: and for the rest of the run.
            if let Some((task, result)) = pc.last_failure.lock().unwrap_or_else(|p| p.into_inner()).get(h).cloned() {
                run.set_fact(h, "ansible_failed_task", task);
                run.set_fact(h, "ansible_failed_result", result);
            }
            run.stats_mut(h, |s| {
                s.failed = s.failed.saturating_sub(1);
                s.rescued += 1;
            });
            run.reporter.emit(Event::Rescued { host: h.clone(), location: block.span.to_string() });
        }
        run_nodes(run, pc, &block.rescue, &failed, &inner).await;
    }
    if !block.always.is_empty() && !run.is_interrupted() {
        // always: runs for every host that entered the block, failed or not.
        let entered: Vec<String> = hosts.iter().filter(|h| !pc.host(h).unreachable && !pc.host(h).ended).cloned().collect();
        let was_failed: HashSet<String> = entered.iter().filter(|h| pc.host(h).failed).cloned().collect();
        for h in &was_failed {
            pc.update(h, |s| s.failed = false);
            // A block without a rescue: its always: sees the failure too, as in Ansible.
            if let Some((task, result)) = pc.last_failure.lock().unwrap_or_else(|p| p.into_inner()).get(h).cloned() {
                run.set_fact(h, "ansible_failed_task", task);
                run.set_fact(h, "ansible_failed_result", result);
            }
        }
        run_nodes(run, pc, &block.always, &entered, &inner).await;
        for h in &was_failed {
            pc.update(h, |s| s.failed = true);
        }
    }
}

/// Run one task on every host (or on the first, for run_once), then apply play-wide consequences.
pub(crate) async fn run_task_slot(run: &Arc<Run>, pc: &Arc<PlayCtx>, t: &Arc<Task>, hosts: &[String], inh: &Inherited) {
    let eff = inh.in_role(&t.role).with_kw(&t.kw, false);
    if !inh.handler && !tags_selected(&eff.tags, &run.opts.tags, &run.opts.skip_tags) {
        return;
    }
    if !run.started.load(Ordering::Relaxed) {
        let want = run.opts.start_at_task.as_deref().unwrap_or_default();
        let name = t.name.as_deref().unwrap_or_default();
        if name == want || t.display_name() == want || crate::transport::known_hosts::wildcard(want, name) {
            run.started.store(true, Ordering::Relaxed);
        } else {
            return;
        }
    }
    if run.is_interrupted() || hosts.is_empty() {
        return;
    }
    let title = task::display_name(run, pc, t, &hosts[0], &eff);
    run.reporter.emit(Event::TaskStart {
        play: pc.phase.clone().unwrap_or_else(|| pc.play.name.clone()),
        task: title.clone(),
        location: t.span.to_string(),
        handler: inh.handler,
        gate: inh.gate,
    });
    let done: Vec<TaskDone> = if task::run_once(run, pc, t, &hosts[0], &eff) {
        let first = task::run_on_host(run, pc, t, &hosts[0], &eff, &title).await;
        for other in &hosts[1..] {
            // The result applies to every host of the batch, as in Ansible.
            if let Some(reg) = &t.register {
                run.register(other, reg, first.result.clone());
            }
            if let Some(facts) = &first.facts {
                for (k, v) in facts {
                    run.set_fact(other, k, v.clone());
                }
            }
        }
        vec![first]
    } else {
        let forks = run.opts.forks.max(1);
        let title = &title;
        let eff = &eff;
        futures::stream::iter(hosts.iter().map(|h| task::run_on_host(run, pc, t, h, eff, title))).buffer_unordered(forks).collect().await
    };

    let mut flush_for = Vec::new();
    for d in &done {
        match d.control {
            Some(MetaAction::FlushHandlers) => flush_for.push(d.host.clone()),
            Some(MetaAction::EndPlay) => {
                for h in pc.batch.lock().unwrap_or_else(|p| p.into_inner()).iter() {
                    pc.update(h, |s| s.ended = true);
                }
            }
            Some(MetaAction::EndHost) => pc.update(&d.host, |s| s.ended = true),
            Some(MetaAction::ClearFacts) => run.clear_facts(&d.host),
            Some(MetaAction::ClearHostErrors) => {
                for h in pc.hosts_all.iter() {
                    pc.update(h, |s| s.failed = false);
                }
            }
            _ => {}
        }
    }
    if !flush_for.is_empty() {
        Box::pin(flush_handlers(run, pc, &flush_for, &Inherited::for_play(&pc.play))).await;
    }
    let failed_here = done.iter().any(|d| d.status == Status::Failed);
    if failed_here && !inh.rescuable && (eff.any_errors_fatal == Some(true) || pc.play.any_errors_fatal) {
        pc.aborted.store(true, Ordering::Relaxed);
        run.reporter.warn(format!("any_errors_fatal: {} failed, stopping the play for every host", title));
    }
    if let Some(max) = pc.play.max_fail_percentage {
        let batch = pc.batch.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let failed = batch.iter().filter(|h| pc.host(h).failed || pc.host(h).unreachable).count();
        if !batch.is_empty() && (failed as f64) * 100.0 / (batch.len() as f64) > max {
            pc.aborted.store(true, Ordering::Relaxed);
            run.reporter.warn(format!("max_fail_percentage {max}% exceeded ({failed} of {} hosts failed), stopping the play", batch.len()));
        }
    }
}

async fn run_include(run: &Arc<Run>, pc: &Arc<PlayCtx>, inc: &Arc<Include>, hosts: &[String], inh: &Inherited) {
    let eff = inh.in_role(&inc.role).with_kw(&inc.kw, false);
    // Tags on a dynamic include select the include itself, as in Ansible.
    if !tags_selected(&eff.tags, &run.opts.tags, &run.opts.skip_tags) {
        return;
    }
    // Resolve, per host, what it includes: (target, parameters), in order.
    let mut groups: Vec<(String, Arc<Vars>, Vec<String>)> = Vec::new();
    for host in hosts {
        match task::resolve_include(run, pc, inc, host, &eff) {
            Ok(targets) => {
                if let Some(reg) = &inc.register {
                    run.register(host, reg, include_result(inc, &targets));
                }
                for task::Included { target, params, .. } in targets {
                    let key_params = serde_json::to_string(&*params).unwrap_or_default();
                    match groups.iter_mut().find(|(t, p, _)| *t == target && serde_json::to_string(&**p).unwrap_or_default() == key_params) {
                        Some((_, _, hs)) => hs.push(host.clone()),
                        None => groups.push((target, params, vec![host.clone()])),
                    }
                }
            }
            Err(e) => task::include_error(run, pc, inc, host, &eff, e),
        }
    }
    for (target, params, group) in groups {
        let mut inner = eff.clone();
        inner.when.clear();
        inner = inner.with_kw(&inc.apply, true);
        inner.include_params.push(params);
        let loaded = match &inc.kind {
            IncludeKind::Tasks { .. } => {
                let path = std::path::PathBuf::from(&target);
                let (role, dir, opts, span) = (
                    inc.role.clone(),
                    run.playbook.dir.clone(),
                    crate::playbook::LoadOptions { roles_path: run.opts.roles_path.clone(), strict: false },
                    inc.span.clone(),
                );
                run.cached_task_file(&path, || crate::playbook::load_task_file(&path, role, &dir, &opts, &span).map_err(|e| e.to_string()))
                    .map(|n| (*n).clone())
            }
            IncludeKind::Role { files, .. } => {
                let opts = crate::playbook::LoadOptions { roles_path: run.opts.roles_path.clone(), strict: false };
                let files = files.map(|raw| task::render_include_option(run, pc, inc, &group[0], &inner, raw));
                let mut handler_files = pc.role_handler_files.lock().unwrap_or_else(|p| p.into_inner());
                crate::playbook::load_role(&target, &files, &run.playbook.dir, &opts, &mut handler_files, &inc.span)
                    .map(|(node, handlers)| {
                        pc.handlers.lock().unwrap_or_else(|p| p.into_inner()).extend(handlers);
                        if let (true, Node::Block(b)) = (inc.public, &node) {
                            let mut public = pc.public_roles.lock().unwrap_or_else(|p| p.into_inner());
                            for h in &group {
                                let roles = public.entry(h.clone()).or_default();
                                roles.extend(b.role.iter().filter(|r| !roles.iter().any(|o| o.path == r.path)).cloned().collect::<Vec<_>>());
                            }
                        }
                        vec![node]
                    })
                    .map_err(|e| e.to_string())
            }
        };
        match loaded {
            Ok(nodes) => {
                run.reporter.emit(Event::TaskStart {
                    play: pc.phase.clone().unwrap_or_else(|| pc.play.name.clone()),
                    task: format!("included: {target} for {}", group.join(", ")),
                    location: inc.span.to_string(),
                    handler: inh.handler,
                    gate: inh.gate,
                });
                run_nodes(run, pc, &nodes, &group, &inner).await;
            }
            Err(e) => {
                for h in &group {
                    task::fail_host(run, pc, h, &inc.span, "include", e.clone());
                }
            }
        }
    }
}

/// What `register:` on an include records on a host, as Ansible does: the include (file name as rendered,
/// arguments), one per item in a loop, or a skip when its condition was false.
fn include_result(inc: &Include, targets: &[task::Included]) -> Value {
    if inc.loop_.is_some() {
        let results: Vec<Value> = targets.iter().map(|t| t.registered.clone()).collect();
        return serde_json::json!({"changed": false, "msg": "All items completed", "skipped": results.is_empty(), "results": results});
    }
    match targets.first() {
        Some(t) => t.registered.clone(),
        None => serde_json::json!({"changed": false, "skipped": true, "skip_reason": "Conditional result was False"}),
    }
}

/// One handler: a task, or an `include_tasks` whose tasks all run when it is notified.
enum Handler {
    Task(Arc<Task>),
    Include(Arc<Include>),
}

impl Handler {
    /// The name and `listen:` topics it answers to.
    fn names(&self) -> Vec<String> {
        let (name, listen) = match self {
            Handler::Task(t) => (&t.name, &t.listen),
            Handler::Include(i) => (&i.name, &i.listen),
        };
        listen.iter().cloned().chain(name.clone()).collect()
    }
}

/// The handlers of a play in definition order: the tasks of an `import_tasks` in the handlers section are
/// handlers of their own (with the import's keywords), as in Ansible.
fn handler_list(nodes: &[Node], inh: &Inherited, out: &mut Vec<(Handler, Inherited)>) {
    for n in nodes {
        match n {
            Node::Task(t) => out.push((Handler::Task(t.clone()), inh.clone())),
            Node::Include(i) => out.push((Handler::Include(i.clone()), inh.clone())),
            Node::Block(b) => handler_list(&b.block, &inh.in_role(&b.role).with_kw(&b.kw, true), out),
        }
    }
}

/// Run notified handlers, in the order they are defined, for the hosts that notified them.
pub(crate) async fn flush_handlers(run: &Arc<Run>, pc: &Arc<PlayCtx>, hosts: &[String], base: &Inherited) {
    let mut handler_inh = base.clone();
    handler_inh.handler = true;
    for _pass in 0..10 {
        let pending: Vec<(String, Vec<String>)> = {
            let mut n = pc.notified.lock().unwrap_or_else(|p| p.into_inner());
            hosts.iter().filter_map(|h| n.remove(h).filter(|v| !v.is_empty()).map(|v| (h.clone(), v))).collect()
        };
        if pending.is_empty() {
            return;
        }
        let nodes = pc.handlers.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mut handlers = Vec::new();
        handler_list(&nodes, &handler_inh, &mut handlers);
        for (h, inh) in &handlers {
            let names = h.names();
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            let mut run_on: Vec<String> = Vec::new();
            for (host, notified) in &pending {
                if notified.iter().any(|x| names.contains(&x.as_str())) {
                    run_on.push(host.clone());
                }
            }
            // Chained: a handler notified by an earlier handler in this same pass.
            {
                let mut n = pc.notified.lock().unwrap_or_else(|p| p.into_inner());
                for host in hosts {
                    if let Some(list) = n.get_mut(host) {
                        if list.iter().any(|x| names.contains(&x.as_str())) {
                            list.retain(|x| !names.contains(&x.as_str()));
                            if !run_on.contains(host) {
                                run_on.push(host.clone());
                            }
                        }
                    }
                }
            }
            run_on.retain(|h| pc.is_active(h) || (pc.play.force_handlers && !pc.host(h).unreachable));
            if !run_on.is_empty() {
                match h {
                    Handler::Task(t) => run_task_slot(run, pc, t, &run_on, inh).await,
                    Handler::Include(i) => Box::pin(run_include(run, pc, i, &run_on, inh)).await,
                }
            }
        }
    }
}

/// The implicit first task of a play (`gather_facts`).
pub(crate) async fn gather_facts(run: &Arc<Run>, pc: &Arc<PlayCtx>, hosts: &[String], base: &Inherited) {
    let Some(setup) = crate::modules::registry::find("setup") else { return };
    let kw = Keywords { tags: vec!["always".into()], check_mode: Some(Value::Bool(false)), ..Default::default() };
    let mut task = Task::synthetic(pc.play.span.clone(), "Gathering Facts", setup, kw);
    task.read_only = true;
    let t = Arc::new(task);
    let started = run.started.load(Ordering::Relaxed);
    run.started.store(true, Ordering::Relaxed);
    run_task_slot(run, pc, &t, hosts, base).await;
    run.started.store(started, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::tags_selected;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn tag_selection_follows_ansible() {
        assert!(tags_selected(&v(&[]), &v(&[]), &v(&[])));
        assert!(tags_selected(&v(&["a"]), &v(&["a"]), &v(&[])));
        assert!(!tags_selected(&v(&["b"]), &v(&["a"]), &v(&[])));
        assert!(!tags_selected(&v(&[]), &v(&["a"]), &v(&[])));
        assert!(tags_selected(&v(&["always"]), &v(&["a"]), &v(&[])));
        assert!(!tags_selected(&v(&["always"]), &v(&["a"]), &v(&["always"])));
        assert!(!tags_selected(&v(&["never", "debug"]), &v(&[]), &v(&[])));
        assert!(tags_selected(&v(&["never", "debug"]), &v(&["debug"]), &v(&[])));
        assert!(!tags_selected(&v(&["a"]), &v(&[]), &v(&["a"])));
        assert!(tags_selected(&v(&[]), &v(&["untagged"]), &v(&[])));
        assert!(!tags_selected(&v(&["x"]), &v(&["untagged"]), &v(&[])));
        assert!(tags_selected(&v(&["x"]), &v(&["tagged"]), &v(&[])));
        assert!(!tags_selected(&v(&["x"]), &v(&[]), &v(&["tagged"])));
    }
}
