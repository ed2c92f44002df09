//! playbooks/site.yml on a fresh 3-host lab: converge, a second run with changed=0 on every host, every gate
//! passing, and `--check --diff` on fresh hosts showing the whole plan while changing nothing. Host state is read
//! back with docker exec. (The lab's hosts are containers: kernel modules, sysctls and iscsid are the host
//! kernel's there; the roles report that and the real-VM path in vagrant/ checks them strictly.) k3s cannot run
//! here (no k3s binary can be had on this machine): the real runs cover the phases up to longhorn_prereqs, the
//! k3s phases' host side is tested in k3s_role.rs, and the check-mode run plans every phase, k3s included, with
//! stand-in release files and a SOPS-encrypted token.

mod common;
mod k3s_support;

use std::path::{Path, PathBuf};

use common::{Applied, TestLab};
use hlprov::exec::{PhaseSelection, RunOptions};
use hlprov::report::{Event, PhaseStatus, Status};

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// The phases that can run for real on container hosts (k3s cannot: see the top of this file).
fn up_to_longhorn() -> PhaseSelection {
    PhaseSelection::Only { phase: "longhorn_prereqs".into(), with_deps: true }
}

async fn site(lab: &TestLab, opts: RunOptions) -> Applied {
    site_with(lab, &repo("inventory/lab"), opts).await
}

async fn site_with(lab: &TestLab, inventory: &Path, opts: RunOptions) -> Applied {
    common::apply_site(&[lab.inventory(""), inventory.to_path_buf()], opts).await
}

