//! kubectl on a cluster server, as the k8s modules use it: the command lines they send (built here, one
//! quoting helper), the shell script that runs several of them in one round trip with the manifest on stdin,
//! and the reading of what comes back: objects (one object, kubectl's `List`, a raw API list, a stream of watch
//! events) and errors, classified from kubectl's stderr (the forms are catalogued with their kubectl source in
//! tests/fixtures/k8s/kubectl/OUTPUTS.md).

use serde_json::Value;

use super::super::helpers::host::output_marker;
use crate::transport::quote::{join, quote};

/// How kubectl is run on the host: its command words (`k3s kubectl` by default) and the kubeconfig and
/// context to use, if not the command's defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct Kubectl {
    pub words: Vec<String>,
    pub kubeconfig: Option<String>,
    pub context: Option<String>,
}

impl Default for Kubectl {
    fn default() -> Kubectl {
        Kubectl { words: vec!["k3s".into(), "kubectl".into()], kubeconfig: None, context: None }
    }
}

impl Kubectl {
    /// The full command line: the command words, the connection options, then `rest`.
    pub fn argv(&self, rest: &[String]) -> Vec<String> {
        let mut v = self.words.clone();
        if let Some(k) = &self.kubeconfig {
            v.push(format!("--kubeconfig={k}"));
        }
        if let Some(c) = &self.context {
            v.push(format!("--context={c}"));
        }
        v.extend(rest.iter().cloned());
        v
    }

    /// The command as it is shown to people (`k3s kubectl`).
    pub fn shown(&self) -> String {
        self.words.join(" ")
    }
}

fn strings(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

fn ns_flag(namespace: Option<&str>) -> Vec<String> {
    namespace.map(|n| vec![format!("--namespace={n}")]).unwrap_or_default()
}

/// `get -f -`: the live object named by the manifest on stdin, with its managed fields.
pub fn get_object(namespace: Option<&str>) -> Vec<String> {
    let mut v = strings(&["get", "-f", "-", "-o", "json", "--show-managed-fields"]);
    v.extend(ns_flag(namespace));
    v
}

/// `apply --server-side` of the manifest on stdin with field manager `manager`; `dry_run` asks the server to
/// run every check and admission step and return the result without storing it.
pub fn apply(namespace: Option<&str>, manager: &str, force_conflicts: bool, dry_run: bool) -> Vec<String> {
    let mut v = strings(&["apply", "--server-side"]);
    v.push(format!("--field-manager={manager}"));
    if force_conflicts {
        v.push("--force-conflicts".into());
    }
    if dry_run {
        v.push("--dry-run=server".into());
    }
    v.extend(strings(&["-o", "json", "--show-managed-fields", "-f", "-"]));
    v.extend(ns_flag(namespace));
    v
}

/// `delete -f -` of the object on stdin; gone already is no error; hlprov waits itself when asked.
pub fn delete(namespace: Option<&str>) -> Vec<String> {
    let mut v = strings(&["delete", "-f", "-", "--ignore-not-found", "--wait=false"]);
    v.extend(ns_flag(namespace));
    v
}

/// What `k8s_info` asks for.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Query {
    /// `kubectl get`'s resource argument (`deployment.v1.apps`, `node`).
    pub resource: String,
    pub name: Option<String>,
    pub namespace: Option<String>,
    pub label_selectors: Vec<String>,
    pub field_selectors: Vec<String>,
}

/// `get` for a query: one object by name (missing is no error: an empty answer), or a list. Without a
/// namespace, a list covers every namespace.
pub fn get(q: &Query) -> Vec<String> {
    let mut v = vec!["get".to_string(), q.resource.clone()];
    if let Some(n) = &q.name {
        v.push(n.clone());
    }
    match (&q.namespace, &q.name) {
        (Some(ns), _) => v.push(format!("--namespace={ns}")),
        (None, None) => v.push("--all-namespaces".into()),
        (None, Some(_)) => {}
    }
    if !q.label_selectors.is_empty() {
        v.push(format!("--selector={}", q.label_selectors.join(",")));
    }
    if !q.field_selectors.is_empty() {
        v.push(format!("--field-selector={}", q.field_selectors.join(",")));
    }
    v.extend(strings(&["-o", "json", "--ignore-not-found"]));
    v
}

