//! k8s_app: one app of the apps phase. An app is a folder on the controller: manifests (plain YAML files, or a
//! kustomization rendered by the real `kubectl kustomize` on the controller) and SOPS-encrypted files
//! (`*.sops.yaml`) that hlprov decrypts in memory. Every object is labelled as the app's and applied as the
//! `k8s` module applies (server-side apply, changed only when the server's object changes); objects that carry
//! the app's label but are no longer in its folder are pruned, and only those. `state: verified` is the app's
//! gate: it waits until the app's workloads are rolled out, its PVCs bound, its LoadBalancer Services have an
//! address and its Ingress hosts answer from the server.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::kubectl::{self, Kubectl, Problem};
use super::object::{self, Manifest};
use super::wait::{self, Check};
use super::{COMMON, K8s, check_rendered, kubectl_of, no_cluster, run_calls, write_calls};
use crate::modules::{ApplyCtx, ArgKind, ArgSpec, Args, Change, Diff, FileKind, Module, ModuleCtx, ModuleError, ModuleSpec, Outcome, Plan, Step};

/// The label every object of an app carries: what pruning and the gate select by.
pub const APP_LABEL: &str = "hlprov.io/app";
const MANAGED_BY: &str = "app.kubernetes.io/managed-by";

/// Kinds an app's objects are looked for in (with any kind its folder has), for pruning and the gate.
const APP_KINDS: &[&str] = &[
    "deployments.apps",
    "statefulsets.apps",
    "daemonsets.apps",
    "services",
    "ingresses.networking.k8s.io",
    "configmaps",
    "secrets",
    "persistentvolumeclaims",
    "cronjobs.batch",
    "serviceaccounts",
    "roles.rbac.authorization.k8s.io",
    "rolebindings.rbac.authorization.k8s.io",
    "networkpolicies.networking.k8s.io",
    "poddisruptionbudgets.policy",
];

pub struct K8sApp;

static SPEC: ModuleSpec = ModuleSpec::new(&[
    ArgSpec::new("name", ArgKind::Str).required().help("The app's name: the value of its objects' hlprov.io/app label."),
    ArgSpec::new("path", ArgKind::Path)
        .required()
        .help("The app's folder on the controller: manifests (*.yaml, *.yml), or a kustomization.yaml; *.sops.yaml files are decrypted by hlprov."),
    ArgSpec::new("state", ArgKind::Str)
        .choices(&["present", "verified"])
        .default("present")
        .help("present: apply the app and prune what it no longer has; verified: wait until it is ready (its gate)."),
    ArgSpec::new("namespace", ArgKind::Str).help("Namespace for the app's namespaced objects that name none."),
    ArgSpec::new("prune", ArgKind::Bool).default("yes").help("Delete objects labelled as this app's that its folder no longer has."),
    ArgSpec::new("prune_volumes", ArgKind::Bool)
        .default("no")
        .help("Let pruning delete PersistentVolumeClaims and Namespaces too (their data goes with them); otherwise they are kept and listed."),
    ArgSpec::new("field_manager", ArgKind::Str).default("hlprov").help("The server-side apply field manager."),
    ArgSpec::new("force_conflicts", ArgKind::Bool).default("no").help("Take over fields another manager owns."),
    ArgSpec::new("wait_timeout", ArgKind::Int).default("300").help("state verified: seconds to wait for the app to be ready."),
    ArgSpec::new("wait_sleep", ArgKind::Int).default("5").help("state verified: seconds between two looks."),
    COMMON[5],
    COMMON[6],
    COMMON[7],
])
.changes(&["create", "update", "delete"]);

/// The app's objects, read on the controller, each labelled as the app's.
pub fn collect(ctx: &ModuleCtx<'_>, args: &Args) -> Result<Vec<Manifest>, ModuleError> {
    let name = args.req("name")?;
    let given = args.req("path")?;
    let dir = ctx.task.find_file(FileKind::Files, given).map_err(|e| ModuleError::Args(format!("app {name}: {e}")))?;
    let mut objs = read_app_dir(&dir).map_err(ModuleError::failed)?;
    for m in &mut objs {
        label(&mut m.obj, name);
        if let Some(ns) = args.str("namespace") {
            place_in(&mut m.obj, ns);
        }
    }
    Ok(objs)
}

