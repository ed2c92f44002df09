//! The age key's paper copy and the check of a restored key (`hlprov sops qr`, `hlprov sops check-key`). The
//! QR code is decoded by rqrr, a QR decoder independent of the encoder hlprov uses (qrcode).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

fn hlprov(args: &[&str], dir: &Path) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hlprov"));
    cmd.args(args).current_dir(dir);
    cmd.env_remove("SOPS_AGE_KEY").env_remove("SOPS_AGE_KEY_CMD").env_remove("SOPS_AGE_KEY_FILE").env("XDG_CONFIG_HOME", "/nonexistent-hlprov-test");
    cmd.output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The modules of a QR code printed with half blocks (two rows per line), decoded by rqrr.
fn decode_terminal_qr(printed: &str) -> String {
    let lines: Vec<Vec<char>> = printed.lines().map(|l| l.chars().collect()).collect();
    let width = lines.iter().map(Vec::len).max().unwrap();
    let height = lines.len() * 2;
    let dark = |x: usize, y: usize| -> bool {
        let c = lines[y / 2].get(x).copied().unwrap_or(' ');
        matches!((c, y % 2), ('█', _) | ('▀', 0) | ('▄', 1))
    };
    // Four pixels per module, so the decoder's finder-pattern search has room.
    let scale = 4;
    let mut img = rqrr::PreparedImage::prepare_from_greyscale(width * scale, height * scale, |x, y| if dark(x / scale, y / scale) { 0 } else { 255 });
    let grids = img.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in:\n{printed}");
    grids[0].decode().unwrap().1
}

#[test]
fn the_printed_qr_code_decodes_back_to_the_same_key() {
    let key_file = repo("inventory/example/example.agekey");
    let key_line = std::fs::read_to_string(&key_file).unwrap().lines().find(|l| l.starts_with("AGE-SECRET-KEY-1")).unwrap().to_string();
    let out = hlprov(&["sops", "qr", "--key", key_file.to_str().unwrap(), "--force"], &repo("."));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed = text(&out.stdout);
    assert!(!printed.contains("AGE-SECRET-KEY"), "only the code is printed");
    assert_eq!(decode_terminal_qr(&printed), key_line);
    assert!(text(&out.stderr).contains("age10udwkyzyd0kt69dqqfkz3vw49sadyycsq7rk4rc80tsvrqd0vsvq9yssnq"), "names the recipient");

    // Not a terminal (here: a pipe) and no --force: refused, nothing printed.
    let out = hlprov(&["sops", "qr", "--key", key_file.to_str().unwrap()], &repo("."));
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty() && text(&out.stderr).contains("stdout is not a terminal"), "{}", text(&out.stderr));

    // For printing: an SVG in a new private file.
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("key.svg");
    let out = hlprov(&["sops", "qr", "--key", key_file.to_str().unwrap(), "--svg", svg.to_str().unwrap()], &repo("."));
    assert!(out.status.success(), "{}", text(&out.stderr));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&svg).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(std::fs::read_to_string(&svg).unwrap().contains("<svg"));
    let out = hlprov(&["sops", "qr", "--key", key_file.to_str().unwrap(), "--svg", svg.to_str().unwrap()], &repo("."));
    assert!(!out.status.success(), "an existing file is not overwritten");

    // Several identities in one file: the user chooses, by recipient.
    let two = dir.path().join("two.txt");
    let mock = std::fs::read_to_string(repo("tests/fixtures/sops/keys/age-sops-mock.txt")).unwrap();
    std::fs::write(&two, format!("{key_line}\n{mock}")).unwrap();
    let out = hlprov(&["sops", "qr", "--key", two.to_str().unwrap(), "--force"], &repo("."));
    assert!(text(&out.stderr).contains("has several identities; choose one with --recipient: age10udwky"), "{}", text(&out.stderr));
    assert!(!text(&out.stderr).contains("AGE-SECRET-KEY"), "{}", text(&out.stderr));
    let out = hlprov(
        &["sops", "qr", "--key", two.to_str().unwrap(), "--force", "--recipient", "age10udwkyzyd0kt69dqqfkz3vw49sadyycsq7rk4rc80tsvrqd0vsvq9yssnq"],
        &repo("."),
    );
    assert_eq!(decode_terminal_qr(&text(&out.stdout)), key_line);
}

#[test]
fn a_restored_key_is_checked_against_the_repositorys_recipients_and_files() {
    let dir = tempfile::tempdir().unwrap();
    let git = |args: &[&str]| assert!(Command::new("git").args(args).current_dir(dir.path()).output().unwrap().status.success());
    git(&["init", "-q"]);
    let example = "age10udwkyzyd0kt69dqqfkz3vw49sadyycsq7rk4rc80tsvrqd0vsvq9yssnq";
    std::fs::write(dir.path().join(".sops.yaml"), format!("creation_rules:\n  - path_regex: ^secrets/\n    age: {example}\n")).unwrap();
    std::fs::create_dir(dir.path().join("secrets")).unwrap();
    std::fs::write(dir.path().join("secrets/site.sops.yaml"), "k3s_token: t0ken\n").unwrap();
    let out = hlprov(&["sops", "encrypt", "--in-place", "secrets/site.sops.yaml"], dir.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    // A SOPS file no rule covers (a test fixture, say) is not the site's: not checked.
    std::fs::write(dir.path().join("other.yaml"), "x: 1\n").unwrap();
    let mock_recipient = "age1l44xcng8dqj32nlv6d930qvvrny05hglzcv9qpc7kxjc6902ma4qufys29";
    let out = hlprov(&["sops", "encrypt", "--age", mock_recipient, "--output", "other.sops.yaml", "other.yaml"], dir.path());
    assert!(out.status.success(), "{}", text(&out.stderr));

    let good = repo("inventory/example/example.agekey");
    let out = hlprov(&["sops", "check-key", "--key", good.to_str().unwrap()], dir.path());
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        format!("ok   the key's recipient {example} is in .sops.yaml (rules ^secrets/)\nok   the age key decrypts all 1 SOPS file(s)\n")
    );

    // Another key (the SOPS project's test key): not in .sops.yaml, and the site's file does not open.
    let wrong = repo("tests/fixtures/sops/keys/age-sops-mock.txt");
    let out = hlprov(&["sops", "check-key", "--key", wrong.to_str().unwrap()], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let said = text(&out.stdout);
    assert!(said.contains(&format!("FAIL the key's recipient age1lzd99uklcjnc0e7d860axevet2cz99ce9pq6tzuzd05l5nr28ams36nvun is not in .sops.yaml, which encrypts to {example}: this is not the repository's key")), "{said}");
    assert!(said.contains("FAIL") && said.contains("secrets/site.sops.yaml"), "names the file: {said}");
    assert!(!said.contains("t0ken"));
}