/// The CRDs the server has, one line each: name, group, kind, and the status of Established.
pub fn crd_lines() -> Vec<String> {
    strings(&[
        "get",
        "customresourcedefinitions.v1.apiextensions.k8s.io",
        "-o",
        r#"jsonpath={range .items[*]}{.metadata.name}{"\t"}{.spec.group}{"\t"}{.spec.names.kind}{"\t"}{.status.conditions[?(@.type=="Established")].status}{"\n"}{end}"#,
    ])
}

/// One CRD as [`crd_lines`] shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct CrdLine {
    pub name: String,
    pub group: String,
    pub kind: String,
    pub established: bool,
}

pub fn parse_crd_lines(text: &str) -> Vec<CrdLine> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split('\t');
            let (name, group, kind) = (f.next()?, f.next()?, f.next()?);
            Some(CrdLine { name: name.into(), group: group.into(), kind: kind.into(), established: f.next().map(str::trim) == Some("True") })
        })
        .collect()
}

/// What one kubectl call returned.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Reply {
    pub rc: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Reply {
    pub fn ok(&self) -> bool {
        self.rc == 0
    }
    /// The problem, if the call failed.
    pub fn problem(&self) -> Option<Problem> {
        (!self.ok()).then(|| classify(self.rc, &self.stderr))
    }
    /// The `Warning: …` lines kubectl printed (deprecations, admission warnings).
    pub fn warnings(&self) -> Vec<String> {
        self.stderr.lines().filter_map(|l| l.strip_prefix("Warning: ")).map(str::to_string).collect()
    }
}

/// A shell script that runs every call in turn, each fed the script's stdin (read once into a variable, so a
/// manifest never appears on a command line), and reports each call's stdout, stderr and exit status between
/// markers. It stops nothing when a call fails.
pub fn script(calls: &[Vec<String>], with_stdin: bool) -> String {
    let (err, end) = (quote(&marker_err()), quote(&marker_end()));
    let mut s = String::from("exec 3>&1\n");
    if with_stdin {
        s.push_str("m=$(cat)\n");
    }
    for argv in calls {
        let cmd = join(argv);
        let run = if with_stdin { format!("printf '%s\\n' \"$m\" | {cmd}") } else { format!("{cmd} </dev/null") };
        s.push_str(&format!("e=$( {{ {run}; }} 2>&1 1>&3 ); rc=$?\nprintf '\\n%s\\n%s\\n%s %s\\n' {err} \"$e\" {end} \"$rc\"\n"));
    }
    s
}

fn marker_err() -> String {
    output_marker("k8s_stderr")
}

fn marker_end() -> String {
    output_marker("k8s_end")
}

/// Split what [`script`] printed into one reply per call; None if the output was cut short.
pub fn split_replies(text: &str, calls: usize) -> Option<Vec<Reply>> {
    let (err, end) = (format!("\n{}\n", marker_err()), format!("\n{} ", marker_end()));
    let mut out = Vec::new();
    let mut rest = text;
    for _ in 0..calls {
        let at_err = rest.find(&err)?;
        let stdout = &rest[..at_err];
        let after_err = &rest[at_err + err.len()..];
        let at_end = after_err.find(&end)?;
        let stderr = &after_err[..at_end];
        let tail = &after_err[at_end + end.len()..];
        let (rc, tail) = tail.split_once('\n').unwrap_or((tail, ""));
        out.push(Reply { rc: rc.trim().parse().unwrap_or(-1), stdout: stdout.to_string(), stderr: stderr.to_string() });
        rest = tail;
    }
    Some(out)
}

