//! The `hlprov sops` commands, run through `cli_sops::run` as the main CLI does: keygen, encrypt with
//! .sops.yaml creation rules (checked against what the real sops picks), decrypt, edit, updatekeys, doctor.

mod support;

use std::path::Path;
use std::process::Command;
use std::sync::Once;

use clap::Parser;
use hlprov::cli::sops::{self as cli_sops, SopsCommand};
use support::*;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    cmd: SopsCommand,
}

fn hl(args: &[&str]) -> i32 {
    cli_sops::run(Cli::try_parse_from(std::iter::once("hlprov-sops").chain(args.iter().copied())).unwrap().cmd)
}

fn setup() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| unsafe {
        std::env::set_var("SOPS_AGE_KEY_FILE", key1());
        std::env::set_var("XDG_CONFIG_HOME", "/nonexistent-hlprov-test");
        std::env::remove_var("SOPS_AGE_KEY");
        std::env::remove_var("SOPS_AGE_RECIPIENTS");
        // The editor for the edit test: appends a key to the file it is given.
        std::env::set_var("SOPS_EDITOR", "sh -c 'printf \"added: new-secret-value\\n\" >> \"$0\"'");
    });
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

const SOPS_YAML: &str = "creation_rules:\n  - path_regex: k8s/.*\\.yaml$\n    encrypted_regex: ^(data|stringData)$\n    age: R1\n  - path_regex: group_vars/\n    age: R1,R2\n";

#[test]
fn keygen_writes_a_private_key_and_refuses_to_overwrite() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("keys.txt");
    assert_eq!(hl(&["keygen", "-o", p(&key)]), 0);
    assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    let before = std::fs::read(&key).unwrap();
    assert_eq!(hl(&["keygen", "-o", p(&key)]), 4);
    assert_eq!(std::fs::read(&key).unwrap(), before);
    // Debian's age-keygen derives the same recipient the file records.
    let out = Command::new("age-keygen").arg("-y").arg(&key).output().expect("age-keygen (apt-get install age) is needed");
    let recipient = String::from_utf8(out.stdout).unwrap();
    assert!(String::from_utf8(before).unwrap().contains(&format!("# public key: {}", recipient.trim())));
}

#[test]
fn encrypt_follows_creation_rules_like_sops() {
    setup();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".sops.yaml"), SOPS_YAML.replace("R1", R1).replace("R2", R2)).unwrap();
    for (rel, plain) in [("k8s/secret.yaml", "plain/k8s-secret.yaml"), ("inventory/group_vars/all.yaml", "plain/group_vars.yaml")] {
        let file = dir.path().join(rel);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::copy(fixture(plain), &file).unwrap();
        let ours = dir.path().join("ours.yaml");
        assert_eq!(hl(&["encrypt", p(&file), "-o", p(&ours)]), 0);
        let theirs = run(sops(None).current_dir(dir.path()).args(["encrypt", rel]));
        assert!(theirs.status.success(), "{}", String::from_utf8_lossy(&theirs.stderr));
        let md = |text: &str| {
            let enc = hlprov::secrets::sops_file::parse(text, hlprov::secrets::Format::Yaml, rel).unwrap().unwrap();
            (enc.metadata.age.iter().map(|k| k.recipient.clone()).collect::<Vec<_>>(), enc.metadata.rules)
        };
        assert_eq!(md(&std::fs::read_to_string(&ours).unwrap()), md(&String::from_utf8(theirs.stdout).unwrap()), "{rel}");
        let plain_text = std::fs::read_to_string(fixture(plain)).unwrap();
        let parse = |t: &str| hlprov::secrets::Format::Yaml.parse_plain(t, rel).unwrap()[0].to_json();
        assert_eq!(parse(&sops_decrypt(&ours, &key1(), &[])), parse(&plain_text), "{rel}: sops decrypts hlprov's file to the source");
    }
    // No rule matches: a usage error naming the file, nothing written.
    let stray = dir.path().join("stray.yaml");
    std::fs::write(&stray, "a: b\n").unwrap();
    assert_eq!(hl(&["encrypt", "-i", p(&stray)]), 4);
    assert_eq!(std::fs::read_to_string(&stray).unwrap(), "a: b\n");
}

#[test]
fn decrypt_writes_0600_output_and_fails_cleanly_on_tampering() {
    use std::os::unix::fs::PermissionsExt;
    setup();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("app.dec.env");
    assert_eq!(hl(&["decrypt", p(&fixture("sops-3.11/app.enc.env")), "-o", p(&out)]), 0);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), std::fs::read_to_string(fixture("plain/app.env")).unwrap());
    assert_eq!(std::fs::metadata(&out).unwrap().permissions().mode() & 0o777, 0o600);
    let bad = dir.path().join("bad.env");
    let text = std::fs::read_to_string(fixture("sops-3.11/app.enc.env")).unwrap();
    std::fs::write(&bad, text.replacen("DB_PASSWORD=ENC[AES256_GCM,data:Zp", "DB_PASSWORD=ENC[AES256_GCM,data:Zq", 1)).unwrap();
    let out2 = dir.path().join("bad.dec.env");
    assert_eq!(hl(&["decrypt", p(&bad), "-o", p(&out2)]), 4);
    assert!(!out2.exists(), "nothing may be written from a tampered file");
}

