//! Diffs reach the screen only with `--diff`: the engine, not a module, decides. Through the binary, on a lab
//! host, with the modules whose diffs were once printed without being asked for (apt) and a file module.

mod common;

use common::TestLab;

fn hlprov(dir: &std::path::Path, args: &[&str]) -> (i32, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hlprov"))
        .args(args)
        .current_dir(dir)
        .env("HLPROV_NO_LIVE", "1")
        .env("NO_COLOR", "1")
        .output()
        .expect("run hlprov");
    (out.status.code().unwrap_or(-1), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[tokio::test(flavor = "multi_thread")]
async fn diffs_are_printed_only_with_diff() {
    let lab = TestLab::start(1).await;
    let inv = lab.inventory("");
    let dir = tempfile::tempdir().unwrap();
    let play =
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - apt: {name: tree}\n    - copy: {content: \"greeting-7c1e\\n\", dest: /etc/greeting}\n";
    std::fs::write(dir.path().join("site.yml"), play).unwrap();
    let inv = inv.to_str().unwrap();

    let (code, plain) = hlprov(dir.path(), &["apply", "site.yml", "-i", inv, "--check", "--no-record"]);
    assert_eq!(code, 0, "{plain}");
    assert!(plain.contains("changed: [h1]"), "{plain}");
    assert!(!plain.contains("tree: absent") && !plain.contains("greeting-7c1e"), "a diff was printed without --diff:\n{plain}");

    let (code, with_diff) = hlprov(dir.path(), &["apply", "site.yml", "-i", inv, "--check", "--diff", "--no-record"]);
    assert_eq!(code, 0, "{with_diff}");
    assert!(with_diff.contains("tree: absent") && with_diff.contains("greeting-7c1e"), "--diff shows both diffs:\n{with_diff}");

    // A real run without --diff prints none either (the bug was apt printing its package diff on every apply).
    let (code, applied) = hlprov(dir.path(), &["apply", "site.yml", "-i", inv, "--no-record"]);
    assert_eq!(code, 0, "{applied}");
    assert!(!applied.contains("tree: absent") && !applied.contains("greeting-7c1e"), "{applied}");
    assert_eq!(lab.docker_exec("h1", "dpkg-query -W -f '${Status}' tree").await.1, "install ok installed");
}
