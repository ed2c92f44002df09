//! The k8s and k8s_info modules' requests and their reading of the answers, against real API objects and real
//! kubectl texts (tests/fixtures/k8s, sources in its SOURCES.md). No Kubernetes API server can run on this
//! machine, and none is pretended: the modules' decisions are pure functions of what kubectl prints, and that
//! is what is tested here. kubectl's error lines for API errors are produced from the recorded Status bodies by
//! kubectl's own rules (`checkErr` and `StandardErrorMessage` in kubernetes/kubectl pkg/cmd/util/helpers.go at
//! dee3483a, ported in `kubectl_stderr` below); the other kubectl texts are quoted from kubectl's sources, its
//! tests and user reports (tests/fixtures/k8s/kubectl/OUTPUTS.md).

mod common;
mod hostless;

use std::path::PathBuf;
use std::time::Duration;

use hlprov::modules::k8s::decide::{self, Pending, TaskContext, Verdict};
use hlprov::modules::k8s::kubectl::{self, Kubectl, Problem, Reply};
use hlprov::modules::k8s::object::{self, Manifest};
use hlprov::modules::k8s::wait::{self, Check, Cond, Field, WaitSpec};
use serde_json::{Value, json};

fn fixture_text(rel: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/k8s").join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn fixture(rel: &str) -> Value {
    serde_json::from_str(&fixture_text(rel)).unwrap()
}

/// What kubectl prints on stderr for an API error carrying `status` (a port of kubectl's checkErr for
/// `*StatusError`: Invalid with details → `The <Kind> "<name>" is invalid: ` and one cause, or a line per
/// cause after a line break (duplicates dropped); Unauthorized → `error: You must be logged in to the server
/// (<msg>)`; any other reason → `Error from server (<Reason>): <msg>`).
fn kubectl_stderr(status: &Value) -> String {
    let reason = status["reason"].as_str().unwrap_or_default();
    let message = status["message"].as_str().unwrap_or_default();
    let details = &status["details"];
    if reason == "Invalid" {
        let mut s = "The request is invalid".to_string();
        if details.get("kind").is_some() || details.get("name").is_some() {
            s = format!("The {} \"{}\" is invalid", details["kind"].as_str().unwrap_or_default(), details["name"].as_str().unwrap_or_default());
        }
        let mut causes: Vec<String> = Vec::new();
        for c in details["causes"].as_array().cloned().unwrap_or_default() {
            let line = format!("{}: {}", c["field"].as_str().unwrap_or_default(), c["message"].as_str().unwrap_or_default());
            if !causes.contains(&line) {
                causes.push(line);
            }
        }
        return match causes.len() {
            0 => format!("{s}\n"),
            1 => format!("{s}: {}\n", causes[0]),
            _ => format!("{s}: \n{}", causes.iter().map(|c| format!("* {c}\n")).collect::<String>()),
        };
    }
    if reason == "Unauthorized" {
        return format!("error: You must be logged in to the server ({message})\n");
    }
    format!("Error from server ({reason}): {message}\n")
}

/// Server-side apply conflicts: kubectl appends its advice and the error is no longer an API status, so it is
/// printed with `error: ` (kubectl pkg/cmd/apply/apply.go, the `errors.IsConflict` branch of the SSA path).
fn kubectl_ssa_conflict_stderr(status: &Value) -> String {
    format!(
        "error: {}\nPlease review the fields above--they currently have other managers. Here\nare the ways you can resolve this warning:\n* If you intend to manage all of these fields, please re-run the apply\n  command with the `--force-conflicts` flag.\n",
        status["message"].as_str().unwrap()
    )
}

fn failed(stderr: &str) -> Reply {
    Reply { rc: 1, stdout: String::new(), stderr: stderr.to_string() }
}

fn printed(obj: &Value) -> Reply {
    // kubectl -o json prints with 4-space indentation (cli-runtime printers/json.go).
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    serde::Serialize::serialize(obj, &mut ser).unwrap();
    Reply { rc: 0, stdout: String::from_utf8(buf).unwrap() + "\n", stderr: String::new() }
}

