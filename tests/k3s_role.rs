//! roles/k3s (phases k3s_servers → k3s_agents of playbooks/site.yml, and playbooks/k3s-reset.yml) on real hosts:
//! systemd containers of the lab's image. No k3s binary can be had on this machine, so the release's files are
//! stand-ins (a small script that says it is not k3s, and random bytes for the images), made per test with their
//! own checksum file, and k3s is never started (`k3s_start: false`): what is tested is the host side — files,
//! modes, contents, the checksum checks before anything is replaced, the checks before anything runs, the order
//! of nodes, reset — and the gates, which say that k3s is not running. Nothing here pretends that k3s ran.
//! Host state is read back with docker exec, not through hlprov. The token comes from a SOPS file, as it does
//! for users.

mod common;
mod k3s_support;

use std::path::Path;
use std::sync::Arc;

use common::{Applied, TestLab};
use hlprov::exec::{PhaseSelection, RunOptions};
use hlprov::report::Status;
use k3s_support::{NEW, OLD, TOKEN, artifacts, file_sha, lab_inventory, repo, secret_inventory, sha256};
use serde_json::{Value, json};

async fn run(lab: &TestLab, playbook: &str, inv: &Path, extra: Value, phases: PhaseSelection, check: bool) -> Applied {
    let pb = hlprov::playbook::load(&repo(playbook), &Default::default()).expect("playbook loads");
    let mut inventory = hlprov::inventory::Inventory::load(&[lab.inventory(""), inv.to_path_buf()]).expect("inventory");
    inventory.add_playbook_vars_dir(&pb.dir).unwrap();
    let collector = Arc::new(hlprov::report::Collector::default());
    let reporter = hlprov::report::Reporter::new(vec![collector.clone()]);
    let extra_vars = extra.as_object().cloned().unwrap_or_default();
    let opts = RunOptions { phases, check, diff: true, extra_vars, ..Default::default() };
    let summary = hlprov::exec::run_playbook(Arc::new(pb), Arc::new(inventory), opts, reporter).await.expect("no preflight error");
    let events = collector.events.lock().unwrap().clone();
    Applied { summary, events }
}

fn only(phase: &str) -> PhaseSelection {
    PhaseSelection::Only { phase: phase.into(), with_deps: false }
}

/// Failed task results outside the gates, as "host task: msg".
fn task_failures(a: &Applied) -> Vec<String> {
    a.results().iter().filter(|r| r.status == Status::Failed && !r.gate).map(|r| format!("{} {}: {}", r.host, r.task, r.result["msg"])).collect()
}

fn gate_failures(a: &Applied) -> Vec<String> {
    a.results().iter().filter(|r| r.status == Status::Failed && r.gate).map(|r| r.result["msg"].as_str().unwrap_or_default().to_string()).collect()
}

async fn sh(lab: &TestLab, host: &str, script: &str) -> String {
    let (code, out) = lab.docker_exec(host, script).await;
    assert_eq!(code, 0, "{host}: {script}: {out}");
    out
}

/// Put `data` at `path` on a host (docker exec, not hlprov).
async fn put(lab: &TestLab, host: &str, path: &str, data: &[u8]) {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(data);
    sh(lab, host, &format!("mkdir -p \"$(dirname '{path}')\" && printf '%s' '{b64}' | base64 -d > '{path}'")).await;
}

fn fixture(rel: &str) -> String {
    std::fs::read_to_string(repo("tests/fixtures/k8s").join(rel)).unwrap()
}

/// The lab's three hosts as inventory/lab/groups.yml makes them: h1 the server, h2 and h3 agents.
const LAB_GROUPS: &str = "all: {}\n";

fn staged(art: &Path) -> Value {
    json!({"k3s_artifacts_dir": art, "k3s_start": false, "k3s_kubeconfig_dest": ""})
}

