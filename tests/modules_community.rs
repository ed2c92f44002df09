//! The modules community roles need on Debian hosts (issue 23, and cron, debconf, dpkg_selections,
//! wait_for_connection since): package_facts, service_facts, alternatives and
//! pause, on real hosts. Each state is read back with docker exec (dpkg-query, systemctl, update-alternatives).

mod common;
mod system_support;

use common::{TestLab, run_module};
use serde_json::json;
use system_support::{env, failure, ok, sh, status};

#[tokio::test(flavor = "multi_thread")]
async fn package_facts_and_service_facts_report_what_the_host_has() {
    let lab = TestLab::start(1).await;
    let conn = lab.connection("h1");
    let (_d, env) = env();

    let o = ok(run_module(&conn, &env, "package_facts", json!({}), false, false).await);
    assert!(!o.changed);
    let packages = &o.facts.as_ref().expect("facts")["packages"];
    let want = sh(&lab, "dpkg-query -W -f='${Version} ${Architecture}' openssh-server").await;
    let (version, arch) = want.split_once(' ').unwrap();
    assert_eq!(packages["openssh-server"][0]["version"], version);
    assert_eq!(packages["openssh-server"][0]["arch"], arch);
    assert_eq!(packages["openssh-server"][0]["source"], "apt");
    let count = sh(&lab, "dpkg-query -W -f='${db:Status-Status}\\n' | grep -cx installed").await;
    assert_eq!(packages.as_object().unwrap().len(), count.trim().parse::<usize>().unwrap(), "one entry per installed package name");
    // Check mode reads too (read-only modules run there), and a manager hlprov cannot read is refused.
    assert!(ok(run_module(&conn, &env, "package_facts", json!({}), true, true).await).facts.is_some());
    assert!(failure(run_module(&conn, &env, "package_facts", json!({"manager": "rpm"}), false, false).await).contains("manager 'rpm'"));

    let o = ok(run_module(&conn, &env, "service_facts", json!({}), false, false).await);
    assert!(!o.changed);
    let services = &o.facts.as_ref().expect("facts")["services"];
    assert_eq!(services["ssh.service"]["state"], "running");
    assert_eq!(services["ssh.service"]["source"], "systemd");
    assert_eq!(services["ssh.service"]["status"], sh(&lab, "systemctl is-enabled ssh.service || true").await.trim());
    // A unit started, then stopped behind the module's back; read again in check mode.
    sh(&lab, "printf '[Service]\\nExecStart=/bin/sleep 1000\\n[Install]\\nWantedBy=multi-user.target\\n' > /etc/systemd/system/hlprov-demo.service && systemctl daemon-reload && systemctl start hlprov-demo").await;
    let o = ok(run_module(&conn, &env, "service_facts", json!({}), false, false).await);
    assert_eq!(
        o.facts.as_ref().unwrap()["services"]["hlprov-demo.service"],
        json!({"name": "hlprov-demo.service", "state": "running", "status": "disabled", "source": "systemd"})
    );
    sh(&lab, "systemctl stop hlprov-demo").await;
    let o = ok(run_module(&conn, &env, "service_facts", json!({}), true, false).await);
    // Stopped, systemd unloads it: only its unit file is listed, and Ansible reports its ActiveState, inactive.
    assert_eq!(o.facts.as_ref().unwrap()["services"]["hlprov-demo.service"]["state"], "inactive");
    assert!(failure(run_module(&conn, &env, "service_facts", json!({"bogus": 1}), false, false).await).contains("bogus"));
}

#[tokio::test(flavor = "multi_thread")]
async fn alternatives_installs_selects_and_removes_like_update_alternatives() {
    let lab = TestLab::start(1).await;
    let conn = lab.connection("h1");
    let (_d, env) = env();
    sh(&lab, "for p in a b; do printf '#!/bin/sh\\necho %s\\n' $p > /usr/local/bin/prog-$p; chmod +x /usr/local/bin/prog-$p; done").await;
    let query = || async { sh(&lab, "update-alternatives --query prog | grep -E '^(Status|Value|Alternative|Priority):'").await };

    // (4) Bad input: no path, and a new group without its link.
    assert!(failure(run_module(&conn, &env, "alternatives", json!({"name": "prog"}), false, false).await).contains("missing: path"));
    let no_link = run_module(&conn, &env, "alternatives", json!({"name": "prog", "path": "/usr/local/bin/prog-a"}), false, false).await;
    assert!(failure(no_link).contains("missing the link"));

    // (1) From scratch: installed and selected (manual mode).
    let args = json!({"name": "prog", "path": "/usr/local/bin/prog-a", "link": "/usr/local/bin/prog", "priority": 10});
    let o = ok(run_module(&conn, &env, "alternatives", args.clone(), false, true).await);
    assert!(o.changed);
    assert_eq!(query().await, "Status: manual\nValue: /usr/local/bin/prog-a\nAlternative: /usr/local/bin/prog-a\nPriority: 10\n");
    assert_eq!(sh(&lab, "/usr/local/bin/prog").await, "a\n");
    // (2) Again: nothing to do.
    assert!(!ok(run_module(&conn, &env, "alternatives", args.clone(), false, false).await).changed);

    // (3) Check mode against a host changed behind its back: reported with a diff, nothing moved.
    sh(
        &lab,
        "update-alternatives --install /usr/local/bin/prog prog /usr/local/bin/prog-b 20 >/dev/null && update-alternatives --auto prog >/dev/null",
    )
    .await;
    let o = ok(run_module(&conn, &env, "alternatives", args.clone(), true, true).await);
    assert!(o.changed);
    assert_eq!(o.diffs.len(), 1);
    assert!(o.diffs[0].before.contains("status: auto\nvalue: /usr/local/bin/prog-b\n"), "{}", o.diffs[0].before);
    assert!(o.diffs[0].after.contains("status: manual\nvalue: /usr/local/bin/prog-a\n"), "{}", o.diffs[0].after);
    assert_eq!(sh(&lab, "readlink -f /usr/local/bin/prog").await.trim(), "/usr/local/bin/prog-b");
    assert!(ok(run_module(&conn, &env, "alternatives", args.clone(), false, false).await).changed);
    assert_eq!(sh(&lab, "readlink -f /usr/local/bin/prog").await.trim(), "/usr/local/bin/prog-a");

    // auto, then absent.
    assert!(ok(run_module(&conn, &env, "alternatives", json!({"name": "prog", "state": "auto"}), false, false).await).changed);
    assert!(query().await.starts_with("Status: auto\nValue: /usr/local/bin/prog-b\n"));
    assert!(!ok(run_module(&conn, &env, "alternatives", json!({"name": "prog", "state": "auto"}), false, false).await).changed);
    let absent = json!({"name": "prog", "path": "/usr/local/bin/prog-b", "state": "absent"});
    assert!(ok(run_module(&conn, &env, "alternatives", absent.clone(), false, false).await).changed);
    assert_eq!(query().await, "Status: auto\nValue: /usr/local/bin/prog-a\nAlternative: /usr/local/bin/prog-a\nPriority: 10\n");
    assert!(!ok(run_module(&conn, &env, "alternatives", absent, false, false).await).changed);
}