#[test]
fn every_api_status_becomes_the_problem_it_is() {
    type Is = fn(&Problem) -> bool;
    let cases: &[(&str, Is)] = &[
        ("status/notfound-services.apiserver.json", |p| *p == Problem::NotFound("services \"missing\" not found".into())),
        ("status/notfound-deployment.composed.json", |p| *p == Problem::NotFound("deployments.apps \"x\" not found".into())),
        ("status/alreadyexists-ipaddresspool.composed.json", |p| matches!(p, Problem::AlreadyExists(m) if m.contains("\"homelab\" already exists"))),
        ("status/conflict-resourceversion.composed.json", |p| {
            matches!(p, Problem::Conflict(m) if m.contains("the object has been modified")) && p.transient()
        }),
        ("status/forbidden-secret.composed.json", |p| {
            matches!(p, Problem::Forbidden(m) if m.contains("cannot get resource \"secrets\"")) && !p.transient()
        }),
        ("status/internalerror-webhook.composed.json", |p| {
            matches!(p, Problem::Webhook { webhook, message } if webhook == "ipaddresspoolvalidationwebhook.metallb.io" && message.contains("connection refused"))
                && p.transient()
        }),
        ("status/invalid-service-1-cause.apiserver.json", |p| {
            *p == Problem::Invalid {
                message: "Service \"svc1\" is invalid".into(),
                causes: vec!["spec.ports[0].protocol: Unsupported value: \"VHF\": supported values: TCP, UDP, SCTP".into()],
            }
        }),
        (
            "status/invalid-service-2-causes.apiserver.json",
            |p| matches!(p, Problem::Invalid { message, causes } if message == "Service \"svc2\" is invalid" && causes.len() == 2 && causes[1].starts_with("spec.clusterIP: Invalid value")),
        ),
        (
            "status/invalid-service-immutable.apiserver.json",
            |p| matches!(p, Problem::Invalid { causes, .. } if causes[0] == "spec.clusterIP: Invalid value: \"10.0.0.146.1\": field is immutable"),
        ),
    ];
    for (file, is) in cases {
        let status = fixture(file);
        let stderr = kubectl_stderr(&status);
        let p = kubectl::classify(1, &stderr);
        assert!(is(&p), "{file}: kubectl printed {stderr:?}, read as {p:?}");
        assert!(!p.message().is_empty());
    }
    for (file, n) in [("status/conflict-ssa-1.composed.json", 1), ("status/conflict-ssa-2.composed.json", 2)] {
        let p = kubectl::classify(1, &kubectl_ssa_conflict_stderr(&fixture(file)));
        let Problem::ApplyConflict(c) = &p else { panic!("{file}: {p:?}") };
        assert_eq!(c.len(), n, "{file}: {c:?}");
        assert!(c.iter().all(|x| x.contains(".spec.replicas") || x.contains(".image")), "{c:?}");
        assert!(p.message().contains("force_conflicts"), "the message says how to resolve it");
    }
    let two = kubectl::classify(1, &kubectl_ssa_conflict_stderr(&fixture("status/conflict-ssa-2.composed.json")));
    assert_eq!(
        two,
        Problem::ApplyConflict(vec![
            "conflicts with \"helm\" using apps/v1: .spec.replicas".into(),
            "conflicts with \"helm\" using apps/v1: .spec.template.spec.containers[name=\"nginx\"].image".into()
        ])
    );
}