/// Why a kubectl call failed, read from its stderr.
#[derive(Clone, Debug, PartialEq)]
pub enum Problem {
    /// `Error from server (NotFound): deployments.apps "x" not found`
    NotFound(String),
    /// The kind is not served (its CRD is missing): `no matches for kind "X" in version "g/v"`.
    NoKind {
        kind: String,
        version: String,
        message: String,
    },
    /// `the server doesn't have a resource type "x"` (get by resource name, CRD missing).
    NoResourceType(String),
    AlreadyExists(String),
    /// Another writer changed the object in between (optimistic lock).
    Conflict(String),
    /// Server-side apply found fields another manager owns: each conflict as the server words it.
    ApplyConflict(Vec<String>),
    /// The object is invalid: the message and each cause (`field: message`).
    Invalid {
        message: String,
        causes: Vec<String>,
    },
    Forbidden(String),
    /// An admission webhook could not be called (typically not ready yet after an install).
    Webhook {
        webhook: String,
        message: String,
    },
    Unauthorized(String),
    /// `kubectl wait` gave up: `timed out waiting for the condition on deployments/x`.
    WaitTimeout(String),
    /// The API server could not be reached or is not ready (connection refused, starting, etcd elections).
    Unavailable(String),
    /// kubectl (or k3s) is not installed where the task ran.
    NotInstalled(String),
    /// Anything else: kubectl's words.
    Other(String),
}

impl Problem {
    /// Worth another try shortly: the server is starting, a webhook is not serving yet, a write raced.
    pub fn transient(&self) -> bool {
        matches!(self, Problem::Unavailable(_) | Problem::Webhook { .. } | Problem::Conflict(_))
    }

    /// One sentence for people.
    pub fn message(&self) -> String {
        match self {
            Problem::NotFound(m) | Problem::AlreadyExists(m) | Problem::Conflict(m) | Problem::Forbidden(m) | Problem::Other(m) => m.clone(),
            Problem::Unavailable(m) => format!("the API server is not available: {m}"),
            Problem::NoKind { kind, version, .. } => format!("the cluster does not serve kind {kind} in {version} (is its CRD installed?)"),
            Problem::NoResourceType(r) => format!("the cluster does not serve resource type \"{r}\" (is its CRD installed?)"),
            Problem::ApplyConflict(c) => format!(
                "server-side apply conflicts with fields another manager owns: {}; set force_conflicts: true to take them over, or leave those fields out of the manifest",
                c.join("; ")
            ),
            Problem::Invalid { message, causes } if causes.is_empty() => message.clone(),
            Problem::Invalid { message, causes } => format!("{message}: {}", causes.join("; ")),
            Problem::Webhook { webhook, message } => format!("admission webhook {webhook} could not be called: {message}"),
            Problem::Unauthorized(m) => format!("kubectl is not authorised: {m}"),
            Problem::WaitTimeout(m) => m.clone(),
            Problem::NotInstalled(m) => format!("kubectl could not run here ({m}); run the task on a k3s server (delegate_to)"),
        }
    }
}

/// Read kubectl's stderr (exit status `rc`) into a [`Problem`].
pub fn classify(rc: i32, stderr: &str) -> Problem {
    let text = stderr.lines().filter(|l| !l.starts_with("Warning: ")).collect::<Vec<_>>().join("\n");
    let text = text.trim();
    let first = text.lines().next().unwrap_or("").trim();
    if rc == 127 || first.ends_with(": not found") || first.contains("command not found") || first.contains("No such file or directory") {
        return Problem::NotInstalled(first.to_string());
    }
    if let Some(p) = no_kind(text) {
        return p;
    }
    if let Some(r) = between(text, "the server doesn't have a resource type \"", "\"") {
        return Problem::NoResourceType(r.to_string());
    }
    if let Some(rest) = text.find("Apply failed with ").map(|at| &text[at..]) {
        return Problem::ApplyConflict(apply_conflicts(rest));
    }
    if let Some(rest) = text.find("timed out waiting for the condition").map(|at| &text[at..]) {
        return Problem::WaitTimeout(rest.lines().next().unwrap_or(rest).to_string());
    }
    if let Some(at) = text.find("failed calling webhook \"") {
        let webhook = between(&text[at..], "failed calling webhook \"", "\"").unwrap_or_default().to_string();
        return Problem::Webhook { webhook, message: after_error_prefix(first) };
    }
    if let Some(p) = invalid(text) {
        return p;
    }
    if let Some(rest) = first.strip_prefix("error: You must be logged in to the server") {
        return Problem::Unauthorized(rest.trim().trim_start_matches('(').trim_end_matches(')').to_string());
    }
    if let Some((reason, msg)) = server_error(first) {
        return match reason {
            "NotFound" => Problem::NotFound(msg),
            "AlreadyExists" => Problem::AlreadyExists(msg),
            "Conflict" => Problem::Conflict(msg),
            "Forbidden" => Problem::Forbidden(msg),
            "Unauthorized" => Problem::Unauthorized(msg),
            "ServiceUnavailable" | "Timeout" | "ServerTimeout" | "TooManyRequests" => Problem::Unavailable(msg),
            _ => Problem::Other(format!("{reason}: {msg}")),
        };
    }
    const UNAVAILABLE: &[&str] = &[
        "The connection to the server",
        "Unable to connect to the server",
        "connection refused",
        "the server is currently unable to handle the request",
        "etcdserver: ",
        "TLS handshake timeout",
        "i/o timeout",
        "http2: client connection lost",
    ];
    if UNAVAILABLE.iter().any(|u| text.contains(u)) {
        return Problem::Unavailable(first.trim_start_matches("error: ").to_string());
    }
    Problem::Other(if text.is_empty() { format!("kubectl exited with status {rc}") } else { after_error_prefix(text) })
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    let len = text[from..].find(end)?;
    Some(&text[from..from + len])
}