#[tokio::test(flavor = "multi_thread")]
async fn pause_waits_its_seconds_and_refuses_a_prompt_without_a_terminal() {
    let lab = TestLab::start(1).await;
    let conn = lab.connection("h1");
    let (_d, env) = env();
    let start = std::time::Instant::now();
    let o = ok(run_module(&conn, &env, "pause", json!({"seconds": 2}), false, false).await);
    assert!(start.elapsed() >= std::time::Duration::from_secs(2));
    assert!(!o.changed);
    assert_eq!(o.data["delta"], 2);
    assert!(o.data["stdout"].as_str().unwrap().starts_with("Paused for 2"));
    // Check mode waits too (Ansible's pause does), and changes nothing.
    let start = std::time::Instant::now();
    assert!(!ok(run_module(&conn, &env, "pause", json!({"seconds": 1}), true, true).await).changed);
    assert!(start.elapsed() >= std::time::Duration::from_secs(1));
    // Under the test harness stdin is not a terminal: a prompt with no time is refused at once, with the reason.
    let err = failure(run_module(&conn, &env, "pause", json!({"prompt": "Continue?"}), false, false).await);
    assert!(err.contains("needs a terminal, and stdin is not one"), "{err}");
    assert!(failure(run_module(&conn, &env, "pause", json!({"seconds": 1, "minutes": 1}), false, false).await).contains("mutually exclusive"));
    assert!(failure(run_module(&conn, &env, "pause", json!({"seconds": -1}), false, false).await).contains("cannot be negative"));
}

#[tokio::test(flavor = "multi_thread")]
async fn ufw_adds_and_removes_rules_and_sets_policies_idempotently() {
    let lab = TestLab::start(1).await;
    let conn = lab.connection("h1");
    let (_d, env) = env();
    // (4) Without ufw: a clear failure. Bad input is refused before anything runs.
    assert_eq!(
        failure(run_module(&conn, &env, "ufw", json!({"rule": "allow", "port": "6443"}), false, false).await),
        "ufw is not installed (apt install ufw)"
    );
    sh(&lab, "apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ufw >/dev/null 2>&1").await;
    assert!(failure(run_module(&conn, &env, "ufw", json!({"port": "22"}), false, false).await).contains("one of the following is required"));
    assert!(failure(run_module(&conn, &env, "ufw", json!({"rule": "permit"}), false, false).await).contains("permit"));
    let user_rules = || async { sh(&lab, "grep -h '^### tuple' /etc/ufw/user.rules /etc/ufw/user6.rules; true").await };

    // (1) From scratch: k3s-ansible's rules (the firewall stays off: a container cannot load netfilter rules).
    let api = json!({"rule": "allow", "port": "6443", "proto": "tcp"});
    let o = ok(run_module(&conn, &env, "ufw", api.clone(), false, true).await);
    assert!(o.changed);
    assert_eq!(o.diffs[0].after, "allow tcp 6443 0.0.0.0/0 any 0.0.0.0/0 in\nallow tcp 6443 ::/0 any ::/0 in\n");
    assert_eq!(user_rules().await, "### tuple ### allow tcp 6443 0.0.0.0/0 any 0.0.0.0/0 in\n### tuple ### allow tcp 6443 ::/0 any ::/0 in\n");
    let cidr = json!({"rule": "allow", "src": "10.42.0.0/16"});
    assert!(ok(run_module(&conn, &env, "ufw", cidr.clone(), false, false).await).changed);
    assert!(user_rules().await.contains("### tuple ### allow any any 0.0.0.0/0 any 10.42.0.0/16 in\n"));
    // (2) Again: nothing changes.
    assert!(!ok(run_module(&conn, &env, "ufw", api.clone(), false, false).await).changed);
    assert!(!ok(run_module(&conn, &env, "ufw", cidr.clone(), false, false).await).changed);

    // (3) Check mode against a host changed behind its back: reported with a diff, nothing moved.
    sh(&lab, "ufw delete allow 6443/tcp >/dev/null").await;
    let o = ok(run_module(&conn, &env, "ufw", api.clone(), true, true).await);
    assert!(o.changed);
    assert!(!o.diffs[0].before.contains("6443") && o.diffs[0].after.contains("allow tcp 6443"));
    assert!(!user_rules().await.contains("6443"));

    // delete, and a default policy.
    let gone = json!({"rule": "allow", "src": "10.42.0.0/16", "delete": true});
    assert!(ok(run_module(&conn, &env, "ufw", gone.clone(), false, false).await).changed);
    assert!(!user_rules().await.contains("10.42.0.0/16"));
    assert!(!ok(run_module(&conn, &env, "ufw", gone, false, false).await).changed);
    let policy = json!({"default": "reject", "direction": "incoming"});
    let o = ok(run_module(&conn, &env, "ufw", policy.clone(), false, true).await);
    assert!(o.changed);
    assert_eq!((o.diffs[0].before.as_str(), o.diffs[0].after.as_str()), ("incoming: deny\n", "incoming: reject\n"));
    assert_eq!(sh(&lab, "grep '^DEFAULT_INPUT_POLICY' /etc/default/ufw").await.trim(), "DEFAULT_INPUT_POLICY=\"REJECT\"");
    assert!(!ok(run_module(&conn, &env, "ufw", policy, false, false).await).changed);
}

