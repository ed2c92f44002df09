//! `hlprov render`: what a playbook would write for an inventory, with no host. What only a host can tell
//! (facts, results of tasks that must run there) is reported as such; a real mistake (a variable the inventory
//! lacks, a bad template) fails with its file and line, and the exit code says so.

use std::path::Path;
use std::process::Command;

fn render(dir: &Path, args: &[&str]) -> (i32, String) {
    render_with_key(dir, args, None)
}

/// `hlprov render`, with SOPS_AGE_KEY_FILE set to `key` (the example's secrets are encrypted to its key).
fn render_with_key(dir: &Path, args: &[&str], key: Option<&Path>) -> (i32, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hlprov"));
    cmd.arg("render").args(args).current_dir(dir).env("HLPROV_NO_LIVE", "1").env("NO_COLOR", "1").env_remove("HLPROV_INVENTORY");
    cmd.env_remove("SOPS_AGE_KEY").env_remove("SOPS_AGE_KEY_CMD").env("XDG_CONFIG_HOME", "/nonexistent-hlprov-test");
    match key {
        Some(k) => cmd.env("SOPS_AGE_KEY_FILE", k),
        None => cmd.env_remove("SOPS_AGE_KEY_FILE"),
    };
    let out = cmd.output().expect("run hlprov");
    (out.status.code().unwrap_or(-1), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// What an inventory keeps in SOPS, given as extra vars here: the k3s token, the cluster's age key (its
/// recipient in a .sops.yaml), Grafana's password; and stand-ins for the k3s release's files (render checks
/// them against their checksums; no k3s binary can be had on this machine).
fn secrets_and_artifacts(dir: &Path) -> String {
    let release = dir.join("v1.36.4+k3s1");
    std::fs::create_dir_all(&release).unwrap();
    let bin = b"#!/bin/sh\n# a stand-in for the k3s binary: not k3s\nexit 1\n";
    let images = b"stand-in images";
    std::fs::write(release.join("k3s"), bin).unwrap();
    std::fs::write(release.join("k3s-airgap-images-amd64.tar.zst"), images).unwrap();
    let sum = |b: &[u8]| {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(b))
    };
    std::fs::write(release.join("sha256sum-amd64.txt"), format!("{}  k3s\n{}  k3s-airgap-images-amd64.tar.zst\n", sum(bin), sum(images))).unwrap();
    let sops_yaml = dir.join(".sops.yaml");
    std::fs::write(&sops_yaml, format!("creation_rules:\n  - path_regex: .*\n    age: {AGE_RECIPIENT}\n")).unwrap();
    let extra = dir.join("secrets.yml");
    std::fs::write(
        &extra,
        format!(
            "k3s_token: render-test-token-0123456789\nk3s_artifacts_dir: {}\nsops_age_key: {AGE_KEY}\nsops_keys_sops_yaml: {}\n\
             monitoring_grafana_admin_password: render-test-grafana-pw\n",
            dir.display(),
            sops_yaml.display()
        ),
    )
    .unwrap();
    format!("@{}", extra.display())
}

/// A test identity (tests/fixtures/sops/keys/age-sops-mock.txt, from the SOPS project's test keys).
const AGE_KEY: &str = "AGE-SECRET-KEY-1RH87A5Z54ZGUR9S0AS3R6WHFSEFNPLYMAKF5Z2CEU7R06VRJ0A3Q7242AM";
const AGE_RECIPIENT: &str = "age1l44xcng8dqj32nlv6d930qvvrny05hglzcv9qpc7kxjc6902ma4qufys29";

/// The lab's own inventory as `hlprov lab up --hosts 3` writes it (connection and lab address), for the
/// inventory/lab groups.
fn lab_inventory(dir: &Path) -> String {
    let p = dir.join("lab.yml");
    let hosts: String =
        (1..=3).map(|n| format!("    h{n}: {{ansible_host: 127.0.0.1, ansible_port: {}, lab_address: 10.77.0.{}}}\n", 2200 + n, 10 + n)).collect();
    std::fs::write(&p, format!("all:\n  hosts:\n{hosts}")).unwrap();
    p.display().to_string()
}

const CLUSTER_PHASES: [&str; 5] = ["metallb", "longhorn", "sops_keys", "gpu_plugin", "monitoring"];

/// The example's secrets (inventory/example/group_vars/*/secrets.sops.yml, encrypted to the EXAMPLE key).
const EXAMPLE_SECRETS: [&str; 4] = [
    "example-k3s-token-2f9c41d7a0b64e5e8c13",
    "AGE-SECRET-KEY-1SCYDL3Z4TFES0HKPJX4G7262P6PM36VQCZMC236DXM3CRTNZ80UQ7M5QUG",
    "example-grafana-admin-9c2e",
    "0b3f0c1e-2c4d-4a2b-9c9d-5e6f7a8b9c0d",
];

/// Values in the example apps' SOPS files (apps/*/*.sops.yaml).
const EXAMPLE_APP_SECRETS: [&str; 2] = ["claim-EXAMPLEexampleEXAMPLE", "EXAMPLE-realdebrid-key-7f3a9c"];

#[test]
fn the_example_site_renders_without_hosts() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    // Only the k3s release's files are stand-ins; the secrets come from the example's SOPS files.
    secrets_and_artifacts(dir.path());
    let art = format!("k3s_artifacts_dir={}", dir.path().display());
    let key = root.join("inventory/example/example.agekey");
    let (code, out) = render_with_key(root, &["site", "-i", "inventory/example", "--diff", "-e", &art], Some(&key));
    assert_eq!(code, 0, "{out}");
    // The sshd hardening template of roles/base, rendered with the example's variables.
    assert!(out.contains("/etc/ssh/sshd_config.d/") && out.contains("PermitRootLogin"), "{out}");
    for phase in ["preflight", "proxmox_lxc", "base", "longhorn_prereqs", "k3s_servers", "k3s_agents"] {
        assert!(out.contains(&format!("PHASE [{phase}] Passed")), "{phase}: {out}");
    }
    // k3s: the agents' unit, from the example's variables. config.yaml needs a host (its snapshotter follows the
    // node's file system), and so does which server starts the cluster (what the servers hold).
    assert!(out.contains("/etc/systemd/system/k3s-agent.service") && out.contains("ExecStart=/usr/local/bin/k3s"), "{out}");
    assert!(out.contains("(needs a host: k3s_snapshotter_fact is known only when it runs there)"), "{out}");
    // The cluster phases: every object rendered and checked against the schemas (a failure would stop the
    // phase), the gates' cluster checks left to the cluster.
    for phase in CLUSTER_PHASES {
        assert!(out.contains(&format!("PHASE [{phase}] Passed")), "{phase}: {out}");
    }
    for shown in [
        "ipaddresspool.metallb.io/homelab in namespace metallb-system",
        "- 192.168.10.200-192.168.10.230",
        "helmchart.helm.cattle.io/longhorn in namespace kube-system",
        "recurringjob.longhorn.io/backup-daily in namespace longhorn-system",
        "setting.longhorn.io/default-replica-count in namespace longhorn-system",
        "secret/sops-age in namespace flux-system",
        "nodefeaturerule.nfd.k8s-sigs.io/intel-dp-devices",
        "daemonset.apps/intel-gpu-plugin in namespace kube-system",
        "prometheusrule.monitoring.coreos.com/homelab in namespace monitoring",
        "servicemonitor.monitoring.coreos.com/longhorn-manager in namespace monitoring",
        // The apps, each from its folder under apps/, labelled as hlprov's, in the app's namespace.
        "deployment.apps/prowlarr in namespace media",
        "image: lscr.io/linuxserver/prowlarr:1.37.0",
        "statefulset.apps/decypharr in namespace media",
        "cronjob.batch/recyclarr in namespace media",
        "deployment.apps/plex in namespace media",
        "gpu.intel.com/i915: '1'",
        "secret/sonarr-api-key in namespace media",
        "hlprov.io/app: sonarr",
    ] {
        assert!(out.contains(shown), "not rendered: {shown}\n{out}");
    }
    assert!(out.contains("gate of phase metallb:") && out.contains("need the hosts or the cluster"), "{out}");
    // No schema was missing for what the roles render.
    assert!(!out.contains("not checked: no schema"), "{out}");
    for phase in ["apps", "apps_gpu"] {
        assert!(out.contains(&format!("PHASE [{phase}] Passed")), "{phase}: {out}");
    }
    // Apps in order of their requires: prowlarr and decypharr, then sonarr and radarr, then recyclarr.
    let at = |app: &str| out.find(&format!("TASK [apps : {app}: its objects")).unwrap_or_else(|| panic!("{app} not applied: {out}"));
    assert!(at("prowlarr") < at("sonarr") && at("decypharr") < at("radarr") && at("sonarr") < at("recyclarr") && at("radarr") < at("recyclarr"));
    for secret in EXAMPLE_SECRETS.iter().chain(&EXAMPLE_APP_SECRETS) {
        assert!(!out.contains(secret), "a secret was shown: {secret}\n{out}");
    }
    // Without the key, the example's secrets cannot be read: said before anything, naming the file.
    let (code, out) = render_with_key(root, &["site", "-i", "inventory/example", "-e", &art], None);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("secrets.sops.yml"), "{out}");
}