fn after_error_prefix(line: &str) -> String {
    line.trim().trim_start_matches("error: ").to_string()
}

/// `Error from server (Reason): message` (kubectl's StandardErrorMessage for API errors).
fn server_error(line: &str) -> Option<(&str, String)> {
    let rest = line.strip_prefix("Error from server (")?;
    let (reason, msg) = rest.split_once("): ")?;
    // kubectl adds `error when creating "file": ` for client-side apply; the server's message follows.
    Some((reason, msg.to_string()))
}

/// `no matches for kind "X" in version "g/v"` (also `in group`, `in versions`), in any of kubectl's wrappings.
fn no_kind(text: &str) -> Option<Problem> {
    let at = text.find("no matches for kind \"")?;
    let rest = &text[at..];
    let kind = between(rest, "no matches for kind \"", "\"")?.to_string();
    let version = between(rest, "\" in version \"", "\"")
        .or_else(|| between(rest, "\" in versions \"", "\""))
        .or_else(|| between(rest, "\" in group \"", "\""))
        .unwrap_or_default()
        .to_string();
    let message = rest.lines().next().unwrap_or(rest).to_string();
    Some(Problem::NoKind { kind, version, message })
}

/// The conflicts of `Apply failed with N conflict(s): …`: for one, the text after the colon; for several,
/// each `- path` line with its manager.
fn apply_conflicts(text: &str) -> Vec<String> {
    let head = text.lines().next().unwrap_or("");
    let body = head.split_once(": ").map(|(_, b)| b).unwrap_or(head).trim();
    let listed: Vec<&str> = text.lines().skip(1).map(str::trim).filter(|l| l.starts_with("- ")).collect();
    if listed.is_empty() {
        return vec![body.to_string()];
    }
    let manager = body.trim_end_matches(':');
    listed.iter().map(|l| format!("{manager}: {}", &l[2..])).collect()
}

/// `The Service "svc1" is invalid: field: message`, or with one `* field: message` line per cause.
fn invalid(text: &str) -> Option<Problem> {
    let first = text.lines().next()?;
    if let Some(rest) = first.strip_prefix("The request is invalid") {
        let cause = rest.trim_start_matches(':').trim();
        let causes = if cause.is_empty() { Vec::new() } else { vec![cause.to_string()] };
        return Some(Problem::Invalid { message: "the request is invalid".into(), causes });
    }
    let at = first.find("\" is invalid: ")?;
    if !first.starts_with("The ") {
        return None;
    }
    let message = first[..at + 12].trim_start_matches("The ").to_string();
    let tail = first[at + 14..].trim();
    let mut causes: Vec<String> = text.lines().skip(1).filter_map(|l| l.trim().strip_prefix("* ").map(str::to_string)).collect();
    if !tail.is_empty() {
        causes.insert(0, tail.to_string());
    }
    Some(Problem::Invalid { message, causes })
}

