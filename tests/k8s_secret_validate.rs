//! Kubernetes Secret manifests rendered by hlprov pass the real Kubernetes schema (`kubernetes-validate
//! --strict`, PyPI), and a SOPS-encrypted one still decrypts with the real sops.

mod support;

use std::process::Command;

use hlprov::secrets::Format;
use hlprov::secrets::k8s_secret::{self, Encoding, K8S_ENCRYPTED_REGEX, SecretManifest};
use hlprov::secrets::rules::Rules;
use hlprov::secrets::sops_file::{self, EncryptOptions};
use support::*;

fn validate(path: &std::path::Path) {
    let bin = std::env::var("HLPROV_KUBERNETES_VALIDATE").unwrap_or_else(|_| "kubernetes-validate".into());
    let out =
        Command::new(&bin).args(["--strict", "--kubernetes-version", "1.30"]).arg(path).output().unwrap_or_else(|e| {
            panic!("this test needs `kubernetes-validate` (pip install kubernetes-validate), or HLPROV_KUBERNETES_VALIDATE: {e}")
        });
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && text.contains("INFO"), "kubernetes-validate rejected {}:\n{text}", path.display());
}

#[test]
fn flux_sops_age_secret_is_a_valid_secret() {
    let dir = tempfile::tempdir().unwrap();
    let identity = std::fs::read_to_string(key1()).unwrap();
    let yaml = k8s_secret::flux_sops_age(&identity).render().unwrap();
    let path = dir.path().join("sops-age.yaml");
    std::fs::write(&path, &yaml).unwrap();
    validate(&path);
    // The key decodes back to the identity file, byte for byte.
    use base64::Engine;
    let doc = hlprov::yaml::load_one(&yaml, "m").unwrap().to_value();
    assert_eq!((doc["metadata"]["name"].as_str(), doc["metadata"]["namespace"].as_str()), (Some("sops-age"), Some("flux-system")));
    let b64 = doc["data"]["age.agekey"].as_str().unwrap();
    assert_eq!(base64::engine::general_purpose::STANDARD.decode(b64).unwrap(), identity.as_bytes());
}

#[test]
fn string_data_secret_validates_and_encrypts_for_git_like_flux_expects() {
    let dir = tempfile::tempdir().unwrap();
    let m = SecretManifest {
        name: "longhorn-backup-target".into(),
        namespace: "longhorn-system".into(),
        secret_type: None,
        labels: vec![("app.kubernetes.io/part-of".into(), "longhorn".into())],
        annotations: vec![],
        encoding: Encoding::StringData,
        entries: vec![("AWS_ACCESS_KEY_ID".into(), b"minio".to_vec()), ("AWS_SECRET_ACCESS_KEY".into(), b"s3cr3t: yes".to_vec())],
    };
    let yaml = m.render().unwrap();
    let path = dir.path().join("secret.yaml");
    std::fs::write(&path, &yaml).unwrap();
    validate(&path);
    let rules = Rules { encrypted_regex: Some(K8S_ENCRYPTED_REGEX.into()), ..Default::default() };
    let enc = sops_file::encrypt_text(&yaml, Format::Yaml, "secret.yaml", &EncryptOptions { recipients: vec![R1.into()], rules }).unwrap();
    let enc_path = dir.path().join("secret.enc.yaml");
    std::fs::write(&enc_path, &enc).unwrap();
    assert!(enc.contains("name: longhorn-backup-target") && !enc.contains("s3cr3t"));
    let parse = |t: &str| hlprov::yaml::load_one(t, "m").unwrap().to_value();
    assert_eq!(parse(&sops_decrypt(&enc_path, &key1(), &[])), parse(&yaml));
}
