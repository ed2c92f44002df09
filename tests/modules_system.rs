//! user, group, authorized_key, hostname, sysctl, modprobe and mount on real hosts. Every state is read back
//! with docker exec (getent, stat, /proc) rather than through hlprov. Where a container cannot do the real thing
//! (load a kernel module, apply a sysctl, mount NFS), the tests go up to that boundary and check the message.

mod common;
mod system_support;

use common::{TestLab, run_module};
use hlprov::transport::keys;
use hlprov::transport::ssh::SshTransport;
use serde_json::json;
use system_support::{env, failure, ok, sh, status};

/// A SHA-512 crypt hash (of "secret"), as `mkpasswd -m sha-512` makes them.
const HASH: &str = "$6$hlprovsalt$B9Ce5.ztE9CbZ7cQ0wJ2dM3fR8kq6wX8pV0pU0Qe3s2c8xK0m7J9Zy3bqkS2dTn7ZfQvW1rXo6aGk3jY8uLh/1";

#[tokio::test(flavor = "multi_thread")]
async fn user_creates_changes_and_removes_accounts_like_ansible() {
    let lab = TestLab::start(1).await;
    let conn = lab.connection("h1");
    let (_d, env) = env();
    sh(&lab, "groupadd -g 3100 media && groupadd -g 3101 backup2").await;

    // (4) Bad input.
    let err = run_module(&conn, &env, "user", json!({"name": "bad:name"}), false, false).await.unwrap_err();
    assert!(err.to_string().contains("not a valid user name"), "{err}");
    let err = run_module(&conn, &env, "user", json!({"name": "alice", "uid": "many"}), false, false).await.unwrap_err();
    assert!(err.to_string().contains("argument 'uid' must be an integer"), "{err}");
    assert_eq!(failure(run_module(&conn, &env, "user", json!({"name": "alice", "groups": ["nosuch"]}), false, false).await), "Group nosuch does not exist");
    assert_eq!(status(&lab, "getent passwd alice").await, 2, "nothing was created by the failed runs");

    // (1) From scratch.
    let args = json!({"name": "alice", "uid": 2001, "comment": "Alice A", "shell": "/bin/bash", "groups": ["media"], "password": HASH});
    let o = ok(run_module(&conn, &env, "user", args.clone(), false, false).await);
    assert!(o.changed);
    let v = o.to_value();
    assert_eq!((v["uid"].as_i64(), v["group"].as_i64(), v["home"].as_str(), v["create_home"].as_bool()), (Some(2001), Some(2001), Some("/home/alice"), Some(true)));
    assert_eq!(v["password"], "NOT_LOGGING_PASSWORD");
    assert!(!v.to_string().contains(HASH), "the hash never appears in the result");
    assert_eq!(hlprov::redact::redact(HASH), hlprov::redact::MASK, "the hash is registered as a secret");
    assert_eq!(sh(&lab, "getent passwd alice").await.trim(), "alice:x:2001:2001:Alice A:/home/alice:/bin/bash");
    assert_eq!(sh(&lab, "getent shadow alice | cut -d: -f2").await.trim(), HASH);
    assert_eq!(sh(&lab, "id -nG alice").await.trim(), "alice media");
    assert_eq!(sh(&lab, "stat -c '%U %a' /home/alice && test -f /home/alice/.bashrc && echo skel").await, "alice 755\nskel\n");
    // (2) Again.
    assert!(!ok(run_module(&conn, &env, "user", args.clone(), false, false).await).changed);
    // (3) Check mode against a changed host.
    sh(&lab, "usermod -s /bin/sh alice && gpasswd -d alice media >/dev/null").await;
    let o = ok(run_module(&conn, &env, "user", args.clone(), true, true).await);
    assert!(o.changed);
    assert_eq!(o.diffs[0].before, "groups: \nshell: /bin/sh\n");
    assert_eq!(o.diffs[0].after, "groups: media\nshell: /bin/bash\n");
    assert_eq!(sh(&lab, "getent passwd alice | cut -d: -f7; id -nG alice").await, "/bin/sh\nalice\n");
    assert!(ok(run_module(&conn, &env, "user", args.clone(), false, false).await).changed);

    // groups replace unless append; an empty list removes all.
    assert!(ok(run_module(&conn, &env, "user", json!({"name": "alice", "groups": "backup2", "append": true}), false, false).await).changed);
    assert_eq!(sh(&lab, "id -nG alice").await.trim(), "alice media backup2");
    assert!(!ok(run_module(&conn, &env, "user", json!({"name": "alice", "groups": "media", "append": true}), false, false).await).changed);
    assert!(ok(run_module(&conn, &env, "user", json!({"name": "alice", "groups": []}), false, false).await).changed);
    assert_eq!(sh(&lab, "id -nG alice").await.trim(), "alice");

    // Password ageing, locking, and a home folder that went missing.
    assert!(ok(run_module(&conn, &env, "user", json!({"name": "alice", "password_expire_max": 90, "password_lock": true}), false, false).await).changed);
    assert_eq!(sh(&lab, "getent shadow alice | cut -d: -f2,5").await.trim(), format!("!{HASH}:90"));
    assert!(!ok(run_module(&conn, &env, "user", json!({"name": "alice", "password_expire_max": 90, "password_lock": true}), false, false).await).changed);
    sh(&lab, "rm -rf /home/alice").await;
    assert!(ok(run_module(&conn, &env, "user", json!({"name": "alice"}), false, false).await).changed);
    assert_eq!(sh(&lab, "stat -c '%U %a' /home/alice").await.trim(), "alice 700");

    // A system account in a group that already has the user's name (useradd -N), and a home under a new parent.
    sh(&lab, "groupadd svc").await;
    let o = ok(run_module(&conn, &env, "user", json!({"name": "svc", "system": true, "home": "/srv/new/parent/svc", "shell": "/usr/sbin/nologin"}), false, false).await);
    assert!(o.changed);
    assert!(sh(&lab, "getent passwd svc | cut -d: -f3").await.trim().parse::<u32>().unwrap() < 1000, "a system uid");
    assert_eq!(sh(&lab, "stat -c %U /srv/new/parent/svc").await.trim(), "svc");

    // Removal.
    let o = ok(run_module(&conn, &env, "user", json!({"name": "alice", "state": "absent", "remove": true}), false, false).await);
    assert!(o.changed);
    assert_eq!(o.data["remove"], true);
    assert_eq!(status(&lab, "getent passwd alice").await, 2);
    assert_eq!(status(&lab, "test -e /home/alice").await, 1);
    assert!(!ok(run_module(&conn, &env, "user", json!({"name": "alice", "state": "absent"}), false, false).await).changed);
    sh(&lab, "useradd bob").await;
    assert!(ok(run_module(&conn, &env, "user", json!({"name": "bob", "state": "absent"}), true, false).await).changed);
    assert_eq!(status(&lab, "getent passwd bob").await, 0, "check mode removed nobody");
}