#[test]
fn kubectls_own_texts_are_recognised() {
    // kubectl's wrapping of a missing CRD for an object read from stdin (cli-runtime mapper.go:69 + apimachinery
    // meta/errors.go; OUTPUTS.md §1), and the form without a file.
    let p = kubectl::classify(
        1,
        "error: resource mapping not found for name: \"homelab\" namespace: \"metallb-system\" from \"STDIN\": no matches for kind \"IPAddressPool\" in version \"metallb.io/v1beta1\"\nensure CRDs are installed first\n",
    );
    assert!(matches!(&p, Problem::NoKind { kind, version, .. } if kind == "IPAddressPool" && version == "metallb.io/v1beta1"), "{p:?}");
    assert_eq!(
        kubectl::classify(1, "error: the server doesn't have a resource type \"ipaddresspools\"\n"),
        Problem::NoResourceType("ipaddresspools".into())
    );
    assert_eq!(
        kubectl::classify(1, "error: timed out waiting for the condition on deployments/x\n"),
        Problem::WaitTimeout("timed out waiting for the condition on deployments/x".into())
    );
    // A webhook that is not serving yet, as MetalLB users reported it (metallb/metallb#1597, client-side form).
    let p = kubectl::classify(
        1,
        "Error from server (InternalError): error when creating \"metal.yaml\": Internal error occurred: failed calling webhook \"ipaddresspoolvalidationwebhook.metallb.io\": failed to call webhook: Post \"https://metallb-webhook-service.metallb-system.svc:443/validate-metallb-io-v1beta1-ipaddresspool?timeout=10s\": dial tcp 10.102.144.175:443: connect: connection refused\n",
    );
    assert!(matches!(&p, Problem::Webhook { webhook, .. } if webhook == "ipaddresspoolvalidationwebhook.metallb.io") && p.transient());
    // StandardErrorMessage's connection errors (helpers.go): a server that is not up yet.
    let p = kubectl::classify(1, "The connection to the server 127.0.0.1:6443 was refused - did you specify the right host or port?\n");
    assert!(matches!(p, Problem::Unavailable(_)) && p.transient());
    assert!(kubectl::classify(1, "Error from server (ServiceUnavailable): the server is currently unable to handle the request\n").transient());
    // No k3s on the host: dash's words, exit 127.
    assert!(matches!(kubectl::classify(127, "sh: 1: k3s: not found\n"), Problem::NotInstalled(_)));
    // Warnings on stderr are not the error, and are kept.
    let r = Reply {
        rc: 1,
        stdout: String::new(),
        stderr: "Warning: policy/v1beta1 PodSecurityPolicy is deprecated\nError from server (NotFound): services \"missing\" not found\n".into(),
    };
    assert_eq!(r.problem(), Some(Problem::NotFound("services \"missing\" not found".into())));
    assert_eq!(r.warnings(), ["policy/v1beta1 PodSecurityPolicy is deprecated"]);
}

#[test]
fn objects_are_read_from_every_shape_kubectl_prints() {
    let one = kubectl::parse_objects(&fixture_text("objects/deployment-available.apiserver.json")).unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0]["metadata"]["name"], "nginx");
    // kubectl get nodes -o json: kind List, items with apiVersion and kind.
    let nodes = kubectl::parse_objects(&fixture_text("objects/list-nodes.kubectl-get.composed.json")).unwrap();
    assert_eq!(nodes.iter().map(|n| n["metadata"]["name"].as_str().unwrap()).collect::<Vec<_>>(), ["k3s-srv-1", "k3s-gpu-1"]);
    // A raw API list: items without apiVersion and kind get them from the list.
    let cms = kubectl::parse_objects(&fixture_text("objects/configmaplist.apiserver.json")).unwrap();
    assert!(!cms.is_empty() && cms.iter().all(|c| c["kind"] == "ConfigMap" && c["apiVersion"] == "v1"), "{cms:?}");
    // --watch --output-watch-events -o json (kubectl's TestWatchResourceWatchEvents expected output).
    let text = fixture_text("kubectl/watch-output-watch-events.json.ndjson");
    let events = kubectl::parse_watch_events(&text).unwrap();
    assert_eq!(events.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>(), ["ADDED", "ADDED", "MODIFIED", "DELETED"]);
    assert_eq!(events[2].1["metadata"]["resourceVersion"], "11");
    assert_eq!(kubectl::parse_objects(&text).unwrap().len(), 4);
    // Nothing printed (get --ignore-not-found of a missing object): no objects, no error.
    assert!(kubectl::parse_objects("").unwrap().is_empty());
    assert!(kubectl::parse_objects("Error: not json").is_err());
}

fn deployment_ref() -> object::ObjRef {
    object::ObjRef { api_version: "apps/v1".into(), kind: "Deployment".into(), name: "nginx".into(), namespace: Some("default".into()) }
}

fn cx() -> TaskContext {
    TaskContext { manager: "hlprov".into(), ..Default::default() }
}

/// A managedFields entry as the server writes it for a server-side apply by `manager`.
fn managed(obj: &mut Value, manager: &str, time: &str, fields: Value) {
    let entry =
        json!({"apiVersion": "apps/v1", "fieldsType": "FieldsV1", "fieldsV1": fields, "manager": manager, "operation": "Apply", "time": time});
    obj["metadata"]["managedFields"] = json!([entry]);
}