/// The objects kubectl printed: one object, kubectl's `List`, a raw API list (`ConfigMapList`, whose items
/// lack apiVersion and kind: they are filled in), or a stream of documents (`--watch`), including watch events
/// (`{"type": …, "object": …}`: the objects, in order). Empty output is no objects.
pub fn parse_objects(text: &str) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    for doc in serde_json::Deserializer::from_str(text).into_iter::<Value>() {
        let doc = doc.map_err(|e| format!("kubectl printed something that is not JSON ({e})"))?;
        out.extend(open_document(doc));
    }
    Ok(out)
}

/// The watch events of a `--watch --output-watch-events -o json` stream: (type, object).
pub fn parse_watch_events(text: &str) -> Result<Vec<(String, Value)>, String> {
    let mut out = Vec::new();
    for doc in serde_json::Deserializer::from_str(text).into_iter::<Value>() {
        let doc = doc.map_err(|e| format!("kubectl printed something that is not JSON ({e})"))?;
        match (doc.get("type").and_then(Value::as_str), doc.get("object")) {
            (Some(t), Some(o)) => out.push((t.to_string(), o.clone())),
            _ => return Err("a watch stream line is not a watch event ({type, object})".into()),
        }
    }
    Ok(out)
}

fn open_document(doc: Value) -> Vec<Value> {
    if let (Some(_), Some(obj)) = (doc.get("type").and_then(Value::as_str), doc.get("object")) {
        if doc.as_object().is_some_and(|m| m.len() == 2) {
            return vec![obj.clone()];
        }
    }
    let kind = doc.get("kind").and_then(Value::as_str).unwrap_or_default().to_string();
    let Some(items) = doc.get("items").and_then(Value::as_array).filter(|_| kind.ends_with("List")) else {
        return vec![doc];
    };
    let item_kind = kind.strip_suffix("List").filter(|k| !k.is_empty()).map(str::to_string);
    let api_version = doc.get("apiVersion").cloned();
    items
        .iter()
        .map(|item| {
            let mut item = item.clone();
            if let (Some(m), Some(k)) = (item.as_object_mut(), &item_kind) {
                if !m.contains_key("kind") {
                    m.insert("kind".into(), Value::String(k.clone()));
                    if let Some(v) = &api_version {
                        m.insert("apiVersion".into(), v.clone());
                    }
                }
            }
            item
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_reports_each_call_apart_even_when_one_fails() {
        let calls = vec![vec!["sh".into(), "-c".into(), "cat; echo oops >&2; exit 3".into()], vec!["cat".into()]];
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(script(&calls, true))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        out.stdin.as_ref().unwrap().write_all(b"{\"a\": 1}").unwrap();
        let text = String::from_utf8(out.wait_with_output().unwrap().stdout).unwrap();
        let r = split_replies(&text, 2).unwrap();
        assert_eq!(r[0], Reply { rc: 3, stdout: "{\"a\": 1}\n".into(), stderr: "oops".into() });
        assert_eq!(r[1], Reply { rc: 0, stdout: "{\"a\": 1}\n".into(), stderr: String::new() });
        assert!(split_replies(&text, 3).is_none(), "a missing reply is noticed");
    }

    #[test]
    fn queries_become_kubectl_get_arguments() {
        let q = Query { resource: "node".into(), label_selectors: vec!["node-role.kubernetes.io/control-plane=true".into()], ..Default::default() };
        assert_eq!(get(&q).join(" "), "get node --all-namespaces --selector=node-role.kubernetes.io/control-plane=true -o json --ignore-not-found");
        let q = Query {
            resource: "deployment.v1.apps".into(),
            name: Some("coredns".into()),
            namespace: Some("kube-system".into()),
            ..Default::default()
        };
        assert_eq!(get(&q).join(" "), "get deployment.v1.apps coredns --namespace=kube-system -o json --ignore-not-found");
        assert_eq!(
            Kubectl::default().argv(&apply(Some("web"), "hlprov", false, true)).join(" "),
            "k3s kubectl apply --server-side --field-manager=hlprov --dry-run=server -o json --show-managed-fields -f - --namespace=web"
        );
    }

    #[test]
    fn crd_lines_parse() {
        let l = parse_crd_lines("helmcharts.helm.cattle.io\thelm.cattle.io\tHelmChart\tTrue\nx.y\ty\tX\t\n");
        assert!(l[0].established && !l[1].established);
        assert_eq!(l[0].kind, "HelmChart");
    }
}
