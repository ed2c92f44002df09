//! Secrets never reach output (issue: reliability). `hlprov apply` runs, through the binary, a playbook that
//! uses a SOPS value, a become password (sudo asks for it on the host) and `no_log` tasks whose output and loop
//! items hold canaries; the canaries must appear nowhere: not on stdout or stderr (text and JSON), not in the
//! JUnit report, not in the run record. The masks must appear, so the test sees the secrets were really there.

mod common;
mod support;

use std::path::Path;
use std::process::Command;

use common::TestLab;
use hlprov::secrets::Format;
use hlprov::secrets::rules::Rules;
use hlprov::secrets::sops_file::{self, EncryptOptions};

const SOPS_CANARY: &str = "Sops-Canary-7731";
const BECOME_CANARY: &str = "Become-Pw-Canary-41";
const NOLOG_CANARY: &str = "nolog-out-canary-5521";
const NOLOG_ITEM_CANARY: &str = "nolog-item-canary-9090";

const PB: &str = r#"
- hosts: all
  gather_facts: false
  tasks:
    - name: the password variable, printed before any connection
      debug: {var: ansible_become_password}
    - name: a SOPS value in a command, through sudo with a password
      shell: id -un; echo "db={{ db_password }}"
      become: true
      register: out
    - name: the same value in a failure message
      fail: {msg: "cannot reach the database with {{ db_password }}"}
      ignore_errors: true
    - name: hidden output
      shell: echo nolog-out-canary-5521; echo nolog-out-canary-5521 >&2; exit 3
      no_log: true
      ignore_errors: true
    - name: hidden loop items
      debug: {msg: "{{ item }}"}
      loop: [nolog-item-canary-9090]
      no_log: true
    - name: sudo ran as root
      assert: {that: "out.stdout_lines[0] == 'root'"}
"#;

fn hlprov(dir: &Path, inv: &Path, output: &str) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_hlprov"))
        .args(["apply", "site.yml", "-i", inv.to_str().unwrap(), "--output", output, "--junit", "junit.xml"])
        .current_dir(dir)
        .env("HLPROV_NO_LIVE", "1")
        .env("SOPS_AGE_KEY_FILE", support::key1())
        .env("XDG_CONFIG_HOME", "/nonexistent-hlprov-test")
        .env_remove("SOPS_AGE_KEY")
        .output()
        .unwrap();
    (out.status.code(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[tokio::test(flavor = "multi_thread")]
async fn sops_values_become_passwords_and_no_log_results_never_reach_output_reports_or_records() {
    let lab = TestLab::start(1).await;
    // A login user whose sudo asks for a password.
    let setup = format!(
        "useradd -m -s /bin/sh deploy && echo 'deploy:{BECOME_CANARY}' | chpasswd && echo 'deploy ALL=(ALL) ALL' > /etc/sudoers.d/deploy && \
         mkdir -p ~deploy/.ssh && cp /root/.ssh/authorized_keys ~deploy/.ssh/ && chown -R deploy: ~deploy/.ssh"
    );
    assert_eq!(lab.docker_exec("h1", &setup).await.0, 0);
    let inv = lab.inventory(&format!("    ansible_become_password: {BECOME_CANARY}\n"));
    let inv_text = std::fs::read_to_string(&inv).unwrap().replace("ansible_user: root", "ansible_user: deploy");
    std::fs::write(&inv, inv_text).unwrap();

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("site.yml"), PB).unwrap();
    std::fs::create_dir_all(dir.path().join("group_vars/all")).unwrap();
    let opts = EncryptOptions { recipients: vec![support::R1.into()], rules: Rules::default() };
    let enc = sops_file::encrypt_text(&format!("db_password: {SOPS_CANARY}\n"), Format::Yaml, "all.sops.yml", &opts).unwrap();
    std::fs::write(dir.path().join("group_vars/all/secrets.sops.yml"), enc).unwrap();

    for output in ["text", "json"] {
        let (code, out) = hlprov(dir.path(), &inv, output);
        assert_eq!(code, Some(0), "{output}: {out}");
        assert!(out.contains("********"), "{output}: the secrets were there, masked: {out}");
        assert!(out.contains("censored"), "{output}: {out}");
        assert!(out.contains("(item=None)") || output == "json", "{output}: {out}");
        if output == "json" {
            // The password from the inventory, printed by debug before anything connected: masked.
            assert!(out.contains(r#""ansible_become_password":"********""#), "{out}");
        }
        let junit = std::fs::read_to_string(dir.path().join("junit.xml")).unwrap();
        let records: Vec<String> =
            std::fs::read_dir(dir.path().join(".hlprov/runs")).unwrap().map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap()).collect();
        assert!(!records.is_empty());
        for canary in [SOPS_CANARY, BECOME_CANARY, NOLOG_CANARY, NOLOG_ITEM_CANARY] {
            assert!(!out.contains(canary), "{output}: {canary} in the output:\n{out}");
            assert!(!junit.contains(canary), "{output}: {canary} in the JUnit report:\n{junit}");
            for r in &records {
                assert!(!r.contains(canary), "{output}: {canary} in a run record:\n{r}");
            }
        }
    }
}