#[tokio::test(flavor = "multi_thread")]
async fn timezone_sets_the_zone_once_and_reports_a_change_made_behind_its_back() {
    let lab = TestLab::start(1).await;
    let conn = lab.connection("h1");
    let (_d, env) = env();
    let zone = || async { sh(&lab, "readlink /etc/localtime; cat /etc/timezone").await };
    // (4) Bad input and an unknown zone: nothing changes.
    assert!(failure(run_module(&conn, &env, "timezone", json!({"name": "../../etc/passwd"}), false, false).await).contains("not a valid time zone"));
    assert_eq!(
        failure(run_module(&conn, &env, "timezone", json!({"name": "Mars/Olympus"}), false, false).await),
        "given timezone \"Mars/Olympus\" is not available"
    );
    assert_eq!(zone().await, "/usr/share/zoneinfo/Etc/UTC\nEtc/UTC\n");
    // (1) From scratch, (2) again.
    let berlin = json!({"name": "Europe/Berlin"});
    let o = ok(run_module(&conn, &env, "timezone", berlin.clone(), false, true).await);
    assert!(o.changed);
    assert_eq!((o.diffs[0].before.as_str(), o.diffs[0].after.as_str()), ("name: Etc/UTC\n", "name: Europe/Berlin\n"));
    assert_eq!(zone().await, "/usr/share/zoneinfo/Europe/Berlin\nEurope/Berlin\n");
    assert_eq!(sh(&lab, "date +%Z -d 2026-01-01").await, "CET\n");
    assert!(!ok(run_module(&conn, &env, "timezone", berlin.clone(), false, false).await).changed);
    // (3) Check mode against a host changed behind its back: reported, nothing moved.
    sh(&lab, "echo Etc/UTC > /etc/timezone").await;
    assert!(ok(run_module(&conn, &env, "timezone", berlin.clone(), true, true).await).changed);
    assert_eq!(zone().await, "/usr/share/zoneinfo/Europe/Berlin\nEtc/UTC\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn iptables_adds_and_removes_a_rule_and_sets_a_policy_idempotently() {
    let lab = TestLab::start(1).await;
    let conn = lab.connection("h1");
    let (_d, env) = env();
    let rule = json!({"chain": "INPUT", "protocol": "tcp", "destination_port": "6443", "jump": "ACCEPT", "comment": "k3s api"});
    // (4) Without iptables, and bad input.
    assert_eq!(failure(run_module(&conn, &env, "iptables", rule.clone(), false, false).await), "iptables is not installed");
    sh(&lab, "apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iptables >/dev/null 2>&1").await;
    assert!(failure(run_module(&conn, &env, "iptables", json!({"jump": "ACCEPT"}), false, false).await).contains("chain is required"));
    assert!(failure(run_module(&conn, &env, "iptables", json!({"chain": "INPUT", "policy": "MAYBE"}), false, false).await).contains("MAYBE"));
    let rules = || async { sh(&lab, "iptables -S INPUT").await };

    // (1) From scratch, read back with iptables -S; (2) again: nothing.
    let o = ok(run_module(&conn, &env, "iptables", rule.clone(), false, true).await);
    assert!(o.changed);
    assert_eq!(o.diffs[0].after, "-A INPUT -p tcp -j ACCEPT --destination-port 6443 -m comment --comment k3s api\n");
    assert_eq!(rules().await, "-P INPUT ACCEPT\n-A INPUT -p tcp -m tcp --dport 6443 -m comment --comment \"k3s api\" -j ACCEPT\n");
    assert!(!ok(run_module(&conn, &env, "iptables", rule.clone(), false, false).await).changed);
    // (3) Check mode against a host changed behind its back: reported, nothing moved.
    sh(&lab, "iptables -F INPUT").await;
    assert!(ok(run_module(&conn, &env, "iptables", rule.clone(), true, true).await).changed);
    assert_eq!(rules().await, "-P INPUT ACCEPT\n");
    // absent, and a policy.
    assert!(ok(run_module(&conn, &env, "iptables", rule.clone(), false, false).await).changed);
    let mut gone = rule.clone();
    gone["state"] = json!("absent");
    assert!(ok(run_module(&conn, &env, "iptables", gone.clone(), false, false).await).changed);
    assert_eq!(rules().await, "-P INPUT ACCEPT\n");
    assert!(!ok(run_module(&conn, &env, "iptables", gone, false, false).await).changed);
    let policy = json!({"chain": "FORWARD", "policy": "DROP"});
    let o = ok(run_module(&conn, &env, "iptables", policy.clone(), false, true).await);
    assert_eq!((o.changed, o.diffs[0].before.as_str(), o.diffs[0].after.as_str()), (true, "policy ACCEPT\n", "policy DROP\n"));
    assert_eq!(sh(&lab, "iptables -S FORWARD | head -n1").await, "-P FORWARD DROP\n");
    assert!(!ok(run_module(&conn, &env, "iptables", policy, false, false).await).changed);
}

/// cron and debconf as in a community role, written from Ansible's documentation. The expected host files and
/// results are what ansible-core 2.19.14's own cron and debconf modules made of the same playbook on the same
/// image (run side by side on 2026-12-04, `ansible-playbook -c community.docker.docker`).
const CRON_DEBCONF: &str = r#"
- hosts: all
  gather_facts: false
  tasks:
    - cron: {name: backup, job: /usr/local/bin/backup, minute: "0", hour: "3"}
      register: r1
    - cron: {name: backup, job: /usr/local/bin/backup, minute: "0", hour: "3"}
      register: r2
    - cron: {name: PATH, env: true, job: "/usr/local/bin:/usr/bin:/bin"}
    - cron: {name: MAILTO, env: true, job: "", insertafter: PATH}
    - cron: {name: adopt, job: /usr/bin/unnamed, minute: "0", hour: "5"}
      register: r3
    - cron: {name: boot, job: /usr/bin/boot, special_time: reboot, disabled: true}
    - cron: {name: backup, job: /usr/local/bin/backup, minute: "30", hour: "3", backup: true}
      register: r4
    - cron: {name: gone, job: /bin/true}
    - cron: {name: gone, state: absent}
      register: r5
    - user: {name: alice}
    - cron: {name: alice-job, user: alice, job: "date >> /tmp/alice", weekday: "1-5"}
    - cron: {name: sweep, cron_file: hlprov-sweep, user: root, job: "find /tmp -mtime +7 -delete", hour: "4", minute: "15"}
      register: r6
    - cron: {name: sweep2, cron_file: hlprov-sweep, user: nobody, job: "/bin/true", special_time: hourly}
    - cron: {name: SHELL, env: true, cron_file: hlprov-sweep, user: root, job: /bin/sh}
    - cron: {name: one, cron_file: hlprov-one, user: root, job: /bin/true}
    - cron: {name: one, cron_file: hlprov-one, state: absent}
      register: r7
    - cron: {name: x, cron_file: hlprov.bad, user: root, job: /bin/true}
      register: r8
    - debconf: {name: tzdata, question: tzdata/Areas, vtype: select, value: Europe}
      register: d1
    - debconf: {name: tzdata, question: tzdata/Areas, vtype: select, value: Europe}
      register: d2
    - debconf: {name: demo-pkg, question: demo/flag, vtype: boolean, value: true}
      register: d3
    - debconf: {name: demo-pkg, question: demo/flag, vtype: boolean, value: "True"}
      register: d4
    - debconf: {name: demo-pkg, question: demo/multi, vtype: multiselect, value: [b, a]}
      register: d5
    - debconf: {name: demo-pkg, question: demo/multi, vtype: multiselect, value: [a, b]}
      register: d6
    - debconf: {name: demo-pkg, question: demo/text, vtype: string, value: "hello world"}
    - debconf: {name: demo-pkg}
      register: d7
    - copy:
        dest: /tmp/out-results
        content: |
          r1 {{ r1.changed }} {{ r1.jobs }} {{ r1.envs }}
          r2 {{ r2.changed }}
          r3 {{ r3.changed }} {{ r3.jobs }}
          r4 {{ r4.changed }} {{ r4.backup_file is defined }}
          r5 {{ r5.changed }} {{ r5.jobs }}
          r6 {{ r6.changed }} {{ r6.cron_file }} {{ r6.jobs }}
          r7 {{ r7.changed }} {{ r7.state | default('-') }} {{ r7.jobs | default('-') }} {{ r7.cron_file }}
          r8 {{ r8.warnings | default([]) | length }}
          d1 {{ d1.changed }} {{ d1.current }} {{ d1.previous | default('-') }}
          d2 {{ d2.changed }}
          d3 {{ d3.changed }} d4 {{ d4.changed }} d5 {{ d5.changed }} d6 {{ d6.changed }}
          d7 {{ d7.changed }} {{ d7.current | dictsort }}
"#;

/// The state the playbook above leaves, as a role would keep it: every task a no-op once applied.
const CRON_DEBCONF_STATE: &str = r#"
- hosts: all
  gather_facts: false
  tasks:
    - cron: {name: PATH, env: true, job: "/usr/local/bin:/usr/bin:/bin"}
    - cron: {name: MAILTO, env: true, job: "", insertafter: PATH}
    - cron: {name: adopt, job: /usr/bin/unnamed, minute: "0", hour: "5"}
    - cron: {name: backup, job: /usr/local/bin/backup, minute: "30", hour: "3"}
    - cron: {name: boot, job: /usr/bin/boot, special_time: reboot, disabled: true}
    - cron: {name: alice-job, user: alice, job: "date >> /tmp/alice", weekday: "1-5"}
    - cron: {name: sweep, cron_file: hlprov-sweep, user: root, job: "find /tmp -mtime +7 -delete", hour: "4", minute: "15"}
    - cron: {name: one, cron_file: hlprov-one, state: absent}
    - debconf: {name: demo-pkg, question: demo/multi, vtype: multiselect, value: [a, b]}
    - debconf: {name: demo-pkg, question: demo/secret, vtype: password, value: "{{ pw }}"}
"#;

#[tokio::test(flavor = "multi_thread")]
async fn cron_and_debconf_leave_the_host_as_ansible_does_and_a_second_run_changes_nothing() {
    use common::apply_files;
    use hlprov::exec::RunOptions;
    let lab = TestLab::start(1).await;
    let inv = lab.inventory("");
    sh(&lab, "apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq cron >/dev/null 2>&1").await;
    sh(&lab, "printf '0 5 * * * /usr/bin/unnamed\\n' | crontab - && echo 'tzdata tzdata/Areas select Etc' | debconf-set-selections").await;

    let a = apply_files(&inv, &[("site.yml", CRON_DEBCONF)], "site.yml", RunOptions::default()).await.expect("runs");
    assert_eq!(a.summary.exit_code, 0, "{:?}", a.failures());
    assert_eq!(
        sh(&lab, "crontab -l").await,
        "PATH=\"/usr/local/bin:/usr/bin:/bin\"\nMAILTO=\"\"\n#Ansible: adopt\n0 5 * * * /usr/bin/unnamed\n#Ansible: backup\n30 3 * * * /usr/local/bin/backup\n#Ansible: boot\n#@reboot /usr/bin/boot\n"
    );
    assert_eq!(sh(&lab, "crontab -u alice -l").await, "#Ansible: alice-job\n* * * * 1-5 date >> /tmp/alice\n");
    assert_eq!(
        sh(&lab, "cat /etc/cron.d/hlprov-sweep; stat -c %a /etc/cron.d/hlprov-sweep; ls /etc/cron.d").await,
        "SHELL=\"/bin/sh\"\n#Ansible: sweep\n15 4 * * * root find /tmp -mtime +7 -delete\n#Ansible: sweep2\n@hourly nobody /bin/true\n644\ne2scrub_all\nhlprov-sweep\nhlprov.bad\n"
    );
    assert_eq!(
        sh(&lab, "debconf-show demo-pkg tzdata 2>/dev/null | grep '^\\*' | sort").await,
        "* demo/flag: true\n* demo/multi: b, a\n* demo/text: hello world\n* tzdata/Areas: Europe\n* tzdata/Zones/Etc: UTC\n"
    );
    assert_eq!(
        sh(&lab, "cat /tmp/out-results").await,
        "r1 True ['backup'] []\nr2 False\nr3 True ['adopt', 'backup']\nr4 True True\nr5 True ['adopt', 'backup', 'boot']\n\
         r6 True hlprov-sweep ['sweep']\nr7 True absent - hlprov-one\nr8 1\n\
         d1 True {'tzdata/Areas': 'Europe'} {'tzdata/Areas': 'Etc'}\nd2 False\nd3 True d4 False d5 True d6 False\n\
         d7 False [['demo/flag', 'true'], ['demo/multi', 'b, a'], ['demo/text', 'hello world']]\n"
    );
    // The backup holds the crontab as it was before that task.
    let backup = sh(&lab, "cat /tmp/crontab*").await;
    assert!(backup.contains("0 3 * * * /usr/local/bin/backup\n") && !backup.contains("30 3"), "{backup}");

    // The state kept by a role: a password set once, then nothing to do, in check mode or not.
    let secret = "s3cr3t-Preseed";
    let vars = |pw: &str| RunOptions { extra_vars: serde_json::json!({"pw": pw}).as_object().cloned().unwrap(), diff: true, ..Default::default() };
    let a = apply_files(&inv, &[("state.yml", CRON_DEBCONF_STATE)], "state.yml", vars(secret)).await.expect("runs");
    assert_eq!((a.summary.exit_code, a.total_changed()), (0, 1), "only the password is new: {:?}", a.failures());
    assert!(sh(&lab, "cat /var/cache/debconf/passwords.dat").await.contains(&format!("Value: {secret}\n")));
    for check in [true, false] {
        let opts = RunOptions { check, ..vars(secret) };
        let a = apply_files(&inv, &[("state.yml", CRON_DEBCONF_STATE)], "state.yml", opts).await.expect("runs");
        assert_eq!((a.summary.exit_code, a.total_changed()), (0, 0), "check={check}: {:?}", a.results());
    }
    // Changed behind its back: check mode reports each difference and moves nothing; the password is never shown.
    sh(&lab, "crontab -l | sed 's/^30 3 /0 3 /' | crontab - && printf '#Ansible: one\\n* * * * * root x\\n' > /etc/cron.d/hlprov-one").await;
    let a = apply_files(&inv, &[("state.yml", CRON_DEBCONF_STATE)], "state.yml", RunOptions { check: true, ..vars("an0ther-Secret") }).await.unwrap();
    assert_eq!(a.total_changed(), 3, "the job's time, the cron file and the password: {:?}", a.results());
    assert!(sh(&lab, "crontab -l").await.contains("\n0 3 * * * /usr/local/bin/backup\n"), "check mode wrote the crontab");
    assert_eq!(status(&lab, "test -f /etc/cron.d/hlprov-one").await, 0, "check mode removed the file");
    let events = format!("{:?}", a.events);
    assert!(!events.contains("an0ther-Secret") && !events.contains(secret), "a password reached the events");
    let a = apply_files(&inv, &[("state.yml", CRON_DEBCONF_STATE)], "state.yml", vars("an0ther-Secret")).await.unwrap();
    assert_eq!(a.summary.exit_code, 0, "{:?}", a.failures());
    assert_eq!(status(&lab, "test -e /etc/cron.d/hlprov-one").await, 1, "an emptied cron file is removed, as Ansible does");
    assert!(sh(&lab, "cat /var/cache/debconf/passwords.dat").await.contains("Value: an0ther-Secret\n"));
    let again = apply_files(&inv, &[("state.yml", CRON_DEBCONF_STATE)], "state.yml", vars("an0ther-Secret")).await.unwrap();
    assert_eq!(again.total_changed(), 0, "{:?}", again.results());

    // Bad input, in Ansible's words, and a host without a crontab command.
    let conn = lab.connection("h1");
    let (_d, env) = env();
    let bad = json!({"name": "a", "job": "x", "special_time": "daily", "hour": "1"});
    assert!(failure(run_module(&conn, &env, "cron", bad, false, false).await).contains("cannot combine special_time"));
    let bad = json!({"name": "tzdata", "question": "tzdata/Areas", "vtype": "select"});
    assert!(failure(run_module(&conn, &env, "debconf", bad, false, false).await).contains("required together"));
    sh(&lab, "DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq cron cron-daemon-common >/dev/null 2>&1").await;
    let no_cron = run_module(&conn, &env, "cron", json!({"name": "a", "job": "x"}), false, false).await;
    assert!(failure(no_cron).contains("Failed to find required executable \"crontab\""));
}

#[tokio::test(flavor = "multi_thread")]
async fn dpkg_selections_holds_a_package_once_and_refuses_one_dpkg_does_not_know() {
    let lab = TestLab::start(1).await;
    let conn = lab.connection("h1");
    let (_d, env) = env();
    let hold = json!({"name": "sudo", "selection": "hold"});
    // Check mode: reported, nothing moved; then held; then nothing to do.
    let o = ok(run_module(&conn, &env, "dpkg_selections", hold.clone(), true, true).await);
    assert!(o.changed);
    assert_eq!((o.data["before"].as_str(), o.data["after"].as_str()), (Some("install"), Some("hold")));
    assert_eq!((o.diffs[0].before.as_str(), o.diffs[0].after.as_str()), ("selection: install\n", "selection: hold\n"));
    assert_eq!(sh(&lab, "dpkg --get-selections sudo").await, "sudo\t\t\t\t\t\tinstall\n");
    assert!(ok(run_module(&conn, &env, "dpkg_selections", hold.clone(), false, false).await).changed);
    assert_eq!(sh(&lab, "apt-mark showhold").await, "sudo\n");
    assert!(!ok(run_module(&conn, &env, "dpkg_selections", hold, false, false).await).changed);
    // A package dpkg does not know (or has purged): Ansible's message, nothing set.
    let unknown = run_module(&conn, &env, "dpkg_selections", json!({"name": "nosuch", "selection": "hold"}), false, false).await;
    assert_eq!(failure(unknown), "Failed to find package 'nosuch' to perform selection 'hold'.");
}

#[tokio::test(flavor = "multi_thread")]
async fn wait_for_connection_waits_for_sshd_to_come_back_and_fails_in_words_when_it_does_not() {
    use common::apply_files;
    use hlprov::exec::RunOptions;
    let lab = TestLab::start(1).await;
    let inv = lab.inventory("");
    let pb = |timeout: u32| {
        format!(
            "- hosts: all\n  gather_facts: false\n  tasks:\n    - wait_for_connection: {{timeout: {timeout}, sleep: 1, connect_timeout: 2}}\n      register: w\n    - copy: {{content: \"{{{{ w.elapsed }}}}\", dest: /tmp/waited}}\n"
        )
    };
    // sshd down (the host is still booting, say); it comes back after 4 s: the play goes on from there.
    sh(&lab, "systemctl stop ssh.socket ssh.service 2>/dev/null; systemctl stop ssh").await;
    let restart = {
        let id = lab.host("h1").id().to_string();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_secs(4)).await;
            let client = hlprov::lab::docker::connect().await.unwrap();
            hlprov::lab::docker::exec(&client, &id, &["/bin/sh", "-c", "systemctl start ssh"]).await.expect("docker exec")
        })
    };
    let started = std::time::Instant::now();
    let a = apply_files(&inv, &[("w.yml", &pb(60))], "w.yml", RunOptions::default()).await.expect("runs");
    assert_eq!(restart.await.unwrap().0, 0);
    assert_eq!(a.summary.exit_code, 0, "{:?}", a.failures());
    assert!(started.elapsed() >= std::time::Duration::from_secs(4));
    let waited: u64 = sh(&lab, "cat /tmp/waited").await.trim().parse().unwrap();
    assert!((3..60).contains(&waited), "elapsed {waited}");
    assert_eq!(a.total_changed(), 1, "waiting is no change: {:?}", a.results());
    // Check mode skips it without asking the host, as Ansible does.
    let a = apply_files(&inv, &[("w.yml", &pb(60))], "w.yml", RunOptions { check: true, ..Default::default() }).await.unwrap();
    assert_eq!(a.stats("h1").skipped, 1);
    // Never back: a failure that says what it waited for, within the timeout.
    sh(&lab, "systemctl stop ssh").await;
    let started = std::time::Instant::now();
    let a = apply_files(&inv, &[("w.yml", &pb(3))], "w.yml", RunOptions::default()).await.unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(30), "{:?}", started.elapsed());
    let f = a.failures();
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(f[0].contains("timed out waiting for ping module test"), "{f:?}");
    assert_eq!(a.stats("h1").unreachable, 0, "a timed-out wait is a failure of that task");
}

