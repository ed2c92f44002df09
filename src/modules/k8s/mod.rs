//! k8s and k8s_info: the cluster's API through the cluster's own kubectl on a server (`k3s kubectl` over the SSH
//! connection hlprov already holds; see docs/decisions.md), so no API port is opened to the controller and the
//! controller holds no cluster credentials. Run them on a k3s server (`delegate_to` one, `run_once: true`).
//!
//! `k8s` applies manifests with server-side apply (field manager `hlprov`) and decides what would change from a
//! server-side dry run compared with the live object ([`decide`]); `k8s_info` reads objects. Both wait for
//! conditions and fields ([`wait`]). The pure parts (what is sent, how answers are read) live in [`kubectl`],
//! [`object`], [`decide`] and [`wait`]; this file and [`info`] only run kubectl and loop.

pub mod app;
pub mod decide;
mod info;
pub mod kubectl;
pub mod object;
pub mod wait;

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{ApplyCtx, ArgKind, ArgSpec, Args, Change, Diff, FileKind, Module, ModuleCtx, ModuleError, ModuleSpec, Outcome, Plan, Step};
use decide::{Pending, TaskContext, Verdict};
use kubectl::{Kubectl, Problem, Query, Reply};
use object::{Manifest, ObjRef};
use wait::{Check, WaitSpec};

pub use app::K8sApp;
pub use info::K8sInfo;

pub struct K8s;

/// Arguments every k8s module takes: how to reach kubectl, and waits.
macro_rules! common_args {
    () => {
        [
            ArgSpec::new("wait", ArgKind::Bool)
                .default("no")
                .help("Wait until each object is ready as its kind defines it (Deployment rolled out, DaemonSet and StatefulSet updated and available, Job complete, Pod ready, CRD Established, PVC Bound, LoadBalancer Service with an address, Node Ready; other kinds: present)."),
            ArgSpec::new("wait_condition", ArgKind::Dict)
                .help("Wait for a status condition: {type: Available, status: 'True' (default), reason: optional}."),
            ArgSpec::new("wait_field", ArgKind::Dict).help(
                "Wait for any field: {path: status.phase, value: Bound}; without value, until the field is set and not empty (e.g. path: status.loadBalancer.ingress[0].ip). Paths: a.b[0].c, list[key=value], [\"key.with.dots\"], kubectl's {.a.b}.",
            ),
            ArgSpec::new("wait_timeout", ArgKind::Int).default("120").help("Seconds to wait before failing; the error names what was waited for and what was seen last."),
            ArgSpec::new("wait_sleep", ArgKind::Int).default("2").help("Seconds between two looks."),
            ArgSpec::new("kubectl", ArgKind::Str).default("k3s kubectl").help("The kubectl command on the host."),
            ArgSpec::new("kubeconfig", ArgKind::Path).help("A kubeconfig on the host (k3s kubectl reads /etc/rancher/k3s/k3s.yaml by default; needs root)."),
            ArgSpec::new("context", ArgKind::Str).help("The kubeconfig context to use."),
        ]
    };
}

const COMMON: [ArgSpec; 8] = common_args!();

static SPEC: ModuleSpec = ModuleSpec::new(&[
    ArgSpec::new("definition", ArgKind::Raw)
        .aliases(&["resource_definition"])
        .help("The objects: a mapping, a list of mappings, or YAML text with any number of documents (a `kind: List` is opened)."),
    ArgSpec::new("src", ArgKind::Path).help("A manifest file on the controller (the role's files/, then the playbook's), used as it is."),
    ArgSpec::new("template", ArgKind::Path)
        .help("A manifest template on the controller (the role's templates/), rendered with the task's variables."),
    ArgSpec::new("state", ArgKind::Str)
        .choices(&["present", "absent"])
        .default("present")
        .help("present: server-side apply; absent: delete (an object whose kind is no longer served counts as absent)."),
    ArgSpec::new("namespace", ArgKind::Str).help("Namespace for objects whose manifest names none (namespaced kinds only)."),
    ArgSpec::new("field_manager", ArgKind::Str).default("hlprov").help("The server-side apply field manager."),
    ArgSpec::new("force_conflicts", ArgKind::Bool)
        .default("no")
        .help("Take over fields another manager owns instead of failing with the conflicts (kubectl --force-conflicts)."),
    COMMON[0],
    COMMON[1],
    COMMON[2],
    COMMON[3],
    COMMON[4],
    COMMON[5],
    COMMON[6],
    COMMON[7],
])
.mutually_exclusive(&[&["definition", "src", "template"]])
.required_one_of(&[&["definition", "src", "template"]])
.changes(&["create", "update", "delete"]);