#[test]
fn the_lab_site_renders_and_broken_cluster_values_stop_it_before_anything_naming_them() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let extra = secrets_and_artifacts(dir.path());
    let lab = lab_inventory(dir.path());
    let (code, out) = render(root, &["site", "-i", &lab, "-i", "inventory/lab", "--diff", "-e", &extra]);
    assert_eq!(code, 0, "{out}");
    for phase in CLUSTER_PHASES.iter().filter(|p| **p != "gpu_plugin") {
        assert!(out.contains(&format!("PHASE [{phase}] Passed")), "{phase}: {out}");
    }
    assert!(out.contains("- 10.77.0.240-10.77.0.250"), "the lab's pool: {out}");

    // Each broken value fails the preflight phase, which every other phase waits for: nothing is applied.
    for (value, says) in [
        (
            r#"{"metallb_address_pool": ["10.77.0.240-10.77.0.250", "10.77.0.0/33", "10.77.0.250-10.77.0.240"]}"#,
            "metallb_address_pool has entries that are neither a range (a-b) nor a CIDR: 10.77.0.0/33, 10.77.0.250-10.77.0.240",
        ),
        (
            r#"{"longhorn_settings": {"storage-over-provisioning-percentage": "lots", "no-such-setting": 1}}"#,
            "longhorn_settings: storage-over-provisioning-percentage must be a whole number, not lots; no-such-setting is not a setting of Longhorn 1.12.1",
        ),
        (
            r#"{"longhorn_recurring_jobs": [{"name": "backup-nightly", "task": "backup", "cron": "0 2 * * *", "retain": 7, "groups": []}]}"#,
            "longhorn_recurring_jobs: backup-nightly has no groups, so Longhorn would run it on no volume",
        ),
        (r#"{"sops_age_key": "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX"}"#, "is not a recipient in"),
    ] {
        let (code, out) = render(root, &["site", "-i", &lab, "-i", "inventory/lab", "-e", &extra, "-e", value]);
        assert_eq!(code, 2, "{value}: {out}");
        assert!(out.contains(says), "{value}: expected {says:?} in\n{out}");
        assert!(out.contains("PHASE [preflight] Failed") && out.contains("PHASE [proxmox_lxc] blocked by preflight"), "{out}");
        assert!(!out.contains("PHASE [base] started"), "{out}");
    }
}