/// git as a role uses it, written from Ansible's documentation; the results are what ansible-core 2.19.14's git
/// module reported for the same playbook on the same image (side by side on 2026-12-04), except `clone: false`
/// on a missing checkout, which Ansible reports as changed and hlprov as unchanged (nothing was done).
const GIT_PLAYBOOK: &str = r#"
- hosts: all
  gather_facts: false
  tasks:
    - shell: "for r in main dev 'v1^{commit}'; do git -C /srv/src rev-parse $r; done"
      register: shas
    - set_fact: {main: "{{ shas.stdout_lines[0] }}", dev: "{{ shas.stdout_lines[1] }}", v1: "{{ shas.stdout_lines[2] }}"}
    - git: {repo: /srv/src, dest: /opt/app}
      register: r1
    - git: {repo: /srv/src, dest: /opt/app}
      register: r2
    - shell: cd /srv/src && echo 3 > f && git commit -qam three && git rev-parse HEAD
      register: main3
    - git: {repo: /srv/src, dest: /opt/app}
      check_mode: true
      register: r3c
    - command: cat /opt/app/f
      register: f_after_check
    - git: {repo: /srv/src, dest: /opt/app}
      register: r3
    - git: {repo: /srv/src, dest: /opt/app, version: v1}
      register: r4
    - git: {repo: /srv/src, dest: /opt/app, version: v1}
      register: r5
    - git: {repo: /srv/src, dest: /opt/app, version: dev}
      register: r6
    - shell: echo junk >> /opt/app/d && touch /opt/app/untracked
    - git: {repo: /srv/src, dest: /opt/app, version: dev}
      register: r7
      ignore_errors: true
    - git: {repo: /srv/src, dest: /opt/app, version: dev, force: true}
      register: r8
    - git: {repo: "file:///srv/src/", dest: /opt/app, version: dev}
      register: r9
    - shell: git clone -q --bare /srv/src /srv/src2.git
    - git: {repo: /srv/src2.git, dest: /opt/app, version: dev}
      register: r10
    - shell: cd /srv/src && git checkout -q dev && echo 4 > d && git commit -qam four && git checkout -q main && git -C /srv/src rev-parse dev
      register: dev4
    - git: {repo: /srv/src, dest: /opt/app, version: dev, update: false}
      register: r11
    - git: {repo: /srv/src, dest: /opt/shallow, version: dev, depth: 1}
      register: r12
    - command: git -C /opt/shallow rev-list --count HEAD
      register: shallow_count
    - git: {repo: /srv/src, dest: /opt/bare.git, bare: true}
      register: r13
    - git: {repo: /srv/src, dest: /opt/bare.git, bare: true}
      register: r14
    - git: {repo: /srv/src, dest: /opt/none, clone: false}
      register: r15
    - git: {repo: /srv/nosuch, dest: /opt/nosuch}
      register: r16
      ignore_errors: true
    - git: {repo: /srv/gone.git, dest: /opt/app, update: false}
      register: r17
    - git: {repo: /srv/src, dest: /opt/bare2.git, bare: true, version: dev}
      register: r18
    - git: {repo: /srv/src, dest: /opt/bare2.git, bare: true, version: dev}
      register: r19
    - copy:
        dest: /tmp/git-results
        content: |
          r1 {{ r1.changed }} {{ r1.before }} {{ r1.after == main }}
          r2 {{ r2.changed }} {{ r2.before == main }} {{ r2.after == main }} {{ r2.remote_url_changed }}
          r3c {{ r3c.changed }} {{ r3c.before == main }} {{ r3c.after == main3.stdout }} {{ f_after_check.stdout }}
          r3 {{ r3.changed }} {{ r3.before == main }} {{ r3.after == main3.stdout }}
          r4 {{ r4.changed }} {{ r4.after == v1 }}
          r5 {{ r5.changed }}
          r6 {{ r6.changed }} {{ r6.after == dev }}
          r7 {{ r7.failed }} {{ r7.msg }}
          r8 {{ r8.changed }} {{ r8.after == dev }}
          r9 {{ r9.changed }} {{ r9.remote_url_changed }}
          r10 {{ r10.changed }} {{ r10.remote_url_changed }} {{ r10.after == dev }}
          r11 {{ r11.changed }} {{ r11.before == dev }} {{ r11.after == dev }}
          r12 {{ r12.changed }} {{ r12.after == dev4.stdout }} {{ shallow_count.stdout }}
          r13 {{ r13.changed }} {{ r13.after == main3.stdout }}
          r14 {{ r14.changed }}
          r15 {{ r15.changed }}
          r16 {{ r16.failed }}
          r17 {{ r17.changed }} r18 {{ r18.changed }} r19 {{ r19.changed }}