/// Manifests of an app folder: a kustomization (rendered by `kubectl kustomize`) or every YAML file, plus the
/// decrypted SOPS files. A Secret in a plain file is refused: secrets belong in SOPS files.
pub fn read_app_dir(dir: &Path) -> Result<Vec<Manifest>, String> {
    let shown = dir.display().to_string();
    if !dir.is_dir() {
        return Err(format!("{shown} is not a folder"));
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{shown}: {e}"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
        .collect();
    files.sort();
    let is_sops = |p: &Path| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with(".sops.yaml") || n.ends_with(".sops.yml"));
    let is_meta = |p: &Path| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n == "app.yml" || n == "app.yaml");
    let kustomization = ["kustomization.yaml", "kustomization.yml", "Kustomization"].iter().map(|n| dir.join(n)).find(|p| p.is_file());
    let mut out = Vec::new();
    match &kustomization {
        Some(k) => out.extend(kustomize(dir, k)?),
        None => {
            for f in files.iter().filter(|f| !is_sops(f) && !is_meta(f)) {
                let text = crate::yaml::read_text_file(f).map_err(|e| format!("{}: {e}", f.display()))?;
                out.extend(object::from_yaml(&text, &f.display().to_string())?);
            }
        }
    }
    for m in &out {
        if object::is_secret(&m.obj) {
            return Err(format!(
                "{}: a Secret in a plain file: its values would be in git in clear. Encrypt the file (hlprov sops encrypt) and name it *.sops.yaml",
                m.origin
            ));
        }
    }
    for f in files.iter().filter(|f| is_sops(f)) {
        out.extend(decrypt(f)?);
    }
    Ok(out)
}

/// A kustomization, rendered by the real kustomize in kubectl on the controller.
fn kustomize(dir: &Path, file: &Path) -> Result<Vec<Manifest>, String> {
    let out = std::process::Command::new("kubectl").arg("kustomize").arg(dir).output().map_err(|e| {
        format!("{}: rendering the kustomization needs kubectl on the controller ({e}); install kubectl, or use plain manifests", file.display())
    })?;
    if !out.status.success() {
        return Err(format!("{}: kubectl kustomize failed: {}", file.display(), String::from_utf8_lossy(&out.stderr).trim()));
    }
    object::from_yaml(&String::from_utf8_lossy(&out.stdout), &format!("{} (kustomize)", file.display()))
}

/// A SOPS-encrypted manifest file, decrypted in memory; its values become registered secrets.
fn decrypt(path: &Path) -> Result<Vec<Manifest>, String> {
    use crate::secrets::{Format, Keyring, sops_file};
    let shown = path.display().to_string();
    let text = crate::yaml::read_text_file(path).map_err(|e| format!("{shown}: {e}"))?;
    let detail = |e: crate::secrets::SopsError| crate::redact::redact(&e.detail()).to_string();
    let enc = sops_file::parse(&text, Format::from_path(path), &shown)
        .map_err(|e| format!("{shown}: {}", detail(e)))?
        .ok_or_else(|| format!("{shown}: named *.sops.yaml but not encrypted (no sops metadata): encrypt it with hlprov sops encrypt"))?;
    let ring = Keyring::from_env().map_err(|e| format!("{shown}: {}", detail(e)))?;
    let plain = enc.decrypt(&ring).map_err(|e| format!("{shown}: {}", detail(e)))?;
    plain.register_secrets();
    let text = plain.emit_plain().map_err(|e| format!("{shown}: {}", detail(e)))?;
    let objs = object::from_yaml(&text, &shown)?;
    for m in &objs {
        object::register_secret_values(&m.obj);
    }
    Ok(objs)
}

