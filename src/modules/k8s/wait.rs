//! Waiting for objects: what to wait for (a kind's own readiness, a condition, any field), and the pure check of
//! one object against it. The check also knows the states from which an object will not get ready by itself
//! (a Deployment past its progress deadline, a failed Job or Pod, a HelmChart whose install failed), so a wait
//! fails at once with the object's own words instead of running into its timeout.

use std::time::Duration;

use serde_json::Value;

use super::object::condition;
use crate::modules::args::value_text;

/// What to wait for. Several parts must all hold.
#[derive(Clone, Debug, PartialEq)]
pub struct WaitSpec {
    /// The kind's own readiness (see [`readiness`]); `wait: true` without a condition or field.
    pub ready: bool,
    pub condition: Option<Cond>,
    pub field: Option<Field>,
    pub timeout: Duration,
    /// Time between two looks.
    pub sleep: Duration,
}

/// A status condition: its type and status (and reason, when given).
#[derive(Clone, Debug, PartialEq)]
pub struct Cond {
    pub type_: String,
    pub status: String,
    pub reason: Option<String>,
}

/// A field, named by a path, and the value it must have (None: any value that is not empty).
#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    pub path: String,
    pub steps: Vec<Step>,
    pub value: Option<String>,
}

/// One step of a field path.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    Key(String),
    Index(usize),
    /// The first element of a list whose `key` equals `value` (`conditions[type=Ready]`).
    Select(String, String),
}

/// Parse a field path: `status.phase`, `.status.loadBalancer.ingress[0].ip`, kubectl's braces
/// `{.status.phase}`, a list element chosen by a key (`status.conditions[type=Ready].status`), and keys with
/// dots in brackets (`metadata.labels["node-role.kubernetes.io/control-plane"]`).
pub fn parse_path(path: &str) -> Result<Vec<Step>, String> {
    let p = path.trim();
    let p = p.strip_prefix('{').and_then(|x| x.strip_suffix('}')).unwrap_or(p);
    let p = p.strip_prefix('.').unwrap_or(p);
    let bad = |why: &str| format!("field path '{path}': {why}");
    let mut steps = Vec::new();
    let chars: Vec<char> = p.chars().collect();
    let mut i = 0;
    let mut key = String::new();
    let flush = |key: &mut String, steps: &mut Vec<Step>| {
        if !key.is_empty() {
            steps.push(Step::Key(std::mem::take(key)));
        }
    };
    while i < chars.len() {
        match chars[i] {
            '.' => {
                flush(&mut key, &mut steps);
                i += 1;
            }
            '[' => {
                flush(&mut key, &mut steps);
                let close = chars[i..].iter().position(|c| *c == ']').ok_or_else(|| bad("a '[' without ']'"))? + i;
                let inner: String = chars[i + 1..close].iter().collect();
                let inner = inner.trim();
                if let Some(q) =
                    inner.strip_prefix('"').and_then(|x| x.strip_suffix('"')).or_else(|| inner.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')))
                {
                    steps.push(Step::Key(q.to_string()));
                } else if let Ok(n) = inner.parse::<usize>() {
                    steps.push(Step::Index(n));
                } else if let Some((k, v)) = inner.trim_start_matches("?(@.").trim_end_matches(')').split_once('=') {
                    let v = v.trim_start_matches('=').trim().trim_matches('"').trim_matches('\'');
                    steps.push(Step::Select(k.trim().to_string(), v.to_string()));
                } else {
                    return Err(bad(&format!("[{inner}] is not an index, a \"key\" or a key=value selection")));
                }
                i = close + 1;
            }
            c => {
                key.push(c);
                i += 1;
            }
        }
    }
    flush(&mut key, &mut steps);
    if steps.is_empty() {
        return Err(bad("it is empty"));
    }
    Ok(steps)
}

/// The value at a path, if there is one.
pub fn lookup<'a>(obj: &'a Value, steps: &[Step]) -> Option<&'a Value> {
    let mut cur = obj;
    for s in steps {
        cur = match s {
            Step::Key(k) => cur.get(k)?,
            Step::Index(n) => cur.get(*n)?,
            Step::Select(k, v) => cur.as_array()?.iter().find(|e| e.get(k).map(value_text).as_deref() == Some(v.as_str()))?,
        };
    }
    Some(cur)
}