"#;

const GIT_SOURCE: &str = "git config --global user.email t@example.org; git config --global user.name t; git config --global init.defaultBranch main; git config --global advice.detachedHead false && mkdir -p /srv/src && cd /srv/src && git init -q && echo 1 > f && git add f && git commit -qm one && git tag -a v1 -m v1 && git checkout -qb dev && echo dev > d && git add d && git commit -qm dev && git checkout -q main && echo 2 > f && git commit -qam two";

#[tokio::test(flavor = "multi_thread")]
async fn git_clones_updates_switches_versions_and_refuses_local_changes_as_ansible_does() {
    use common::apply_files;
    use hlprov::exec::RunOptions;
    let lab = TestLab::start(1).await;
    sh(&lab, "apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq git >/dev/null 2>&1").await;
    sh(&lab, GIT_SOURCE).await;
    let a = apply_files(&lab.inventory(""), &[("git.yml", GIT_PLAYBOOK)], "git.yml", RunOptions::default()).await.expect("runs");
    assert_eq!((a.summary.exit_code, a.stats("h1").ignored), (0, 2), "{:?}", a.failures());
    assert_eq!(
        sh(&lab, "cat /tmp/git-results").await,
        "r1 True  True\nr2 False True True False\nr3c True True True 2\nr3 True True True\nr4 True True\nr5 False\nr6 True True\n\
         r7 True Local modifications exist in the destination: /opt/app (force=no).\nr8 True True\nr9 False False\nr10 True True True\n\
         r11 False True True\nr12 True True 1\nr13 True True\nr14 False\nr15 False\nr16 True\nr17 False r18 True r19 False\n"
    );
    // What the results say is on the host: the untracked file survived the forced reset; the remote moved.
    assert_eq!(
        sh(&lab, "cd /opt/app && git status --porcelain && git config --get remote.origin.url && git rev-parse --abbrev-ref HEAD").await,
        "?? untracked\nfile:///srv/src2.git\ndev\n"
    );
    assert_eq!(status(&lab, "test -e /opt/none").await, 1);
}