/// Put the app's labels on an object.
fn label(obj: &mut Value, app: &str) {
    if let Some(meta) = obj.as_object_mut().map(|o| o.entry("metadata").or_insert_with(|| json!({}))) {
        if let Some(m) = meta.as_object_mut() {
            let labels = m.entry("labels").or_insert_with(|| json!({}));
            if let Some(l) = labels.as_object_mut() {
                l.insert(APP_LABEL.into(), json!(app));
                l.insert(MANAGED_BY.into(), json!("hlprov"));
            }
        }
    }
}

/// Put a namespaced object that names no namespace into the app's (as `kubectl apply -n` would), so that what
/// is shown, applied and compared for pruning is the same object.
fn place_in(obj: &mut Value, ns: &str) {
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or_default();
    if cluster_scoped(kind) {
        return;
    }
    if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        if m.get("namespace").and_then(Value::as_str).is_none_or(str::is_empty) {
            m.insert("namespace".into(), json!(ns));
        }
    }
}

/// What identifies an object for pruning: group, kind, namespace, name.
type Key = (String, String, String, String);

fn key(obj: &Value, default_ns: &str, cluster_scoped: bool) -> Key {
    let s = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or_default().to_string();
    let api = s("/apiVersion");
    let group = api.rsplit_once('/').map(|(g, _)| g.to_string()).unwrap_or_default();
    let ns = if cluster_scoped { String::new() } else { Some(s("/metadata/namespace")).filter(|n| !n.is_empty()).unwrap_or(default_ns.to_string()) };
    (group, s("/kind"), ns, s("/metadata/name"))
}

fn cluster_scoped(kind: &str) -> bool {
    matches!(
        kind,
        "Namespace" | "ClusterRole" | "ClusterRoleBinding" | "CustomResourceDefinition" | "StorageClass" | "PersistentVolume" | "IngressClass"
    )
}

/// What pruning would delete (live objects of the app its folder no longer has), and what it keeps because
/// deleting it would delete data (PVCs, Namespaces) unless `volumes` says so.
pub fn prune_set(desired: &[Value], live: &[Value], default_ns: &str, volumes: bool) -> (Vec<Value>, Vec<Value>) {
    let want: BTreeSet<Key> =
        desired.iter().map(|o| key(o, default_ns, cluster_scoped(o.get("kind").and_then(Value::as_str).unwrap_or_default()))).collect();
    let (mut delete, mut kept) = (Vec::new(), Vec::new());
    for o in live {
        let kind = o.get("kind").and_then(Value::as_str).unwrap_or_default();
        if want.contains(&key(o, default_ns, cluster_scoped(kind))) {
            continue;
        }
        // Objects made by controllers for the app (a Job of a CronJob) carry owner references: theirs to remove.
        if o.pointer("/metadata/ownerReferences").and_then(Value::as_array).is_some_and(|a| !a.is_empty()) {
            continue;
        }
        if !volumes && matches!(kind, "PersistentVolumeClaim" | "Namespace") {
            kept.push(o.clone());
        } else {
            delete.push(o.clone());
        }
    }
    (delete, kept)
}

/// What keeps an app from being ready, one line per object, from its live objects: workloads rolled out (and
/// not failed for good), PVCs bound, LoadBalancer Services with an address.
pub fn app_problems(live: &[Value]) -> Vec<String> {
    let mut out = Vec::new();
    for o in live {
        let kind = o.get("kind").and_then(Value::as_str).unwrap_or_default();
        let is_lb = kind == "Service" && o.pointer("/spec/type").and_then(Value::as_str) == Some("LoadBalancer");
        if !matches!(kind, "Deployment" | "StatefulSet" | "DaemonSet" | "PersistentVolumeClaim") && !is_lb {
            continue;
        }
        let name = describe(o);
        if let Some(why) = wait::terminal(o) {
            out.push(format!("{name} failed: {why}"));
            continue;
        }
        match wait::readiness(o) {
            Check::Ready => {}
            Check::Waiting(w) => out.push(format!("{name}: {w}")),
            Check::Failed(why) => out.push(format!("{name} failed: {why}")),
        }
    }
    out
}