#[tokio::test(flavor = "multi_thread")]
async fn k3s_is_staged_from_verified_files_node_by_node_changes_nothing_twice_and_reset_removes_it_all() {
    let lab = TestLab::start(3).await;
    let dir = tempfile::tempdir().unwrap();
    let art = dir.path().join("artifacts");
    artifacts(&art, &[OLD, NEW]);
    let inv = secret_inventory(dir.path(), LAB_GROUPS, "");
    // inventory/lab: the example's groups (h1 server, h2 and h3 agents) and lab settings (k3s_node_ip).
    let inv = lab_inventory(dir.path(), &inv);

    // Commands of the nodes' own are left alone: a kubectl elsewhere in PATH on h2, a crictl file in the bin folder on h3.
    sh(&lab, "h2", "printf '#!/bin/sh\\necho distro kubectl\\n' > /usr/bin/kubectl && chmod 755 /usr/bin/kubectl").await;
    sh(&lab, "h3", "printf '#!/bin/sh\\necho own crictl\\n' > /usr/local/bin/crictl && chmod 755 /usr/local/bin/crictl").await;

    // Servers, then agents; k3s is staged, not started, and each gate says so.
    let servers = run(&lab, "playbooks/site.yml", &inv, staged(&art), only("k3s_servers"), false).await;
    assert!(task_failures(&servers).is_empty(), "{:#?}", task_failures(&servers));
    assert_eq!(gate_failures(&servers), ["k3s.service is inactive on h1 (k3s_start is false: k3s was staged, not started)."]);
    let agents = run(&lab, "playbooks/site.yml", &inv, staged(&art), only("k3s_agents"), false).await;
    assert!(task_failures(&agents).is_empty(), "{:#?}", task_failures(&agents));
    let mut said = gate_failures(&agents);
    said.sort();
    assert_eq!(
        said,
        [
            "k3s-agent.service is inactive on h2 (k3s_start is false: k3s was staged, not started).",
            "k3s-agent.service is inactive on h3 (k3s_start is false: k3s was staged, not started)."
        ]
    );
    // Agents take their turns one after another: every task of h2's turn before any of h3's.
    let turns: Vec<String> =
        agents.results().iter().filter(|r| r.location.contains("node.yml") || r.location.contains("install.yml")).map(|r| r.host.clone()).collect();
    let first_h3 = turns.iter().position(|h| h == "h3").expect("h3 had a turn");
    assert!(turns[..first_h3].iter().all(|h| h == "h2") && turns[first_h3..].iter().all(|h| h == "h3"), "{turns:?}");

    // The hosts, read without hlprov.
    let (bin_sha, images_sha) = (file_sha(&art, NEW, "k3s"), file_sha(&art, NEW, "k3s-airgap-images-amd64.tar.zst"));
    let h1_addr = lab.host("h1").address.clone();
    for (h, service, server) in [("h1", "k3s", true), ("h2", "k3s-agent", false), ("h3", "k3s-agent", false)] {
        let modes = sh(
            &lab,
            h,
            &format!(
                "stat -c '%n %a %U' /usr/local/bin/k3s /usr/local/bin/k3s-killall.sh /usr/local/bin/{service}-uninstall.sh /etc/rancher/k3s/config.yaml /etc/rancher/k3s/token \
                 /etc/systemd/system/{service}.service /etc/systemd/system/{service}.service.env /var/lib/rancher/k3s/agent/images/k3s-airgap-images-amd64.tar.zst"
            ),
        )
        .await;
        let expected = format!(
            "/usr/local/bin/k3s 755 root\n/usr/local/bin/k3s-killall.sh 755 root\n/usr/local/bin/{service}-uninstall.sh 755 root\n/etc/rancher/k3s/config.yaml 600 root\n\
             /etc/rancher/k3s/token 600 root\n/etc/systemd/system/{service}.service 644 root\n/etc/systemd/system/{service}.service.env 600 root\n\
             /var/lib/rancher/k3s/agent/images/k3s-airgap-images-amd64.tar.zst 644 root\n"
        );
        assert_eq!(modes, expected, "{h}");
        assert_eq!(sh(&lab, h, "sha256sum < /usr/local/bin/k3s | cut -c1-64").await.trim(), bin_sha, "{h}: the release's binary");
        assert_eq!(
            sh(&lab, h, "sha256sum < /var/lib/rancher/k3s/agent/images/k3s-airgap-images-amd64.tar.zst | cut -c1-64").await.trim(),
            images_sha
        );
        let links = sh(&lab, h, "for c in kubectl crictl ctr; do printf '%s=%s\\n' $c \"$(readlink /usr/local/bin/$c || echo -)\"; done").await;
        let want = match h {
            "h2" => "kubectl=-\ncrictl=k3s\nctr=k3s\n",
            "h3" => "kubectl=k3s\ncrictl=-\nctr=k3s\n",
            _ => "kubectl=k3s\ncrictl=k3s\nctr=k3s\n",
        };
        assert_eq!(links, want, "{h}: links only where the node has no command of its own");
        // The unit is byte for byte what install.sh writes (rendered by install.sh's own functions); the env file
        // is empty, as install.sh leaves it when no K3S_* variables are set.
        let unit = sh(&lab, h, &format!("cat /etc/systemd/system/{service}.service")).await;
        let want = if server { fixture("k3s/k3s.service.server-no-args.rendered") } else { fixture("k3s/k3s-agent.service.rendered") };
        assert_eq!(unit, want, "{h}: unit");
        assert_eq!(sh(&lab, h, &format!("wc -c < /etc/systemd/system/{service}.service.env")).await.trim(), "0");
        // config.yaml: no token in it (token-file), the join address on agents.
        let text = sh(&lab, h, "cat /etc/rancher/k3s/config.yaml").await;
        assert!(!text.contains(TOKEN), "{h}: the token is in config.yaml");
        let cfg = hlprov::yaml::load_one(&text, "config.yaml").unwrap().to_value();
        assert_eq!(cfg["token-file"], "/etc/rancher/k3s/token");
        assert_eq!(cfg["node-name"], h);
        assert_eq!(cfg["node-ip"], lab.host(h).address.as_str());
        assert_eq!(cfg["snapshotter"], "overlayfs", "{h}: no ZFS here");
        if server {
            assert_eq!((cfg.get("cluster-init"), cfg.get("server")), (None, None), "a single server starts the cluster on sqlite: {cfg}");
            assert_eq!(
                (cfg["cluster-cidr"].as_str(), cfg["service-cidr"].as_str(), cfg["flannel-backend"].as_str()),
                (Some("10.42.0.0/16"), Some("10.43.0.0/16"), Some("vxlan"))
            );
            assert_eq!(cfg["write-kubeconfig-mode"], "0600");
        } else {
            assert_eq!(cfg["server"], format!("https://{h1_addr}:6443"), "{h}");
            assert!(cfg.get("cluster-cidr").is_none(), "{h}: server-only keys on an agent: {cfg}");
        }
        assert_eq!(sh(&lab, h, "cat /etc/rancher/k3s/token").await, TOKEN, "{h}");
        // Staged means not started and not enabled.
        assert_eq!(lab.docker_exec(h, &format!("systemctl is-enabled {service}")).await.1.trim(), "disabled");
    }
    let said = serde_json::to_string(&[&servers.events, &agents.events]).unwrap();
    assert!(!said.contains(TOKEN), "the token reached the output");

    // A second run changes nothing.
    for phase in ["k3s_servers", "k3s_agents"] {
        let again = run(&lab, "playbooks/site.yml", &inv, staged(&art), only(phase), false).await;
        assert!(task_failures(&again).is_empty(), "{phase}: {:#?}", task_failures(&again));
        for (host, stats) in &again.summary.stats {
            let changed: Vec<String> =
                again.results().iter().filter(|r| r.host == *host && r.status == Status::Changed).map(|r| r.task.clone()).collect();
            assert_eq!(stats.changed, 0, "{phase}: {host} changed on the second run: {changed:?}");
        }
    }

    // A binary that does not match the release's checksum file is refused before any node gets it.
    let good = std::fs::read(art.join(NEW).join("k3s")).unwrap();
    std::fs::write(art.join(NEW).join("k3s"), b"#!/bin/sh\n# tampered\n").unwrap();
    let refused = run(
        &lab,
        "playbooks/site.yml",
        &inv,
        json!({"k3s_artifacts_dir": art, "k3s_start": false, "k3s_kubeconfig_dest": "", "k3s_node_labels": ["changed=yes"]}),
        only("k3s_servers"),
        false,
    )
    .await;
    let why = task_failures(&refused).join("\n");
    assert!(
        why.contains(&format!("has sha256 {}, but sha256sum-amd64.txt says {bin_sha}", sha256(b"#!/bin/sh\n# tampered\n")))
            && why.contains("nothing on any node was replaced"),
        "{why}"
    );
    assert_ne!(refused.summary.exit_code, 0);
    assert_eq!(sh(&lab, "h1", "sha256sum < /usr/local/bin/k3s | cut -c1-64").await.trim(), bin_sha, "nothing was replaced");
    assert!(!sh(&lab, "h1", "cat /etc/rancher/k3s/config.yaml").await.contains("changed=yes"), "nothing ran after the refusal");
    std::fs::write(art.join(NEW).join("k3s"), &good).unwrap();

    // From a mirror the hosts download from: a corrupt download is refused by its checksum and replaces nothing;
    // a good one replaces the binary (here: the older release, a version change like any other).
    let old_sha = file_sha(&art, OLD, "k3s");
    // Hosts download with curl (roles/base installs it; this test does not run base).
    sh(&lab, "h1", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl >/dev/null 2>&1; command -v curl").await;
    for h in ["h1", "h2", "h3"] {
        for f in ["k3s", "sha256sum-amd64.txt", "k3s-airgap-images-amd64.tar.zst"] {
            put(&lab, h, &format!("/srv/mirror/{OLD}/{f}"), &std::fs::read(art.join(OLD).join(f)).unwrap()).await;
        }
        put(&lab, h, &format!("/srv/mirror/{OLD}/k3s"), b"#!/bin/sh\n# corrupt\n").await;
    }
    let mirror = json!({"k3s_mirror_url": "file:///srv/mirror", "k3s_version": OLD, "k3s_start": false, "k3s_kubeconfig_dest": ""});
    let corrupt = run(&lab, "playbooks/site.yml", &inv, mirror.clone(), only("k3s_servers"), false).await;
    let why = task_failures(&corrupt).join("\n");
    assert!(why.contains("h1") && why.contains("did not match"), "{why}");
    assert_eq!(sh(&lab, "h1", "sha256sum < /usr/local/bin/k3s | cut -c1-64").await.trim(), bin_sha, "a corrupt download replaced nothing");
    put(&lab, "h1", &format!("/srv/mirror/{OLD}/k3s"), &std::fs::read(art.join(OLD).join("k3s")).unwrap()).await;
    let fetched = run(&lab, "playbooks/site.yml", &inv, mirror, only("k3s_servers"), false).await;
    assert!(task_failures(&fetched).is_empty(), "{:#?}", task_failures(&fetched));
    assert_eq!(sh(&lab, "h1", "sha256sum < /usr/local/bin/k3s | cut -c1-64").await.trim(), old_sha);

    // The rest of the lab at the older release too, from the controller's folder; then the upgrade plan.
    let old = json!({"k3s_artifacts_dir": art, "k3s_version": OLD, "k3s_start": false, "k3s_kubeconfig_dest": ""});
    let staged_old = run(&lab, "playbooks/site.yml", &inv, old, only("k3s_agents"), false).await;
    assert!(task_failures(&staged_old).is_empty(), "{:#?}", task_failures(&staged_old));
    let snapshot = "find /etc/rancher /etc/systemd/system /usr/local/bin /var/lib/rancher -newer /etc/hostname 2>/dev/null | sort | xargs -r sha256sum 2>/dev/null; ls -l --time-style=+%s /usr/local/bin";
    let mut before = Vec::new();
    for h in ["h1", "h2", "h3"] {
        before.push(sh(&lab, h, snapshot).await);
    }
    let mut plan = Vec::new();
    for phase in ["k3s_servers", "k3s_agents"] {
        let p = run(
            &lab,
            "playbooks/site.yml",
            &inv,
            json!({"k3s_artifacts_dir": art, "k3s_start": false, "k3s_kubeconfig_dest": ""}),
            only(phase),
            true,
        )
        .await;
        assert!(task_failures(&p).is_empty(), "{phase}: {:#?}", task_failures(&p));
        plan.extend(p.results());
    }
    for (i, h) in ["h1", "h2", "h3"].iter().enumerate() {
        assert_eq!(sh(&lab, h, snapshot).await, before[i], "{h} changed in check mode");
    }
    let steps: Vec<(String, String)> = plan
        .iter()
        .filter(|r| r.task.contains("What happens to k3s on"))
        .map(|r| (r.host.clone(), r.result["msg"].as_str().unwrap_or_default().to_string()))
        .collect();
    assert_eq!(
        steps.iter().map(|(h, _)| h.as_str()).collect::<Vec<_>>(),
        ["h1", "h2", "h3"],
        "servers first, then agents, one at a time: {steps:#?}"
    );
    for (h, msg) in &steps {
        assert!(msg.starts_with(&format!("replace the binary with k3s {NEW} (sha256 {} → {})", &old_sha[..12], &bin_sha[..12])), "{h}: {msg}");
    }
    let replaced: Vec<&str> =
        plan.iter().filter(|r| r.task.contains("The k3s binary (verified") && r.status == Status::Changed).map(|r| r.host.as_str()).collect();
    assert_eq!(replaced, ["h1", "h2", "h3"]);

    // Reset: refused without the confirmation, everything removed with it, nothing left to do the second time.
    let refused = run(&lab, "playbooks/k3s-reset.yml", &inv, json!({"k3s_kubeconfig_dest": ""}), PhaseSelection::All, false).await;
    assert!(task_failures(&refused).join("\n").contains("Run again with -e k3s_reset_confirm=yes"), "{:#?}", task_failures(&refused));
    sh(&lab, "h2", "test -x /usr/local/bin/k3s && test -d /var/lib/rancher/k3s").await;
    let reset =
        run(&lab, "playbooks/k3s-reset.yml", &inv, json!({"k3s_reset_confirm": "yes", "k3s_kubeconfig_dest": ""}), PhaseSelection::All, false).await;
    assert!(task_failures(&reset).is_empty(), "{:#?}", task_failures(&reset));
    for h in ["h1", "h2", "h3"] {
        let left = sh(
            &lab,
            h,
            "for p in /usr/local/bin/k3s /usr/local/bin/kubectl /usr/local/bin/crictl /usr/local/bin/ctr /usr/local/bin/k3s-killall.sh /usr/local/bin/k3s-uninstall.sh \
             /usr/local/bin/k3s-agent-uninstall.sh /etc/systemd/system/k3s.service /etc/systemd/system/k3s.service.env /etc/systemd/system/k3s-agent.service \
             /etc/systemd/system/k3s-agent.service.env /etc/rancher /var/lib/rancher /var/lib/kubelet /run/k3s /var/lib/cni; do [ -e $p ] || [ -L $p ] && echo $p; done; true",
        )
        .await;
        assert_eq!(left, if h == "h3" { "/usr/local/bin/crictl\n" } else { "" }, "{h}: left behind");
    }
    assert_eq!(sh(&lab, "h3", "/usr/local/bin/crictl").await, "own crictl\n", "the node's own crictl is kept");
    assert_eq!(sh(&lab, "h2", "kubectl").await, "distro kubectl\n");
    let again =
        run(&lab, "playbooks/k3s-reset.yml", &inv, json!({"k3s_reset_confirm": "yes", "k3s_kubeconfig_dest": ""}), PhaseSelection::All, false).await;
    assert!(task_failures(&again).is_empty(), "{:#?}", task_failures(&again));
    assert_eq!(
        again.total_changed(),
        0,
        "{:#?}",
        again.results().iter().filter(|r| r.status == Status::Changed).map(|r| &r.task).collect::<Vec<_>>()
    );
}

/// Two servers (embedded etcd): the values k3s requires to be identical are checked before anything runs, a
/// server's data made with another token is refused, and a server that holds the cluster's data starts it
/// while the first server, rebuilt empty, joins it instead of starting a second cluster.
#[tokio::test(flavor = "multi_thread")]
async fn servers_agree_before_anything_runs_and_an_empty_first_server_joins_the_one_with_the_data() {
    let lab = TestLab::start(2).await;
    let dir = tempfile::tempdir().unwrap();
    let art = dir.path().join("artifacts");
    artifacts(&art, &[NEW]);
    let groups = "all:\n  children:\n    k3s_cluster:\n      children:\n        k3s_servers:\n          hosts:\n            h1:\n            h2:\n";
    let inv = secret_inventory(dir.path(), groups, "k3s_node_ip: \"{{ lab_address }}\"\n");
    std::fs::create_dir_all(inv.join("host_vars")).unwrap();

    std::fs::write(inv.join("host_vars/h2.yml"), "k3s_flannel_backend: wireguard-native\nk3s_cluster_cidr: 10.52.0.0/16\n").unwrap();
    let r = run(&lab, "playbooks/site.yml", &inv, staged(&art), only("k3s_servers"), false).await;
    let why = task_failures(&r).join("\n");
    assert!(
        why.contains("cluster-cidr: h1 has 10.42.0.0/16, h2 has 10.52.0.0/16")
            && why.contains("flannel-backend: h1 has vxlan, h2 has wireguard-native"),
        "{why}"
    );
    for h in ["h1", "h2"] {
        assert_ne!(lab.docker_exec(h, "test -e /etc/rancher/k3s").await.0, 0, "{h}: something was written");
    }

    // The same values, but h2 holds cluster data encrypted with another token (stand-in files in k3s's layout).
    std::fs::write(inv.join("host_vars/h2.yml"), "{}\n").unwrap();
    let other = format!("K10{}::server:another-token-0123456789", "ab".repeat(32));
    sh(&lab, "h2", &format!("mkdir -p /var/lib/rancher/k3s/server/db && printf '%s\\n' '{other}' > /var/lib/rancher/k3s/server/token")).await;
    let r = run(&lab, "playbooks/site.yml", &inv, staged(&art), only("k3s_servers"), false).await;
    let why = task_failures(&r).join("\n");
    assert!(why.contains("h2: the cluster data in /var/lib/rancher/k3s/server is encrypted with another token than k3s_token"), "{why}");
    assert!(!why.contains("another-token") && !serde_json::to_string(&r.events).unwrap().contains("another-token"), "the other token was shown");
    assert_ne!(lab.docker_exec("h1", "test -e /etc/rancher/k3s").await.0, 0, "h1 was changed");

    // Run on h1 alone while h2 may hold the data: h1 must not start a second cluster.
    let limited = {
        let pb = hlprov::playbook::load(&repo("playbooks/site.yml"), &Default::default()).unwrap();
        let mut inventory = hlprov::inventory::Inventory::load(&[lab.inventory(""), inv.clone()]).unwrap();
        inventory.add_playbook_vars_dir(&pb.dir).unwrap();
        let collector = Arc::new(hlprov::report::Collector::default());
        let reporter = hlprov::report::Reporter::new(vec![collector.clone()]);
        let opts = RunOptions {
            phases: only("k3s_servers"),
            limit: Some("h1".into()),
            extra_vars: staged(&art).as_object().cloned().unwrap(),
            ..Default::default()
        };
        let summary = hlprov::exec::run_playbook(Arc::new(pb), Arc::new(inventory), opts, reporter).await.unwrap();
        let events = collector.events.lock().unwrap().clone();
        Applied { summary, events }
    };
    let why = task_failures(&limited).join("\n");
    assert!(why.contains("h1 would start a new cluster") && why.contains("h2 is not in this run"), "{why}");
    assert_ne!(lab.docker_exec("h1", "test -e /etc/rancher/k3s").await.0, 0);

    // With the cluster's token: h2 (which holds the data) starts the cluster, h1 joins it.
    sh(&lab, "h2", &format!("printf '%s\\n' 'K10{}::server:{TOKEN}' > /var/lib/rancher/k3s/server/token", "cd".repeat(32))).await;
    let r = run(&lab, "playbooks/site.yml", &inv, staged(&art), only("k3s_servers"), false).await;
    assert!(task_failures(&r).is_empty(), "{:#?}", task_failures(&r));
    let cfg = |text: String| hlprov::yaml::load_one(&text, "config.yaml").unwrap().to_value();
    let h1 = cfg(sh(&lab, "h1", "cat /etc/rancher/k3s/config.yaml").await);
    let h2 = cfg(sh(&lab, "h2", "cat /etc/rancher/k3s/config.yaml").await);
    assert_eq!(h2.get("cluster-init"), Some(&json!(true)), "{h2}");
    assert_eq!(h2.get("server"), None);
    assert_eq!(h1.get("cluster-init"), None, "{h1}");
    assert_eq!(h1["server"], format!("https://{}:6443", lab.host("h2").address));
    let plan: Vec<String> = r
        .results()
        .iter()
        .filter(|x| x.task.contains("What happens to k3s"))
        .map(|x| format!("{} {}", x.host, x.result["msg"].as_str().unwrap_or_default()))
        .collect();
    // The server that starts the cluster takes the first turn, whatever the inventory's order.
    assert!(plan[0].starts_with(&format!("h2 install k3s {NEW} (server, starts the cluster)")), "{plan:?}");
    assert!(plan[1].starts_with(&format!("h1 install k3s {NEW} (server, joins https://{}:6443)", lab.host("h2").address)), "{plan:?}");

    // During a token rotation the old token is accepted as k3s_token_previous, and only then.
    sh(&lab, "h2", &format!("printf '%s\\n' '{other}' > /var/lib/rancher/k3s/server/token")).await;
    let mut rotating = staged(&art);
    rotating["k3s_token_previous"] = json!("another-token-0123456789");
    let r = run(&lab, "playbooks/site.yml", &inv, rotating, only("k3s_servers"), false).await;
    assert!(task_failures(&r).is_empty(), "{:#?}", task_failures(&r));
    let r = run(&lab, "playbooks/site.yml", &inv, staged(&art), only("k3s_servers"), false).await;
    assert!(task_failures(&r).join("\n").contains("encrypted with another token"), "{:#?}", task_failures(&r));
}

/// The kubeconfig for the user: read from the first server (a stand-in for the file k3s writes, in k3s's shape),
/// written on the controller with mode 0600, the server URL rewritten to the API address and the names set to
/// the cluster's, parsed by the real kubectl; never shown, and a second run changes nothing.
#[tokio::test(flavor = "multi_thread")]
async fn the_kubeconfig_reaches_the_controller_0600_with_the_api_address_and_is_never_shown() {
    let lab = TestLab::start(1).await;
    let composed = std::fs::read_to_string(repo("tests/fixtures/k8s/k3s/k3s.yaml.composed")).unwrap();
    put(&lab, "h1", "/etc/rancher/k3s/k3s.yaml", composed.as_bytes()).await;
    let key_data = composed.lines().find_map(|l| l.trim().strip_prefix("client-key-data: ")).unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("kube/homelab.yaml");
    let inv = lab.inventory(&format!(
        "  children:\n    k3s_servers:\n      hosts:\n        h1:\n      vars:\n        k3s_api_endpoint: k3s.lab.example\n        k3s_cluster_name: homelab\n        k3s_kubeconfig_dest: {}\n",
        dest.display()
    ));
    let playbook = "- hosts: k3s_servers\n  gather_facts: false\n  become: true\n  tasks:\n    - import_role:\n        name: k3s\n        tasks_from: kubeconfig\n";
    let opts = || RunOptions { diff: true, ..Default::default() };
    let pb_dir = dir.path().join("playbook");
    std::fs::create_dir_all(&pb_dir).unwrap();
    std::os::unix::fs::symlink(repo("roles"), pb_dir.join("roles")).unwrap();
    let first = common::apply_in(&pb_dir, &inv, &[("fetch.yml", playbook)], "fetch.yml", opts()).await.unwrap();
    assert_eq!(
        first.summary.exit_code,
        0,
        "{:#?}",
        first
            .results()
            .iter()
            .filter(|r| r.status != Status::Ok && r.status != Status::Changed && r.status != Status::Skipped)
            .map(|r| format!("{} {}", r.task, r.result))
            .collect::<Vec<_>>()
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&dest).unwrap().permissions().mode() & 0o777, 0o600);
    let out =
        std::process::Command::new("kubectl").args(["config", "view", "--raw", "-o", "json", "--kubeconfig"]).arg(&dest).output().expect("kubectl");
    assert!(out.status.success(), "kubectl refused it: {}", String::from_utf8_lossy(&out.stderr));
    let k: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(k["current-context"], "homelab");
    assert_eq!(k["clusters"][0]["name"], "homelab");
    assert_eq!(k["clusters"][0]["cluster"]["server"], "https://k3s.lab.example:6443");
    assert_eq!(k["contexts"][0]["context"], json!({"cluster": "homelab", "user": "homelab"}));
    assert_eq!(k["users"][0]["user"]["client-key-data"], key_data.as_str(), "credentials kept as k3s wrote them");
    let said = serde_json::to_string(&first.events).unwrap();
    assert!(!said.contains(&key_data) && !said.contains("stand-in client key"), "the kubeconfig was shown");
    let second = common::apply_in(&pb_dir, &inv, &[("fetch.yml", playbook)], "fetch.yml", opts()).await.unwrap();
    assert_eq!(second.total_changed(), 0);
}