/// `ansible_date_time` has every key ansible-core 2.19.14's setup gives (listed from its output on the same
/// image, Europe/Berlin), each consistent with the host's clock and zone.
#[tokio::test(flavor = "multi_thread")]
async fn setup_gathers_ansibles_date_time_facts_in_the_hosts_time_zone() {
    let lab = TestLab::start(1).await;
    let conn = lab.connection("h1");
    let (_d, env) = env();
    sh(&lab, "ln -sfn /usr/share/zoneinfo/Europe/Berlin /etc/localtime && echo Europe/Berlin > /etc/timezone").await;
    let o = ok(run_module(&conn, &env, "setup", json!({}), false, false).await);
    let dt = o.facts.as_ref().expect("facts")["date_time"].as_object().expect("date_time").clone();
    let keys: Vec<&str> = dt.keys().map(String::as_str).collect();
    let mut want = vec![
        "date",
        "day",
        "epoch",
        "epoch_int",
        "hour",
        "iso8601",
        "iso8601_basic",
        "iso8601_basic_short",
        "iso8601_micro",
        "minute",
        "month",
        "second",
        "time",
        "tz",
        "tz_dst",
        "tz_offset",
        "weekday",
        "weekday_number",
        "weeknumber",
        "year",
    ];
    want.sort();
    let mut keys = keys;
    keys.sort();
    assert_eq!(keys, want);
    let s = |k: &str| dt[k].as_str().unwrap_or_else(|| panic!("{k} is not a string: {:?}", dt[k])).to_string();
    // tz_dst is the zone's summer-time name whatever the season; tz and tz_offset are the host's own, now.
    assert_eq!(s("tz_dst"), "CEST");
    let epoch: i64 = s("epoch").parse().unwrap();
    assert_eq!(sh(&lab, &format!("date -d @{epoch} '+%Z %z'")).await.trim(), format!("{} {}", s("tz"), s("tz_offset")));
    // The host's own view of the same instant, read independently.
    let host = sh(&lab, &format!("LC_ALL=C date -d @{epoch} '+%Y-%m-%d %H:%M:%S %A %w %W'")).await;
    assert_eq!(host.trim(), format!("{} {} {} {} {}", s("date"), s("time"), s("weekday"), s("weekday_number"), s("weeknumber")));
    let utc = sh(&lab, &format!("date -u -d @{epoch} '+%Y-%m-%dT%H:%M:%SZ'")).await;
    assert_eq!(utc.trim(), s("iso8601"));
    assert!(s("iso8601_micro").starts_with(s("iso8601").trim_end_matches('Z')) && s("iso8601_micro").len() == 27, "{}", s("iso8601_micro"));
    assert_eq!(s("iso8601_basic_short"), format!("{}{}{}T{}{}{}", s("year"), s("month"), s("day"), s("hour"), s("minute"), s("second")));
    assert!(s("iso8601_basic").starts_with(&s("iso8601_basic_short")) && s("iso8601_basic").len() == 21);
    assert_eq!(s("epoch_int"), s("epoch"));
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    assert!((now - epoch).abs() < 60, "host clock {epoch} vs {now}");
}