/// kubectl as the arguments ask.
pub(crate) fn kubectl_of(args: &Args) -> Result<Kubectl, ModuleError> {
    let words = super::args::shell_words(args.req("kubectl")?).map_err(|e| ModuleError::Args(format!("kubectl: {e}")))?;
    if words.is_empty() {
        return Err(ModuleError::Args("kubectl must name a command (e.g. 'k3s kubectl')".into()));
    }
    Ok(Kubectl { words, kubeconfig: args.str("kubeconfig").map(str::to_string), context: args.str("context").map(str::to_string) })
}

/// The wait the arguments ask for, if any.
pub(crate) fn wait_of(args: &Args) -> Result<Option<WaitSpec>, ModuleError> {
    let bad = |m: String| ModuleError::Args(m);
    let condition = match args.get("wait_condition") {
        None => None,
        Some(v) => {
            let type_ = v.get("type").map(super::args::value_text).ok_or_else(|| bad("wait_condition needs a type (e.g. Available)".into()))?;
            let status = v.get("status").map(super::args::value_text).unwrap_or_else(|| "True".into());
            let reason = v.get("reason").map(super::args::value_text);
            Some(wait::Cond { type_, status, reason })
        }
    };
    let field = match args.get("wait_field") {
        None => None,
        Some(v) => {
            let path = v.get("path").and_then(Value::as_str).ok_or_else(|| bad("wait_field needs a path (e.g. status.phase)".into()))?;
            let steps = wait::parse_path(path).map_err(bad)?;
            Some(wait::Field { path: path.to_string(), steps, value: v.get("value").filter(|x| !x.is_null()).map(super::args::value_text) })
        }
    };
    let ready = args.bool("wait");
    if !ready && condition.is_none() && field.is_none() {
        return Ok(None);
    }
    let secs = |name: &str, min: i64| Duration::from_secs(args.int(name).unwrap_or(min).max(min) as u64);
    Ok(Some(WaitSpec { ready, condition, field, timeout: secs("wait_timeout", 0), sleep: secs("wait_sleep", 1) }))
}

/// Run kubectl calls in one round trip, the manifest (if any) on stdin. Reads only: planning uses it.
pub(crate) async fn run_calls(ctx: &ModuleCtx<'_>, k: &Kubectl, calls: &[Vec<String>], stdin: Option<&[u8]>) -> Result<Vec<Reply>, ModuleError> {
    let argvs: Vec<Vec<String>> = calls.iter().map(|c| k.argv(c)).collect();
    let script = kubectl::script(&argvs, stdin.is_some());
    let out = match stdin {
        Some(_) => ctx.read_input(&script, stdin).await?,
        None => ctx.read(&script).await?,
    };
    kubectl::split_replies(&out.stdout_text(), calls.len())
        .ok_or_else(|| ModuleError::failed(format!("running {} failed (rc={}): {}", k.shown(), out.rc(), out.stderr_text().trim())))
}

/// The same, for calls that change the cluster.
async fn write_calls(ctx: &ApplyCtx<'_>, k: &Kubectl, calls: &[Vec<String>], stdin: &[u8]) -> Result<Vec<Reply>, ModuleError> {
    let argvs: Vec<Vec<String>> = calls.iter().map(|c| k.argv(c)).collect();
    let out = ctx.write(&kubectl::script(&argvs, true), Some(stdin)).await?;
    kubectl::split_replies(&out.stdout_text(), calls.len())
        .ok_or_else(|| ModuleError::failed(format!("running {} failed (rc={}): {}", k.shown(), out.rc(), out.stderr_text().trim())))
}