#[test]
fn the_server_dry_run_decides_whether_an_object_changes() {
    let live = fixture("objects/deployment-available.apiserver.json");
    let manifest = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "nginx"}, "spec": {"replicas": 3}});
    let r = deployment_ref();

    // The dry run gives back the live object: nothing to do (a second apply reports no change).
    let v = decide::present(&r, &manifest, &printed(&live), &printed(&live), &cx()).unwrap();
    assert!(matches!(v, Verdict::Unchanged { .. }), "{v:?}");
    assert_eq!(v.kind(), None);

    // What the server writes by itself (resourceVersion, generation, managedFields times, status) is no change.
    let mut dry = live.clone();
    dry["metadata"]["resourceVersion"] = json!("99999");
    dry["metadata"]["generation"] = json!(6);
    dry["status"]["observedGeneration"] = json!(6);
    let mut live_owned = live.clone();
    managed(&mut live_owned, "hlprov", "2026-11-20T09:00:00Z", json!({"f:spec": {"f:replicas": {}}}));
    managed(&mut dry, "hlprov", "2026-12-03T10:00:00Z", json!({"f:spec": {"f:replicas": {}}}));
    assert!(matches!(decide::present(&r, &manifest, &printed(&live_owned), &printed(&dry), &cx()).unwrap(), Verdict::Unchanged { .. }));

    // A value the manifest changes: an update, and the diff shows it.
    let mut dry = live.clone();
    dry["spec"]["replicas"] = json!(5);
    let v = decide::present(&r, &manifest, &printed(&live), &printed(&dry), &cx()).unwrap();
    let Verdict::Update { before, after, ownership_only: false } = &v else { panic!("{v:?}") };
    assert!(object::show(before).contains("replicas: 3") && object::show(after).contains("replicas: 5"));
    assert!(!object::show(after).contains("resourceVersion") && !object::show(after).contains("status:"), "server-written parts are not shown");

    // Same values, but hlprov would become the manager of the fields it applies: the server writes, so it counts.
    let mut dry = live.clone();
    managed(&mut dry, "hlprov", "2026-12-03T10:00:00Z", json!({"f:spec": {"f:replicas": {}}}));
    assert!(matches!(decide::present(&r, &manifest, &printed(&live), &printed(&dry), &cx()).unwrap(), Verdict::Update { ownership_only: true, .. }));
}

#[test]
fn missing_objects_namespaces_and_crds_are_planned_not_failed() {
    let r = deployment_ref();
    let manifest = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "nginx"}});
    let notfound = failed(&kubectl_stderr(&fixture("status/notfound-deployment.composed.json")));
    let dry = fixture("objects/deployment-available.apiserver.json");
    assert!(matches!(decide::present(&r, &manifest, &notfound, &printed(&dry), &cx()).unwrap(), Verdict::Create { pending: None, .. }));

    // The namespace does not exist: fine if this task creates it, an error naming it otherwise.
    let no_ns = failed("Error from server (NotFound): namespaces \"web\" not found\n");
    let mut with_ns = cx();
    with_ns.namespaces.push("web".into());
    assert!(
        matches!(decide::present(&r, &manifest, &notfound, &no_ns, &with_ns).unwrap(), Verdict::Create { pending: Some(Pending::Namespace(ref n)), .. } if n == "web")
    );
    let e = decide::present(&r, &manifest, &notfound, &no_ns, &cx()).unwrap_err();
    assert!(e.message().contains("namespace web does not exist"), "{}", e.message());

    // The kind is not served: its CRD comes from this task, or from elsewhere (hlprov waits for it).
    let pool = object::ObjRef {
        api_version: "metallb.io/v1beta1".into(),
        kind: "IPAddressPool".into(),
        name: "homelab".into(),
        namespace: Some("metallb-system".into()),
    };
    let no_kind = failed(
        "error: resource mapping not found for name: \"homelab\" namespace: \"metallb-system\" from \"STDIN\": no matches for kind \"IPAddressPool\" in version \"metallb.io/v1beta1\"\nensure CRDs are installed first\n",
    );
    let pm = json!({"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool", "metadata": {"name": "homelab"}});
    let mut with_crd = cx();
    with_crd.crds.push(("metallb.io".into(), "IPAddressPool".into()));
    let v = decide::present(&pool, &pm, &no_kind, &no_kind, &with_crd).unwrap();
    assert!(matches!(&v, Verdict::Create { pending: Some(Pending::Crd { in_task: true, .. }), after } if *after == pm), "{v:?}");
    let v = decide::present(&pool, &pm, &no_kind, &no_kind, &cx()).unwrap();
    let Verdict::Create { pending: Some(p @ Pending::Crd { in_task: false, .. }), .. } = &v else { panic!("{v:?}") };
    assert!(p.why().contains("no CRD serves IPAddressPool in metallb.io/v1beta1"), "{}", p.why());

    // What the server refuses is an error with its causes.
    let invalid = failed(&kubectl_stderr(&fixture("status/invalid-service-2-causes.apiserver.json")));
    let e = decide::present(&r, &manifest, &notfound, &invalid, &cx()).unwrap_err();
    assert!(e.message().contains("spec.clusterIP: Invalid value"), "{}", e.message());
    let forbidden = failed(&kubectl_stderr(&fixture("status/forbidden-secret.composed.json")));
    assert!(matches!(decide::present(&r, &manifest, &forbidden, &printed(&dry), &cx()).unwrap_err(), Problem::Forbidden(_)));
}