/// The facts roles reach for besides the OS (interfaces, DNS, user, memory, processors, environment, local
/// facts), shaped as ansible-core 2.19.14's setup shapes them on the same image, each checked against what the
/// host says through docker exec; and used from a play as roles use them (`ansible_eth0.ipv4.address`).
#[tokio::test(flavor = "multi_thread")]
async fn setup_gathers_network_user_hardware_and_local_facts_as_ansible_shapes_them() {
    use common::apply_files;
    use hlprov::exec::RunOptions;
    let lab = TestLab::start(1).await;
    let conn = lab.connection("h1");
    let (_d, env) = env();
    sh(
        &lab,
        "mkdir -p /etc/ansible/facts.d && echo '{\"version\": 3}' > /etc/ansible/facts.d/app.fact && \
         printf '[general]\\nName = lab\\n' > /etc/ansible/facts.d/site.fact && \
         printf '#!/bin/sh\\necho {\\\\\"ran\\\\\": true}\\n' > /etc/ansible/facts.d/probe.fact && chmod +x /etc/ansible/facts.d/probe.fact && \
         printf 'DISTRIB_ID=Demo\\nDISTRIB_RELEASE=24.04\\nDISTRIB_CODENAME=noble\\nDISTRIB_DESCRIPTION=\"Demo 24.04\"\\n' > /etc/lsb-release",
    )
    .await;
    let o = ok(run_module(&conn, &env, "setup", json!({}), false, false).await);
    let f = o.facts.expect("facts");
    let lab = &lab;
    let host = |cmd: &'static str| async move { sh(lab, cmd).await.trim().to_string() };
    assert_eq!(f["eth0"]["macaddress"], host("cat /sys/class/net/eth0/address").await);
    assert_eq!(f["eth0"]["mtu"], host("cat /sys/class/net/eth0/mtu").await.parse::<u64>().unwrap());
    assert_eq!(f["eth0"]["ipv4"]["address"], host("ip -4 -o addr show eth0 | awk '{print $4}' | cut -d/ -f1").await);
    assert_eq!((f["eth0"]["type"].clone(), f["eth0"]["active"].clone(), f["lo"]["type"].clone()), (json!("ether"), json!(true), json!("loopback")));
    assert_eq!(f["default_ipv4"]["gateway"], host("ip -4 route show default | awk '{print $3}'").await);
    assert_eq!(f["default_ipv4"]["macaddress"], f["eth0"]["macaddress"]);
    assert_eq!(f["default_ipv4"]["network"], host("ip -4 route show dev eth0 scope link | awk '{print $1}' | cut -d/ -f1").await);
    assert_eq!(f["dns"]["nameservers"], json!(host("awk '/^nameserver/ {print $2}' /etc/resolv.conf").await.lines().collect::<Vec<_>>()));
    assert_eq!((f["user_dir"].clone(), f["user_shell"].clone()), (json!("/root"), json!(host("getent passwd root | cut -d: -f7").await)));
    assert_eq!(f["machine_id"], host("cat /etc/machine-id").await);
    assert_eq!(f["memory_mb"]["real"]["total"], f["memtotal_mb"]);
    assert_eq!(f["processor_nproc"], host("grep -c ^processor /proc/cpuinfo").await.parse::<u64>().unwrap());
    assert_eq!(f["processor"].as_array().unwrap().len() % 3, 0, "index, vendor and model per processor: {}", f["processor"]);
    assert_eq!((f["env"]["HOME"].clone(), f["env"].get("HLPROV_CMD")), (json!("/root"), None));
    assert_eq!(f["local"], json!({"app": {"version": 3}, "site": {"general": {"name": "lab"}}, "probe": {"ran": true}}));
    assert_eq!(f["lsb"], json!({"id": "Demo", "release": "24.04", "codename": "noble", "description": "Demo 24.04", "major_release": "24"}));
    assert_eq!((f["apparmor"]["status"].clone(), f["selinux"]["status"].clone()), (json!("disabled"), json!("disabled")));
    assert_eq!(f["virtualization_tech_guest"], json!(["container", "docker"]));
    assert_eq!(f["is_chroot"], false);
    // As roles use them.
    let pb = "- hosts: all\n  tasks:\n    - copy:\n        dest: /tmp/facts\n        content: \"{{ ansible_eth0.ipv4.address }} {{ hostvars[inventory_hostname]['ansible_' + 'eth0'].macaddress }} {{ ansible_local.app.version }} {{ ansible_env.HOME }} {{ ansible_user_dir }}\\n\"\n";
    let a = apply_files(&lab.inventory(""), &[("f.yml", pb)], "f.yml", RunOptions::default()).await.unwrap();
    assert_eq!(a.summary.exit_code, 0, "{:?}", a.failures());
    assert_eq!(
        sh(lab, "cat /tmp/facts").await,
        format!("{} {} 3 /root /root\n", f["eth0"]["ipv4"]["address"].as_str().unwrap(), f["eth0"]["macaddress"].as_str().unwrap())
    );
}

/// known_hosts as roles use it before cloning over ssh; the host file and results are what ansible-core
/// 2.19.14's known_hosts module made of the same playbook on the same image (side by side on 2026-12-04).
const KNOWN_HOSTS: &str = r#"
- hosts: all
  gather_facts: false
  vars:
    ed: "github.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
    ed2: "github.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHlRlfKCOmlmrsNEhaJa2QqQmq4oX7dJz6zd2NHjG6Lb"
    rsa: "github.com ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC7 comment@x"
    gl: "gitlab.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAfuCHKVTjquxvt6CM6tdG4SLp1Btn/nOeHHE5UOzRdf"
    port: "[git.lan]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAfuCHKVTjquxvt6CM6tdG4SLp1Btn/nOeHHE5UOzRdf"
  tasks:
    - known_hosts: {name: github.com, key: "{{ ed }}"}
      register: k1
    - known_hosts: {name: github.com, key: "{{ ed }}"}
      register: k2
    - known_hosts: {name: github.com, key: "{{ rsa }}"}
      register: k3
    - known_hosts: {name: github.com, key: "{{ ed2 }}"}
      register: k4
    - known_hosts: {name: gitlab.com, key: "{{ gl }}", hash_host: true}
      register: k5
    - known_hosts: {name: gitlab.com, key: "{{ gl }}", hash_host: true}
      register: k6
    - known_hosts: {name: "[git.lan]:2222", key: "{{ port }}", path: /etc/ssh/ssh_known_hosts}
      register: k10
    - shell: sed 's/^|1|[^ ]*/HASHED/' /root/.ssh/known_hosts > /tmp/kh-mid
    - known_hosts: {name: github.com, state: absent}
      register: k7
    - known_hosts: {name: github.com, state: absent}
      register: k8
    - known_hosts: {name: github.com, key: "{{ gl }}"}
      register: k9
      ignore_errors: true
    - known_hosts: {name: gitlab.com, key: "{{ gl }}", state: absent}
      register: k11
    - copy:
        dest: /tmp/kh-results
        content: |
          {% for r in [k1, k2, k3, k4, k5, k6, k10, k7, k8, k11] %}{{ r.changed }} {% endfor %}

          {{ k9.msg }}