/// Look at an object (or a list) until `spec` holds for it, it fails for good, or time runs out. `what` names
/// it for messages. A list must have at least one item, and every item must be ready. Transient API errors
/// (a server restarting) are waited out too.
pub(crate) async fn wait_until(ctx: &ModuleCtx<'_>, k: &Kubectl, q: &Query, what: &str, spec: &WaitSpec) -> Result<Vec<Value>, ModuleError> {
    let deadline = Instant::now() + spec.timeout;
    loop {
        let reply = run_calls(ctx, k, &[kubectl::get(q)], None).await?.remove(0);
        let seen = match reply.problem() {
            None => {
                let objs = kubectl::parse_objects(&reply.stdout).map_err(ModuleError::failed)?;
                for o in &objs {
                    object::register_secret_values(o);
                }
                let mut pending = Vec::new();
                for o in &objs {
                    match wait::check(o, spec) {
                        Check::Ready => {}
                        Check::Waiting(w) => pending.push(format!("{}: {w}", name_of(o))),
                        Check::Failed(why) => {
                            return Err(ModuleError::failed(format!("{what} will not become {}: {}: {why}", wait::describe(spec), name_of(o))));
                        }
                    }
                }
                if objs.is_empty() {
                    "it does not exist".to_string()
                } else if pending.is_empty() {
                    return Ok(objs);
                } else {
                    pending.join("; ")
                }
            }
            Some(p @ (Problem::NoKind { .. } | Problem::NoResourceType(_))) => p.message(),
            Some(p) if p.transient() => p.message(),
            Some(p) => return Err(ModuleError::failed(format!("waiting for {what}: {}", p.message()))),
        };
        if Instant::now() + spec.sleep > deadline {
            return Err(ModuleError::failed(format!(
                "timed out after {}s waiting for {what} to be {}; last seen: {seen}",
                spec.timeout.as_secs(),
                wait::describe(spec)
            )));
        }
        tokio::time::sleep(spec.sleep).await;
    }
}

/// Why a cluster task cannot decide on this host: its kubectl is not there (not a server, or not yet).
pub(crate) fn no_cluster(ctx: &ModuleCtx<'_>, k: &Kubectl, detail: &str) -> String {
    format!(
        "needs the cluster: {} is not installed on {} yet ({detail}); run the task on a k3s server (delegate_to: k8s_api_host) after the k3s phases",
        k.shown(),
        ctx.host
    )
}

/// `kind/name` of an object as kubectl shows it, with its namespace.
fn name_of(o: &Value) -> String {
    let m = Manifest { obj: o.clone(), origin: String::new() };
    object::identify(&m).map(|r| r.display()).unwrap_or_else(|_| "an object".into())
}

/// Where the manifests come from, read on the controller.
fn manifests(ctx: &ModuleCtx<'_>, args: &Args) -> Result<Vec<Manifest>, ModuleError> {
    if let Some(d) = args.get("definition") {
        return object::from_definition(d, "definition").map_err(ModuleError::Args);
    }
    let (name, kind) = match (args.str("src"), args.str("template")) {
        (Some(s), _) => (s, FileKind::Files),
        (None, Some(t)) => (t, FileKind::Templates),
        (None, None) => return Err(ModuleError::Args("one of definition, src or template is required".into())),
    };
    let path = ctx.task.find_file(kind, name).map_err(|e| ModuleError::Args(format!("could not find {name}: {e}")))?;
    let shown = path.display().to_string();
    let text = crate::yaml::read_text_file(&path).map_err(|e| ModuleError::Args(format!("{shown}: {e}")))?;
    let text = if kind == FileKind::Templates { ctx.task.render(&text, &shown).map_err(ModuleError::Template)? } else { text };
    object::from_yaml(&text, &shown).map_err(ModuleError::Args)
}

fn render_checked(ctx: &ModuleCtx<'_>, args: &Args) -> Result<Plan, ModuleError> {
    check_rendered(&manifests(ctx, args)?, args.str("state").unwrap_or("present"))
}