#[test]
fn edit_reencrypts_with_the_same_key_and_keeps_unchanged_ciphertext() {
    setup();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("vars.yaml");
    std::fs::copy(fixture("sops-3.11/group_vars.multi-recipient.enc.yaml"), &file).unwrap();
    let before = std::fs::read_to_string(&file).unwrap();
    assert_eq!(hl(&["edit", p(&file)]), 0);
    let after = std::fs::read_to_string(&file).unwrap();
    let token = |t: &str| t.lines().find(|l| l.contains("token_secret:")).unwrap().to_string();
    assert_eq!(token(&before), token(&after), "an unchanged value must keep its ciphertext");
    let md = |t: &str| hlprov::secrets::sops_file::parse(t, hlprov::secrets::Format::Yaml, "v").unwrap().unwrap().metadata.age;
    assert_eq!(md(&before), md(&after), "the data key and its wrapping stay the same");
    let dec = sops_decrypt(&file, &key2(), &[]);
    assert!(dec.ends_with("added: new-secret-value\n"), "{dec}");
    assert!(dec.starts_with("# homelab group vars (synthetic)\n"), "{dec}");
    // No plaintext temp file is left behind.
    let leftovers: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("hlprov-sops-edit"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn updatekeys_rewraps_for_the_rule_recipients_without_touching_values() {
    setup();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".sops.yaml"), format!("creation_rules:\n  - age: {R1},{R2}\n")).unwrap();
    let file = dir.path().join("k8s-secret.yaml");
    std::fs::copy(fixture("sops-3.11/k8s-secret.enc.yaml"), &file).unwrap();
    let before = std::fs::read_to_string(&file).unwrap();
    assert_eq!(hl(&["updatekeys", "--yes", p(&file)]), 0);
    let after = std::fs::read_to_string(&file).unwrap();
    let data = |t: &str| t.lines().filter(|l| l.contains("type:str]") || l.contains("lastmodified")).map(String::from).collect::<Vec<_>>();
    assert_eq!(data(&before), data(&after), "values, MAC and lastmodified must not change");
    assert_eq!(sops_decrypt(&file, &key2(), &[]), sops_decrypt(&fixture("sops-3.11/k8s-secret.enc.yaml"), &key1(), &[]));
}

#[test]
fn doctor_finds_committed_keys_plaintext_and_undecryptable_files() {
    setup();
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path();
    let git = |args: &[&str]| {
        let ok = Command::new("git").arg("-C").arg(repo).args(["-c", "user.name=t", "-c", "user.email=t@t"]).args(args).status().unwrap().success();
        assert!(ok, "git {args:?}");
    };
    git(&["init", "-q"]);
    std::fs::write(repo.join(".sops.yaml"), format!("creation_rules:\n  - path_regex: secrets/\n    age: {R1}\n")).unwrap();
    std::fs::write(repo.join(".gitignore"), "*.dec.*\n").unwrap();
    std::fs::create_dir(repo.join("secrets")).unwrap();
    std::fs::copy(fixture("sops-3.11/k8s-secret.enc.yaml"), repo.join("secrets/ok.yaml")).unwrap();
    git(&["add", "."]);
    git(&["commit", "-qm", "clean"]);
    let ring = ring(&[&key1()]);
    let findings = hlprov::secrets::doctor::run(repo, &ring, &[key1()]).unwrap();
    assert!(findings.iter().all(|f| f.ok), "{findings:?}");

    // Now: a plaintext file under secrets/, a committed key, and a file for someone else's key.
    std::fs::write(repo.join("secrets/plain.yaml"), "password: oops\n").unwrap();
    std::fs::copy(key2(), repo.join("mock-key.txt")).unwrap();
    std::fs::copy(fixture("flux/global-secret.yaml"), repo.join("secrets/other.yaml")).unwrap();
    git(&["add", "."]);
    git(&["commit", "-qm", "oops"]);
    std::fs::remove_file(repo.join("mock-key.txt")).unwrap();
    git(&["commit", "-qam", "remove key"]);
    let findings = hlprov::secrets::doctor::run(repo, &ring, &[key1()]).unwrap();
    let bad: Vec<&str> = findings.iter().filter(|f| !f.ok).map(|f| f.message.as_str()).collect();
    assert!(bad.iter().any(|m| m.starts_with("secrets/other.yaml: cannot decrypt") && m.contains("age1henwn645")), "{bad:?}");
    assert!(bad.iter().any(|m| m.contains("secrets/plain.yaml matches a creation rule") && m.contains("unencrypted")), "{bad:?}");
    assert!(bad.iter().any(|m| m.contains("AGE-SECRET-KEY-") && m.contains("history")), "{bad:?}");
    assert!(!bad.iter().any(|m| m.contains("oops")), "a finding must not quote file contents: {bad:?}");
}
