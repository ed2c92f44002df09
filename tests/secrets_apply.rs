//! Secrets in a real run: SOPS-encrypted group_vars and vars_files are decrypted in memory, written to hosts,
//! and never shown — not in text or JSON output with -v and --diff, not in run records. A wrong key fails
//! before any host is touched, naming the file and its recipients.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::TestLab;
use hlprov::secrets::format::Format;
use hlprov::secrets::sops_file::{EncryptOptions, encrypt_text};

const DB_PASSWORD: &str = "canary-db-Zq81vX03";
const API_TOKEN: &str = "canary-token-Hh72Kp9";

fn encrypt(dir: &Path, rel: &str, plain: &str, recipient: &str) {
    let opts = EncryptOptions { recipients: vec![recipient.to_string()], rules: Default::default() };
    let text = encrypt_text(plain, Format::Yaml, rel, &opts).expect("encrypt");
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn write(dir: &Path, rel: &str, text: &str) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn hlprov(dir: &Path, key: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hlprov"))
        .args(args)
        .current_dir(dir)
        .env("SOPS_AGE_KEY_FILE", key)
        .env_remove("SOPS_AGE_KEY")
        .env("HLPROV_NO_LIVE", "1")
        .output()
        .unwrap()
}

const SITE: &str = r#"
- hosts: all
  gather_facts: false
  vars_files: [vars/app.sops.yml]
  tasks:
    - name: env file
      copy:
        content: "password={{ db_password }}\ntoken={{ api_token }}\n"
        dest: /root/app.env
        mode: "0600"
    - name: config from a template
      template: {src: app.conf.j2, dest: /root/app.conf, mode: "0600"}
    - name: line with the secret
      lineinfile: {path: /root/app.env, line: "again={{ db_password }}"}
    - name: show the variable
      debug: {var: db_password}
    - name: show a message
      debug: {msg: "token is {{ api_token }}"}
    - name: echo it
      command: echo {{ api_token }}
      changed_when: false
    - name: secret manifest
      k8s_secret:
        dest: /root/manifests/app-secret.yaml
        name: app
        namespace: apps
        data: {password: "{{ db_password }}", token: "{{ api_token }}"}
    - name: a failure that quotes it
      fail: {msg: "bad password {{ db_password }}"}
      ignore_errors: true
"#;

fn setup(dir: &Path) -> (std::path::PathBuf, String) {
    let key = dir.join("keys.txt");
    let recipient = hlprov::secrets::keys::keygen(&key).unwrap();
    encrypt(dir, "group_vars/all/secrets.sops.yml", &format!("db_password: {DB_PASSWORD}\n"), &recipient);
    encrypt(dir, "vars/app.sops.yml", &format!("api_token: {API_TOKEN}\n"), &recipient);
    write(dir, "templates/app.conf.j2", "[db]\npassword = {{ db_password }}\ntoken = {{ api_token }}\n");
    write(dir, "site.yml", SITE);
    (key, recipient)
}

#[tokio::test(flavor = "multi_thread")]
async fn canary_secrets_never_appear_in_any_output_while_the_hosts_hold_them() {
    let lab = TestLab::start(1).await;
    let dir = tempfile::tempdir().unwrap();
    let (key, _) = setup(dir.path());
    let inv = lab.inventory("");
    let inv = inv.to_str().unwrap();

    let json = hlprov(dir.path(), &key, &["apply", "site.yml", "-i", inv, "-v", "--diff", "--output", "json"]);
    let json_text = format!("{}{}", String::from_utf8_lossy(&json.stdout), String::from_utf8_lossy(&json.stderr));
    assert_eq!(json.status.code(), Some(0), "{json_text}");
    // The run really did write files and show diffs (so the secrets passed through output paths).
    assert!(json_text.contains("\"diffs\""), "expected diffs in the JSON events");
    assert!(json_text.contains("********"), "expected masked values in the output");

    lab.docker_exec("h1", "rm -rf /root/app.env /root/app.conf /root/manifests").await;
    let text = hlprov(dir.path(), &key, &["apply", "site.yml", "-i", inv, "-vvv", "--diff"]);
    let text_out = format!("{}{}", String::from_utf8_lossy(&text.stdout), String::from_utf8_lossy(&text.stderr));
    assert_eq!(text.status.code(), Some(0), "{text_out}");

    let mut records = String::new();
    for e in std::fs::read_dir(dir.path().join(".hlprov/runs")).unwrap() {
        records.push_str(&std::fs::read_to_string(e.unwrap().path()).unwrap());
    }
    assert!(!records.is_empty(), "run records were written");
    use base64::Engine;
    for secret in [DB_PASSWORD, API_TOKEN] {
        let b64 = base64::engine::general_purpose::STANDARD.encode(secret);
        for (what, hay) in [("JSON output", &json_text), ("text output", &text_out), ("run records", &records)] {
            assert!(!hay.contains(secret), "{secret} leaked into {what}");
            assert!(!hay.contains(&b64), "base64 of {secret} leaked into {what}");
        }
    }
    // While the hosts hold them.
    let (_, env) = lab.docker_exec("h1", "cat /root/app.env").await;
    assert_eq!(env, format!("password={DB_PASSWORD}\ntoken={API_TOKEN}\nagain={DB_PASSWORD}\n"));
    let (_, conf) = lab.docker_exec("h1", "cat /root/app.conf; stat -c %a /root/app.conf").await;
    assert!(conf.contains(&format!("password = {DB_PASSWORD}")) && conf.trim_end().ends_with("600"), "{conf}");
    let (_, manifest) = lab.docker_exec("h1", "cat /root/manifests/app-secret.yaml; stat -c %a /root/manifests/app-secret.yaml").await;
    assert!(manifest.contains(&base64::engine::general_purpose::STANDARD.encode(DB_PASSWORD)), "{manifest}");
    assert!(manifest.contains("namespace: apps") && manifest.trim_end().ends_with("600"), "{manifest}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_key_fails_before_any_host_is_touched_naming_file_and_recipients() {
    let lab = TestLab::start(1).await;
    let dir = tempfile::tempdir().unwrap();
    let (_, recipient) = setup(dir.path());
    // Touching a host would be the first task; it must not run.
    write(
        dir.path(),
        "site.yml",
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - command: touch /root/touched\n    - debug: {var: db_password}\n",
    );
    let wrong = dir.path().join("other-keys.txt");
    hlprov::secrets::keys::keygen(&wrong).unwrap();
    let inv = lab.inventory("");
    let out = hlprov(dir.path(), &wrong, &["apply", "site.yml", "-i", inv.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(err.contains("secrets.sops.yml"), "names the file: {err}");
    assert!(err.contains(&recipient), "names the recipients it was encrypted to: {err}");
    let (code, _) = lab.docker_exec("h1", "test -e /root/touched").await;
    assert_ne!(code, 0, "no host may be touched");
}
