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
    let o = ok(run_module(&conn, &env, "systemd_service", json!({"name": "hlprov-demo", "state": "started", "enabled": true, "daemon_reload": true}), false, false).await);
    assert!(o.changed);
    assert_eq!((o.data["state"].as_str(), o.data["enabled"].as_bool()), (Some("started"), Some(true)));
    assert_eq!(o.data["status"]["LoadState"], "loaded", "the registered status is systemctl show's");
    assert_eq!(unit_state(&lab).await, ("active".to_string(), "enabled".to_string()));
    assert_eq!(log(&lab).await, "started\n");
    // (2) Again: nothing to do.
    let o = ok(run_module(&conn, &env, "systemd", json!({"name": "hlprov-demo.service", "state": "started", "enabled": true}), false, false).await);
    assert!(!o.changed);
    // (3) Check mode against a changed host: reported, nothing moves.
    sh(&lab, "systemctl stop hlprov-demo && systemctl disable -q hlprov-demo").await;
    let o = ok(run_module(&conn, &env, "systemd", json!({"name": "hlprov-demo", "state": "started", "enabled": true}), true, true).await);
    assert!(o.changed);
    assert_eq!(o.diffs[0].before, "enabled: false\nstate: inactive\n");
    assert_eq!(unit_state(&lab).await, ("inactive".to_string(), "disabled".to_string()));
    assert_eq!(log(&lab).await, "started\n");

    // restarted and reloaded always act; reloaded on a running unit really reloads it.
    ok(run_module(&conn, &env, "systemd", json!({"name": "hlprov-demo", "state": "started"}), false, false).await);
    assert!(ok(run_module(&conn, &env, "systemd", json!({"name": "hlprov-demo", "state": "restarted"}), false, false).await).changed);
    assert_eq!(log(&lab).await, "started\nstarted\nstarted\n");
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
    sh(&lab, &format!("printf '%s' '{}' > /lib/systemd/system/hlprov-demo.service && systemctl daemon-reload", DEMO_UNIT.replace('\'', "'\\''"))).await;

    let err = run_module(&conn, &env, "service", json!({"name": "hlprov-demo"}), false, false).await.unwrap_err();
    assert!(err.to_string().contains("one of these arguments is required: state, enabled"), "{err}");
    let err = run_module(&conn, &env, "service", json!({"name": "hlprov-demo", "state": "started", "use": "sysvinit"}), false, false).await.unwrap_err();
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
