//! `hlprov render`: what a playbook would write for an inventory, with no host. What only a host can tell
//! (facts, results of tasks that must run there) is reported as such; a real mistake (a variable the inventory
//! lacks, a bad template) fails with its file and line, and the exit code says so.

use std::path::Path;
use std::process::Command;

fn render(dir: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_hlprov"))
        .arg("render")
        .args(args)
        .current_dir(dir)
        .env("HLPROV_NO_LIVE", "1")
        .env("NO_COLOR", "1")
        .env_remove("HLPROV_INVENTORY")
        .output()
        .expect("run hlprov");
    (out.status.code().unwrap_or(-1), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn the_example_site_renders_without_hosts() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // The k3s phases need the cluster's token (in SOPS for real inventories) and the release's files, which
    // render checks against their checksums: stand-ins here (no k3s binary can be had on this machine).
    let dir = tempfile::tempdir().unwrap();
    let release = dir.path().join("v1.36.4+k3s1");
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
    let extra = dir.path().join("k3s.yml");
    std::fs::write(&extra, format!("k3s_token: render-test-token-0123456789\nk3s_artifacts_dir: {}\n", dir.path().display())).unwrap();
    let extra = format!("@{}", extra.display());
    let (code, out) = render(root, &["site", "-i", "inventory/example", "--diff", "-e", &extra]);
    assert_eq!(code, 0, "{out}");
    // The sshd hardening template of roles/base, rendered with the example's variables.
    assert!(out.contains("/etc/ssh/sshd_config.d/") && out.contains("PermitRootLogin"), "{out}");
    assert!(out.contains("PHASE [base] Passed") && out.contains("PHASE [longhorn_prereqs] Passed"), "{out}");
    // k3s: its configuration, from the example's variables (MetalLB is used there: servicelb and traefik off).
    assert!(out.contains("PHASE [k3s_servers] Passed") && out.contains("PHASE [k3s_agents] Passed"), "{out}");
    assert!(out.contains("/etc/rancher/k3s/config.yaml") && out.contains("- servicelb") && out.contains("node-name: w3"), "{out}");
    assert!(!out.contains("render-test-token-0123456789"), "the token was shown: {out}");
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
    assert_eq!(out.matches("needs a host").count(), 3, "fact, command and its result: {out}");

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