#[tokio::test(flavor = "multi_thread")]
async fn group_creates_renumbers_and_removes_groups() {
    let lab = TestLab::start(1).await;
    let conn = lab.connection("h1");
    let (_d, env) = env();

    let err = run_module(&conn, &env, "group", json!({"name": "media", "gid": "x"}), false, false).await.unwrap_err();
    assert!(err.to_string().contains("must be an integer"), "{err}");
    let err = run_module(&conn, &env, "group", json!({"name": "media", "non_unique": true}), false, false).await.unwrap_err();
    assert!(err.to_string().contains("missing: gid"), "{err}");
    let err = run_module(&conn, &env, "group", json!({"name": "me dia"}), false, false).await.unwrap_err();
    assert!(err.to_string().contains("not a valid group name"), "{err}");

    let o = ok(run_module(&conn, &env, "group", json!({"name": "media", "gid": 3001}), false, false).await);
    assert!(o.changed);
    assert_eq!((o.data["gid"].as_i64(), o.data["system"].as_bool()), (Some(3001), Some(false)));
    assert_eq!(sh(&lab, "getent group media").await.trim(), "media:x:3001:");
    assert!(!ok(run_module(&conn, &env, "group", json!({"name": "media", "gid": 3001}), false, false).await).changed);
    sh(&lab, "groupmod -g 3005 media").await;
    let o = ok(run_module(&conn, &env, "group", json!({"name": "media", "gid": 3001}), true, true).await);
    assert!(o.changed);
    assert_eq!((o.diffs[0].before.as_str(), o.diffs[0].after.as_str()), ("group: gid 3005\n", "group: gid 3001\n"));
    assert_eq!(sh(&lab, "getent group media | cut -d: -f3").await.trim(), "3005");
    assert!(ok(run_module(&conn, &env, "group", json!({"name": "media", "gid": 3001}), false, false).await).changed);
    assert_eq!(sh(&lab, "getent group media | cut -d: -f3").await.trim(), "3001");

    let o = ok(run_module(&conn, &env, "group", json!({"name": "sysgrp", "system": true}), false, false).await);
    assert!(o.data["gid"].as_i64().unwrap() < 1000);
    assert!(ok(run_module(&conn, &env, "group", json!({"name": "media", "state": "absent"}), false, false).await).changed);
    assert_eq!(status(&lab, "getent group media").await, 2);
    assert!(!ok(run_module(&conn, &env, "group", json!({"name": "media", "state": "absent"}), false, false).await).changed);
}