/// Objects as they would be applied (or deleted, state absent), each checked against the schemas and the CRDs
/// among them; an invalid one fails with where it came from.
fn check_rendered(ms: &[Manifest], state: &str) -> Result<Plan, ModuleError> {
    use crate::manifests::schema::{Checked, Schemas};
    let mut schemas = Schemas::builtin();
    for m in ms.iter().filter(|m| m.obj.get("kind").and_then(Value::as_str) == Some("CustomResourceDefinition")) {
        let text = serde_json::to_string(&m.obj).unwrap_or_default();
        schemas.add_crds(&text, &m.origin).map_err(|e| ModuleError::failed(e.to_string()))?;
    }
    let mut plan = Plan::unchanged();
    let mut problems = Vec::new();
    for m in ms {
        let r = object::identify(m).map_err(ModuleError::Args)?;
        let obj = crate::manifests::Object { value: m.obj.clone(), span: crate::yaml::Span::synthetic(&m.origin) };
        let note = match schemas.check(&obj) {
            Checked::Valid => String::new(),
            Checked::Unknown => format!(" (not checked: no schema for {} {})", obj.api_version(), obj.kind()),
            Checked::Invalid(ps) => {
                problems.extend(ps.iter().map(|p| format!("{}: {}: {p}", m.origin, r.display())));
                continue;
            }
        };
        let (kind, before, after) = if state == "absent" {
            ("delete", object::show(&object::hide_secret(&m.obj)), String::new())
        } else {
            ("create", String::new(), object::show(&object::hide_secret(&m.obj)))
        };
        let d = Diff { before_header: format!("{}{note}", r.display()), after_header: format!("{}{note}", r.display()), before, after };
        plan = plan.change(Change::new(kind, d, Step::Module));
    }
    if !problems.is_empty() {
        return Err(ModuleError::failed(format!(
            "invalid manifest (Kubernetes {} schemas and the pinned CRDs): {}",
            crate::manifests::schema::KUBERNETES_VERSION,
            problems.join("; ")
        )));
    }
    Ok(plan)
}

/// One object as planned, kept for `apply`.
struct Planned {
    r: ObjRef,
    origin: String,
    /// The manifest as sent (JSON), on stdin.
    body: Vec<u8>,
    /// `--namespace` for kubectl: the manifest's, else the task's.
    namespace: Option<String>,
    verdict: Verdict,
}

impl Planned {
    fn label(&self) -> String {
        format!("{}: {}", self.origin, self.r.display())
    }
}

/// The live object's namespace, once the server said.
fn with_server_namespace(mut r: ObjRef, obj: &Value) -> ObjRef {
    if let Some(ns) = obj.pointer("/metadata/namespace").and_then(Value::as_str) {
        r.namespace = Some(ns.to_string());
    }
    r
}

fn diff_of(p: &Planned) -> Diff {
    let title = p.r.display();
    match &p.verdict {
        Verdict::Create { after, pending } => {
            let after = object::hide_secret(after);
            let note = pending
                .as_ref()
                .map(|pd| format!(" (manifest, not checked by the server yet: {})", pd.why()))
                .unwrap_or_else(|| " (server dry run)".into());
            Diff {
                before_header: format!("{title} (absent)"),
                after_header: format!("{title}{note}"),
                before: String::new(),
                after: object::show(&after),
            }
        }
        Verdict::Update { before, after, ownership_only } => {
            let (b, a) = object::hide_secret_values(before, after);
            let mut after_text = object::show(&a);
            if *ownership_only {
                after_text.push_str("# same values; the server records field manager ownership of the applied fields\n");
            }
            Diff {
                before_header: format!("{title} (live)"),
                after_header: format!("{title} (server dry run)"),
                before: object::show(&b),
                after: after_text,
            }
        }
        Verdict::Delete { before } => Diff {
            before_header: format!("{title} (live)"),
            after_header: format!("{title} (absent)"),
            before: object::show(&object::hide_secret(before)),
            after: String::new(),
        },
        Verdict::Unchanged { .. } | Verdict::Absent => Diff::default(),
    }
}

fn action_word(v: &Verdict, done: bool) -> &'static str {
    match (v, done) {
        (Verdict::Create { .. }, false) => "create",
        (Verdict::Create { .. }, true) => "created",
        (Verdict::Update { .. }, false) => "update",
        (Verdict::Update { .. }, true) => "updated",
        (Verdict::Delete { .. }, false) => "delete",
        (Verdict::Delete { .. }, true) => "deleted",
        (Verdict::Unchanged { .. }, _) => "unchanged",
        (Verdict::Absent, _) => "absent",
    }
}

fn summary(p: &Planned, done: bool) -> Value {
    json!({
        "apiVersion": p.r.api_version,
        "kind": p.r.kind,
        "name": p.r.name,
        "namespace": p.r.namespace,
        "action": action_word(&p.verdict, done),
    })
}

/// What planning found, for `apply`.
struct Found {
    kubectl: Kubectl,
    planned: Vec<Planned>,
}