#[test]
fn absent_is_reached_when_the_object_or_its_kind_is_gone() {
    let live = fixture("objects/helmchart-job-created.composed.json");
    assert!(matches!(decide::absent(&printed(&live)).unwrap(), Verdict::Delete { .. }));
    assert_eq!(decide::absent(&failed(&kubectl_stderr(&fixture("status/notfound-deployment.composed.json")))).unwrap(), Verdict::Absent);
    // The CRD was removed with everything of its kind: already absent, not a failure.
    let no_kind = failed(
        "error: resource mapping not found for name: \"traefik\" namespace: \"kube-system\" from \"STDIN\": no matches for kind \"HelmChart\" in version \"helm.cattle.io/v1\"\nensure CRDs are installed first\n",
    );
    assert_eq!(decide::absent(&no_kind).unwrap(), Verdict::Absent);
    assert!(decide::absent(&failed(&kubectl_stderr(&fixture("status/forbidden-secret.composed.json")))).is_err());
}

#[test]
fn manifests_from_real_upstream_files_are_read_and_identified() {
    let crd = object::from_yaml(&fixture_text("upstream/helm-controller-v0.17.7/helm.cattle.io_helmcharts.yaml"), "helmcharts.yaml").unwrap();
    assert_eq!(crd.len(), 1);
    let r = object::identify(&crd[0]).unwrap();
    assert!(r.is_crd());
    assert_eq!(r.kubectl_name(), "customresourcedefinition.apiextensions.k8s.io/helmcharts.helm.cattle.io");
    assert_eq!(object::crd_serves(&crd[0].obj).unwrap(), ("helm.cattle.io".to_string(), "HelmChart".to_string(), vec!["v1".to_string()]));
    let chart = object::from_yaml(&fixture_text("upstream/helm-controller-v0.17.7/example-helmchart.yaml"), "example.yaml").unwrap();
    let r = object::identify(&chart[0]).unwrap();
    assert_eq!((r.kind.as_str(), r.group(), r.resource_arg()), ("HelmChart", "helm.cattle.io", "helmchart.v1.helm.cattle.io".to_string()));
    let bad = Manifest { obj: json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}), origin: "cm.yaml, document 1 (line 1)".into() };
    assert_eq!(object::identify(&bad).unwrap_err(), "cm.yaml, document 1 (line 1): ConfigMap has no metadata.name");
}

fn spec() -> WaitSpec {
    WaitSpec { ready: false, condition: None, field: None, timeout: Duration::from_secs(1), sleep: Duration::from_secs(1) }
}

fn ready() -> WaitSpec {
    WaitSpec { ready: true, ..spec() }
}

fn field(path: &str, value: Option<&str>) -> WaitSpec {
    WaitSpec { field: Some(Field { path: path.into(), steps: wait::parse_path(path).unwrap(), value: value.map(str::to_string) }), ..spec() }
}

