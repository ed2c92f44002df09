//! systemd, service and reboot on real hosts with systemd as PID 1. A test unit logs every start and reload to a
//! file, so restarts and reloads are proven by the unit itself; states are read back with systemctl over
//! docker exec.

mod common;
mod system_support;

use common::{TestLab, run_module};
use hlprov::modules::ModuleError;
use serde_json::json;
use system_support::{env, failure, ok, sh};

/// A unit (installed where packages put theirs, so it can be masked) that appends "started" when it starts and "reloaded" on SIGHUP (its ExecReload).
const DEMO_UNIT: &str = "[Unit]\nDescription=hlprov demo\n[Service]\n\
ExecStart=/bin/sh -c 'trap \"echo reloaded >> /root/demo.log\" HUP; echo started >> /root/demo.log; while :; do sleep 1 & wait; done'\n\
ExecReload=/bin/kill -HUP $MAINPID\n[Install]\nWantedBy=multi-user.target\n";

async fn unit_state(lab: &TestLab) -> (String, String) {
    let active = lab.docker_exec("h1", "systemctl is-active hlprov-demo").await.1.trim().to_string();
    let enabled = lab.docker_exec("h1", "systemctl is-enabled hlprov-demo").await.1.trim().to_string();
    (active, enabled)
}

async fn log(lab: &TestLab) -> String {
    lab.docker_exec("h1", "cat /root/demo.log 2>/dev/null").await.1
}