"#;

#[tokio::test(flavor = "multi_thread")]
async fn known_hosts_adds_replaces_hashes_and_removes_keys_as_ansible_does() {
    use common::apply_files;
    use hlprov::exec::RunOptions;
    let lab = TestLab::start(1).await;
    sh(&lab, "rm -rf /root/.ssh/known_hosts").await;
    let a = apply_files(&lab.inventory(""), &[("kh.yml", KNOWN_HOSTS)], "kh.yml", RunOptions::default()).await.expect("runs");
    assert_eq!((a.summary.exit_code, a.stats("h1").ignored), (0, 1), "{:?}", a.failures());
    assert_eq!(
        sh(&lab, "cat /tmp/kh-mid").await,
        "github.com ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC7 comment@x\n\
         github.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHlRlfKCOmlmrsNEhaJa2QqQmq4oX7dJz6zd2NHjG6Lb\n\
         HASHED ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAfuCHKVTjquxvt6CM6tdG4SLp1Btn/nOeHHE5UOzRdf\n"
    );
    assert_eq!(sh(&lab, "cat /root/.ssh/known_hosts").await, "");
    assert_eq!(
        sh(&lab, "cat /etc/ssh/ssh_known_hosts").await,
        "[git.lan]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAfuCHKVTjquxvt6CM6tdG4SLp1Btn/nOeHHE5UOzRdf\n"
    );
    assert_eq!(
        sh(&lab, "cat /tmp/kh-results").await,
        "True False True True True False True True False True \nHost parameter does not match hashed host field in supplied key\n"
    );
    // ssh itself reads the hashed line hlprov wrote: ssh-keygen finds gitlab.com in it.
    let conn = lab.connection("h1");
    let (_d, env) = env();
    let gl = "gitlab.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAfuCHKVTjquxvt6CM6tdG4SLp1Btn/nOeHHE5UOzRdf";
    ok(run_module(&conn, &env, "known_hosts", json!({"name": "gitlab.com", "key": gl, "hash_host": true}), false, false).await);
    assert!(sh(&lab, "ssh-keygen -F gitlab.com -f /root/.ssh/known_hosts").await.contains("gitlab.com found: line 1"));
    // Check mode reports and writes nothing.
    let o = ok(run_module(&conn, &env, "known_hosts", json!({"name": "gitlab.com", "state": "absent"}), true, true).await);
    assert!(o.changed && o.diffs[0].after.is_empty(), "{:?}", o.diffs);
    assert_eq!(status(&lab, "grep -c ssh-ed25519 /root/.ssh/known_hosts").await, 0);
}

/// assemble as config.d roles use it; the files and results are what ansible-core 2.19.14's assemble made of
/// the same playbook on the same image (side by side on 2026-12-04).
const ASSEMBLE: &str = r#"
- hosts: all
  gather_facts: false
  tasks:
    - shell: |
        mkdir -p /etc/demo.d && cd /etc/demo.d && printf 'global\n' > 00-global && printf 'backend a' > 20-backend
        printf 'frontend\n' > 10-frontend && printf 'secret\n' > .hidden && mkdir -p sub && printf 'x\n' > sub/ignored
        printf 'old\n' > /etc/demo.conf
    - assemble: {src: /etc/demo.d, dest: /etc/demo.conf}
      register: a1
    - assemble: {src: /etc/demo.d, dest: /etc/demo.conf}
      register: a2
    - assemble: {src: /etc/demo.d, dest: /etc/demo2.conf, delimiter: '### fragment', ignore_hidden: true, mode: "0600", backup: true}
      register: a3
    - assemble: {src: /etc/demo.d, dest: /etc/demo3.conf, regexp: '^[0-9]+-(global|backend)'}
      register: a4
    - assemble: {src: /etc/demo.d, dest: /etc/demo3.conf, regexp: '^[0-9]+-(global|backend)', mode: "0640"}
      register: a5
    - assemble: {src: /etc/nosuch.d, dest: /etc/x.conf}
      register: a6
      ignore_errors: true
    - assemble: {src: /etc/demo.d, dest: /etc/demo4.conf, validate: "grep -q nothing-like-this %s"}
      register: a7
      ignore_errors: true
    - copy:
        dest: /tmp/asm-results
        content: |
          a1 {{ a1.changed }} {{ a1.checksum }} {{ a1.msg }}
          a2 {{ a2.changed }}
          a3 {{ a3.changed }} {{ a3.mode | default('-') }}
          a4 {{ a4.changed }}
          a5 {{ a5.changed }}
          a6 {{ a6.failed }} {{ a6.msg }}
          a7 {{ a7.failed }}
"#;

#[tokio::test(flavor = "multi_thread")]
async fn assemble_joins_fragments_in_name_order_as_ansible_does_and_a_second_run_changes_nothing() {
    use common::apply_files;
    use hlprov::exec::RunOptions;
    let lab = TestLab::start(1).await;
    let a = apply_files(&lab.inventory(""), &[("asm.yml", ASSEMBLE)], "asm.yml", RunOptions::default()).await.expect("runs");
    assert_eq!((a.summary.exit_code, a.stats("h1").ignored), (0, 2), "{:?}", a.failures());
    let files = sh(&lab, "for f in /etc/demo.conf /etc/demo2.conf /etc/demo3.conf; do echo \"== $f $(stat -c %a $f)\"; cat $f; echo '<EOF>'; done; ls /etc/demo4.conf 2>&1 || true").await;
    assert_eq!(
        files,
        "== /etc/demo.conf 644\nsecret\nglobal\nfrontend\nbackend a<EOF>\n\
         == /etc/demo2.conf 600\nglobal\n### fragment\nfrontend\n### fragment\nbackend a<EOF>\n\
         == /etc/demo3.conf 640\nglobal\nbackend a<EOF>\n\
         ls: cannot access '/etc/demo4.conf': No such file or directory\n"
    );
    assert_eq!(
        sh(&lab, "cat /tmp/asm-results").await,
        "a1 True c09968d933ef68600a9169d9c675f28f29e6332b OK\na2 False\na3 True 0600\na4 True\na5 True\n\
         a6 True Source (/etc/nosuch.d) does not exist\na7 True\n"
    );
    // A fragment changed behind its back: check mode reports it and writes nothing.
    let conn = lab.connection("h1");
    let (_d, env) = env();
    sh(&lab, "printf 'frontend 2\\n' > /etc/demo.d/10-frontend").await;
    let o = ok(run_module(&conn, &env, "assemble", json!({"src": "/etc/demo.d", "dest": "/etc/demo.conf"}), true, true).await);
    assert!(o.changed && o.diffs[0].after.contains("frontend 2\n"), "{:?}", o.diffs);
    assert!(!sh(&lab, "cat /etc/demo.conf").await.contains("frontend 2"));
    let o = run_module(&conn, &env, "assemble", json!({"src": "/etc/demo.d", "dest": "/etc/x", "remote_src": false}), false, false).await;
    assert!(failure(o).contains("remote_src: no"));
}