fn fail_at(label: &str, p: &Problem) -> ModuleError {
    ModuleError::failed(format!("{label}: {}", p.message()))
}

#[async_trait::async_trait]
impl Module for K8s {
    fn name(&self) -> &'static str {
        "k8s"
    }
    fn summary(&self) -> &'static str {
        "Apply Kubernetes manifests with server-side apply (or delete them) through kubectl on a cluster server, changed only when the server's object changes"
    }
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }
    fn notes(&self) -> &'static str {
        "Like kubernetes.core.k8s with `apply: true, server_side_apply: {field_manager: hlprov}`, but through the \
         cluster's own kubectl on the host the task runs on (delegate_to a k3s server): no Python, no kubeconfig \
         on the controller. Whether an object would change is decided by a server-side dry run compared with the \
         live object (server-written metadata and status left out; the fields hlprov owns count), so a second \
         apply reports no change and check mode is that dry run. CRDs in the task are applied and Established \
         before the objects they serve; an object whose kind is not served yet is applied once a CRD for it is \
         Established (waiting up to wait_timeout). With state absent, any wait waits until each object is gone. Secret values are registered as secrets and shown as *** in \
         diffs. Not supported: merge_type, apply: false (client-side), append_hash, validate, delete_options."
    }
    /// Offline (`hlprov render`): the objects as they would be applied, each checked against the schemas of
    /// the pinned Kubernetes version and the vendored CRDs (plus CRDs in the same task).
    fn render(&self, ctx: &ModuleCtx<'_>, args: &Args) -> Option<Result<Plan, ModuleError>> {
        Some(render_checked(ctx, args))
    }
    async fn plan(&self, ctx: &ModuleCtx<'_>, args: &Args) -> Result<Plan, ModuleError> {
        let k = kubectl_of(args)?;
        let manager = args.req("field_manager")?.to_string();
        let force = args.bool("force_conflicts");
        let absent = args.req("state")? == "absent";
        let waits = wait_of(args)?;
        let default_ns = args.str("namespace").map(str::to_string);
        let mut objs = Vec::new();
        for m in manifests(ctx, args)? {
            let r = object::identify(&m).map_err(ModuleError::Args)?;
            object::register_secret_values(&m.obj);
            objs.push((m, r));
        }
        if objs.is_empty() {
            return Err(ModuleError::Args("the manifest holds no objects".into()));
        }
        if absent {
            // Delete in reverse order: what depends on something goes before it.
            objs.reverse();
        }
        let deadline = Instant::now() + waits.as_ref().map_or(Duration::from_secs(60), |w| w.timeout.max(Duration::from_secs(10)));
        let mut cx = TaskContext { manager: manager.clone(), ..Default::default() };
        let mut planned = Vec::new();
        for (m, r) in objs {
            let namespace = r.namespace.clone().or_else(|| default_ns.clone());
            let mut r = r;
            if r.namespace.is_none() {
                r.namespace = default_ns.clone();
            }
            let body = serde_json::to_vec(&m.obj).map_err(|e| ModuleError::Internal(e.to_string()))?;
            let label = format!("{}: {}", m.origin, r.display());
            let calls = if absent {
                vec![kubectl::get_object(namespace.as_deref())]
            } else {
                vec![kubectl::get_object(namespace.as_deref()), kubectl::apply(namespace.as_deref(), &manager, force, true)]
            };
            // A server that is starting or a webhook not serving yet is waited out (reads only).
            let verdict = loop {
                let replies = run_calls(ctx, &k, &calls, Some(&body)).await?;
                let decided = if absent { decide::absent(&replies[0]) } else { decide::present(&r, &m.obj, &replies[0], &replies[1], &cx) };
                match decided {
                    Ok(v) => break v,
                    // No cluster here yet (check mode before the k3s phases ran): show what would be applied.
                    Err(Problem::NotInstalled(m)) => return Ok(render_checked(ctx, args)?.undecided_because(no_cluster(ctx, &k, &m))),
                    Err(p) if p.transient() && Instant::now() < deadline => tokio::time::sleep(Duration::from_secs(2)).await,
                    Err(p) => return Err(fail_at(&label, &p)),
                }
            };
            match &verdict {
                Verdict::Create { after, .. } | Verdict::Update { after, .. } => {
                    object::register_secret_values(after);
                    r = with_server_namespace(r, after);
                    if r.is_crd() {
                        if let Some((g, kd, _)) = object::crd_serves(&m.obj) {
                            cx.crds.push((g, kd));
                        }
                    }
                    if r.is_namespace() && matches!(verdict, Verdict::Create { .. }) {
                        cx.namespaces.push(r.name.clone());
                    }
                }
                Verdict::Unchanged { live } | Verdict::Delete { before: live } => {
                    object::register_secret_values(live);
                    r = with_server_namespace(r, live);
                }
                Verdict::Absent => {}
            }
            planned.push(Planned { r, origin: m.origin, body, namespace, verdict });
        }
        let mut plan = Plan::unchanged()
            .with("objects", Value::Array(planned.iter().map(|p| summary(p, false)).collect()))
            .with("state", if absent { "absent" } else { "present" });
        if !absent {
            let resources: Vec<Value> = planned
                .iter()
                .filter_map(|p| match &p.verdict {
                    Verdict::Unchanged { live } => Some(live.clone()),
                    Verdict::Create { after, pending: None } | Verdict::Update { after, .. } => Some(after.clone()),
                    _ => None,
                })
                .collect();
            plan = plan.with("resources", resources);
        }
        for p in &planned {
            if let Some(kind) = p.verdict.kind() {
                plan = plan.change(Change::new(kind, diff_of(p), Step::Module));
            }
        }
        if waits.is_some() {
            // Waiting happens in a real run even when nothing changes.
            plan = plan.before(Step::Module);
        }
        Ok(plan.keep(Found { kubectl: k, planned }))
    }

    async fn apply(&self, ctx: &ApplyCtx<'_>, args: &Args, mut plan: Plan) -> Result<Outcome, ModuleError> {
        let Found { kubectl: k, planned } = plan.take_found().ok_or_else(|| ModuleError::Internal("k8s: apply without a plan".into()))?;
        let manager = args.req("field_manager")?.to_string();
        let force = args.bool("force_conflicts");
        let waits = wait_of(args)?;
        let timeout = waits.as_ref().map_or(Duration::from_secs(120), |w| w.timeout);
        let sleep = waits.as_ref().map_or(Duration::from_secs(2), |w| w.sleep);
        let mut resources = Vec::new();
        let mut warnings: Vec<String> = Vec::new();
        let mut changed_any = false;
        let failed = |msg: String, changed: bool| if changed { ModuleError::failed(msg).after_change() } else { ModuleError::failed(msg) };
        for p in &planned {
            let label = p.label();
            match &p.verdict {
                Verdict::Unchanged { live } => resources.push(live.clone()),
                Verdict::Absent => {}
                Verdict::Create { .. } | Verdict::Update { .. } => {
                    if let Verdict::Create { pending: Some(Pending::Crd { group, kind, api_version, .. }), .. } = &p.verdict {
                        wait_for_crd(ctx, &k, group, kind, api_version, timeout, sleep)
                            .await
                            .map_err(|e| failed(format!("{label}: {e}"), changed_any))?;
                    }
                    let deadline = Instant::now() + timeout;
                    let obj = loop {
                        let reply = write_calls(ctx, &k, &[kubectl::apply(p.namespace.as_deref(), &manager, force, false)], &p.body).await?.remove(0);
                        warnings.extend(reply.warnings());
                        match reply.problem() {
                            None => break decide::one_object(&reply).map_err(|e| failed(format!("{label}: {}", e.message()), true))?,
                            Some(pr) if pr.transient() && Instant::now() < deadline => tokio::time::sleep(sleep).await,
                            Some(pr) => return Err(failed(format!("{label}: {}", pr.message()), changed_any)),
                        }
                    };
                    changed_any = true;
                    if let Some(o) = &obj {
                        object::register_secret_values(o);
                        resources.push(o.clone());
                    }
                    if p.r.is_crd() {
                        let q = Query { resource: p.r.resource_arg(), name: Some(p.r.name.clone()), ..Default::default() };
                        let est = WaitSpec { ready: true, condition: None, field: None, timeout, sleep };
                        wait_until(ctx, &k, &q, &p.r.display(), &est).await.map_err(|e| failed(e.to_string(), true))?;
                    }
                }
                Verdict::Delete { .. } => {
                    let reply = write_calls(ctx, &k, &[kubectl::delete(p.namespace.as_deref())], &p.body).await?.remove(0);
                    warnings.extend(reply.warnings());
                    match reply.problem() {
                        None | Some(Problem::NotFound(_) | Problem::NoKind { .. } | Problem::NoResourceType(_)) => changed_any = true,
                        Some(pr) => return Err(failed(format!("{label}: {}", pr.message()), changed_any)),
                    }
                }
            }
        }
        if let Some(spec) = &waits {
            let mut waited = Vec::new();
            for p in &planned {
                let q = Query { resource: p.r.resource_arg(), name: Some(p.r.name.clone()), namespace: p.r.namespace.clone(), ..Default::default() };
                match &p.verdict {
                    Verdict::Delete { .. } | Verdict::Absent => {
                        wait_gone(ctx, &k, &q, &p.label(), spec).await.map_err(|e| failed(e.to_string(), changed_any))?
                    }
                    _ => waited.extend(wait_until(ctx, &k, &q, &p.label(), spec).await.map_err(|e| failed(e.to_string(), changed_any))?),
                }
            }
            if !waited.is_empty() {
                resources = waited;
            }
        }
        let mut o = Outcome::from_plan(&plan).with("objects", Value::Array(planned.iter().map(|p| summary(p, true)).collect()));
        if args.req("state")? == "present" {
            o = o.with("resources", resources);
        }
        if !warnings.is_empty() {
            o = o.with("warnings", warnings);
        }
        Ok(o)
    }
}

