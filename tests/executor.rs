//! The task executor on real hosts: every playbook keyword, asserted host by host (issue: playbooks and roles).

mod common;

use common::{TestLab, apply, apply_files};
use hlprov::exec::RunOptions;
use hlprov::report::Status;

fn opts() -> RunOptions {
    RunOptions::default()
}

async fn read(lab: &TestLab, host: &str, path: &str) -> String {
    let (code, out) = lab.docker_exec(host, &format!("cat {path}")).await;
    if code == 0 { out } else { String::new() }
}

#[tokio::test(flavor = "multi_thread")]
async fn handlers_notified_twice_run_once_in_definition_order_and_listen_works() {
    let lab = TestLab::start(1).await;
    let pb = r#"
- hosts: all
  gather_facts: false
  tasks:
    - name: first change
      command: "true"
      notify: [handler a, topic b]
    - name: second change
      command: "true"
      notify: handler a
    - name: no change
      command: "true"
      changed_when: false
      notify: handler c
  handlers:
    - name: handler b
      listen: topic b
      shell: echo b >> /tmp/handlers
    - name: handler a
      shell: echo a >> /tmp/handlers
    - name: handler c
      shell: echo c >> /tmp/handlers
"#;
    let a = apply(&lab.inventory(""), pb, opts()).await.unwrap();
    assert_eq!(a.summary.exit_code, 0);
    // Definition order (b before a), each once; c was never notified by a change.
    assert_eq!(read(&lab, "h1", "/tmp/handlers").await, "b\na\n");
    assert_eq!(a.results().iter().filter(|r| r.handler).count(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn flush_handlers_runs_them_mid_play() {
    let lab = TestLab::start(1).await;
    let pb = r#"
- hosts: all
  gather_facts: false
  tasks:
    - command: "true"
      notify: mark
    - meta: flush_handlers
    - name: after flush
      shell: cat /tmp/mark
      register: seen
      changed_when: false
    - assert:
        that: seen.stdout == 'marked'
  handlers:
    - name: mark
      shell: echo marked > /tmp/mark
"#;
    let a = apply(&lab.inventory(""), pb, opts()).await.unwrap();
    assert_eq!(a.summary.exit_code, 0, "{:?}", a.results().iter().filter(|r| r.status == Status::Failed).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread")]
async fn rescue_runs_after_a_failure_and_the_host_ends_ok() {
    let lab = TestLab::start(1).await;
    let pb = r#"
- hosts: all
  gather_facts: false
  tasks:
    - block:
        - command: /bin/false
        - name: never reached
          shell: echo no > /tmp/unreached
      rescue:
        - shell: echo rescued > /tmp/rescue
      always:
        - shell: echo always > /tmp/always
    - name: after the block
      shell: echo after > /tmp/after
"#;
    let a = apply(&lab.inventory(""), pb, opts()).await.unwrap();
    assert_eq!(a.summary.exit_code, 0);
    let s = a.stats("h1");
    assert_eq!((s.failed, s.rescued), (0, 1), "{s:?}");
    assert_eq!(read(&lab, "h1", "/tmp/rescue").await, "rescued\n");
    assert_eq!(read(&lab, "h1", "/tmp/always").await, "always\n");
    assert_eq!(read(&lab, "h1", "/tmp/after").await, "after\n");
    assert_eq!(read(&lab, "h1", "/tmp/unreached").await, "");
}

#[tokio::test(flavor = "multi_thread")]
async fn always_runs_for_a_failed_host_which_stays_failed_without_rescue() {
    let lab = TestLab::start(1).await;
    let pb = r#"
- hosts: all
  gather_facts: false
  tasks:
    - block:
        - command: /bin/false
      always:
        - shell: echo always > /tmp/always
    - shell: echo after > /tmp/after
"#;
    let a = apply(&lab.inventory(""), pb, opts()).await.unwrap();
    assert_eq!(a.summary.exit_code, 2);
    assert_eq!(read(&lab, "h1", "/tmp/always").await, "always\n");
    assert_eq!(read(&lab, "h1", "/tmp/after").await, "");
}

#[tokio::test(flavor = "multi_thread")]
async fn until_retries_until_the_condition_holds() {
    let lab = TestLab::start(1).await;
    let pb = r#"
- hosts: all
  gather_facts: false
  tasks:
    - name: count up
      shell: n=$(cat /tmp/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /tmp/n; echo $n
      register: counter
      until: counter.stdout | int >= 3
      retries: 5
      delay: 0
    - assert:
        that:
          - counter.attempts == 3
          - counter.stdout == '3'
    - name: gives up
      command: /bin/false
      register: never
      until: never.rc == 0
      retries: 1
      delay: 0
      ignore_errors: true
"#;
    let a = apply(&lab.inventory(""), pb, opts()).await.unwrap();
    assert_eq!(read(&lab, "h1", "/tmp/n").await, "3\n");
    let gave_up = a.of("gives up", "h1");
    assert_eq!(gave_up[0].status, Status::Ignored);
    assert_eq!(gave_up[0].result["attempts"], 2);
    assert_eq!(a.summary.exit_code, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn serial_two_over_five_hosts_runs_in_three_batches() {
    let lab = TestLab::start(5).await;
    let pb = r#"
- hosts: all
  gather_facts: false
  serial: 2
  tasks:
    - shell: echo '{{ ansible_play_batch | join(",") }}' > /tmp/batch
"#;
    let a = apply(&lab.inventory(""), pb, opts()).await.unwrap();
    assert_eq!(a.summary.exit_code, 0);
    let expect = [("h1", "h1,h2"), ("h2", "h1,h2"), ("h3", "h3,h4"), ("h4", "h3,h4"), ("h5", "h5")];
    for (h, batch) in expect {
        assert_eq!(read(&lab, h, "/tmp/batch").await.trim(), batch, "{h}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_host_stops_there_while_the_others_finish() {
    let lab = TestLab::start(3).await;
    let pb = r#"
- hosts: all
  gather_facts: false
  tasks:
    - fail:
        msg: "h2 breaks"
      when: inventory_hostname == 'h2'
    - shell: echo done > /tmp/done
- hosts: all
  gather_facts: false
  tasks:
    - shell: echo second > /tmp/second
"#;
    let a = apply(&lab.inventory(""), pb, opts()).await.unwrap();
    assert_eq!(a.summary.exit_code, 2);
    for h in ["h1", "h3"] {
        assert_eq!(read(&lab, h, "/tmp/done").await, "done\n");
        assert_eq!(read(&lab, h, "/tmp/second").await, "second\n", "later plays go on without the failed host");
    }
    assert_eq!(read(&lab, "h2", "/tmp/done").await, "");
    assert_eq!(read(&lab, "h2", "/tmp/second").await, "");
    assert_eq!(a.stats("h2").failed, 1);
    assert_eq!(a.of("h2 breaks", "h2").len(), 0, "results are named after the task, not its message");
}

#[tokio::test(flavor = "multi_thread")]
async fn any_errors_fatal_and_max_fail_percentage_stop_the_play() {
    let lab = TestLab::start(4).await;
    let pb = r#"
- hosts: all
  gather_facts: false
  any_errors_fatal: true
  tasks:
    - command: /bin/false
      when: inventory_hostname == 'h1'
    - shell: echo x > /tmp/fatal
- hosts: all
  gather_facts: false
  max_fail_percentage: 30
  tasks:
    - command: /bin/false
      when: inventory_hostname in ['h3', 'h4']
    - shell: echo x > /tmp/maxfail
"#;
    let a = apply(&lab.inventory(""), pb, opts()).await.unwrap();
    assert_eq!(a.summary.exit_code, 2);
    for h in ["h1", "h2", "h3", "h4"] {
        assert_eq!(read(&lab, h, "/tmp/fatal").await, "", "{h}: any_errors_fatal stops every host");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn loops_register_conditions_and_loop_control() {
    let lab = TestLab::start(1).await;
    let pb = r#"
- hosts: all
  gather_facts: false
  vars:
    users: {alice: 1001, bob: 1002}
  tasks:
    - name: loop with label and index
      shell: echo "{{ idx }}:{{ pkg.name }}" >> /tmp/loop
      loop: [{name: curl}, {name: jq}]
      loop_control: {loop_var: pkg, index_var: idx, label: "{{ pkg.name }}"}
      register: looped
    - name: with_items flattens
      shell: echo {{ item }} >> /tmp/items
      with_items: [[a, b], c]
    - name: with_dict
      shell: echo {{ item.key }}={{ item.value }} >> /tmp/dict
      with_dict: "{{ users }}"
    - name: when per item
      shell: echo {{ item }} >> /tmp/when
      loop: [1, 2, 3, 4]
      when: item is even
    - name: changed_when and failed_when
      command: echo oops
      register: r
      changed_when: false
      failed_when: "'oops' in r.stdout"
      ignore_errors: true
    - assert:
        that:
          - looped.results | length == 2
          - looped.results[1].pkg.name == 'jq'
          - looped.changed
          - r.failed
          - not r.changed
"#;
    let a = apply(&lab.inventory(""), pb, opts()).await.unwrap();
    assert_eq!(a.summary.exit_code, 0, "{:#?}", a.results().iter().filter(|r| r.status == Status::Failed).collect::<Vec<_>>());
    assert_eq!(read(&lab, "h1", "/tmp/loop").await, "0:curl\n1:jq\n");
    assert_eq!(read(&lab, "h1", "/tmp/items").await, "a\nb\nc\n");
    assert_eq!(read(&lab, "h1", "/tmp/dict").await, "alice=1001\nbob=1002\n");
    assert_eq!(read(&lab, "h1", "/tmp/when").await, "2\n4\n");
    let labels: Vec<Option<String>> = a.of("loop with label and index", "h1").iter().map(|r| r.item.clone()).collect();
    assert_eq!(labels, [Some("curl".to_string()), Some("jq".to_string()), None]);
    assert_eq!(a.of("changed_when and failed_when", "h1")[0].status, Status::Ignored);
}

#[tokio::test(flavor = "multi_thread")]
async fn tags_always_never_and_start_at_task() {
    let lab = TestLab::start(1).await;
    let pb = r#"
- hosts: all
  gather_facts: false
  tasks:
    - {name: one, shell: echo one >> /tmp/tags, tags: [a]}
    - {name: two, shell: echo two >> /tmp/tags, tags: [b]}
    - {name: three, shell: echo three >> /tmp/tags, tags: [always]}
    - {name: four, shell: echo four >> /tmp/tags, tags: [never, debug]}
    - {name: five, shell: echo five >> /tmp/tags}
"#;
    let inv = lab.inventory("");
    apply(&inv, pb, RunOptions { tags: vec!["a".into()], ..opts() }).await.unwrap();
    assert_eq!(read(&lab, "h1", "/tmp/tags").await, "one\nthree\n");
    lab.docker_exec("h1", "rm /tmp/tags").await;
    apply(&inv, pb, RunOptions { skip_tags: vec!["a".into()], ..opts() }).await.unwrap();
    assert_eq!(read(&lab, "h1", "/tmp/tags").await, "two\nthree\nfive\n");
    lab.docker_exec("h1", "rm /tmp/tags").await;
    apply(&inv, pb, RunOptions { tags: vec!["debug".into()], ..opts() }).await.unwrap();
    assert_eq!(read(&lab, "h1", "/tmp/tags").await, "three\nfour\n");
    lab.docker_exec("h1", "rm /tmp/tags").await;
    apply(&inv, pb, RunOptions { start_at_task: Some("three".into()), ..opts() }).await.unwrap();
    assert_eq!(read(&lab, "h1", "/tmp/tags").await, "three\nfive\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn become_environment_vars_set_fact_and_extra_vars() {
    let lab = TestLab::start(1).await;
    lab.docker_exec("h1", "useradd -m alice").await;
    let pb = r#"
- hosts: all
  gather_facts: false
  vars:
    who: play
    overridden: play
  tasks:
    - name: become alice
      command: id -un
      become: true
      become_user: alice
      register: as_alice
    - name: environment
      shell: echo "$GREETING $OTHER"
      environment: {GREETING: hi, OTHER: "{{ who }}"}
      register: env_out
    - name: task vars
      command: echo {{ who }}
      vars: {who: task}
      register: task_vars
    - set_fact:
        computed: "{{ who }}-fact"
    - assert:
        that:
          - as_alice.stdout == 'alice'
          - env_out.stdout == 'hi play'
          - task_vars.stdout == 'task'
          - computed == 'play-fact'
          - overridden == 'extra'
"#;
    let mut o = opts();
    o.extra_vars.insert("overridden".into(), "extra".into());
    let a = apply(&lab.inventory(""), pb, o).await.unwrap();
    assert_eq!(a.summary.exit_code, 0, "{:#?}", a.results().iter().filter(|r| r.status == Status::Failed).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread")]
async fn delegate_to_localhost_run_once_and_no_log() {
    let lab = TestLab::start(3).await;
    let marker = tempfile::tempdir().unwrap();
    let pb = format!(
        r#"
- hosts: all
  gather_facts: false
  tasks:
    - name: on the controller
      shell: echo {{{{ inventory_hostname }}}} >> {dir}/delegated
      delegate_to: localhost
    - name: once
      shell: echo once >> /tmp/once
      run_once: true
      register: once
    - assert:
        that: once.rc == 0
    - name: secret output
      command: echo hunter2-secret-output
      no_log: true
"#,
        dir = marker.path().display()
    );
    let a = apply(&lab.inventory(""), &pb, opts()).await.unwrap();
    assert_eq!(a.summary.exit_code, 0);
    let mut delegated: Vec<String> = std::fs::read_to_string(marker.path().join("delegated")).unwrap().lines().map(str::to_string).collect();
    delegated.sort();
    assert_eq!(delegated, ["h1", "h2", "h3"]);
    let ran: Vec<String> = futures::future::join_all(["h1", "h2", "h3"].map(|h| read(&lab, h, "/tmp/once"))).await;
    assert_eq!(ran.iter().filter(|r| r.as_str() == "once\n").count(), 1, "run_once ran on exactly one host");
    let text = serde_json::to_string(&a.events).unwrap();
    assert!(!text.contains("hunter2-secret-output"), "no_log output must not reach events");
}

#[tokio::test(flavor = "multi_thread")]
async fn roles_includes_imports_and_meta_dependencies() {
    let lab = TestLab::start(2).await;
    let files = [
        (
            "site.yml",
            "- hosts: all\n  gather_facts: false\n  roles:\n    - role: web\n      vars: {port: 8080}\n  tasks:\n    - include_tasks: extra.yml\n      when: inventory_hostname == 'h1'\n    - include_role: {name: common}\n    - import_tasks: imported.yml\n      tags: [imp]\n",
        ),
        ("extra.yml", "- shell: echo extra >> /tmp/order\n"),
        ("imported.yml", "- shell: echo imported >> /tmp/order\n"),
        ("roles/common/tasks/main.yml", "- shell: echo common-{{ common_flavour }} >> /tmp/order\n"),
        ("roles/common/defaults/main.yml", "common_flavour: plain\n"),
        ("roles/web/meta/main.yml", "dependencies:\n  - role: common\n    vars: {common_flavour: dep}\n"),
        ("roles/web/defaults/main.yml", "port: 80\nname: web\n"),
        ("roles/web/tasks/main.yml", "- shell: echo web-{{ port }}-{{ name }} >> /tmp/order\n  notify: web changed\n"),
        ("roles/web/handlers/main.yml", "- name: web changed\n  shell: echo handler >> /tmp/order\n"),
    ];
    let a = apply_files(&lab.inventory(""), &files, "site.yml", opts()).await.unwrap();
    assert_eq!(a.summary.exit_code, 0, "{:#?}", a.results().iter().filter(|r| r.status == Status::Failed).collect::<Vec<_>>());
    assert_eq!(read(&lab, "h1", "/tmp/order").await, "common-dep\nweb-8080-web\nextra\ncommon-plain\nimported\nhandler\n");
    assert_eq!(read(&lab, "h2", "/tmp/order").await, "common-dep\nweb-8080-web\ncommon-plain\nimported\nhandler\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn strategy_free_and_end_host() {
    let lab = TestLab::start(2).await;
    let pb = r#"
- hosts: all
  gather_facts: false
  strategy: free
  tasks:
    - meta: end_host
      when: inventory_hostname == 'h2'
    - shell: echo ran > /tmp/free
"#;
    let a = apply(&lab.inventory(""), pb, opts()).await.unwrap();
    assert_eq!(a.summary.exit_code, 0);
    assert_eq!(read(&lab, "h1", "/tmp/free").await, "ran\n");
    assert_eq!(read(&lab, "h2", "/tmp/free").await, "");
}

#[tokio::test(flavor = "multi_thread")]
async fn check_mode_changes_nothing_on_the_host() {
    let lab = TestLab::start(1).await;
    let pb = r#"
- hosts: all
  gather_facts: true
  tasks:
    - name: would create
      shell: echo x > /tmp/created
      args: {creates: /tmp/created}
    - name: plain command is skipped in check mode
      shell: echo y > /tmp/plain
    - name: forced to run
      shell: echo z > /tmp/forced
      check_mode: false
"#;
    let a = apply(&lab.inventory(""), pb, RunOptions { check: true, ..opts() }).await.unwrap();
    assert_eq!(a.summary.exit_code, 0);
    assert_eq!(a.of("would create", "h1")[0].status, Status::Changed);
    assert_eq!(a.of("plain command is skipped in check mode", "h1")[0].status, Status::Skipped);
    let (_, listing) = lab.docker_exec("h1", "ls /tmp").await;
    assert!(!listing.contains("created") && !listing.contains("plain"), "check mode touched the host: {listing}");
    assert!(listing.contains("forced"));
}

#[tokio::test(flavor = "multi_thread")]
async fn second_apply_reports_changed_zero() {
    let lab = TestLab::start(2).await;
    let pb = r#"
- hosts: all
  tasks:
    - shell: echo {{ ansible_hostname }} > /tmp/name
      args: {creates: /tmp/name}
    - command: mkdir /tmp/made
      args: {creates: /tmp/made}
"#;
    let inv = lab.inventory("");
    let first = apply(&inv, pb, opts()).await.unwrap();
    assert_eq!(first.total_changed(), 4);
    let second = apply(&inv, pb, opts()).await.unwrap();
    assert_eq!(second.total_changed(), 0);
    assert_eq!(second.summary.exit_code, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_is_refused_before_anything_runs_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "- hosts: all\n  tasks:\n    - command: true\n      whenn: x\n",
            "site.yml:3:7: a task runs one module, but this one names several: command, whenn ('whenn' looks like the keyword 'when')",
        ),
        ("- hosts: all\n  tasks:\n    - command: {cmd: ls, bogus: 1}\n", "site.yml:3:7: module 'command': unsupported argument 'bogus'"),
        ("- hosts: all\n  roles: [missing_role]\n", "site.yml:2:11: role 'missing_role' not found"),
        ("- hosts: all\n  taks: []\n", "site.yml:2:3: unknown play keyword 'taks'; did you mean 'tasks'?"),
        ("- hosts: all\n  tasks:\n    - ping:\n      become: maybe\n", "site.yml:4:15: `become:` must be a boolean"),
        ("- hosts: all\n  tasks:\n    - ping:\n      loop: [1]\n      with_items: [2]\n", "a task can loop only one way"),
    ];
    for (text, expected) in cases {
        let path = dir.path().join("site.yml");
        std::fs::write(&path, text).unwrap();
        let err = hlprov::playbook::load(&path, &Default::default()).unwrap_err().to_string();
        assert!(err.contains(expected), "expected {expected:?} in {err:?}");
    }
    // A module hlprov does not have is refused only when strict (tests/missing_modules.rs: the default).
    let path = dir.path().join("site.yml");
    std::fs::write(&path, "- hosts: all\n  tasks:\n    - nosuchmodule: {}\n").unwrap();
    let strict = hlprov::playbook::LoadOptions { strict: true, ..Default::default() };
    let err = hlprov::playbook::load(&path, &strict).unwrap_err().to_string();
    assert!(err.contains("site.yml:3:7: unknown module 'nosuchmodule'"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn notify_of_a_missing_handler_is_refused_before_any_host_is_touched() {
    let lab = TestLab::start(1).await;
    let pb = "- hosts: all\n  tasks:\n    - shell: touch /tmp/touched\n      notify: nobody\n";
    let err = apply(&lab.inventory(""), pb, opts()).await.err().expect("refused");
    assert!(err.contains("notify 'nobody'"), "{err}");
    assert_eq!(read(&lab, "h1", "/tmp/touched").await, "");
}

#[tokio::test(flavor = "multi_thread")]
async fn template_syntax_errors_are_refused_before_any_host_is_touched() {
    let lab = TestLab::start(1).await;
    let inv = lab.inventory("");
    let cases = [
        ("- hosts: all\n  tasks:\n    - shell: touch /tmp/touched\n    - debug: {msg: \"{{ broken( }}\"}\n", "site.yml:4:7"),
        ("- hosts: all\n  tasks:\n    - shell: touch /tmp/touched\n      changed_when: \"{% if %}\"\n", "site.yml:4:21"),
    ];
    for (pb, at) in cases {
        let err = apply(&inv, pb, opts()).await.err().expect("refused");
        assert!(err.contains(at), "expected {at} in {err}");
        assert_eq!(read(&lab, "h1", "/tmp/touched").await, "", "nothing ran");
    }
}
