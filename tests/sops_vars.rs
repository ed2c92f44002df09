//! SOPS-encrypted vars files (group_vars, host_vars, vars_files) decrypt transparently through
//! `vars_file::load`, their encrypted values are redacted everywhere, and a wrong key or a tampered file fails
//! with the file and the recipients named. The key comes from SOPS_AGE_KEY_FILE, as it would for a user.

mod support;

use std::sync::Once;

use hlprov::redact::{MASK, redact};
use hlprov::secrets::Format;
use hlprov::secrets::rules::Rules;
use hlprov::secrets::sops_file::{self, EncryptOptions};
use hlprov::vars_file;
use support::*;

fn setup() {
    static ONCE: Once = Once::new();
    // Set before any test reads the environment (every test calls this first).
    ONCE.call_once(|| unsafe {
        std::env::set_var("SOPS_AGE_KEY_FILE", key1());
        std::env::set_var("XDG_CONFIG_HOME", "/nonexistent-hlprov-test");
        std::env::remove_var("SOPS_AGE_KEY");
        std::env::remove_var("SOPS_AGE_KEY_CMD");
    });
}

#[test]
fn encrypted_group_vars_load_like_the_plain_file_and_are_redacted() {
    setup();
    let dir = tempfile::tempdir().unwrap();
    let gv = dir.path().join("group_vars");
    std::fs::create_dir(&gv).unwrap();
    let path = gv.join("all.yaml");
    std::fs::copy(fixture("sops-3.11/group_vars.multi-recipient.enc.yaml"), &path).unwrap();
    let secret = vars_file::load(&path).unwrap();
    let plain = vars_file::load(&fixture("plain/group_vars.yaml")).unwrap();
    assert_eq!(secret.vars, plain.vars);
    assert!(!secret.vars.contains_key("sops"));
    let (name, span) = &secret.spans[0];
    assert_eq!((name.as_str(), span.file.as_ref(), span.line), ("proxmox", path.display().to_string().as_str(), 2));
    // Encrypted values are masked in any output; clear (_unencrypted) ones are not.
    assert_eq!(redact("token=K10abcdef0123456789::server:deadbeef"), format!("token={MASK}"));
    assert_eq!(redact("0b3f0c1e-1111-4a2b-9c9d-123456789abc"), MASK);
    assert_eq!(redact("pool 10.0.0.200-10.0.0.220"), "pool 10.0.0.200-10.0.0.220");
}

#[test]
fn encrypted_json_vars_file_loads() {
    setup();
    let v = vars_file::load(&fixture("sops-3.11/app.enc.json")).unwrap();
    let expected: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(fixture("plain/app.json")).unwrap()).unwrap();
    assert_eq!(serde_json::Value::Object(v.vars), expected);
}

#[test]
fn a_file_for_other_recipients_fails_naming_file_recipients_and_our_key() {
    setup();
    let dir = tempfile::tempdir().unwrap();
    let other = hlprov::secrets::keys::keygen(&dir.path().join("other.txt")).unwrap();
    let path = dir.path().join("host_vars.yaml");
    let opts = EncryptOptions { recipients: vec![other.clone(), R2.into()], rules: Rules::default() };
    std::fs::write(&path, sops_file::encrypt_text("db_password: s3cr3t-value\n", Format::Yaml, "x", &opts).unwrap()).unwrap();
    let err = vars_file::load(&path).unwrap_err().to_string();
    assert!(err.starts_with(&path.display().to_string()), "{err}");
    assert!(err.contains(&other) && err.contains(R2), "recipients missing: {err}");
    assert!(err.contains(&format!("{R1} from SOPS_AGE_KEY_FILE=")), "our identity missing: {err}");
    assert!(!err.contains("s3cr3t"), "{err}");
}

#[test]
fn a_tampered_vars_file_fails_with_mac_mismatch_and_registers_nothing() {
    setup();
    let dir = tempfile::tempdir().unwrap();
    let opts = EncryptOptions { recipients: vec![R1.into()], rules: Rules::default() };
    let text = sops_file::encrypt_text("api_token: tamper-canary-123\nhost_unencrypted: pve1\n", Format::Yaml, "x", &opts).unwrap();
    let path = dir.path().join("vars.yaml");
    std::fs::write(&path, text.replace("host_unencrypted: pve1", "host_unencrypted: pve9")).unwrap();
    let err = vars_file::load(&path).unwrap_err().to_string();
    assert!(err.contains("MAC mismatch") && err.starts_with(&path.display().to_string()), "{err}");
    // Nothing from the file was used: its secret was not even registered for redaction.
    assert_eq!(redact("tamper-canary-123"), "tamper-canary-123");
}

/// `lookup('community.sops.sops', file)` gives the decrypted file as text (as community.sops does), and every
/// value in it is a secret from then on; `age_recipient` gives an identity's public recipient.
#[test]
fn the_sops_lookup_decrypts_a_file_and_registers_its_values_as_secrets() {
    use hlprov::template::Templar;
    use hlprov::vars::{LayerKind, VarScope};
    use hlprov::yaml::Span;
    setup();
    let dir = tempfile::tempdir().unwrap();
    let opts = EncryptOptions { recipients: vec![R1.into()], rules: Rules::default() };
    let text = sops_file::encrypt_text("grafana_admin_password: lookup-canary-4471\n", Format::Yaml, "x", &opts).unwrap();
    std::fs::write(dir.path().join("app.sops.yaml"), text).unwrap();
    std::fs::write(dir.path().join("plain.yaml"), "a: 1\n").unwrap();
    let mut scope = VarScope::new();
    let key = std::fs::read_to_string(key1()).unwrap();
    scope.push(LayerKind::PlayVars, "play", std::sync::Arc::new(serde_json::json!({"key": key}).as_object().unwrap().clone()));
    scope.set_search_paths(vec![dir.path().to_path_buf()]);
    let t = Templar::new();
    let at = Span::new("play.yml", 3, 5);
    let out = t.render_text("{{ (lookup('community.sops.sops', 'app.sops.yaml') | from_yaml).grafana_admin_password }}", &scope, &at).unwrap();
    assert_eq!(out, "lookup-canary-4471");
    assert_eq!(redact("password lookup-canary-4471"), format!("password {MASK}"));
    let err = t.render_text("{{ lookup('community.sops.sops', 'plain.yaml') }}", &scope, &at).unwrap_err().to_string();
    assert!(err.contains("plain.yaml is not a SOPS file"), "{err}");
    assert_eq!(t.render_text("{{ key | age_recipient }}", &scope, &at).unwrap(), R1);
    let err = t.render_text("{{ 'AGE-SECRET-KEY-1NOTAKEY' | age_recipient }}", &scope, &at).unwrap_err().to_string();
    assert!(err.contains("no valid AGE-SECRET-KEY-1"), "{err}");
}
