//! k8s_info: read objects from the cluster (one by name, or a list by label and field selectors), optionally
//! waiting until they are ready, hold a condition or a field. It only reads, so it runs in check mode too: the
//! module gates are written with.

use serde_json::Value;

use super::kubectl::{self, Problem, Query};
use super::{COMMON, kubectl_of, no_cluster, object, run_calls, wait_of, wait_until};
use crate::modules::{ArgKind, ArgSpec, Args, Module, ModuleCtx, ModuleError, ModuleSpec, Plan};

pub struct K8sInfo;

static SPEC: ModuleSpec = ModuleSpec::new(&[
    ArgSpec::new("kind", ArgKind::Str).required().help("The kind (Node, Deployment, CustomResourceDefinition, HelmChart …)."),
    ArgSpec::new("api_version", ArgKind::Str).default("v1").aliases(&["api", "version"]).help("Its apiVersion (apps/v1, helm.cattle.io/v1 …)."),
    ArgSpec::new("name", ArgKind::Str).help("One object by name (none: a list)."),
    ArgSpec::new("namespace", ArgKind::Str).help("The namespace; a list without one covers every namespace."),
    ArgSpec::new("label_selectors", ArgKind::List)
        .help("Label selectors, all of which must match (app=web, tier!=db, 'node-role.kubernetes.io/control-plane=true')."),
    ArgSpec::new("field_selectors", ArgKind::List).help("Field selectors, all of which must match (status.phase=Running, spec.nodeName=w1)."),
    COMMON[0],
    COMMON[1],
    COMMON[2],
    COMMON[3],
    COMMON[4],
    COMMON[5],
    COMMON[6],
    COMMON[7],
]);

#[async_trait::async_trait]
impl Module for K8sInfo {
    fn name(&self) -> &'static str {
        "k8s_info"
    }
    fn summary(&self) -> &'static str {
        "Read Kubernetes objects (by name or by selectors) through kubectl on a cluster server, optionally waiting for them to be ready"
    }
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }
    fn notes(&self) -> &'static str {
        "Like kubernetes.core.k8s_info (results `resources` and `api_found`), through the cluster's own kubectl on \
         the host the task runs on. A kind the cluster does not serve gives `api_found: false` and no resources \
         (with a wait: waited for, as its CRD may still come). With a wait, a list must have at least one object \
         and every object must be ready; a timeout names what was waited for and what was seen last. Secret \
         values read are registered as secrets (masked in all output). Not supported: wait on deletion, \
         hidden_fields."
    }
    async fn plan(&self, ctx: &ModuleCtx<'_>, args: &Args) -> Result<Plan, ModuleError> {
        let k = kubectl_of(args)?;
        let kind = args.req("kind")?;
        let api_version = args.req("api_version")?;
        let q = Query {
            resource: object::resource_arg(api_version, kind),
            name: args.str("name").map(str::to_string),
            namespace: args.str("namespace").map(str::to_string),
            label_selectors: args.list("label_selectors"),
            field_selectors: args.list("field_selectors"),
        };
        let what = describe_query(kind, api_version, &q);
        let waits = wait_of(args)?;
        let reply = run_calls(ctx, &k, &[kubectl::get(&q)], None).await?.remove(0);
        if let Some(Problem::NotInstalled(m)) = reply.problem() {
            return Ok(Plan::undecided(no_cluster(ctx, &k, &m)));
        }
        let resources = match waits {
            Some(spec) => wait_until(ctx, &k, &q, &what, &spec).await?,
            None => match reply.problem() {
                None => kubectl::parse_objects(&reply.stdout).map_err(ModuleError::failed)?,
                Some(Problem::NoKind { .. } | Problem::NoResourceType(_)) => {
                    return Ok(Plan::unchanged().with("api_found", false).with("resources", Value::Array(Vec::new())));
                }
                Some(p) => return Err(ModuleError::failed(format!("reading {what}: {}", p.message()))),
            },
        };
        for o in &resources {
            object::register_secret_values(o);
        }
        Ok(Plan::unchanged().with("api_found", true).with("resources", resources))
    }
}

/// `Node h1`, `Deployment (apps/v1) in namespace kube-system`, `Node with labels node-role…=true`.
fn describe_query(kind: &str, api_version: &str, q: &Query) -> String {
    let mut s = if api_version == "v1" { kind.to_string() } else { format!("{kind} ({api_version})") };
    match &q.name {
        Some(n) => s = format!("{s} {n}"),
        None => s = format!("every {s}"),
    }
    if let Some(ns) = &q.namespace {
        s.push_str(&format!(" in namespace {ns}"));
    }
    if !q.label_selectors.is_empty() {
        s.push_str(&format!(" with labels {}", q.label_selectors.join(",")));
    }
    if !q.field_selectors.is_empty() {
        s.push_str(&format!(" with fields {}", q.field_selectors.join(",")));
    }
    s
}