/// Wait until a CRD serving `kind` in `group` (and `version`, when named) is Established.
async fn wait_for_crd(
    ctx: &ModuleCtx<'_>,
    k: &Kubectl,
    group: &str,
    kind: &str,
    api_version: &str,
    timeout: Duration,
    sleep: Duration,
) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    loop {
        let reply = run_calls(ctx, k, &[kubectl::crd_lines()], None).await.map_err(|e| e.to_string())?.remove(0);
        let seen = match reply.problem() {
            None => {
                let lines = kubectl::parse_crd_lines(&reply.stdout);
                match lines.iter().find(|l| l.group == group && l.kind == kind) {
                    Some(l) if l.established => return Ok(()),
                    Some(l) => format!("CRD {} is not Established yet", l.name),
                    None => {
                        let in_group: Vec<&str> = lines.iter().filter(|l| l.group == group).map(|l| l.kind.as_str()).collect();
                        if in_group.is_empty() {
                            format!("no CRD of group {group} is installed")
                        } else {
                            format!("the CRDs of group {group} serve {} but not {kind}", in_group.join(", "))
                        }
                    }
                }
            }
            Some(p) if p.transient() => p.message(),
            Some(p) => return Err(p.message()),
        };
        if Instant::now() + sleep > deadline {
            return Err(format!(
                "timed out after {}s waiting for a CRD serving {kind} in {api_version} to be Established; last seen: {seen} (is the apiVersion right, and is what installs the CRD applied?)",
                timeout.as_secs()
            ));
        }
        tokio::time::sleep(sleep).await;
    }
}

/// Wait until an object is gone.
async fn wait_gone(ctx: &ModuleCtx<'_>, k: &Kubectl, q: &Query, what: &str, spec: &WaitSpec) -> Result<(), ModuleError> {
    let deadline = Instant::now() + spec.timeout;
    loop {
        let reply = run_calls(ctx, k, &[kubectl::get(q)], None).await?.remove(0);
        let seen = match reply.problem() {
            None if kubectl::parse_objects(&reply.stdout).map_err(ModuleError::failed)?.is_empty() => return Ok(()),
            None => "it still exists (finalizers may hold it)".to_string(),
            Some(Problem::NotFound(_) | Problem::NoKind { .. } | Problem::NoResourceType(_)) => return Ok(()),
            Some(p) if p.transient() => p.message(),
            Some(p) => return Err(ModuleError::failed(format!("waiting for {what} to be deleted: {}", p.message()))),
        };
        if Instant::now() + spec.sleep > deadline {
            return Err(ModuleError::failed(format!(
                "timed out after {}s waiting for {what} to be deleted; last seen: {seen}",
                spec.timeout.as_secs()
            )));
        }
        tokio::time::sleep(spec.sleep).await;
    }
}