/// How an object stands against a wait.
#[derive(Clone, Debug, PartialEq)]
pub enum Check {
    Ready,
    /// Not yet; what was seen, for the timeout message.
    Waiting(String),
    /// It will not get there by itself: why, in the object's words.
    Failed(String),
}

/// Check one object against a wait.
pub fn check(obj: &Value, spec: &WaitSpec) -> Check {
    if let Some(why) = terminal(obj) {
        return Check::Failed(why);
    }
    let mut waiting = Vec::new();
    if spec.ready {
        match readiness(obj) {
            Check::Ready => {}
            Check::Waiting(w) => waiting.push(w),
            f @ Check::Failed(_) => return f,
        }
    }
    if let Some(c) = &spec.condition {
        let found = condition(obj, &c.type_);
        let status = found.and_then(|f| f.get("status")).map(value_text);
        let reason = found.and_then(|f| f.get("reason")).map(value_text);
        let holds = status.as_deref() == Some(c.status.as_str()) && c.reason.as_ref().is_none_or(|r| reason.as_deref() == Some(r.as_str()));
        if !holds {
            waiting.push(match found {
                Some(f) => describe_condition(f),
                None => format!("no condition {}", c.type_),
            });
        }
    }
    if let Some(f) = &spec.field {
        match (lookup(obj, &f.steps), &f.value) {
            (Some(v), Some(want)) if value_text(v) == *want => {}
            (Some(v), None) if !is_empty(v) => {}
            (Some(v), _) if !is_empty(v) => waiting.push(format!("{} is {}", f.path, value_text(v))),
            _ => waiting.push(format!("{} is not set", f.path)),
        }
    }
    if waiting.is_empty() { Check::Ready } else { Check::Waiting(waiting.join("; ")) }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => m.is_empty(),
        _ => false,
    }
}

/// What a wait is for, in words: `ready`, `condition Available=True`, `status.phase = Bound`.
pub fn describe(spec: &WaitSpec) -> String {
    let mut parts = Vec::new();
    if spec.ready {
        parts.push("ready".to_string());
    }
    if let Some(c) = &spec.condition {
        parts.push(match &c.reason {
            Some(r) => format!("condition {}={} (reason {r})", c.type_, c.status),
            None => format!("condition {}={}", c.type_, c.status),
        });
    }
    if let Some(f) = &spec.field {
        parts.push(match &f.value {
            Some(v) => format!("{} = {v}", f.path),
            None => format!("{} to be set", f.path),
        });
    }
    if parts.is_empty() { "present".into() } else { parts.join(" and ") }
}

fn describe_condition(c: &Value) -> String {
    let t = c.get("type").map(value_text).unwrap_or_default();
    let s = c.get("status").map(value_text).unwrap_or_default();
    let reason = c.get("reason").map(value_text).filter(|r| !r.is_empty());
    let msg = c.get("message").map(value_text).filter(|m| !m.is_empty());
    match (reason, msg) {
        (Some(r), Some(m)) => format!("{t}={s} ({r}: {m})"),
        (Some(r), None) => format!("{t}={s} ({r})"),
        (None, Some(m)) => format!("{t}={s} ({m})"),
        (None, None) => format!("{t}={s}"),
    }
}

fn kind_of(obj: &Value) -> (String, String) {
    let api = obj.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
    let group = api.rsplit_once('/').map(|(g, _)| g).unwrap_or("").to_string();
    (group, obj.get("kind").and_then(Value::as_str).unwrap_or_default().to_string())
}

