//! Rendered manifests against the real schemas: every valid fixture passes, every invalid one fails with a
//! message naming the object and the field its comment says is wrong.

use hlprov::manifests::{
    self,
    schema::{Checked, Schemas},
};

fn fixtures(kind: &str) -> Vec<(String, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/manifests").join(kind);
    let mut out: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| (p.display().to_string(), std::fs::read_to_string(&p).unwrap()))
        .collect();
    out.sort();
    out
}

#[test]
fn valid_objects_pass_and_invalid_ones_name_the_field() {
    let s = Schemas::builtin();
    for (path, text) in fixtures("valid") {
        for obj in manifests::parse(&text, &path).unwrap() {
            assert_eq!(s.check(&obj), Checked::Valid, "{path}: {}", obj.id());
        }
    }
    // The field each invalid fixture gets wrong (from its comment).
    let expect = [
        ("core-deployment-bad", "spec.replicas"),
        ("core-deployment-unknown-field", "spec"),
        ("flux-kustomization-bad-provider", "spec.decryption.provider"),
        ("k3s-helmchart-bad", "spec.createNamespace"),
        ("longhorn-recurringjob-bad-task", "spec.task"),
        ("longhorn-setting-bad", ""),
        ("metallb-ipaddresspool-bad", "spec.autoAssign"),
        ("metallb-ipaddresspool-missing-required", "spec"),
    ];
    for (path, text) in fixtures("invalid") {
        let name = std::path::Path::new(&path).file_stem().unwrap().to_string_lossy().to_string();
        let want = expect.iter().find(|(n, _)| *n == name).unwrap_or_else(|| panic!("no expectation for {name}")).1;
        let obj = manifests::parse(&text, &path).unwrap().remove(0);
        let Checked::Invalid(problems) = s.check(&obj) else { panic!("{path} passed") };
        assert!(problems.iter().any(|p| p.path == want), "{name}: {problems:?}");
    }
}