#[test]
fn kinds_are_ready_as_their_controllers_say() {
    let check = |f: &str| wait::check(&fixture(f), &ready());
    assert_eq!(check("objects/deployment-available.apiserver.json"), Check::Ready);
    assert_eq!(check("objects/deployment-available.k9s.json"), Check::Ready);
    assert_eq!(check("objects/deployment-rolling-out.composed.json"), Check::Waiting("1 of 3 new replicas updated".into()));
    // Past its progress deadline a Deployment will not become ready by itself: the wait fails at once.
    let Check::Failed(why) = check("objects/deployment-progress-deadline-exceeded.composed.json") else { panic!() };
    assert!(why.contains("ProgressDeadlineExceeded") && why.contains("has timed out progressing"), "{why}");
    assert_eq!(check("objects/daemonset.k9s.json"), Check::Ready);
    assert_eq!(check("objects/statefulset.k9s.json"), Check::Ready);
    assert_eq!(check("objects/pvc-bound.k9s.json"), Check::Ready);
    assert_eq!(check("objects/pvc-pending.composed.json"), Check::Waiting("phase Pending".into()));
    assert_eq!(check("objects/crd-established.k9s.json"), Check::Ready);
    assert_eq!(check("objects/crd-helmchartconfigs-established.composed.json"), Check::Ready);
    assert!(
        matches!(check("objects/crd-helmchartconfigs-not-established.composed.json"), Check::Waiting(w) if w.contains("Established=False (Installing"))
    );
    assert_eq!(check("objects/helmchart-job-created.composed.json"), Check::Ready);
    assert!(
        matches!(check("objects/helmchart-job-failed.composed.json"), Check::Failed(w) if w.contains("Job has reached configured number of retries"))
    );
    assert_eq!(check("objects/service-loadbalancer-ingress.composed.json"), Check::Ready);
    assert_eq!(check("objects/service-loadbalancer-pending.composed.json"), Check::Waiting("no load balancer address yet".into()));
    assert_eq!(check("objects/service-clusterip.apiserver.json"), Check::Ready);
    assert_eq!(check("objects/node-k3s-server-ready.composed.json"), Check::Ready);
    assert!(
        matches!(check("objects/node-k3s-agent-notready-cni.composed.json"), Check::Waiting(w) if w.contains("KubeletNotReady") && w.contains("cni plugin not initialized"))
    );
    assert_eq!(
        check("objects/node-k3s-agent-notready-unreachable.composed.json"),
        Check::Waiting("Ready=Unknown (NodeStatusUnknown: Kubelet stopped posting node status.)".into())
    );
}

#[test]
fn waits_on_conditions_and_on_any_field() {
    let node = fixture("objects/node-k3s-server-ready.composed.json");
    // What the k3s gate asks of a node: Ready at the expected version, with the control-plane role.
    let mut gate = field("status.nodeInfo.kubeletVersion", Some("v1.36.4+k3s1"));
    gate.condition = Some(Cond { type_: "Ready".into(), status: "True".into(), reason: None });
    assert_eq!(wait::check(&node, &gate), Check::Ready);
    let newer = WaitSpec { condition: gate.condition.clone(), ..field("status.nodeInfo.kubeletVersion", Some("v1.36.5+k3s1")) };
    assert_eq!(wait::check(&node, &newer), Check::Waiting("status.nodeInfo.kubeletVersion is v1.36.4+k3s1".into()));
    assert_eq!(wait::describe(&newer), "condition Ready=True and status.nodeInfo.kubeletVersion = v1.36.5+k3s1");
    assert_eq!(wait::check(&node, &field("metadata.labels[\"node-role.kubernetes.io/control-plane\"]", Some("true"))), Check::Ready);
    let agent = fixture("objects/node-k3s-agent-notready-cni.composed.json");
    assert_eq!(
        wait::check(&agent, &field("metadata.labels[\"node-role.kubernetes.io/control-plane\"]", Some("true"))),
        Check::Waiting("metadata.labels[\"node-role.kubernetes.io/control-plane\"] is not set".into())
    );

    // A LoadBalancer address (what MetalLB gives), kubectl's jsonpath spelling too.
    let lb = fixture("objects/service-loadbalancer-ingress.composed.json");
    assert_eq!(wait::check(&lb, &field("{.status.loadBalancer.ingress[0].ip}", None)), Check::Ready);
    assert_eq!(wait::lookup(&lb, &wait::parse_path("status.loadBalancer.ingress[0].ip").unwrap()), Some(&json!("192.168.1.240")));
    let pending = fixture("objects/service-loadbalancer-pending.composed.json");
    assert_eq!(
        wait::check(&pending, &field("status.loadBalancer.ingress[0].ip", None)),
        Check::Waiting("status.loadBalancer.ingress[0].ip is not set".into())
    );
    // A phase.
    assert_eq!(
        wait::check(&fixture("objects/pvc-pending.composed.json"), &field("status.phase", Some("Bound"))),
        Check::Waiting("status.phase is Pending".into())
    );

    // A condition from the documentation's Deployment status (a quota stops new pods: ReplicaFailure=True).
    let status = hlprov::yaml::load_one(&fixture_text("objects/deployment-status-replicafailure.website.yaml"), "doc").unwrap().to_value();
    let mut dep =
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "nginx-deployment", "generation": 3}, "spec": {"replicas": 3}});
    dep["status"] = status["status"].clone();
    let available = WaitSpec { condition: Some(Cond { type_: "Available".into(), status: "True".into(), reason: None }), ..spec() };
    assert_eq!(wait::check(&dep, &available), Check::Ready);
    let no_failure = WaitSpec { condition: Some(Cond { type_: "ReplicaFailure".into(), status: "False".into(), reason: None }), ..spec() };
    assert!(
        matches!(wait::check(&dep, &no_failure), Check::Waiting(w) if w.contains("ReplicaFailure=True (FailedCreate: Error creating: pods \"nginx-deployment-4262182780-\" is forbidden: exceeded quota"))
    );
    assert_eq!(wait::check(&dep, &ready()), Check::Waiting("0 of 3 new replicas updated".into()));
}