fn cond_is(obj: &Value, type_: &str, status: &str) -> bool {
    condition(obj, type_).and_then(|c| c.get("status")).and_then(Value::as_str) == Some(status)
}

fn int(obj: &Value, pointer: &str) -> i64 {
    obj.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

/// States from which the object will not become ready without someone changing something.
pub fn terminal(obj: &Value) -> Option<String> {
    let (group, kind) = kind_of(obj);
    let with_message = |c: &Value| describe_condition(c);
    match (group.as_str(), kind.as_str()) {
        ("apps", "Deployment") => condition(obj, "Progressing")
            .filter(|c| {
                c.get("status").and_then(Value::as_str) == Some("False")
                    && c.get("reason").and_then(Value::as_str) == Some("ProgressDeadlineExceeded")
            })
            .map(with_message),
        ("batch", "Job") => condition(obj, "Failed").filter(|c| c.get("status").and_then(Value::as_str) == Some("True")).map(with_message),
        ("", "Pod") => (obj.pointer("/status/phase").and_then(Value::as_str) == Some("Failed")).then(|| {
            format!("phase Failed{}", obj.pointer("/status/message").and_then(Value::as_str).map(|m| format!(" ({m})")).unwrap_or_default())
        }),
        ("", "PersistentVolumeClaim") => {
            (obj.pointer("/status/phase").and_then(Value::as_str) == Some("Lost")).then(|| "phase Lost (its volume is gone)".to_string())
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            condition(obj, "NamesAccepted").filter(|c| c.get("status").and_then(Value::as_str) == Some("False")).map(with_message)
        }
        ("helm.cattle.io", "HelmChart") => {
            condition(obj, "Failed").filter(|c| c.get("status").and_then(Value::as_str) == Some("True")).map(with_message)
        }
        _ => None,
    }
}

/// A kind's own idea of ready, as `kubectl rollout status` and the controllers' conditions put it; kinds
/// without one are ready when they exist.
pub fn readiness(obj: &Value) -> Check {
    let (group, kind) = kind_of(obj);
    let generation = int(obj, "/metadata/generation");
    let observed = int(obj, "/status/observedGeneration");
    let stale = generation > 0 && observed < generation;
    let waiting = |s: String| Check::Waiting(s);
    match (group.as_str(), kind.as_str()) {
        ("apps", "Deployment") => {
            let want = obj.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
            let (updated, total, available) =
                (int(obj, "/status/updatedReplicas"), int(obj, "/status/replicas"), int(obj, "/status/availableReplicas"));
            if stale {
                waiting(format!("the controller has not seen generation {generation} yet (observed {observed})"))
            } else if updated < want {
                waiting(format!("{updated} of {want} new replicas updated"))
            } else if total > updated {
                waiting(format!("{} old replicas pending termination", total - updated))
            } else if available < updated {
                waiting(format!("{available} of {updated} updated replicas available"))
            } else {
                Check::Ready
            }
        }
        ("apps", "StatefulSet") => {
            let want = obj.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
            let (ready, updated) = (int(obj, "/status/readyReplicas"), int(obj, "/status/updatedReplicas"));
            let rolling = obj.pointer("/spec/updateStrategy/type").and_then(Value::as_str).unwrap_or("RollingUpdate") == "RollingUpdate";
            let (cur, upd) =
                (obj.pointer("/status/currentRevision").and_then(Value::as_str), obj.pointer("/status/updateRevision").and_then(Value::as_str));
            if stale {
                waiting(format!("the controller has not seen generation {generation} yet (observed {observed})"))
            } else if ready < want {
                waiting(format!("{ready} of {want} replicas ready"))
            } else if rolling && updated < want {
                waiting(format!("{updated} of {want} replicas updated"))
            } else if rolling && cur.is_some() && upd.is_some() && cur != upd {
                waiting(format!("rolling update to revision {} not complete", upd.unwrap_or_default()))
            } else {
                Check::Ready
            }
        }
        ("apps", "DaemonSet") => {
            let desired = int(obj, "/status/desiredNumberScheduled");
            let (updated, available) = (int(obj, "/status/updatedNumberScheduled"), int(obj, "/status/numberAvailable"));
            if stale {
                waiting(format!("the controller has not seen generation {generation} yet (observed {observed})"))
            } else if updated < desired {
                waiting(format!("{updated} of {desired} pods updated"))
            } else if available < desired {
                waiting(format!("{available} of {desired} pods available"))
            } else {
                Check::Ready
            }
        }
        ("batch", "Job") => {
            if cond_is(obj, "Complete", "True") {
                Check::Ready
            } else {
                waiting(format!("not complete ({} succeeded, {} active)", int(obj, "/status/succeeded"), int(obj, "/status/active")))
            }
        }
        ("", "Pod") => match obj.pointer("/status/phase").and_then(Value::as_str) {
            Some("Succeeded") => Check::Ready,
            _ if cond_is(obj, "Ready", "True") => Check::Ready,
            phase => waiting(format!(
                "phase {}, {}",
                phase.unwrap_or("unknown"),
                condition(obj, "Ready").map(describe_condition).unwrap_or_else(|| "no Ready condition".into())
            )),
        },
        ("", "Node") => {
            if cond_is(obj, "Ready", "True") {
                Check::Ready
            } else {
                waiting(condition(obj, "Ready").map(describe_condition).unwrap_or_else(|| "no Ready condition yet".into()))
            }
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            if cond_is(obj, "Established", "True") {
                Check::Ready
            } else {
                waiting(condition(obj, "Established").map(describe_condition).unwrap_or_else(|| "not Established yet".into()))
            }
        }
        ("", "PersistentVolumeClaim") => match obj.pointer("/status/phase").and_then(Value::as_str) {
            Some("Bound") => Check::Ready,
            p => waiting(format!("phase {}", p.unwrap_or("unknown"))),
        },
        ("", "Namespace") => match obj.pointer("/status/phase").and_then(Value::as_str) {
            Some("Active") | None => Check::Ready,
            Some(p) => waiting(format!("phase {p}")),
        },
        ("", "Service") if obj.pointer("/spec/type").and_then(Value::as_str) == Some("LoadBalancer") => {
            match obj.pointer("/status/loadBalancer/ingress").and_then(Value::as_array) {
                Some(a) if !a.is_empty() => Check::Ready,
                _ => waiting("no load balancer address yet".into()),
            }
        }
        ("helm.cattle.io", "HelmChart") => {
            if obj.pointer("/status/jobName").and_then(Value::as_str).is_some_and(|j| !j.is_empty()) {
                Check::Ready
            } else {
                waiting("helm-controller has not created the install Job yet".into())
            }
        }
        _ => Check::Ready,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_parse_in_every_spelling() {
        assert_eq!(parse_path("{.status.phase}").unwrap(), vec![Step::Key("status".into()), Step::Key("phase".into())]);
        assert_eq!(
            parse_path("status.loadBalancer.ingress[0].ip").unwrap(),
            vec![Step::Key("status".into()), Step::Key("loadBalancer".into()), Step::Key("ingress".into()), Step::Index(0), Step::Key("ip".into())]
        );
        assert_eq!(parse_path("status.conditions[type=Ready].status").unwrap()[2], Step::Select("type".into(), "Ready".into()));
        assert_eq!(parse_path("status.conditions[?(@.type==\"Ready\")].status").unwrap()[2], Step::Select("type".into(), "Ready".into()));
        assert_eq!(
            parse_path("metadata.labels[\"node-role.kubernetes.io/control-plane\"]").unwrap()[2],
            Step::Key("node-role.kubernetes.io/control-plane".into())
        );
        assert!(parse_path("a[").is_err() && parse_path("").is_err());
    }
}