#[tokio::test(flavor = "multi_thread")]
async fn authorized_key_installs_a_key_that_sshd_then_accepts() {
    let lab = TestLab::start(1).await;
    let conn = lab.connection("h1");
    let (dir, env) = env();
    sh(&lab, "useradd -m -s /bin/sh alice").await;
    let key = keys::generate_ed25519("alice@controller");
    let (private, public) = keys::encode(&key);
    let key_file = dir.path().join("alice_key");
    std::fs::write(&key_file, private).unwrap();
    std::fs::set_permissions(&key_file, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let other = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCother other@example";

    // (4) Bad input.
    assert_eq!(failure(run_module(&conn, &env, "authorized_key", json!({"user": "alice", "key": "nonsense"}), false, false).await), "invalid key specified: nonsense");
    let msg = failure(run_module(&conn, &env, "authorized_key", json!({"user": "nobody-here", "key": public}), false, false).await);
    assert!(msg.starts_with("Failed to lookup user nobody-here"), "{msg}");
    let err = run_module(&conn, &env, "authorized_key", json!({"user": "alice"}), false, false).await.unwrap_err();
    assert!(err.to_string().contains("missing required argument 'key'"));

    // (1) From scratch: folder and file created with the user's ownership, and sshd accepts the key.
    let o = ok(run_module(&conn, &env, "authorized_key", json!({"user": "alice", "key": public}), false, false).await);
    assert!(o.changed);
    assert_eq!(o.data["keyfile"], "/home/alice/.ssh/authorized_keys");
    assert_eq!(sh(&lab, "cat /home/alice/.ssh/authorized_keys").await, format!("{public}\n"));
    assert_eq!(sh(&lab, "stat -c '%U %a' /home/alice/.ssh /home/alice/.ssh/authorized_keys").await, "alice 700\nalice 600\n");
    let mut cfg = lab.ssh_config("h1");
    cfg.user = "alice".into();
    cfg.identity_files = vec![key_file.clone()];
    let who = SshTransport::new(cfg);
    let out = hlprov::transport::Transport::run(&who, "id -un", None, None).await.expect("sshd accepts the installed key");
    assert_eq!(out.stdout_text().trim(), "alice");
    // (2) Again.
    assert!(!ok(run_module(&conn, &env, "authorized_key", json!({"user": "alice", "key": public}), false, false).await).changed);
    // (3) Check mode against a changed file: reported with a diff, file untouched.
    sh(&lab, &format!("echo '{other}' > /home/alice/.ssh/authorized_keys")).await;
    let o = ok(run_module(&conn, &env, "authorized_key", json!({"user": "alice", "key": public, "exclusive": true}), true, true).await);
    assert!(o.changed);
    assert_eq!(o.diffs[0].before, format!("{other}\n"));
    assert_eq!(o.diffs[0].after, format!("{public}\n"));
    assert_eq!(sh(&lab, "cat /home/alice/.ssh/authorized_keys").await, format!("{other}\n"));

    // Keys are appended; options and comment replace the key's; exclusive and absent remove.
    assert!(ok(run_module(&conn, &env, "authorized_key", json!({"user": "alice", "key": public, "key_options": "no-pty"}), false, false).await).changed);
    assert_eq!(sh(&lab, "cat /home/alice/.ssh/authorized_keys").await, format!("{other}\nno-pty {public}\n"));
    assert!(ok(run_module(&conn, &env, "authorized_key", json!({"user": "alice", "key": other, "state": "absent"}), false, false).await).changed);
    assert_eq!(sh(&lab, "cat /home/alice/.ssh/authorized_keys").await, format!("no-pty {public}\n"));
    // A key file on the host (file://) and a custom path.
    sh(&lab, &format!("echo '{other}' > /root/other.pub")).await;
    let o = ok(run_module(&conn, &env, "authorized_key", json!({"user": "alice", "key": "file:///root/other.pub", "path": "/etc/ssh/keys/alice", "manage_dir": false}), false, false).await);
    assert!(o.changed);
    assert_eq!(sh(&lab, "cat /etc/ssh/keys/alice; stat -c '%U %a' /etc/ssh/keys/alice").await, format!("{other}\nalice 600\n"));
}
