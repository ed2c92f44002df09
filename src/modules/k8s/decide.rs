//! The k8s module's decision for one object, as a pure function of what kubectl answered: the live object
//! (`get -f -`) and the server-side dry run of the apply. Tests drive it with real API objects and kubectl's
//! error texts (tests/k8s_module.rs).

use serde_json::Value;

use super::kubectl::{Problem, Reply, parse_objects};
use super::object::{Comparison, ObjRef, compare};

/// Why an object could not be checked by the server while planning, though applying it will work.
#[derive(Clone, Debug, PartialEq)]
pub enum Pending {
    /// Its kind is not served yet. `in_task`: a CRD of this task serves it (applied first); otherwise hlprov
    /// waits for some other installer (a Helm chart) to bring the CRD.
    Crd { group: String, kind: String, api_version: String, in_task: bool },
    /// Its namespace does not exist yet; this task creates it first.
    Namespace(String),
}

impl Pending {
    pub fn why(&self) -> String {
        match self {
            Pending::Crd { kind, api_version, in_task: true, .. } => {
                format!("its kind {kind} ({api_version}) is served by a CRD this task applies first")
            }
            Pending::Crd { kind, api_version, in_task: false, .. } => {
                format!("no CRD serves {kind} in {api_version} yet; hlprov waits for one before applying it")
            }
            Pending::Namespace(ns) => format!("its namespace {ns} is created by this task first"),
        }
    }
}

/// What applying (or deleting) one object would do.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// The server's dry run equals the live object: nothing to write.
    Unchanged { live: Value },
    /// The object does not exist. `after` is the server's dry run, or the manifest itself when the server
    /// could not check it yet (`pending`).
    Create { after: Value, pending: Option<Pending> },
    /// The object exists and the server would change it. `ownership_only`: the values stay, but hlprov would
    /// take over (or give up) fields as their server-side apply manager.
    Update { before: Value, after: Value, ownership_only: bool },
    /// `state: absent` and the object exists.
    Delete { before: Value },
    /// `state: absent` and the object is not there (or its kind is not served at all).
    Absent,
}

impl Verdict {
    /// The kind of change (none for no change).
    pub fn kind(&self) -> Option<&'static str> {
        match self {
            Verdict::Create { .. } => Some("create"),
            Verdict::Update { .. } => Some("update"),
            Verdict::Delete { .. } => Some("delete"),
            Verdict::Unchanged { .. } | Verdict::Absent => None,
        }
    }
}

/// What the task itself brings that later objects may depend on.
#[derive(Clone, Debug, Default)]
pub struct TaskContext {
    /// The server-side apply field manager (`hlprov`).
    pub manager: String,
    /// (group, kind) served by CRDs the task creates or changes.
    pub crds: Vec<(String, String)>,
    /// Namespaces the task creates.
    pub namespaces: Vec<String>,
}

/// The one object kubectl printed (get or apply of one object).
pub fn one_object(reply: &Reply) -> Result<Option<Value>, Problem> {
    let objs = parse_objects(&reply.stdout).map_err(Problem::Other)?;
    Ok(objs.into_iter().next())
}

/// Decide `state: present` for `r` from the live object (`get`) and the dry run (`dry`).
pub fn present(r: &ObjRef, manifest: &Value, get: &Reply, dry: &Reply, cx: &TaskContext) -> Result<Verdict, Problem> {
    let pending_crd = || {
        let group = r.group().to_string();
        let in_task = cx.crds.iter().any(|(g, k)| *g == group && *k == r.kind);
        Verdict::Create {
            after: manifest.clone(),
            pending: Some(Pending::Crd { group, kind: r.kind.clone(), api_version: r.api_version.clone(), in_task }),
        }
    };
    let live = match get.problem() {
        None => one_object(get)?,
        Some(Problem::NotFound(_)) => None,
        Some(Problem::NoKind { .. } | Problem::NoResourceType(_)) => return Ok(pending_crd()),
        Some(p) => return Err(p),
    };
    let after = match dry.problem() {
        None => one_object(dry)?.ok_or_else(|| Problem::Other("the server's dry run returned no object".into()))?,
        Some(Problem::NoKind { .. } | Problem::NoResourceType(_)) if live.is_none() => return Ok(pending_crd()),
        Some(Problem::NotFound(msg)) if live.is_none() => match missing_namespace(&msg) {
            Some(ns) if cx.namespaces.contains(&ns) => return Ok(Verdict::Create { after: manifest.clone(), pending: Some(Pending::Namespace(ns)) }),
            Some(ns) => {
                return Err(Problem::NotFound(format!(
                    "namespace {ns} does not exist (create it first, e.g. with a Namespace object in the same task)"
                )));
            }
            None => return Err(Problem::NotFound(msg)),
        },
        Some(p) => return Err(p),
    };
    Ok(match live {
        None => Verdict::Create { after, pending: None },
        Some(live) => match compare(&live, &after, &cx.manager) {
            Comparison::Same => Verdict::Unchanged { live },
            Comparison::Values => Verdict::Update { before: live, after, ownership_only: false },
            Comparison::Ownership => Verdict::Update { before: live, after, ownership_only: true },
        },
    })
}

/// Decide `state: absent` from the live object: a missing object, or a kind no longer served (its CRD was
/// removed), is already absent.
pub fn absent(get: &Reply) -> Result<Verdict, Problem> {
    match get.problem() {
        None => Ok(match one_object(get)? {
            Some(before) => Verdict::Delete { before },
            None => Verdict::Absent,
        }),
        Some(Problem::NotFound(_) | Problem::NoKind { .. } | Problem::NoResourceType(_)) => Ok(Verdict::Absent),
        Some(p) => Err(p),
    }
}

/// `namespaces "x" not found` → x.
fn missing_namespace(msg: &str) -> Option<String> {
    let rest = msg.strip_prefix("namespaces \"")?;
    let (ns, tail) = rest.split_once('"')?;
    (tail.trim() == "not found").then(|| ns.to_string())
}