/// A copy of the example's apps/ to break.
fn copy_apps(to: &Path) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("apps");
    for app in std::fs::read_dir(&root).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()) {
        let dest = to.join(app.file_name().unwrap());
        std::fs::create_dir_all(&dest).unwrap();
        for f in std::fs::read_dir(&app).unwrap().map(|e| e.unwrap().path()) {
            std::fs::copy(&f, dest.join(f.file_name().unwrap())).unwrap();
        }
    }
}

#[test]
fn broken_apps_fail_naming_the_file_and_object_and_stop_only_the_apps_requiring_them() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let key = root.join("inventory/example/example.agekey");
    let dir = tempfile::tempdir().unwrap();
    secrets_and_artifacts(dir.path());
    let apps = dir.path().join("apps");
    copy_apps(&apps);
    let run = |extra: &[&str]| {
        let art = format!("k3s_artifacts_dir={}", dir.path().display());
        let apps_dir = format!("apps_dir={}", apps.display());
        let mut args = vec!["site", "-i", "inventory/example", "-e", &art, "-e", &apps_dir];
        args.extend(extra);
        render_with_key(root, &args, Some(&key))
    };
    let (code, out) = run(&[]);
    assert_eq!(code, 0, "the copy renders: {out}");

    // A typo in Sonarr's Deployment, and Radarr's Secret encrypted to a key the controller does not have.
    let dep = apps.join("sonarr/deployment.yaml");
    std::fs::write(&dep, std::fs::read_to_string(&dep).unwrap().replace("      containers:", "      contianers:")).unwrap();
    let plain = dir.path().join("radarr-key.yaml");
    std::fs::write(&plain, "apiVersion: v1\nkind: Secret\nmetadata: {name: radarr-api-key}\nstringData: {api-key: k}\n").unwrap();
    let enc = Command::new(env!("CARGO_BIN_EXE_hlprov"))
        .args(["sops", "encrypt", "--age", AGE_RECIPIENT, "--encrypted-regex", "^(data|stringData)$"])
        .arg(&plain)
        .output()
        .unwrap();
    assert!(enc.status.success(), "{}", String::from_utf8_lossy(&enc.stderr));
    std::fs::write(apps.join("radarr/api-key.sops.yaml"), enc.stdout).unwrap();
    let (code, out) = run(&[]);
    assert_eq!(code, 2, "{out}");
    let dep_shown = dep.display().to_string();
    assert!(
        out.contains(&format!("{dep_shown}, document 1 (line 1): deployment.apps/sonarr in namespace media: spec.template.spec: Additional properties are not allowed ('contianers' was unexpected)")),
        "names the file and the object: {out}"
    );
    assert!(
        out.contains(&format!("{}: cannot decrypt: the file is encrypted to {AGE_RECIPIENT}", apps.join("radarr/api-key.sops.yaml").display())),
        "{out}"
    );
    assert!(out.contains("recyclarr is not applied: it requires sonarr, radarr, which failed"), "{out}");
    assert!(!out.contains("TASK [apps : recyclarr: its objects"), "{out}");
    assert!(out.contains("sonarr, radarr, recyclarr (not applied: it requires sonarr, radarr) failed"), "{out}");
    // Prowlarr and Decypharr, which need neither, went on; so did the GPU phase's Plex.
    for app in ["prowlarr", "decypharr", "plex"] {
        assert!(out.contains(&format!("TASK [apps : {app}: its objects, and nothing it no longer has] ***")), "{app}: {out}");
    }
    assert!(out.contains("PHASE [apps] Failed") && out.contains("PHASE [apps_gpu] Passed"), "{out}");
    copy_apps(&apps);

    // Mistakes in the app list stop the preflight, before any host is touched, naming the app.yml.
    let meta = |app: &str| apps.join(format!("{app}/app.yml"));
    let sonarr_meta = std::fs::read_to_string(meta("sonarr")).unwrap();
    std::fs::write(meta("sonarr"), sonarr_meta.replace("requires: [prowlarr, decypharr]", "requires: [prowlarr, lidarr]")).unwrap();
    let (code, out) = run(&[]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains(&format!("{}: sonarr requires lidarr, which is not in apps", meta("sonarr").display())), "{out}");
    assert!(out.contains("PHASE [preflight] Failed") && !out.contains("PHASE [base] started"), "{out}");

    std::fs::write(meta("sonarr"), &sonarr_meta).unwrap();
    std::fs::write(meta("prowlarr"), "namespace: media\nrequires: [recyclarr]\n").unwrap();
    let (code, out) = run(&[]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains(&format!("{}: prowlarr requires recyclarr (a cycle", meta("prowlarr").display())), "{out}");
    assert!(out.contains("PHASE [preflight] Failed"), "{out}");

    // A GPU app cannot wait for an app of the other phase; a listed app needs its folder.
    std::fs::write(meta("prowlarr"), "namespace: media\n").unwrap();
    std::fs::write(meta("plex"), "gpu: true\nrequires: [sonarr]\n").unwrap();
    let (_, out) = run(&[]);
    assert!(out.contains("plex (gpu: true) requires sonarr; an app can only require apps of its own phase"), "{out}");
    let (_, out) = run(&["-e", r#"{"apps": ["prowlarr", "lidarr"]}"#]);
    assert!(out.contains(&format!("{}/lidarr/app.yml does not exist (apps lists lidarr", apps.display())), "{out}");
}

#[test]
fn facts_and_host_results_are_unknown_and_mistakes_fail_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hosts.yml"), "all:\n  hosts:\n    h1: {ansible_host: 192.0.2.1, greeting: hello}\n").unwrap();
    std::fs::create_dir(dir.path().join("templates")).unwrap();
    std::fs::write(dir.path().join("templates/motd.j2"), "{{ greeting }} from {{ inventory_hostname }}\n").unwrap();
    let play = r#"- hosts: all
  tasks:
    - name: From the inventory
      template: {src: motd.j2, dest: /etc/motd}
    - name: From a fact
      copy: {content: "{{ ansible_facts.hostname }}", dest: /etc/hostname-copy}
    - name: Only the host knows
      command: uname -r
      register: kernel
    - name: From that result
      copy: {content: "{{ kernel.stdout }}", dest: /etc/kernel}
      when: kernel.rc == 0
"#;
    std::fs::write(dir.path().join("site.yml"), play).unwrap();
    let (code, out) = render(dir.path(), &["site.yml", "-i", "hosts.yml", "--diff"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("hello from h1"), "the template is rendered: {out}");
    for says in
        ["ansible_facts is known only when it runs there", "command decides from what it finds there", "kernel is known only when it runs there"]
    {
        assert!(out.contains(&format!("(needs a host: {says})")), "fact, command and its result: {out}");
    }

    let broken = play.replace("motd.j2, dest", "motd.j2, owner: \"{{ motd_owner }}\", dest");
    std::fs::write(dir.path().join("site.yml"), broken).unwrap();
    let (code, out) = render(dir.path(), &["site.yml", "-i", "hosts.yml"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("site.yml:") && out.contains("motd_owner"), "names the file and the variable: {out}");
}

#[test]
fn manifests_are_checked_against_the_schemas_and_crds() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hosts.yml"), "all:\n  hosts:\n    cp1: {ansible_host: 192.0.2.1, pool: 192.168.1.240-192.168.1.250}\n").unwrap();
    let play = |pool: &str, replicas: &str| {
        format!(
            r#"- hosts: all
  gather_facts: false
  tasks:
    - name: MetalLB's pool
      k8s:
        definition:
          apiVersion: metallb.io/v1beta1
          kind: IPAddressPool
          metadata: {{name: homelab, namespace: metallb-system}}
          spec: {{addresses: {pool}}}
    - name: An app
      k8s:
        definition:
          apiVersion: apps/v1
          kind: Deployment
          metadata: {{name: web, namespace: apps}}
          spec:
            replicas: {replicas}
            selector: {{matchLabels: {{app: web}}}}
            template:
              metadata: {{labels: {{app: web}}}}
              spec: {{containers: [{{name: web, image: nginx}}]}}
"#
        )
    };
    std::fs::write(dir.path().join("site.yml"), play("[\"{{ pool }}\"]", "2")).unwrap();
    let (code, out) = render(dir.path(), &["site.yml", "-i", "hosts.yml", "--diff"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("IPAddressPool/metallb-system/homelab") || out.contains("ipaddresspool"), "{out}");

    // A pool that is not a list, and replicas that are not a number: refused before anything is applied.
    std::fs::write(dir.path().join("site.yml"), play("\"{{ pool }}\"", "two")).unwrap();
    let (code, out) = render(dir.path(), &["site.yml", "-i", "hosts.yml"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("invalid manifest") && out.contains("spec.addresses"), "{out}");
}

#[test]
fn the_whole_site_graph_shows_every_phase_with_its_hosts_in_text_dot_and_mermaid() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let graph = |format: &str, key: bool| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_hlprov"));
        cmd.args(["graph", "site", "-i", "inventory/example", "--format", format]).current_dir(root);
        cmd.env_remove("SOPS_AGE_KEY").env_remove("SOPS_AGE_KEY_CMD").env("XDG_CONFIG_HOME", "/nonexistent-hlprov-test");
        match key {
            true => cmd.env("SOPS_AGE_KEY_FILE", root.join("inventory/example/example.agekey")),
            false => cmd.env_remove("SOPS_AGE_KEY_FILE"),
        };
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        (String::from_utf8_lossy(&out.stdout).to_string(), String::from_utf8_lossy(&out.stderr).to_string())
    };
    let phases = [
        "preflight",
        "proxmox_lxc",
        "base",
        "longhorn_prereqs",
        "k3s_servers",
        "k3s_agents",
        "metallb",
        "longhorn",
        "sops_keys",
        "gpu_plugin",
        "monitoring",
        "apps",
        "apps_gpu",
    ];
    let (text, _) = graph("text", true);
    let shown: Vec<&str> = text.lines().filter(|l| !l.starts_with(' ')).map(|l| l.split([' ', '—']).next().unwrap()).collect();
    assert_eq!(shown, phases, "every phase, in an order that runs: {text}");
    for line in [
        "proxmox_lxc [gate] — pve1, pve2",
        "base [gate] — cp1, w1, w2, w3, nas1",
        "apps [gate] — cp1\n    needs: metallb, longhorn, sops_keys\n",
        "apps_gpu [gate] — w3\n    needs: metallb, longhorn, sops_keys, gpu_plugin\n",
    ] {
        assert!(text.contains(line), "{line:?} in {text}");
    }
    let (dot, _) = graph("dot", true);
    assert!(
        dot.starts_with("digraph phases {") && dot.contains("\"gpu_plugin\" -> \"apps_gpu\";") && dot.contains("\"longhorn\" -> \"monitoring\";"),
        "{dot}"
    );
    let (mermaid, _) = graph("mermaid", true);
    assert!(mermaid.starts_with("flowchart LR") && mermaid.contains("[\"apps_gpu [gate] — w3\"]"), "{mermaid}");
    assert_eq!(mermaid.matches(" --> ").count(), dot.matches(" -> ").count(), "the same edges");
    // Without the key the inventory's secrets cannot be read: host patterns stand in, and it says why.
    let (text, err) = graph("text", false);
    assert!(text.contains("apps_gpu [gate] — hosts: gpu_nodes") && err.contains("warning: the inventory could not be read"), "{text}{err}");
}