#[test]
fn secret_values_never_reach_a_diff_or_a_command_line() {
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "apps"}, "stringData": {"password": "k8s-module-test-pw-2"}});
    object::register_secret_values(&secret);
    assert_eq!(hlprov::redact::redact("pw=k8s-module-test-pw-2"), format!("pw={}", hlprov::redact::MASK));
    let shown = object::show(&object::hide_secret(&secret));
    assert!(!shown.contains("k8s-module-test-pw-2") && shown.contains("password: '***'"), "{shown}");
    // The manifest goes on stdin; the script names only kubectl's arguments.
    let k = Kubectl::default();
    let calls = vec![k.argv(&kubectl::get_object(Some("apps"))), k.argv(&kubectl::apply(Some("apps"), "hlprov", false, true))];
    let script = kubectl::script(&calls, true);
    assert!(!script.contains("k8s-module-test-pw-2"));
    assert!(script.contains("k3s kubectl apply --server-side --field-manager=hlprov --dry-run=server"), "{script}");
}

/// On a real host without k3s (a container of the lab's image, recorded host-less): the modules run their
/// script there and say plainly that kubectl is missing and where to run them, without changing anything.
#[tokio::test]
async fn without_kubectl_on_the_host_the_modules_say_where_to_run() {
    let t = hostless::Scripted::scenario("k8s-without-kubectl", "true").await;
    let dir = tempfile::tempdir().unwrap();
    let env = common::TestEnv::new(dir.path());
    let cm =
        json!({"definition": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "demo", "namespace": "default"}, "data": {"a": "1"}}});
    for (module, args) in [("k8s", cm.clone()), ("k8s_info", json!({"kind": "Node"}))] {
        let r = common::run_module(&t.connection(), &env, module, args, false, true).await.unwrap();
        let msg = r.msg.clone().unwrap_or_default();
        assert!(r.failed && !r.changed, "{module}: {:?}", r.to_value());
        assert!(msg.contains("needs the cluster: k3s kubectl is not installed on test-host") && msg.contains("k3s: not found"), "{module}: {msg}");
        assert!(msg.contains("delegate_to"), "{module}: {msg}");
    }
    // In check mode (a site planned before the k3s phases ran) that is no failure: k8s shows what it would
    // apply, k8s_info is skipped, both say why.
    for (module, args) in [("k8s", cm), ("k8s_info", json!({"kind": "Node"}))] {
        let r = common::run_module(&t.connection(), &env, module, args, true, true).await.unwrap();
        let msg = r.msg.clone().unwrap_or_default();
        assert!(!r.failed && r.skipped, "{module}: {:?}", r.to_value());
        assert!(msg.starts_with("needs the cluster: k3s kubectl is not installed on test-host"), "{module}: {msg}");
        if module == "k8s" {
            assert!(r.changed && r.diffs.iter().any(|d| d.after.contains("name: demo")), "{:?}", r.diffs);
        }
    }
    // A read fed a manifest goes on a channel of its own (the probe shell takes no stdin); what it runs only reads.
    let sent = t.sent();
    assert_eq!(sent.len(), 4, "one round trip per module and run: {sent:?}");
    assert!(
        sent[0].script.contains(" get -f - ") && sent[0].script.contains(" apply --server-side --field-manager=hlprov --dry-run=server "),
        "{}",
        sent[0].script
    );
    assert!(sent[1].probe && sent[1].script.contains(" get node --all-namespaces -o json"), "{}", sent[1].script);
    t.finish();
}
