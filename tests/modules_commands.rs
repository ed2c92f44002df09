//! command, shell, raw and script on a real host, in the four steps every module gets: from scratch (the host
//! read back with docker exec), again (creates/removes make it a no-op), check mode against a changed host
//! (nothing runs, changed is reported), and bad arguments. raw always runs and always reports changed, as
//! Ansible's does, and has no check mode.

mod common;
mod system_support;

use common::{TestLab, run_module};
use serde_json::json;
use system_support::{env, failure, ok, sh, status};

#[tokio::test(flavor = "multi_thread")]
async fn command_runs_argv_and_strings_without_a_shell_and_creates_removes_make_it_idempotent() {
    let lab = TestLab::start(1).await;
    let conn = lab.connection("h1");
    let (_d, env) = env();
    sh(&lab, "mkdir -p /srv/work && rm -f /srv/work/made").await;

    // (4) Bad arguments are refused before anything runs.
    let err = run_module(&conn, &env, "command", json!({"chdir": "/tmp"}), false, false).await.unwrap_err();
    assert!(err.to_string().contains("one of these arguments is required: cmd, argv"), "{err}");
    let err = run_module(&conn, &env, "command", json!({"cmd": "true", "argv": ["true"]}), false, false).await.unwrap_err();
    assert!(err.to_string().contains("mutually exclusive"), "{err}");
    let err = run_module(&conn, &env, "command", json!({"cmd": "true", "stdin_add_newline": "perhaps"}), false, false).await.unwrap_err();
    assert!(err.to_string().contains("stdin_add_newline"), "{err}");
    // A chdir that does not exist fails with Ansible's words, and runs nothing.
    let o = run_module(&conn, &env, "command", json!({"cmd": "touch made", "chdir": "/srv/nowhere"}), false, false).await.unwrap();
    assert!(o.failed && !o.changed);
    let msg = o.msg.clone().unwrap_or_default();
    assert!(msg.starts_with("Unable to change directory before execution: ") && msg.contains("/srv/nowhere"), "{msg}");
    assert!(!o.data.contains_key("rc"), "nothing ran, so no rc (as Ansible): {:?}", o.data);
    assert_eq!(status(&lab, "test -e /srv/nowhere/made || test -e made").await, 1);

    // (1) From scratch: no shell, so `;` and `$HOME` reach the program as words.
    let args =
        json!({"argv": ["sh", "-c", "printf '%s|' \"$@\" > made", "x", "a b", "$HOME", ";"], "chdir": "/srv/work", "creates": "/srv/work/made"});
    let o = ok(run_module(&conn, &env, "command", args.clone(), false, false).await);
    assert!(o.changed);
    assert_eq!(o.data["rc"], 0);
    assert_eq!(sh(&lab, "cat /srv/work/made").await, "a b|$HOME|;|");
    // (2) Again: creates exists, so it is skipped and reports no change.
    let o = ok(run_module(&conn, &env, "command", args.clone(), false, false).await);
    assert!(!o.changed);
    assert_eq!(o.msg.as_deref(), Some("Did not run command since '/srv/work/made' exists"));
    // (3) Check mode against a changed host: would run, reports changed, runs nothing.
    sh(&lab, "rm /srv/work/made").await;
    let o = ok(run_module(&conn, &env, "command", args.clone(), true, false).await);
    assert!(o.changed);
    assert_eq!(o.msg.as_deref(), Some("Command would have run if not in check mode"));
    assert_eq!(status(&lab, "test -e /srv/work/made").await, 1, "check mode ran the command");
    // Without creates/removes, check mode skips the command (Ansible: "skipped").
    let o = ok(run_module(&conn, &env, "command", json!({"cmd": "touch /srv/work/made"}), true, false).await);
    assert!(o.skipped && !o.changed);
    assert_eq!(status(&lab, "test -e /srv/work/made").await, 1);

    // removes: runs only while the path exists.
    sh(&lab, "touch /srv/work/old").await;
    let rm = json!({"cmd": "rm /srv/work/old", "removes": "/srv/work/old"});
    assert!(ok(run_module(&conn, &env, "command", rm.clone(), false, false).await).changed);
    assert_eq!(status(&lab, "test -e /srv/work/old").await, 1);
    let o = ok(run_module(&conn, &env, "command", rm, false, false).await);
    assert!(!o.changed);
    assert_eq!(o.msg.as_deref(), Some("Did not run command since '/srv/work/old' does not exist"));

    // A string command is split into words, not given to a shell; stdin is fed (with a newline by default);
    // rc, stdout, stderr and their lines are registered as Ansible registers them.
    let o = run_module(&conn, &env, "command", json!({"cmd": "cat", "stdin": "line one"}), false, false).await.unwrap();
    assert!(!o.failed);
    assert_eq!(o.data["stdout"], "line one");
    assert_eq!(o.data["stdout_lines"], json!(["line one"]));
    let o = run_module(&conn, &env, "command", json!({"cmd": "ls /nonexistent; echo"}), false, false).await.unwrap();
    assert!(o.failed);
    assert_eq!(o.msg.as_deref(), Some("non-zero return code"));
    assert_eq!(o.data["rc"], 2);
    assert!(o.data["stderr"].as_str().unwrap().contains("/nonexistent;"), "`;` was a word, not a shell separator: {:?}", o.data["stderr"]);
    assert_eq!(o.data["stdout"], "");
}