/// The demo unit's log once it reads `want` (a Type=simple unit writes it just after systemctl returns), or
/// what it reads after 5 s.
async fn log_when(lab: &TestLab, want: &str) -> String {
    for _ in 0..50 {
        let got = log(lab).await;
        if got == want {
            return got;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    log(lab).await
}

#[tokio::test(flavor = "multi_thread")]
async fn systemd_starts_enables_restarts_reloads_and_masks_units() {
    let lab = TestLab::start(1).await;
    let conn = lab.connection("h1");
    let (_d, env) = env();
    sh(&lab, &format!("printf '%s' '{}' > /lib/systemd/system/hlprov-demo.service", DEMO_UNIT.replace('\'', "'\\''"))).await;

    // (4) Bad arguments and a unit that does not exist.
    let err = run_module(&conn, &env, "systemd", json!({"name": "hlprov-demo", "state": "running"}), false, false).await.unwrap_err();
    assert!(err.to_string().contains("must be one of started, stopped, restarted, reloaded"), "{err}");
    let err = run_module(&conn, &env, "systemd", json!({"name": "hlprov-*", "state": "started"}), false, false).await.unwrap_err();
    assert!(err.to_string().contains("glob patterns"), "{err}");
    let err = run_module(&conn, &env, "systemd", json!({"state": "started"}), false, false).await.unwrap_err();
    assert!(err.to_string().contains("required by 'state': name"), "{err}");
    let msg = failure(run_module(&conn, &env, "systemd", json!({"name": "hlprov-nosuch", "state": "started"}), false, false).await);
    assert_eq!(msg, "Could not find the requested service hlprov-nosuch: host");

    // (1) From scratch: daemon-reload picks up the new unit, it starts and is enabled.
    let o = ok(run_module(
        &conn,
        &env,
        "systemd_service",
        json!({"name": "hlprov-demo", "state": "started", "enabled": true, "daemon_reload": true}),
        false,
        false,
    )
    .await);
    assert!(o.changed);
    assert_eq!((o.data["state"].as_str(), o.data["enabled"].as_bool()), (Some("started"), Some(true)));
    assert_eq!(o.data["status"]["LoadState"], "loaded", "the registered status is systemctl show's");
    assert_eq!(unit_state(&lab).await, ("active".to_string(), "enabled".to_string()));
    assert_eq!(log_when(&lab, "started\n").await, "started\n");
    // (2) Again: nothing to do.
    let o = ok(run_module(&conn, &env, "systemd", json!({"name": "hlprov-demo.service", "state": "started", "enabled": true}), false, false).await);
    assert!(!o.changed);
    // (3) Check mode against a changed host: reported, nothing moves.
    sh(&lab, "systemctl stop hlprov-demo && systemctl disable -q hlprov-demo").await;
    let o = ok(run_module(&conn, &env, "systemd", json!({"name": "hlprov-demo", "state": "started", "enabled": true}), true, true).await);
    assert!(o.changed);
    // One diff per change: enabling, then starting.
    let befores: Vec<&str> = o.diffs.iter().map(|d| d.before.as_str()).collect();
    assert_eq!(befores, ["enabled: false\n", "state: inactive\n"]);
    assert_eq!(unit_state(&lab).await, ("inactive".to_string(), "disabled".to_string()));
    assert_eq!(log(&lab).await, "started\n");

    // restarted and reloaded always act; reloaded on a running unit really reloads it.
    ok(run_module(&conn, &env, "systemd", json!({"name": "hlprov-demo", "state": "started"}), false, false).await);
    assert!(ok(run_module(&conn, &env, "systemd", json!({"name": "hlprov-demo", "state": "restarted"}), false, false).await).changed);
    assert_eq!(log_when(&lab, "started\nstarted\nstarted\n").await, "started\nstarted\nstarted\n");
    let o = ok(run_module(&conn, &env, "systemd", json!({"name": "hlprov-demo", "state": "reloaded"}), false, false).await);
    assert!(o.changed);
    assert_eq!(o.data["state"], "started", "Ansible reports reloaded as started");
    for _ in 0..50 {
        if log(&lab).await.ends_with("reloaded\n") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(log(&lab).await, "started\nstarted\nstarted\nreloaded\n");

    // stopped, then masked: nothing can start it.
    assert!(ok(run_module(&conn, &env, "systemd", json!({"name": "hlprov-demo", "state": "stopped", "masked": true}), false, false).await).changed);
    assert_eq!(unit_state(&lab).await, ("inactive".to_string(), "masked".to_string()));
    assert!(!ok(run_module(&conn, &env, "systemd", json!({"name": "hlprov-demo", "state": "stopped", "masked": true}), false, false).await).changed);
    assert!(lab.docker_exec("h1", "systemctl start hlprov-demo").await.0 != 0, "a masked unit cannot start");
    // Unmask and enable in one task: enabling sees the unmasked unit.
    assert!(ok(run_module(&conn, &env, "systemd", json!({"name": "hlprov-demo", "masked": false, "enabled": true}), false, false).await).changed);
    assert_eq!(unit_state(&lab).await.1, "enabled");
}

#[tokio::test(flavor = "multi_thread")]
async fn service_hands_over_to_systemd_and_warns_about_sysv_arguments() {
    let lab = TestLab::start(1).await;
    let conn = lab.connection("h1");
    let (_d, env) = env();
    sh(&lab, &format!("printf '%s' '{}' > /lib/systemd/system/hlprov-demo.service && systemctl daemon-reload", DEMO_UNIT.replace('\'', "'\\''")))
        .await;

    let err = run_module(&conn, &env, "service", json!({"name": "hlprov-demo"}), false, false).await.unwrap_err();
    assert!(err.to_string().contains("one of these arguments is required: state, enabled"), "{err}");
    let err =
        run_module(&conn, &env, "service", json!({"name": "hlprov-demo", "state": "started", "use": "sysvinit"}), false, false).await.unwrap_err();
    assert!(matches!(err, ModuleError::Unsupported(_)), "{err:?}");

    let o = ok(run_module(&conn, &env, "service", json!({"name": "hlprov-demo", "state": "started", "sleep": 2}), false, false).await);
    assert!(o.changed);
    assert_eq!(o.data["warnings"][0], "Ignoring \"sleep\" as it is not used in \"systemd\"");
    assert_eq!(unit_state(&lab).await.0, "active");
    assert!(!ok(run_module(&conn, &env, "service", json!({"name": "hlprov-demo", "state": "started"}), false, false).await).changed);
    sh(&lab, "systemctl stop hlprov-demo").await;
    assert!(ok(run_module(&conn, &env, "service", json!({"name": "hlprov-demo", "state": "started"}), true, false).await).changed);
    assert_eq!(unit_state(&lab).await.0, "inactive");
}

#[tokio::test(flavor = "multi_thread")]
async fn reboot_container_refuses_with_a_clear_message_instead_of_waiting() {
    let lab = TestLab::start(1).await;
    let conn = lab.connection("h1");
    let (_d, env) = env();
    let boot_id = sh(&lab, "cat /proc/sys/kernel/random/boot_id").await;

    let err = run_module(&conn, &env, "reboot", json!({"reboot_timeout": "soon"}), false, false).await.unwrap_err();
    assert!(err.to_string().contains("must be an integer"), "{err}");
    let err = run_module(&conn, &env, "reboot", json!({"pre_reboot_delay": -5}), false, false).await.unwrap_err();
    assert!(err.to_string().contains("must not be negative"), "{err}");

    // Check mode: Ansible's answer, and nothing happens.
    let o = ok(run_module(&conn, &env, "reboot", json!({}), true, false).await);
    assert!(o.changed);
    assert_eq!((o.data["rebooted"].as_bool(), o.data["elapsed"].as_u64()), (Some(true), Some(0)));
    // A real run in a container: refused before anything is issued, saying why.
    let err = run_module(&conn, &env, "reboot", json!({}), false, false).await.unwrap_err();
    assert!(matches!(err, ModuleError::Unsupported(_)), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("this host is a container (docker)") && msg.contains(boot_id.trim()), "{msg}");
    assert_eq!(sh(&lab, "systemctl is-system-running").await.trim(), "running", "no reboot was issued");
    assert_eq!(sh(&lab, "cat /proc/sys/kernel/random/boot_id").await, boot_id);
}

#[tokio::test(flavor = "multi_thread")]
async fn reboot_waits_across_a_dropped_connection_for_a_new_boot() {
    let lab = TestLab::start(1).await;
    let conn = lab.connection("h1");
    let (_d, env) = env();
    sh(&lab, "echo boot-1 > /root/boot-id").await;

    // A stand-in for a reboot the container can do: a second later the "boot id" changes and every SSH session
    // is killed, so hlprov loses its connection and has to come back on a new one.
    let fake = json!({
        "boot_time_command": "cat /root/boot-id",
        "reboot_command": "sh -c '(sleep 1; echo boot-2 > /root/boot-id; pkill -KILL -f \"sshd: root@\") >/dev/null 2>&1 &'",
        "reboot_timeout": 60,
        "connect_timeout": 5,
    });
    let o = run_module(&conn, &env, "reboot", json!({"boot_time_command": "true", "reboot_command": "true", "reboot_timeout": 2}), false, false)
        .await
        .unwrap();
    assert!(o.failed, "an empty boot id never counts as a new boot");
    let opened_before = conn.transport().connections_opened();
    let o = ok(run_module(&conn, &env, "reboot", fake.clone(), false, false).await);
    assert!(o.changed);
    assert_eq!(o.data["rebooted"], true);
    assert!(o.data["elapsed"].as_u64().unwrap() >= 1);
    assert_eq!(sh(&lab, "cat /root/boot-id").await, "boot-2\n");
    assert!(conn.transport().connections_opened() > opened_before, "the connection dropped and hlprov reconnected");

    // A boot id that never changes: Ansible's timeout message (and, as in Ansible, rebooted: true).
    let o = run_module(&conn, &env, "reboot", json!({"boot_time_command": "echo same", "reboot_command": "true", "reboot_timeout": 3}), false, false)
        .await
        .unwrap();
    assert!(o.failed);
    assert!(o.msg.as_deref().unwrap().starts_with("Timed out waiting for last boot time check (timeout=3)"), "{:?}", o.msg);
    assert_eq!(o.data["rebooted"], true);
    // A reboot command that is nowhere to be found.
    let msg = failure(
        run_module(
            &conn,
            &env,
            "reboot",
            json!({"boot_time_command": "cat /root/boot-id", "reboot_command": "no-such-shutdown -r now"}),
            false,
            false,
        )
        .await,
    );
    assert!(msg.starts_with("Unable to find command \"no-such-shutdown\""), "{msg}");
}