/// `Deployment sonarr in media` for messages.
fn describe(o: &Value) -> String {
    let s = |p: &str| o.pointer(p).and_then(Value::as_str).unwrap_or_default();
    match s("/metadata/namespace") {
        "" => format!("{} {}", s("/kind"), s("/metadata/name")),
        ns => format!("{} {} in {ns}", s("/kind"), s("/metadata/name")),
    }
}

/// The Ingress hosts of the app and the address to ask them at (the Ingress's load balancer address, else the
/// server itself), with the scheme (https when the host has TLS).
pub fn ingress_targets(live: &[Value]) -> Vec<(String, String, &'static str)> {
    let mut out = Vec::new();
    for o in live.iter().filter(|o| o.get("kind").and_then(Value::as_str) == Some("Ingress")) {
        let addr = o.pointer("/status/loadBalancer/ingress/0/ip").and_then(Value::as_str).unwrap_or("127.0.0.1").to_string();
        let tls: BTreeSet<&str> = o
            .pointer("/spec/tls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .flat_map(|t| t.get("hosts").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str))
            .collect();
        for host in o.pointer("/spec/rules").and_then(Value::as_array).into_iter().flatten().filter_map(|r| r.get("host").and_then(Value::as_str)) {
            out.push((host.to_string(), addr.clone(), if tls.contains(host) { "https" } else { "http" }));
        }
    }
    out
}

/// The app's live objects (by its label), in the common kinds and any kind its folder has.
async fn live_objects(ctx: &ModuleCtx<'_>, k: &Kubectl, app: &str, desired: &[Value]) -> Result<Result<Vec<Value>, Problem>, ModuleError> {
    let mut kinds: Vec<String> = APP_KINDS.iter().map(|s| s.to_string()).collect();
    for o in desired {
        let api = o.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
        let kind = o.get("kind").and_then(Value::as_str).unwrap_or_default();
        let r = object::resource_arg(api, kind);
        if !kind.is_empty() && !kinds.contains(&r) {
            kinds.push(r);
        }
    }
    let q = kubectl::Query { resource: kinds.join(","), label_selectors: vec![format!("{APP_LABEL}={app}")], ..Default::default() };
    let reply = run_calls(ctx, k, &[kubectl::get(&q)], None).await?.remove(0);
    Ok(match reply.problem() {
        None => Ok(kubectl::parse_objects(&reply.stdout).map_err(ModuleError::failed)?),
        Some(p) => Err(p),
    })
}

/// The arguments of the `k8s` module that applies the app's objects.
fn k8s_args(args: &Args, objs: &[Manifest]) -> Result<Args, ModuleError> {
    let mut raw = serde_json::Map::new();
    raw.insert("definition".into(), Value::Array(objs.iter().map(|m| m.obj.clone()).collect()));
    for k in ["namespace", "field_manager", "force_conflicts", "kubectl", "kubeconfig", "context"] {
        if let Some(v) = args.get(k) {
            raw.insert(k.into(), v.clone());
        }
    }
    K8s.spec().check(&raw, false).map_err(ModuleError::Args)
}

struct Found {
    k8s_args: Args,
    k8s_plan: Plan,
    kubectl: Kubectl,
    prune: Vec<Value>,
}

#[async_trait::async_trait]
impl Module for K8sApp {
    fn name(&self) -> &'static str {
        "k8s_app"
    }
    fn summary(&self) -> &'static str {
        "Apply one app (a folder of manifests or a kustomization, with SOPS-encrypted Secrets) to the cluster and prune what it no longer has; or wait until it is ready"
    }
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }
    fn notes(&self) -> &'static str {
        "hlprov's own module (the apps phase, roles/apps). Objects are labelled hlprov.io/app=NAME and \
         app.kubernetes.io/managed-by=hlprov and applied as the k8s module applies them. Pruning deletes only \
         objects with the app's label that its folder no longer has and that no controller owns; PVCs and \
         Namespaces are kept (and listed) unless prune_volumes. A kustomization is rendered by `kubectl kustomize` \
         on the controller; *.sops.yaml files are decrypted in memory and never written in clear; a Secret in a \
         plain file is refused. state verified waits until Deployments, StatefulSets and DaemonSets are rolled \
         out, PVCs Bound, LoadBalancer Services have an address and each Ingress host answers (an HTTP status \
         below 500 from the server, asked at the Ingress's address)."
    }

    /// Offline: the app's objects as they would be applied, checked against the schemas.
    fn render(&self, ctx: &ModuleCtx<'_>, args: &Args) -> Option<Result<Plan, ModuleError>> {
        if args.str("state") == Some("verified") {
            return None;
        }
        Some(collect(ctx, args).and_then(|objs| check_rendered(&objs, "present")))
    }

    async fn plan(&self, ctx: &ModuleCtx<'_>, args: &Args) -> Result<Plan, ModuleError> {
        let app = args.req("name")?.to_string();
        let k = kubectl_of(args)?;
        let objs = collect(ctx, args)?;
        let desired: Vec<Value> = objs.iter().map(|m| m.obj.clone()).collect();
        if args.req("state")? == "verified" {
            return verify(ctx, &k, &app, &desired, args).await;
        }
        let k8s_args = k8s_args(args, &objs)?;
        let mut k8s_plan = K8s.plan(ctx, &k8s_args).await?;
        if k8s_plan.undecided.is_some() {
            return Ok(k8s_plan);
        }
        let mut plan = Plan::unchanged();
        plan.result = std::mem::take(&mut k8s_plan.result);
        plan.msg = k8s_plan.msg.clone();
        for c in &k8s_plan.changes {
            plan = plan.change(Change::new(c.kind, c.diff.clone(), Step::Module));
        }
        let mut prune = Vec::new();
        if args.bool("prune") {
            let live = match live_objects(ctx, &k, &app, &desired).await? {
                Ok(l) => l,
                Err(Problem::NotInstalled(m)) => return Ok(Plan::undecided(no_cluster(ctx, &k, &m))),
                Err(p) => return Err(ModuleError::failed(format!("app {app}: listing its objects: {}", p.message()))),
            };
            let ns = args.str("namespace").unwrap_or("default");
            let (delete, kept) = prune_set(&desired, &live, ns, args.bool("prune_volumes"));
            for o in &delete {
                let d = Diff {
                    before_header: format!("{} (no longer in app {app}: pruned)", describe(o)),
                    after_header: format!("{} (no longer in app {app}: pruned)", describe(o)),
                    before: object::show(&object::hide_secret(&object::normalize(o))),
                    after: String::new(),
                };
                plan = plan.change(Change::new("delete", d, Step::Module));
            }
            plan = plan
                .with("pruned", Value::Array(delete.iter().map(|o| json!(describe(o))).collect()))
                .with("kept", Value::Array(kept.iter().map(|o| json!(describe(o))).collect()));
            if !kept.is_empty() {
                let names: Vec<String> = kept.iter().map(describe).collect();
                plan = plan
                    .msg(format!("kept, though no longer in the app (their data would go; prune_volumes: true deletes them): {}", names.join(", ")));
            }
            prune = delete;
        }
        Ok(plan.keep(Found { k8s_args, k8s_plan, kubectl: k, prune }))
    }

    async fn apply(&self, ctx: &ApplyCtx<'_>, _args: &Args, mut plan: Plan) -> Result<Outcome, ModuleError> {
        let Found { k8s_args, k8s_plan, kubectl: k, prune } =
            plan.take_found().ok_or_else(|| ModuleError::Internal("k8s_app: apply without a plan".into()))?;
        let applied = k8s_plan.has_work();
        let mut out = if applied { K8s.apply(ctx, &k8s_args, k8s_plan).await? } else { Outcome::from_plan(&k8s_plan) };
        for o in &prune {
            let body = serde_json::to_vec(o).map_err(|e| ModuleError::Internal(e.to_string()))?;
            let ns = o.pointer("/metadata/namespace").and_then(Value::as_str);
            let reply = write_calls(ctx, &k, &[kubectl::delete(ns)], &body).await?.remove(0);
            match reply.problem() {
                None | Some(Problem::NotFound(_)) => {}
                Some(p) => {
                    let err = ModuleError::failed(format!("pruning {}: {}", describe(o), p.message()));
                    return Err(if applied { err.after_change() } else { err });
                }
            }
        }
        out.changed = !plan.is_empty();
        out.diffs = plan.diffs();
        for (k, v) in std::mem::take(&mut plan.result) {
            out.data.entry(k).or_insert(v);
        }
        if out.msg.is_none() {
            out.msg = plan.msg.clone();
        }
        Ok(out)
    }
}