#[tokio::test(flavor = "multi_thread")]
async fn shell_raw_and_script_run_on_the_host_like_ansible() {
    let lab = TestLab::start(1).await;
    let conn = lab.connection("h1");
    let (dir, env) = env();
    sh(&lab, "mkdir -p /srv/work && rm -f /srv/work/*").await;

    // shell (4): a bad argument.
    let err = run_module(&conn, &env, "shell", json!({"cmd": "true", "creates": ["a", "b"]}), false, false).await.unwrap_err();
    assert!(err.to_string().contains("creates"), "{err}");
    // shell (1): pipes, redirections and variables are the shell's; executable picks the shell.
    let args = json!({"cmd": "echo \"$0\" | tr a-z A-Z > /srv/work/shell.out", "executable": "/bin/bash", "creates": "/srv/work/shell.out"});
    assert!(ok(run_module(&conn, &env, "shell", args.clone(), false, false).await).changed);
    assert_eq!(sh(&lab, "cat /srv/work/shell.out").await, "/BIN/BASH\n");
    // shell (2) and (3).
    assert!(!ok(run_module(&conn, &env, "shell", args.clone(), false, false).await).changed);
    sh(&lab, "rm /srv/work/shell.out").await;
    assert!(ok(run_module(&conn, &env, "shell", args, true, false).await).changed);
    assert_eq!(status(&lab, "test -e /srv/work/shell.out").await, 1);
    // A failing pipeline reports its rc and stderr.
    let o = run_module(&conn, &env, "shell", json!({"cmd": "echo out; echo err >&2; exit 7"}), false, false).await.unwrap();
    assert!(o.failed);
    assert_eq!((o.data["rc"].clone(), o.data["stdout"].clone(), o.data["stderr"].clone()), (json!(7), json!("out"), json!("err")));

    // script (4): a script that is not on the controller.
    let msg = failure(run_module(&conn, &env, "script", json!({"cmd": "missing.sh"}), false, false).await);
    assert!(msg.contains("could not find 'missing.sh'"), "{msg}");
    // script (1): copied, run with its arguments, and removed from the host afterwards.
    std::fs::write(dir.path().join("setup.sh"), "#!/bin/sh\nprintf '%s\\n' \"$@\" > /srv/work/script.out\necho done\n").unwrap();
    let before = sh(&lab, "ls /tmp | sort").await;
    let args = json!({"cmd": "setup.sh 'one two' three", "creates": "/srv/work/script.out"});
    let o = ok(run_module(&conn, &env, "script", args.clone(), false, false).await);
    assert!(o.changed);
    assert_eq!(o.data["stdout"], "done\n", "script keeps its output as it came, as Ansible's does");
    assert_eq!(sh(&lab, "cat /srv/work/script.out").await, "one two\nthree\n");
    assert_eq!(sh(&lab, "ls /tmp | sort").await, before, "the script's temp file was left on the host");
    // script (2) and (3).
    assert!(!ok(run_module(&conn, &env, "script", args.clone(), false, false).await).changed);
    sh(&lab, "rm /srv/work/script.out").await;
    assert!(ok(run_module(&conn, &env, "script", args, true, false).await).changed);
    assert_eq!(status(&lab, "test -e /srv/work/script.out").await, 1);

    // raw: sent as it is, always changed (Ansible's raw has no creates and no check mode: the executor skips it
    // in check mode).
    let raw = json!({"cmd": "echo raw >> /srv/work/raw.out; cat /srv/work/raw.out | wc -l"});
    assert_eq!(ok(run_module(&conn, &env, "raw", raw.clone(), false, false).await).data["stdout"], "1\n");
    let o = ok(run_module(&conn, &env, "raw", raw, false, false).await);
    assert!(o.changed);
    assert_eq!(o.data["stdout"], "2\n", "raw keeps its output as it came");
    assert_eq!(hlprov::modules::registry::find("raw").unwrap().spec().check_mode, hlprov::modules::CheckMode::None);
    let o = run_module(&conn, &env, "raw", json!({"cmd": "exit 3"}), false, false).await.unwrap();
    assert!(o.failed);
    assert_eq!(o.data["rc"], 3);
}