#[tokio::test(flavor = "multi_thread")]
async fn site_converges_a_fresh_lab_up_to_longhorn_then_changes_nothing_and_those_gates_pass() {
    let lab = TestLab::start(3).await;
    // h3 has multipathd installed: Longhorn's blacklist must appear there, and only there.
    lab.sh("h3", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq multipath-tools >/dev/null 2>&1; dpkg -s multipath-tools >/dev/null").await;

    let first = site(&lab, RunOptions { phases: up_to_longhorn(), ..Default::default() }).await;
    assert_eq!(first.summary.exit_code, 0, "{:#?}", first.failures());
    for phase in ["base", "longhorn_prereqs"] {
        assert_eq!(first.summary.record.phase(phase).and_then(|p| p.status), Some(PhaseStatus::Passed), "{phase}");
    }
    assert!(first.total_changed() > 0);

    // The hosts, read independently.
    for h in ["h1", "h2", "h3"] {
        let pkgs =
            lab.sh(h, "dpkg-query -W -f='${Package} ${db:Status-Status}\\n' curl ca-certificates gnupg jq nfs-common open-iscsi tzdata sudo").await;
        assert_eq!(pkgs.lines().filter(|l| l.ends_with(" installed")).count(), 8, "{h}: {pkgs}");
        assert_eq!(lab.sh(h, "cat /etc/modules-load.d/hlprov-k3s.conf | grep -v '^#'").await, "overlay\nbr_netfilter\n");
        let sysctl = lab.sh(h, "cat /etc/sysctl.d/90-hlprov-k3s.conf").await;
        for kv in ["net.ipv4.ip_forward", "net.bridge.bridge-nf-call-iptables", "net.bridge.bridge-nf-call-ip6tables"] {
            assert!(sysctl.lines().any(|l| l.replace(' ', "") == format!("{kv}=1")), "{h}: {sysctl}");
        }
        assert_eq!(lab.sh(h, "readlink /etc/localtime; cat /etc/timezone").await, "/usr/share/zoneinfo/Europe/Berlin\nEurope/Berlin\n");
        assert!(lab.sh(h, "id -nG homelab").await.split_whitespace().any(|g| g == "sudo"));
        assert!(lab.sh(h, "cat /home/homelab/.ssh/authorized_keys").await.contains("lab@hlprov"));
        assert_eq!(lab.sh(h, "stat -c %a /etc/sudoers.d/90-hlprov-homelab; visudo -c >/dev/null && echo valid").await, "440\nvalid\n");
        let sshd = lab.sh(h, "/usr/sbin/sshd -T").await;
        assert!(sshd.lines().any(|l| l == "passwordauthentication no") && sshd.lines().any(|l| l == "permitrootlogin without-password"), "{h}");
    }
    for h in ["h2", "h3"] {
        assert_eq!(lab.sh(h, "systemctl is-enabled iscsid").await.trim(), "enabled");
        assert_eq!(lab.sh(h, "grep -v '^#' /etc/modules-load.d/hlprov-longhorn.conf").await, "iscsi_tcp\ndm_crypt\n");
        lab.sh(h, "dpkg -s cryptsetup nfs-common >/dev/null").await;
    }
    assert!(lab.sh("h3", "cat /etc/multipath.conf").await.contains("devnode \"^sd[a-z0-9]+\""));
    assert_ne!(lab.docker_exec("h2", "test -e /etc/multipath.conf").await.0, 0, "no multipathd on h2, no blacklist");
    assert_ne!(lab.docker_exec("h1", "test -e /etc/modules-load.d/hlprov-longhorn.conf").await.0, 0, "h1 is not a storage node");
    // What the container's kernel refuses is said, not hidden.
    let said = serde_json::to_string(&first.events).unwrap();
    assert!(said.contains("kernel is the host's: modules overlay, br_netfilter cannot be loaded"), "container boundary reported");

    let second = site(&lab, RunOptions { phases: up_to_longhorn(), ..Default::default() }).await;
    assert_eq!(second.summary.exit_code, 0, "{:#?}", second.failures());
    for (host, stats) in &second.summary.stats {
        assert_eq!(
            stats.changed,
            0,
            "{host} changed on the second run: {:#?}",
            second.results().iter().filter(|r| r.host == *host && r.status == Status::Changed).map(|r| &r.task).collect::<Vec<_>>()
        );
    }

    // `hlprov verify site`: the gates of what ran pass; k3s's gate says, host by host, that k3s is not there.
    let verify = site(&lab, RunOptions { phases: PhaseSelection::VerifyOnly, ..Default::default() }).await;
    let gates: Vec<(&String, bool)> = verify
        .events
        .iter()
        .filter_map(|e| match e {
            Event::GateEnd { phase, passed, .. } => Some((phase, *passed)),
            _ => None,
        })
        .collect();
    assert!(gates.contains(&(&"base".to_string(), true)) && gates.contains(&(&"longhorn_prereqs".to_string(), true)), "{gates:?}");
    assert!(gates.contains(&(&"k3s_servers".to_string(), false)), "{gates:?}");
    assert!(verify.failures().iter().any(|f| f.starts_with("h1 ") && f.contains("k3s.service is inactive on h1")), "{:#?}", verify.failures());
    assert_eq!(verify.summary.exit_code, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn check_diff_on_a_fresh_lab_shows_the_plan_and_changes_nothing() {
    let lab = TestLab::start(3).await;
    let snapshot =
        "find /etc /home /var/lib /usr/sbin /usr/local/bin -xdev -newer /etc/hostname 2>/dev/null | sort; getent passwd homelab; dpkg -l | wc -l";
    let mut before = Vec::new();
    for h in ["h1", "h2", "h3"] {
        before.push(lab.sh(h, snapshot).await);
    }
    // The k3s phases need the cluster's token (SOPS) and the release's files (stand-ins here).
    let dir = tempfile::tempdir().unwrap();
    let art = dir.path().join("artifacts");
    k3s_support::artifacts(&art, &[k3s_support::NEW]);
    let secret = k3s_support::secret_inventory(dir.path(), "all: {}\n", "");
    let inventory = k3s_support::lab_inventory(dir.path(), &secret);
    // One app (a Deployment and its Service), to plan the apps phase too.
    let hello = dir.path().join("apps/hello");
    std::fs::create_dir_all(&hello).unwrap();
    std::fs::write(hello.join("app.yml"), "namespace: hello\n").unwrap();
    std::fs::write(
        hello.join("hello.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: hello}\nspec:\n  selector: {matchLabels: {app: hello}}\n  template:\n    \
         metadata: {labels: {app: hello}}\n    spec: {containers: [{name: hello, image: nginx:1.29}]}\n---\napiVersion: v1\nkind: Service\n\
         metadata: {name: hello}\nspec: {selector: {app: hello}, ports: [{port: 80}]}\n",
    )
    .unwrap();
    let extra_vars = serde_json::json!({
        "k3s_artifacts_dir": art,
        "k3s_kubeconfig_dest": dir.path().join("kubeconfig.yaml"),
        "sops_keys_sops_yaml": dir.path().join(".sops.yaml"),
        "apps": ["hello"],
        "apps_dir": dir.path().join("apps"),
    })
    .as_object()
    .cloned()
    .unwrap();
    let plan = site_with(&lab, &inventory, RunOptions { check: true, diff: true, extra_vars, ..Default::default() }).await;
    assert_eq!(plan.summary.exit_code, 0, "{:#?}", plan.failures());
    for (i, h) in ["h1", "h2", "h3"].iter().enumerate() {
        assert_eq!(lab.sh(h, snapshot).await, before[i], "{h} changed in check mode");
    }
    // The plan covers both phases and shows diffs for the files it would write.
    let changed: Vec<String> = plan.results().iter().filter(|r| r.status == Status::Changed && r.host == "h2").map(|r| r.task.clone()).collect();
    for task in [
        "base : Install base packages",
        "base : Harden sshd",
        "base : Admin user",
        "longhorn_prereqs : Install what Longhorn needs",
        "longhorn_prereqs : Load Longhorn's kernel modules at boot",
    ] {
        assert!(changed.iter().any(|t| t == task), "plan misses {task}: {changed:#?}");
    }
    let sshd = plan.results().into_iter().find(|r| r.host == "h1" && r.task == "base : Harden sshd").unwrap();
    assert!(sshd.diffs.iter().any(|d| d.after.contains("PasswordAuthentication no")));
    // k3s: every node's configuration, unit and binary, servers then agents; the token in no output.
    for (h, unit) in [
        ("h1", "ExecStart=/usr/local/bin/k3s \\\n    server \\\n"),
        ("h2", "ExecStart=/usr/local/bin/k3s \\\n    agent \\\n"),
        ("h3", "    agent \\\n"),
    ] {
        let of = |task: &str| plan.results().into_iter().find(|r| r.host == h && r.task == task).unwrap_or_else(|| panic!("{h}: no {task}"));
        let config = of("k3s : k3s configuration (config.yaml)");
        assert_eq!(config.status, Status::Changed);
        assert!(
            config.diffs.iter().any(|d| d.after.contains("token-file: /etc/rancher/k3s/token") && d.after.contains(&format!("node-name: {h}"))),
            "{h}: {:?}",
            config.diffs
        );
        let systemd_unit = of("k3s : Systemd unit (as install.sh writes it)");
        assert!(systemd_unit.diffs.iter().any(|d| d.after.contains(unit)), "{h}: {:?}", systemd_unit.diffs);
        assert_eq!(of("k3s : The k3s binary (verified against sha256sum-amd64.txt before it replaces anything)").status, Status::Changed);
    }
    let h2_config = plan.results().into_iter().find(|r| r.host == "h2" && r.task == "k3s : k3s configuration (config.yaml)").unwrap();
    assert!(h2_config.diffs[0].after.contains(&format!("server: https://{}:6443", lab.host("h1").address)), "{:?}", h2_config.diffs);
    let events = serde_json::to_string(&plan.events).unwrap();
    assert!(!events.contains(k3s_support::TOKEN) && !events.contains(k3s_support::GRAFANA_PASSWORD), "a secret reached the output");
    // The cluster phases are planned up to the cluster, which check mode never starts: the objects they would
    // apply are shown (and checked against the schemas), and what needs the cluster says so.
    let on_h1 = |task: &str| plan.results().into_iter().find(|r| r.host == "h1" && r.task == task).unwrap_or_else(|| panic!("no {task}"));
    let pool = on_h1("metallb : The address pool and its L2 announcement");
    assert_eq!(pool.status, Status::Changed);
    assert!(pool.diffs.iter().any(|d| d.after.contains("- 10.77.0.240-10.77.0.250")), "{:?}", pool.diffs);
    assert!(pool.msg.as_deref().unwrap_or_default().contains("needs the cluster: k3s kubectl is not installed on h1 yet"), "{:?}", pool.msg);
    let servicelb = on_h1("metallb : k3s' own load balancer (ServiceLB) is disabled, or it and MetalLB would both answer");
    assert_eq!(servicelb.status, Status::Skipped, "{servicelb:?}");
    assert!(servicelb.msg.as_deref().unwrap_or_default().contains("not decided in check mode: metallb_k3s_servers"), "{servicelb:?}");
    // The app's objects, labelled as its own, in its namespace; applying and its gate need the cluster.
    let hello = on_h1("apps : hello: its objects, and nothing it no longer has");
    assert_eq!(hello.status, Status::Changed, "{hello:?}");
    assert!(
        hello.diffs.iter().any(|d| d.after_header.contains("deployment.apps/hello in namespace hello") && d.after.contains("hlprov.io/app: hello")),
        "{:?}",
        hello.diffs
    );
    assert!(hello.msg.as_deref().unwrap_or_default().contains("needs the cluster: k3s kubectl is not installed on h1 yet"), "{hello:?}");
    let gate = on_h1("apps : hello: rolled out, volumes bound, addresses given, ingress hosts answering");
    assert_ne!(gate.status, Status::Ok, "not a false ok: {gate:?}");
    assert!(gate.msg.as_deref().unwrap_or_default().contains("needs the cluster"), "{gate:?}");
    for phase in ["preflight", "metallb", "longhorn", "sops_keys", "monitoring", "apps"] {
        let p = plan.summary.record.phases.iter().find(|p| p.name == phase).unwrap_or_else(|| panic!("no phase {phase}"));
        assert_eq!(p.status, Some(PhaseStatus::Passed), "{phase}: {p:?}");
    }
}