/// The app's gate: wait until [`app_problems`] finds nothing and every Ingress host answers.
async fn verify(ctx: &ModuleCtx<'_>, k: &Kubectl, app: &str, desired: &[Value], args: &Args) -> Result<Plan, ModuleError> {
    let timeout = Duration::from_secs(args.int("wait_timeout").unwrap_or(300).max(0) as u64);
    let sleep = Duration::from_secs(args.int("wait_sleep").unwrap_or(5).max(1) as u64);
    let deadline = Instant::now() + timeout;
    loop {
        let live = match live_objects(ctx, k, app, desired).await? {
            Ok(l) => l,
            Err(Problem::NotInstalled(m)) => return Ok(Plan::undecided(no_cluster(ctx, k, &m))),
            Err(p) if p.transient() && Instant::now() < deadline => {
                tokio::time::sleep(sleep).await;
                continue;
            }
            Err(p) => return Err(ModuleError::failed(format!("app {app}: reading its objects: {}", p.message()))),
        };
        let mut problems =
            if live.is_empty() { vec![format!("app {app} has no objects in the cluster (is it applied?)")] } else { app_problems(&live) };
        if problems.is_empty() {
            problems.extend(ingress_problems(ctx, &live).await?);
        }
        let failed_for_good = problems.iter().any(|p| p.contains(" failed: "));
        if problems.is_empty() {
            return Ok(Plan::unchanged().with("ready", true).with("objects", live.len()));
        }
        if failed_for_good || Instant::now() + sleep > deadline {
            return Err(ModuleError::failed(format!("app {app} is not ready: {}", problems.join("; "))).with("problems", json!(problems)));
        }
        tokio::time::sleep(sleep).await;
    }
}

/// Each Ingress host asked from the server at its address; an HTTP status of 500 or more, or none, is a problem.
async fn ingress_problems(ctx: &ModuleCtx<'_>, live: &[Value]) -> Result<Vec<String>, ModuleError> {
    let mut out = Vec::new();
    for (host, addr, scheme) in ingress_targets(live) {
        let port = if scheme == "https" { 443 } else { 80 };
        let script = format!(
            "curl -sk -o /dev/null -w '%{{http_code}}' --max-time 10 --resolve {hp}:{addr} {url} 2>&1 || true",
            hp = crate::transport::quote::quote(&format!("{host}:{port}")),
            addr = crate::transport::quote::quote(&addr),
            url = crate::transport::quote::quote(&format!("{scheme}://{host}/")),
        );
        let got = ctx.read(&script).await?.stdout_text().trim().to_string();
        match got.parse::<u16>() {
            Ok(code) if (100..500).contains(&code) => {}
            Ok(0) | Err(_) => out
                .push(format!("Ingress host {host} does not answer at {addr} ({scheme}; curl: {})", if got.is_empty() { "no output" } else { &got })),
            Ok(code) => out.push(format!("Ingress host {host} answers {code} at {addr}: its backend is not ready")),
        }
    }
    Ok(out)
}
