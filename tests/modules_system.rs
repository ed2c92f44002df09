//! user, group, authorized_key, hostname, sysctl, modprobe and mount on real hosts. Every state is read back
//! with docker exec (getent, stat, /proc) rather than through hlprov. Where a container cannot do the real thing
//! (load a kernel module, apply a sysctl, mount NFS), the tests go up to that boundary and check the message.

mod common;
mod system_support;

use common::{TestLab, run_module};
use hlprov::modules::ModuleError;
use hlprov::transport::keys;
use hlprov::transport::ssh::SshTransport;
use serde_json::json;
use system_support::{env, failure, ok, sh, status};

/// A hash in SHA-512 crypt form (made up: the module stores a hash as given and never checks it).
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
    assert_eq!(
        failure(run_module(&conn, &env, "user", json!({"name": "alice", "groups": ["nosuch"]}), false, false).await),
        "Group nosuch does not exist"
    );
    assert_eq!(status(&lab, "getent passwd alice").await, 2, "nothing was created by the failed runs");

    // (1) From scratch.
    let args = json!({"name": "alice", "uid": 2001, "comment": "Alice A", "shell": "/bin/bash", "groups": ["media"], "password": HASH});
    let o = ok(run_module(&conn, &env, "user", args.clone(), false, false).await);
    assert!(o.changed);
    let v = o.to_value();
    assert_eq!(
        (v["uid"].as_i64(), v["group"].as_i64(), v["home"].as_str(), v["create_home"].as_bool()),
        (Some(2001), Some(2001), Some("/home/alice"), Some(true))
    );
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
    assert!(
        ok(run_module(&conn, &env, "user", json!({"name": "alice", "password_expire_max": 90, "password_lock": true}), false, false).await).changed
    );
    assert_eq!(sh(&lab, "getent shadow alice | cut -d: -f2,5").await.trim(), format!("!{HASH}:90"));
    assert!(
        !ok(run_module(&conn, &env, "user", json!({"name": "alice", "password_expire_max": 90, "password_lock": true}), false, false).await).changed
    );
    sh(&lab, "rm -rf /home/alice").await;
    assert!(ok(run_module(&conn, &env, "user", json!({"name": "alice"}), false, false).await).changed);
    assert_eq!(sh(&lab, "stat -c '%U %a' /home/alice").await.trim(), "alice 700");

    // A system account in a group that already has the user's name (useradd -N), and a home under a new parent.
    sh(&lab, "groupadd svc").await;
    let o = ok(run_module(
        &conn,
        &env,
        "user",
        json!({"name": "svc", "system": true, "home": "/srv/new/parent/svc", "shell": "/usr/sbin/nologin"}),
        false,
        false,
    )
    .await);
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
    assert_eq!(
        failure(run_module(&conn, &env, "authorized_key", json!({"user": "alice", "key": "nonsense"}), false, false).await),
        "invalid key specified: nonsense"
    );
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
    assert!(
        ok(run_module(&conn, &env, "authorized_key", json!({"user": "alice", "key": public, "key_options": "no-pty"}), false, false).await).changed
    );
    assert_eq!(sh(&lab, "cat /home/alice/.ssh/authorized_keys").await, format!("{other}\nno-pty {public}\n"));
    assert!(ok(run_module(&conn, &env, "authorized_key", json!({"user": "alice", "key": other, "state": "absent"}), false, false).await).changed);
    assert_eq!(sh(&lab, "cat /home/alice/.ssh/authorized_keys").await, format!("no-pty {public}\n"));
    // A key file on the host (file://) and a custom path.
    sh(&lab, &format!("echo '{other}' > /root/other.pub")).await;
    let o = ok(run_module(
        &conn,
        &env,
        "authorized_key",
        json!({"user": "alice", "key": "file:///root/other.pub", "path": "/etc/ssh/keys/alice", "manage_dir": false}),
        false,
        false,
    )
    .await);
    assert!(o.changed);
    assert_eq!(sh(&lab, "cat /etc/ssh/keys/alice; stat -c '%U %a' /etc/ssh/keys/alice").await, format!("{other}\nalice 600\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn hostname_sets_the_running_and_the_permanent_name() {
    let lab = TestLab::start(1).await;
    let conn = lab.connection("h1");
    let (_d, env) = env();

    let err = run_module(&conn, &env, "hostname", json!({"name": "nas_01"}), false, false).await.unwrap_err();
    assert!(err.to_string().contains("is not a valid host name"), "{err}");
    let err = run_module(&conn, &env, "hostname", json!({"name": "a".repeat(65)}), false, false).await.unwrap_err();
    assert!(err.to_string().contains("longer than 64 characters"), "{err}");
    let err = run_module(&conn, &env, "hostname", json!({"name": "nas", "use": "redhat"}), false, false).await.unwrap_err();
    assert!(err.to_string().contains("must be one of systemd, debian"), "{err}");

    // (1) From scratch (Docker bind-mounts /etc/hostname: written in place).
    let o = ok(run_module(&conn, &env, "hostname", json!({"name": "nas-01.home.arpa"}), false, true).await);
    assert!(o.changed);
    let v = o.to_value();
    assert_eq!(v["ansible_facts"]["ansible_hostname"], "nas-01");
    assert_eq!(v["ansible_facts"]["ansible_nodename"], "nas-01.home.arpa");
    assert_eq!((o.diffs[0].before.as_str(), o.diffs[0].after.as_str()), ("hostname = h1\n", "hostname = nas-01.home.arpa\n"));
    assert_eq!(sh(&lab, "cat /proc/sys/kernel/hostname /etc/hostname").await, "nas-01.home.arpa\nnas-01.home.arpa\n");
    // (2) Again.
    assert!(!ok(run_module(&conn, &env, "hostname", json!({"name": "nas-01.home.arpa"}), false, false).await).changed);
    // (3) Check mode against a changed host.
    sh(&lab, "hostname other").await;
    let o = ok(run_module(&conn, &env, "hostname", json!({"name": "nas-01.home.arpa"}), true, true).await);
    assert!(o.changed);
    assert_eq!(o.diffs[0].before, "hostname = other\n");
    assert_eq!(sh(&lab, "cat /proc/sys/kernel/hostname").await.trim(), "other");
    // The debian (file) strategy only looks at /etc/hostname.
    assert!(!ok(run_module(&conn, &env, "hostname", json!({"name": "nas-01.home.arpa", "use": "debian"}), false, false).await).changed);
    assert!(ok(run_module(&conn, &env, "hostname", json!({"name": "nas-01.home.arpa"}), false, false).await).changed);
    assert_eq!(sh(&lab, "cat /proc/sys/kernel/hostname").await.trim(), "nas-01.home.arpa");
}

#[tokio::test(flavor = "multi_thread")]
async fn sysctl_keeps_the_file_like_ansible() {
    let lab = TestLab::start(1).await;
    let conn = lab.connection("h1");
    let (_d, env) = env();
    let file = "/etc/sysctl.d/90-hlprov.conf";

    let err = run_module(&conn, &env, "sysctl", json!({"name": "vm.swappiness"}), false, false).await.unwrap_err();
    assert!(err.to_string().contains("missing: value"), "{err}");
    let err = run_module(&conn, &env, "sysctl", json!({"name": "vm.swappiness", "value": " "}), false, false).await.unwrap_err();
    assert!(err.to_string().contains("value cannot be blank"), "{err}");
    let err = run_module(&conn, &env, "sysctl", json!({"name": "vm swappiness", "value": "1"}), false, false).await.unwrap_err();
    assert!(err.to_string().contains("not a sysctl parameter name"), "{err}");

    sh(&lab, &format!("printf '# homelab\\nvm.swappiness = 60\\nnet.ipv4.tcp_rmem = 4096\\t87380  6291456\\n' > {file}")).await;
    let args = json!({"name": "vm.swappiness", "value": 10, "sysctl_file": file, "reload": false});
    // (1) The file is rewritten as Ansible rewrites it.
    assert!(ok(run_module(&conn, &env, "sysctl", args.clone(), false, false).await).changed);
    assert_eq!(sh(&lab, &format!("cat {file}")).await, "# homelab\nvm.swappiness=10\nnet.ipv4.tcp_rmem=4096\t87380  6291456\n");
    // (2) Again; and a value written with other spacing is the same value.
    assert!(!ok(run_module(&conn, &env, "sysctl", args.clone(), false, false).await).changed);
    let rmem = json!({"name": "net.ipv4.tcp_rmem", "value": "4096 87380 6291456", "sysctl_file": file, "reload": false});
    assert!(!ok(run_module(&conn, &env, "sysctl", rmem, false, false).await).changed);
    // (3) Check mode against a changed file.
    sh(&lab, &format!("sed -i 's/swappiness=10/swappiness=30/' {file}")).await;
    let o = ok(run_module(&conn, &env, "sysctl", args.clone(), true, true).await);
    assert!(o.changed);
    assert!(o.diffs[0].after.contains("vm.swappiness=10\n"));
    assert!(sh(&lab, &format!("cat {file}")).await.contains("vm.swappiness=30\n"));
    // absent drops the line.
    assert!(
        ok(run_module(
            &conn,
            &env,
            "sysctl",
            json!({"name": "vm.swappiness", "state": "absent", "sysctl_file": file, "reload": false}),
            false,
            false
        )
        .await)
        .changed
    );
    assert_eq!(sh(&lab, &format!("cat {file}")).await, "# homelab\nnet.ipv4.tcp_rmem=4096\t87380  6291456\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn sysctl_container_refuses_to_apply_kernel_parameters() {
    let lab = TestLab::start(1).await;
    let conn = lab.connection("h1");
    let (_d, env) = env();
    let file = "/etc/sysctl.d/91-hlprov.conf";
    assert!(sh(&lab, "awk '$2 == \"/proc/sys\" {print $4}' /proc/self/mounts").await.starts_with("ro"), "the test needs a read-only /proc/sys");

    // reload (the default) writes the file, then cannot apply it: a clear refusal, not a false ok.
    let err =
        run_module(&conn, &env, "sysctl", json!({"name": "vm.swappiness", "value": "11", "sysctl_file": file}), false, false).await.unwrap_err();
    assert!(matches!(err, ModuleError::Unsupported(_)), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("/proc/sys is read-only inside this container (docker)") && msg.contains(&format!("{file} was written")), "{msg}");
    assert_eq!(sh(&lab, &format!("cat {file}")).await, "vm.swappiness=11\n");
    assert_ne!(sh(&lab, "cat /proc/sys/vm/swappiness").await.trim(), "11");
    // sysctl_set refuses before writing anything, as Ansible sets the value first.
    let err = run_module(
        &conn,
        &env,
        "sysctl",
        json!({"name": "vm.swappiness", "value": "12", "sysctl_file": file, "sysctl_set": true, "reload": false}),
        false,
        false,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ModuleError::Unsupported(_)) && err.to_string().contains("setting vm.swappiness failed"), "{err}");
    assert_eq!(sh(&lab, &format!("cat {file}")).await, "vm.swappiness=11\n");
    // Check mode only reports.
    assert!(ok(run_module(&conn, &env, "sysctl", json!({"name": "vm.swappiness", "value": "13", "sysctl_file": file}), true, false).await).changed);
}

#[tokio::test(flavor = "multi_thread")]
async fn modprobe_container_refuses_kernel_module_load_but_keeps_boot_files() {
    let lab = TestLab::start(1).await;
    let conn = lab.connection("h1");
    let (_d, env) = env();
    assert_eq!(status(&lab, "test -d /sys/module/dummy").await, 1, "the test needs a module the host kernel has not loaded");
    assert_eq!(status(&lab, "test -d /sys/module/overlay").await, 0, "Docker's overlay2 storage means the host has overlay loaded");

    let err = run_module(&conn, &env, "modprobe", json!({"name": "bad name"}), false, false).await.unwrap_err();
    assert!(err.to_string().contains("not a kernel module name"), "{err}");
    let err = run_module(&conn, &env, "modprobe", json!({"name": "dummy", "params": "numdummies"}), false, false).await.unwrap_err();
    assert!(err.to_string().contains("'numdummies' is not key=value"), "{err}");

    // Loading: refused plainly, in check mode too, and nothing is written.
    for check in [false, true] {
        let err = run_module(&conn, &env, "modprobe", json!({"name": "dummy", "persistent": "present"}), check, false).await.unwrap_err();
        assert!(matches!(err, ModuleError::Unsupported(_)), "{err:?}");
        assert!(err.to_string().contains("cannot load kernel module 'dummy': this host is a container (docker)"), "{err}");
    }
    assert_eq!(status(&lab, "test -e /etc/modules-load.d/dummy.conf").await, 1);
    let err = run_module(&conn, &env, "modprobe", json!({"name": "overlay", "state": "absent"}), false, false).await.unwrap_err();
    assert!(err.to_string().contains("cannot unload kernel module 'overlay'"), "{err}");

    // A module the host has loaded is present; its boot files are managed for real.
    let args = json!({"name": "overlay", "persistent": "present", "params": "redirect_dir=on"});
    let o = ok(run_module(&conn, &env, "modprobe", args.clone(), false, false).await);
    assert!(o.changed);
    assert_eq!(
        (o.data["name"].as_str(), o.data["params"].as_str(), o.data["state"].as_str()),
        (Some("overlay"), Some("redirect_dir=on"), Some("present"))
    );
    assert_eq!(sh(&lab, "cat /etc/modules-load.d/overlay.conf /etc/modprobe.d/overlay.conf").await, "overlay\noptions overlay redirect_dir=on\n");
    assert!(!ok(run_module(&conn, &env, "modprobe", args.clone(), false, false).await).changed);
    sh(&lab, "rm /etc/modules-load.d/overlay.conf").await;
    let o = ok(run_module(&conn, &env, "modprobe", args.clone(), true, true).await);
    assert!(o.changed);
    assert_eq!(o.diffs[0].after, "overlay\n");
    assert_eq!(status(&lab, "test -e /etc/modules-load.d/overlay.conf").await, 1);
    assert!(ok(run_module(&conn, &env, "modprobe", args.clone(), false, false).await).changed);
    // persistent: absent comments the lines out.
    assert!(ok(run_module(&conn, &env, "modprobe", json!({"name": "overlay", "persistent": "absent"}), false, false).await).changed);
    assert_eq!(sh(&lab, "cat /etc/modules-load.d/overlay.conf /etc/modprobe.d/overlay.conf").await, "#overlay\n#options overlay redirect_dir=on\n");
    assert!(!ok(run_module(&conn, &env, "modprobe", json!({"name": "overlay", "persistent": "absent"}), false, false).await).changed);
}

#[tokio::test(flavor = "multi_thread")]
async fn mount_mounts_remounts_and_keeps_fstab_in_order() {
    let lab = TestLab::start(1).await;
    let conn = lab.connection("h1");
    let (_d, env) = env();
    sh(&lab, "printf '# static file system information\\nproc /proc proc defaults 0 0\\n' > /etc/fstab; mkdir -p /srv/data && echo hi > /srv/data/f")
        .await;

    let err = run_module(&conn, &env, "mount", json!({"path": "/mnt/x", "state": "mounted", "fstype": "tmpfs"}), false, false).await.unwrap_err();
    assert!(err.to_string().contains("missing: src"), "{err}");
    let err = run_module(&conn, &env, "mount", json!({"path": "mnt/x", "state": "unmounted"}), false, false).await.unwrap_err();
    assert!(err.to_string().contains("path must be absolute"), "{err}");
    let err = run_module(&conn, &env, "mount", json!({"path": "/mnt/x", "state": "ephemeral"}), false, false).await.unwrap_err();
    assert!(err.to_string().contains("must be one of"), "{err}");

    let tmpfs = |size: &str| json!({"path": "/mnt/scratch", "src": "tmpfs", "fstype": "tmpfs", "opts": format!("size={size}"), "state": "mounted"});
    // (1) From scratch: folder made, line appended, mounted.
    let o = ok(run_module(&conn, &env, "mount", tmpfs("1m"), false, false).await);
    assert!(o.changed);
    assert_eq!(o.data["fstab"], "/etc/fstab");
    assert_eq!(
        sh(&lab, "cat /etc/fstab").await,
        "# static file system information\nproc /proc proc defaults 0 0\ntmpfs /mnt/scratch tmpfs size=1m 0 0\n"
    );
    assert_eq!(
        sh(&lab, "findmnt -n -o FSTYPE,OPTIONS /mnt/scratch").await.split_whitespace().collect::<Vec<_>>(),
        ["tmpfs", "rw,relatime,size=1024k"]
    );
    // (2) Again.
    assert!(!ok(run_module(&conn, &env, "mount", tmpfs("1m"), false, false).await).changed);
    // (3) Check mode against an unmounted host.
    sh(&lab, "umount /mnt/scratch").await;
    let o = ok(run_module(&conn, &env, "mount", tmpfs("1m"), true, false).await);
    assert!(o.changed);
    assert_eq!(status(&lab, "findmnt /mnt/scratch").await, 1, "check mode mounted nothing");
    assert!(ok(run_module(&conn, &env, "mount", tmpfs("1m"), false, false).await).changed);
    // New options: the line changes in place and the mount is remounted with them.
    sh(&lab, "echo 'LABEL=data /data ext4 defaults 0 2' >> /etc/fstab").await;
    let o = ok(run_module(&conn, &env, "mount", tmpfs("2m"), false, true).await);
    assert!(o.changed);
    assert_eq!(
        o.diffs[0].after,
        "# static file system information\nproc /proc proc defaults 0 0\ntmpfs /mnt/scratch tmpfs size=2m 0 0\nLABEL=data /data ext4 defaults 0 2\n"
    );
    assert_eq!(sh(&lab, "cat /etc/fstab").await, o.diffs[0].after);
    assert!(sh(&lab, "findmnt -n -o OPTIONS /mnt/scratch").await.contains("size=2048k"));
    // unmounted keeps the line; absent removes line and folder.
    assert!(ok(run_module(&conn, &env, "mount", json!({"path": "/mnt/scratch", "state": "unmounted"}), false, false).await).changed);
    assert_eq!(status(&lab, "findmnt /mnt/scratch").await, 1);
    assert!(sh(&lab, "cat /etc/fstab").await.contains("/mnt/scratch"));
    assert!(!ok(run_module(&conn, &env, "mount", json!({"path": "/mnt/scratch", "state": "unmounted"}), false, false).await).changed);
    assert!(ok(run_module(&conn, &env, "mount", json!({"path": "/mnt/scratch", "state": "absent"}), false, false).await).changed);
    assert!(!sh(&lab, "cat /etc/fstab").await.contains("/mnt/scratch"));
    assert_eq!(status(&lab, "test -e /mnt/scratch").await, 1);

    // A bind mount.
    let bind = json!({"path": "/mnt/data", "src": "/srv/data", "fstype": "none", "opts": "bind", "state": "mounted"});
    assert!(ok(run_module(&conn, &env, "mount", bind.clone(), false, false).await).changed);
    assert_eq!(sh(&lab, "cat /mnt/data/f").await, "hi\n");
    assert!(!ok(run_module(&conn, &env, "mount", bind, false, false).await).changed);
}

#[tokio::test(flavor = "multi_thread")]
async fn mount_nfs_in_a_container_stops_at_missing_kernel_support_with_a_clear_message() {
    let lab = TestLab::start(1).await;
    let conn = lab.connection("h1");
    let (_d, env) = env();
    let nfs = |state: &str| json!({"path": "/mnt/media", "src": "nas.home.arpa:/export/media", "fstype": "nfs", "opts": "rw,soft,nfsvers=4.2", "state": state});

    // present: the fstab line is written for real.
    assert!(ok(run_module(&conn, &env, "mount", nfs("present"), false, false).await).changed);
    let fstab = sh(&lab, "cat /etc/fstab").await;
    assert!(fstab.ends_with("nas.home.arpa:/export/media /mnt/media nfs rw,soft,nfsvers=4.2 0 0\n"), "{fstab}");
    assert!(!ok(run_module(&conn, &env, "mount", nfs("present"), false, false).await).changed);
    // mounted: nothing on this host can mount nfs; the message says why and what to install.
    let msg = failure(run_module(&conn, &env, "mount", nfs("mounted"), false, false).await);
    assert_eq!(
        msg,
        "Error mounting /mnt/media: neither the kernel nor a mount helper (/sbin/mount.nfs) knows the file system type nfs \
         (apt-get install nfs-common); inside a container (docker) the machine that runs it must also support nfs"
    );
    assert_eq!(sh(&lab, "cat /etc/fstab").await, fstab, "fstab as it was");
    assert_eq!(status(&lab, "test -e /mnt/media").await, 1, "no folder left behind");
}

/// A module run that changes nothing costs one command on the host (the probe), for every module here.
#[tokio::test(flavor = "multi_thread")]
async fn a_no_op_costs_one_round_trip() {
    use std::sync::Arc;
    use std::sync::atomic::Ordering;
    let lab = TestLab::start(1).await;
    let counting = Arc::new(system_support::Counting { inner: lab.transport("h1"), runs: Default::default() });
    let conn = hlprov::transport::Connection::new(counting.clone(), "root".into(), None);
    let (_d, env) = env();
    let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKEY alice@laptop";
    sh(&lab, &format!(
        "useradd -m alice && mkdir -m 700 ~alice/.ssh && echo '{key}' > ~alice/.ssh/authorized_keys && \
         echo 'vm.swappiness=10' > /etc/sysctl.d/90-x.conf && \
         echo overlay > /etc/modules-load.d/overlay.conf && \
         mkdir -p /mnt/t && echo 'tmpfs /mnt/t tmpfs size=1m 0 0' >> /etc/fstab && mount /mnt/t && \
         echo data > /opt/file && \
         echo 'deb [trusted=yes] file:/srv/repo ./' > /etc/apt/sources.list.d/repo.list && \
         printf 'Components: main\\nX-Repolib-Name: r\\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\\nSuites: bookworm\\nTypes: deb\\nURIs: http://deb.debian.org/debian\\n' > /etc/apt/sources.list.d/r.sources && \
         mkdir -p /root/a/x /opt/un && echo 1 > /root/a/x/f && tar -C /root/a -cf /root/a.tar x && tar -C /opt/un -xf /root/a.tar"
    )).await;
    let sum = sh(&lab, "sha256sum /opt/file | cut -c1-64").await.trim().to_string();
    let cases = [
        ("apt", json!({"name": "dpkg"})),
        ("apt_repository", json!({"repo": "deb [trusted=yes] file:/srv/repo ./"})),
        (
            "deb822_repository",
            json!({"name": "r", "uris": "http://deb.debian.org/debian", "suites": "bookworm", "components": "main", "signed_by": "/usr/share/keyrings/debian-archive-keyring.gpg"}),
        ),
        ("systemd", json!({"name": "ssh", "state": "started", "enabled": true})),
        ("service", json!({"name": "ssh", "state": "started"})),
        ("user", json!({"name": "alice", "shell": "/bin/sh"})),
        ("group", json!({"name": "alice"})),
        ("authorized_key", json!({"user": "alice", "key": key})),
        ("hostname", json!({"name": "h1"})),
        ("sysctl", json!({"name": "vm.swappiness", "value": 10, "sysctl_file": "/etc/sysctl.d/90-x.conf", "reload": false})),
        ("modprobe", json!({"name": "overlay", "persistent": "present"})),
        ("mount", json!({"path": "/mnt/t", "src": "tmpfs", "fstype": "tmpfs", "opts": "size=1m", "state": "mounted"})),
        ("get_url", json!({"url": "http://127.0.0.1:9/file", "dest": "/opt/file", "checksum": format!("sha256:{sum}")})),
        ("unarchive", json!({"src": "/root/a.tar", "dest": "/opt/un", "remote_src": true})),
        ("wait_for", json!({"path": "/opt/file"})),
    ];
    for (module, args) in cases {
        let before = counting.runs.load(Ordering::SeqCst);
        let o = ok(run_module(&conn, &env, module, args, false, false).await);
        assert!(!o.changed, "{module} changed something: {:?}", o.to_value());
        assert_eq!(counting.runs.load(Ordering::SeqCst) - before, 1, "{module} took more than one round trip");
    }
}
