//! Ansible compatibility of modules, includes, handlers and async (issue 20), each written from ansible-core
//! 2.19's documentation and checked against it, run on real lab hosts: host state is read back with
//! `docker exec`, registered results are asserted, and a second run shows what stays unchanged.

mod common;

use common::{Applied, TestLab, apply_in};
use hlprov::exec::RunOptions;
use serde_json::Value;

async fn read(lab: &TestLab, path: &str) -> String {
    let (code, out) = lab.docker_exec("h1", &format!("cat {path}")).await;
    if code == 0 { out } else { String::new() }
}

/// The registered result of the task whose name contains `name`, on h1 (the first, if it ran more than once).
fn result(a: &Applied, name: &str) -> Value {
    a.results().into_iter().find(|r| r.task.contains(name) && r.host == "h1").unwrap_or_else(|| panic!("no result for task {name}")).result
}

fn changed(a: &Applied, name: &str) -> bool {
    result(a, name)["changed"] == Value::Bool(true)
}

const MODULES_ROLE_TASKS: &str = r##"
- file: {path: /srv/t, state: directory}
- name: page from the role's templates, with include and import
  template: {src: page.j2, dest: /srv/t/page}
- name: custom delimiters
  template:
    src: brackets.j2
    dest: /srv/t/brackets
    variable_start_string: "[["
    variable_end_string: "]]"
    block_start_string: "[%"
    block_end_string: "%]"
    comment_start_string: "[#"
    comment_end_string: "#]"
- name: delimiters from the template's header line
  template: {src: header.j2, dest: /srv/t/header}
- name: template variables
  template: {src: managed.j2, dest: /srv/t/managed}
- name: template lookup with include
  set_fact: {looked: "{{ lookup('template', 'page.j2') }}"}
"##;

const MODULES_PLAYBOOK: &str = r#"
- hosts: all
  gather_facts: false
  vars: {x: 5}
  pre_tasks:
    - name: a source tree on the host
      shell: |
        mkdir -p /srv/rs/src/sub && cd /srv/rs/src && printf 'a\n' > a.txt && printf 'b\n' > sub/b.txt
        chmod 0600 sub/b.txt && ln -sfn a.txt link
      args: {creates: /srv/rs/src}
    - name: a file to edit
      copy: {content: "port=80\nport=81\n", dest: /srv/replace.conf}
  roles: [web]
  tasks:
    - name: remote folder itself
      copy: {src: /srv/rs/src, dest: /srv/rs/d1, remote_src: true}
      register: rs1
    - name: remote folder contents
      copy: {src: /srv/rs/src/, dest: /srv/rs/d2, remote_src: true}
    - name: command ignores executable
      command: echo $0
      args: {executable: /bin/bash}
      register: cmd_exe
    - name: shell with executable
      shell: echo $0 ${BASH_VERSION:+bash}
      args: {executable: /bin/bash}
      register: sh_exe
    - name: temp file
      tempfile: {}
      register: tf
    - name: temp dir
      tempfile: {state: directory, prefix: pre., suffix: .suf, path: /srv}
      register: td
    - name: getent passwd root
      getent: {database: passwd, key: root}
      register: groot
    - name: getent group
      getent: {database: group, split: ":"}
    - name: getent missing key
      getent: {database: passwd, key: nosuch, fail_key: false}
      register: gmiss
    - name: getent failing key
      getent: {database: passwd, key: nosuch}
      register: gfail
      ignore_errors: true
    - name: apt with force_apt_get
      apt: {name: coreutils, state: present, force_apt_get: true}
    - name: replace port
      replace: {path: /srv/replace.conf, regexp: '^port=8(\d)$', replace: 'port=90\1'}
      register: rep1
    - name: replace again
      replace: {path: /srv/replace.conf, regexp: '^port=8(\d)$', replace: 'port=90\1'}
      register: rep2
    - name: facts and results as Ansible gives them
      assert:
        that:
          - groot.ansible_facts.getent_passwd.root == ['x', '0', '0', 'root', '/root', '/bin/bash']
          - ansible_facts.getent_group.root == ['x', '0', '']
          - getent_passwd == {'nosuch': none}
          - getent_group.root == ['x', '0', '']
          - gmiss.ansible_facts.getent_passwd.nosuch is none
          - gmiss.msg == 'One or more supplied key could not be found in the database.'
          - gfail is failed
          - tf.path is match('/tmp/ansible\.')
          - tf.state == 'file' and tf.mode == '0600'
          - td.path is match('/srv/pre\.[A-Za-z0-9]+\.suf$')
          - td.state == 'directory' and td.mode == '0700'
          - cmd_exe.stdout == '$0'
          - cmd_exe.warnings[0] is search("executable' is no longer supported")
          - sh_exe.stdout == '/bin/bash bash'
          - rep1 is changed and rep1.msg == '2 replacements made'
          - rep2 is not changed
          - looked | trim == 'part 5hello w'
"#;

#[tokio::test(flavor = "multi_thread")]
async fn modules_remote_src_folders_executable_tempfile_getent_template_syntax_and_replace() {
    let lab = TestLab::start(1).await;
    let dir = tempfile::tempdir().unwrap();
    let files: &[(&str, &str)] = &[
        ("site.yml", MODULES_PLAYBOOK),
        ("roles/web/tasks/main.yml", MODULES_ROLE_TASKS),
        ("roles/web/templates/page.j2", "{% include 'part.j2' %}\n{% import 'lib/macros.j2' as m %}\n{{ m.hello('w') }}\n"),
        ("roles/web/templates/part.j2", "part {{ x }}\n"),
        ("roles/web/templates/lib/macros.j2", "{% macro hello(n) %}hello {{ n }}{% endmacro %}\n"),
        ("roles/web/templates/brackets.j2", "[% if x %]x=[[ x ]][% endif %]\n[# comment #]\n{{ literal }} {% raw %}\n"),
        (
            "roles/web/templates/managed.j2",
            "# {{ ansible_managed }}\n{{ template_path }} {{ template_destpath }} {{ template_fullpath.endswith('/roles/web/templates/managed.j2') }} {{ template_host | length > 0 }} {{ template_uid | string | length > 0 }}\n",
        ),
        ("roles/web/templates/header.j2", "#jinja2: variable_start_string: '[[', variable_end_string: ']]', trim_blocks: False\nx=[[ x ]] {{ y }}\n"),
    ];
    let a = apply_in(dir.path(), &lab.inventory(""), files, "site.yml", RunOptions::default()).await.unwrap();
    assert_eq!(a.summary.exit_code, 0, "{:?}", a.failures());

    // Rendered as ansible-core 2.19 renders them (recorded with the oracle).
    assert_eq!(read(&lab, "/srv/t/page").await, "part 5hello w\n");
    assert_eq!(read(&lab, "/srv/t/brackets").await, "x=5{{ literal }} {% raw %}\n");
    assert_eq!(read(&lab, "/srv/t/header").await, "x=5 {{ y }}\n");
    // ansible-core 2.19's template variables, as it renders this template.
    assert_eq!(read(&lab, "/srv/t/managed").await, "# Ansible managed\nmanaged.j2 /srv/t/managed True True True\n");
    // The folder copies: modes kept, links kept as links.
    let (_, tree) = lab.docker_exec("h1", "cd /srv/rs && find d1 d2 -printf '%p %y %m %l\\n' | sort").await;
    assert_eq!(
        tree,
        "d1 d 755 \nd1/src d 755 \nd1/src/a.txt f 644 \nd1/src/link l 777 a.txt\nd1/src/sub d 755 \nd1/src/sub/b.txt f 600 \n\
         d2 d 755 \nd2/a.txt f 644 \nd2/link l 777 a.txt\nd2/sub d 755 \nd2/sub/b.txt f 600 \n"
    );
    assert_eq!(read(&lab, "/srv/rs/d1/src/sub/b.txt").await, "b\n");
    assert!(changed(&a, "remote folder itself"), "{}", result(&a, "remote folder itself"));
    // tempfile made what it says.
    let td = result(&a, "temp dir");
    let (code, _) = lab.docker_exec("h1", &format!("test -d {}", td["path"].as_str().unwrap())).await;
    assert_eq!(code, 0, "{td}");
    assert_eq!(read(&lab, "/srv/replace.conf").await, "port=900\nport=901\n");

    // Again: what describes a state changes nothing; tempfile, command and shell run again, as in Ansible.
    let b = apply_in(dir.path(), &lab.inventory(""), files, "site.yml", RunOptions::default()).await.unwrap();
    assert_eq!(b.summary.exit_code, 0, "{:?}", b.failures());
    for t in [
        "page from the role",
        "custom delimiters",
        "delimiters from the template's header",
        "template variables",
        "remote folder itself",
        "remote folder contents",
        "replace again",
        "apt with force_apt_get",
    ] {
        assert!(!changed(&b, t), "{t} changed the second time: {}", result(&b, t));
    }
    for t in ["temp file", "temp dir", "command ignores executable", "shell with executable"] {
        assert!(changed(&b, t), "{t} should report a change every time");
    }

    // A file changed behind hlprov's back: check mode reports it and moves nothing; then it is copied again,
    // and only it.
    lab.sh("h1", "echo changed > /srv/rs/d2/sub/b.txt").await;
    let check = RunOptions { check: true, diff: true, ..Default::default() };
    let c = apply_in(dir.path(), &lab.inventory(""), files, "site.yml", check).await.unwrap();
    assert!(changed(&c, "remote folder contents") && !changed(&c, "remote folder itself"));
    let diff = &c.results().into_iter().find(|r| r.task.contains("remote folder contents")).unwrap().diffs;
    assert!(diff.iter().any(|d| d.before == "changed\n" && d.after.contains("copy of /srv/rs/src/sub/b.txt")), "{diff:?}");
    assert_eq!(read(&lab, "/srv/rs/d2/sub/b.txt").await, "changed\n");
    let c = apply_in(dir.path(), &lab.inventory(""), files, "site.yml", RunOptions::default()).await.unwrap();
    assert!(changed(&c, "remote folder contents") && !changed(&c, "remote folder itself"));
    assert_eq!(read(&lab, "/srv/rs/d2/sub/b.txt").await, "b\n");
}

/// Each task appends a line to /tmp/log on the host: the log is what ran, in order.
const INCLUDES_PLAYBOOK: &str = r#"
- hosts: all
  gather_facts: false
  vars: {which: one}
  pre_tasks:
    - name: static role defaults are visible from the start of the play
      shell: echo "pre r1_default={{ r1_default | default('UNDEF') }}" >> /tmp/log
  roles: [r1]
  tasks:
    - name: loop include
      include_tasks: tasks/item.yml
      loop: [a, b]
      loop_control: {loop_var: it}
      register: looped
    - name: templated include
      include_tasks: "tasks/{{ which }}.yml"
      register: inc_reg
    - name: skipped include
      include_tasks: tasks/one.yml
      when: false
      register: inc_skipped
    - name: apply to the included tasks
      include_tasks:
        file: tasks/fail.yml
        apply:
          ignore_errors: true
          environment: {APPLIED: "yes"}
    - name: nested includes
      include_tasks: tasks/deep/level1.yml
    - name: role included from a task file deeper in the role
      include_role: {name: r1, tasks_from: start}
    - name: defaults of a private include_role do not leak
      shell: echo "after include r2_var={{ r2_var | default('UNDEF') }} r2_default={{ r2_default | default('UNDEF') }}" >> /tmp/log
      vars: {}
    - include_role: {name: r2, tasks_from: main}
      loop: [1, 2]
      register: role_looped
    - name: after private include_role
      shell: echo "private r2_var={{ r2_var | default('UNDEF') }}" >> /tmp/log
    - include_role: {name: r2, public: true}
    - name: after public include_role
      shell: echo "public r2_var={{ r2_var | default('UNDEF') }} r2_default={{ r2_default | default('UNDEF') }}" >> /tmp/log
    - name: registered includes
      assert:
        that:
          - "inc_reg == {'changed': false, 'include': 'tasks/one.yml', 'include_args': {}}"
          - looped.results | map(attribute='it') | list == ['a', 'b']
          - looped.results[0].include == 'tasks/item.yml' and looped.results[0].ansible_loop_var == 'it'
          - inc_skipped is skipped
          - "role_looped.results[1].include_args == {'name': 'r2', 'tasks_from': 'main'}"
          - role_looped.results[1].item == 2
    - name: static role defaults are the play's
      shell: echo "play r1_default={{ r1_default }}" >> /tmp/log
- hosts: all
  gather_facts: false
  tasks:
    - name: nor after, in another play
      shell: echo "next play r1_default={{ r1_default | default('UNDEF') }}" >> /tmp/log
"#;

#[tokio::test(flavor = "multi_thread")]
async fn includes_loop_template_apply_register_resolve_paths_and_scope_role_variables_as_ansible() {
    let lab = TestLab::start(1).await;
    let dir = tempfile::tempdir().unwrap();
    let log = |m: &str| format!("- shell: echo \"{m}\" >> /tmp/log\n");
    let files: Vec<(String, String)> = vec![
        ("site.yml".into(), INCLUDES_PLAYBOOK.into()),
        ("tasks/item.yml".into(), log("item {{ it }}")),
        ("tasks/one.yml".into(), log("one")),
        ("tasks/fail.yml".into(), "- shell: echo \"fail APPLIED=$APPLIED\" >> /tmp/log; false\n".into()),
        ("tasks/deep/level1.yml".into(), "- include_tasks: level2.yml\n".into()),
        // A static import from a nested file, found from the playbook's folder too.
        ("tasks/deep/level2.yml".into(), "- include_tasks: level3.yml\n- import_tasks: tasks/static.yml\n".into()),
        ("tasks/static.yml".into(), log("static")),
        // From the playbook's folder, three levels down.
        ("tasks/deep/level3.yml".into(), format!("{}- include_tasks: tasks/one.yml\n", log("level3"))),
        ("roles/r1/tasks/main.yml".into(), log("r1 main")),
        ("roles/r1/tasks/start.yml".into(), "- include_tasks: sub/a.yml\n".into()),
        // Beside the including file, inside the role.
        ("roles/r1/tasks/sub/a.yml".into(), "- include_tasks: b.yml\n".into()),
        ("roles/r1/tasks/sub/b.yml".into(), log("r1 sub b {{ r1_default }}")),
        ("roles/r1/defaults/main.yml".into(), "r1_default: d1\n".into()),
        ("roles/r2/defaults/main.yml".into(), "r2_default: d2\n".into()),
        ("roles/r2/vars/main.yml".into(), "r2_var: v2\n".into()),
        ("roles/r2/tasks/main.yml".into(), log("r2 {{ item | default(0) }} {{ r2_var }} {{ r1_default }}")),
    ];
    let files: Vec<(&str, &str)> = files.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let a = apply_in(dir.path(), &lab.inventory(""), &files, "site.yml", RunOptions::default()).await.unwrap();
    assert_eq!(a.summary.exit_code, 0, "{:?}", a.failures());
    // The same lines as ansible-core 2.19 gives for this playbook (recorded with the oracle).
    assert_eq!(
        read(&lab, "/tmp/log").await,
        "pre r1_default=d1\n\
         r1 main\n\
         item a\n\
         item b\n\
         one\n\
         fail APPLIED=yes\n\
         level3\n\
         one\n\
         static\n\
         r1 sub b d1\n\
         after include r2_var=UNDEF r2_default=UNDEF\n\
         r2 1 v2 d1\n\
         r2 2 v2 d1\n\
         private r2_var=UNDEF\n\
         r2 0 v2 d1\n\
         public r2_var=v2 r2_default=d2\n\
         play r1_default=d1\n\
         next play r1_default=UNDEF\n"
    );
    // apply: ignore_errors reached the included task.
    assert_eq!(a.stats("h1").ignored, 1);
}

const HANDLERS_PLAYBOOK: &str = r#"
- hosts: all
  gather_facts: false
  roles: [ra, rb]
  tasks:
    - name: notify a task of an imported handler file
      command: "true"
      notify: imported one
    - name: notify an include_tasks handler by its name
      command: "true"
      notify: included handlers
    - name: notify a topic two roles listen to
      command: "true"
      notify: topic
    - name: notify the topic of an included handler file
      command: "true"
      notify: inc topic
    - name: notify a handler that notifies another
      command: "true"
      notify: chain first
    - name: import with notify
      import_tasks: tasks/two.yml
      notify: from import
    - name: block with notify
      block:
        - command: "true"
      notify: from block
    - name: polled job
      shell: sleep 1; echo "job done" >> /tmp/job
      async: 10
      poll: 1
      register: job
    - name: job over its time
      command: sleep 5
      async: 2
      poll: 1
      register: late
      ignore_errors: true
    - name: background job
      shell: sleep 1; echo bg > /tmp/bg; echo out
      async: 30
      poll: 0
      register: bg
    - name: wait for the job
      async_status: {jid: "{{ bg.ansible_job_id }}"}
      register: bgst
      until: bgst.finished
      retries: 20
      delay: 1
    - name: clean the job up
      async_status: {jid: "{{ bg.ansible_job_id }}", mode: cleanup}
      register: cleaned
    - name: async results
      assert:
        that:
          - job.finished and job.rc == 0
          - late is failed and late.msg == 'async task did not complete within the requested time - 2s'
          - bg is changed and bg.started and not bg.finished
          - bgst.finished and bgst.rc == 0 and bgst.stdout == 'out' and bgst.attempts > 1
          - bgst is changed and bgst.delta is match('0:00:0[0-9][.][0-9]{6}$')
          - cleaned is not changed
          - cleaned.erased == bg.results_file
  handlers:
    - import_tasks: handlers/imported.yml
    - name: included handlers
      include_tasks: handlers/included.yml
    - name: included by topic
      include_tasks: handlers/topic.yml
      listen: inc topic
    - name: chain second
      shell: echo "H chain second" >> /tmp/log
    - name: chain first
      shell: echo "H chain first" >> /tmp/log
      notify: chain second
    - name: from import
      shell: echo "H from import" >> /tmp/log
    - name: from block
      shell: echo "H from block" >> /tmp/log
"#;

#[tokio::test(flavor = "multi_thread")]
async fn handlers_from_imports_includes_roles_listen_chains_inherited_notify_and_polled_async_as_in_ansible() {
    let lab = TestLab::start(1).await;
    let dir = tempfile::tempdir().unwrap();
    let log = |m: &str| format!("- shell: echo \"{m}\" >> /tmp/log\n");
    let role_handler = |r: &str| format!("- name: {r} handler\n  shell: echo \"H {r} listen\" >> /tmp/log\n  listen: topic\n");
    let files: Vec<(String, String)> = vec![
        ("site.yml".into(), HANDLERS_PLAYBOOK.into()),
        (
            "handlers/imported.yml".into(),
            "- name: imported one\n  shell: echo \"H imported one\" >> /tmp/log\n- name: imported two\n  shell: echo \"H imported two\" >> /tmp/log\n".into(),
        ),
        ("handlers/included.yml".into(), format!("{}{}", log("H included a"), log("H included b"))),
        ("handlers/topic.yml".into(), log("H included by topic")),
        ("tasks/two.yml".into(), "- command: \"true\"\n- command: \"true\"\n".into()),
        ("roles/ra/tasks/main.yml".into(), log("ra")),
        ("roles/rb/tasks/main.yml".into(), log("rb")),
        ("roles/ra/handlers/main.yml".into(), role_handler("ra")),
        ("roles/rb/handlers/main.yml".into(), role_handler("rb")),
    ];
    let files: Vec<(&str, &str)> = files.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let a = apply_in(dir.path(), &lab.inventory(""), &files, "site.yml", RunOptions::default()).await.unwrap();
    assert_eq!(a.summary.exit_code, 0, "{:?}", a.failures());
    // ansible-core 2.19's order for this playbook: definition order, roles' handlers first; a handler notified
    // by a handler defined before it runs after the others; "imported two" was never notified.
    assert_eq!(
        read(&lab, "/tmp/log").await,
        "ra\nrb\nH ra listen\nH rb listen\nH imported one\nH included a\nH included b\nH included by topic\nH chain first\nH from import\nH from block\nH chain second\n"
    );
    // async with poll: the job ran to its end; the one over its time limit failed (ignored).
    assert_eq!(read(&lab, "/tmp/job").await, "job done\n");
    assert_eq!(read(&lab, "/tmp/bg").await, "bg\n");
    assert_eq!(lab.docker_exec("h1", "ls -A /root/.ansible_async").await, (0, String::new()), "the job's files were cleaned up");
    assert_eq!(a.stats("h1").ignored, 1);
}

/// What Ansible refuses (or hlprov does not do yet) is refused when the playbook loads, naming file:line.
#[test]
fn refused_at_load_time_with_file_and_line() {
    let cases = [
        (
            "- command: 'true'\n  notify: h\n",
            "include_tasks: x.yml\n      notify: h",
            "site.yml:3",
            "'notify' is not a valid attribute for a TaskInclude",
        ),
        ("- command: 'true'\n", "include_role: {name: r}\n      notify: h", "site.yml:3", "'notify' is not a valid attribute for a IncludeRole"),
        (
            "- command: 'true'\n",
            "copy: {content: x, dest: /x}\n      async: 10\n      poll: 0",
            "site.yml:5",
            "poll: 0 (a fire-and-forget job) is supported for command, shell, script only",
        ),
    ];
    for (extra, task, at, want) in cases {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("x.yml"), extra).unwrap();
        let pb = format!("- hosts: all\n  tasks:\n    - {task}\n  handlers:\n    - name: h\n      command: 'true'\n");
        std::fs::write(dir.path().join("site.yml"), &pb).unwrap();
        let e = hlprov::playbook::load(&dir.path().join("site.yml"), &Default::default()).unwrap_err().to_string();
        assert!(e.contains(want) && e.contains(at), "{task}: {e}");
    }
    let dir = tempfile::tempdir().unwrap();
    let pb = "- hosts: all\n  tasks: []\n  handlers:\n    - name: h\n      include_role: {name: r}\n";
    std::fs::write(dir.path().join("site.yml"), pb).unwrap();
    let e = hlprov::playbook::load(&dir.path().join("site.yml"), &Default::default()).unwrap_err().to_string();
    assert!(e.contains("Using 'include_role' as a handler is not supported.") && e.contains("site.yml:4"), "{e}");
}

const ROLE_FILES_PLAYBOOK: &str = r#"
- name: a role included three times notifies its handler once per flush
  hosts: all
  gather_facts: false
  roles: [r]
  tasks:
    - include_role: {name: r}
      vars: {tag: one}
    - include_role: {name: r}
      loop: [a, b]
- name: flushes in between run it again
  hosts: all
  gather_facts: false
  tasks:
    - include_role: {name: r}
    - meta: flush_handlers
    - include_role: {name: r}
- name: include_role reads the files named by tasks_from, vars_from, defaults_from, handlers_from
  hosts: all
  gather_facts: false
  vars: {which: other}
  tasks:
    - include_role: {name: f, tasks_from: "{{ which }}", vars_from: "{{ which }}", defaults_from: other.yml, handlers_from: other}
- name: import_role reads them too, templates rendered with the play's vars
  hosts: all
  gather_facts: false
  vars: {which: other}
  tasks:
    - import_role: {name: f, vars_from: "{{ which }}", defaults_from: other, handlers_from: other}
- name: import_role runs again where it is written, unless it says allow_duplicates false
  hosts: all
  gather_facts: false
  tasks:
    - import_role: {name: d}
    - import_role: {name: d}
    - import_role: {name: d, allow_duplicates: no}
"#;

#[tokio::test(flavor = "multi_thread")]
async fn role_handlers_run_once_however_often_the_role_is_included_and_the_from_options_pick_the_roles_files() {
    let lab = TestLab::start(1).await;
    let dir = tempfile::tempdir().unwrap();
    let f_task = |m: &str| {
        format!("- name: {m} {{{{ v }}}} {{{{ d }}}}\n  shell: echo \"{m} {{{{ v }}}} {{{{ d }}}}\" >> /tmp/log\n  notify: [fh, fh_other]\n")
    };
    let files: Vec<(String, String)> = vec![
        ("site.yml".into(), ROLE_FILES_PLAYBOOK.into()),
        ("roles/r/tasks/main.yml".into(), "- command: \"true\"\n  changed_when: true\n  notify: rh\n".into()),
        ("roles/r/handlers/main.yml".into(), "- name: rh\n  shell: echo rh >> /tmp/log\n".into()),
        ("roles/d/tasks/main.yml".into(), "- shell: echo d >> /tmp/log\n".into()),
        ("roles/f/tasks/main.yml".into(), f_task("main")),
        ("roles/f/tasks/other.yml".into(), f_task("other")),
        ("roles/f/vars/main.yml".into(), "v: vmain\n".into()),
        ("roles/f/vars/other.yml".into(), "v: vother\n".into()),
        ("roles/f/defaults/main.yml".into(), "d: dmain\n".into()),
        ("roles/f/defaults/other.yml".into(), "d: dother\n".into()),
        ("roles/f/handlers/main.yml".into(), "- name: fh\n  shell: echo fh-main >> /tmp/log\n".into()),
        (
            "roles/f/handlers/other.yml".into(),
            "- name: fh_other\n  shell: echo fh-other >> /tmp/log\n- name: fh\n  shell: echo fh-from-other >> /tmp/log\n".into(),
        ),
    ];
    let files: Vec<(&str, &str)> = files.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let a = apply_in(dir.path(), &lab.inventory(""), &files, "site.yml", RunOptions::default()).await.unwrap();
    assert_eq!(a.summary.exit_code, 0, "{:?}", a.failures());
    // ansible-core 2.19 on the same playbook (-c local): rh once in the first play (four notifications, one
    // flush), twice in the second (two flushes); the *_from files in place of main.yml; role d twice.
    assert_eq!(
        read(&lab, "/tmp/log").await,
        "rh\nrh\nrh\nother vother dother\nfh-other\nfh-from-other\nmain vother dother\nfh-other\nfh-from-other\nd\nd\n"
    );
}

#[test]
fn a_missing_from_file_or_an_option_an_include_does_not_take_is_refused_with_ansibles_words() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("roles/f/tasks")).unwrap();
    std::fs::write(dir.path().join("roles/f/tasks/main.yml"), "- command: 'true'\n").unwrap();
    for (from, want) in [("defaults_from: nope", "defaults/nope"), ("tasks_from: nope.yml", "tasks/nope"), ("handlers_from: nope", "handlers/nope")] {
        let pb = format!("- hosts: all\n  tasks:\n    - import_role: {{name: f, {from}}}\n");
        std::fs::write(dir.path().join("site.yml"), &pb).unwrap();
        let e = hlprov::playbook::load(&dir.path().join("site.yml"), &Default::default()).unwrap_err().to_string();
        assert!(e.contains(&format!("Could not find specified file in role: {want}")) && e.contains("site.yml:3"), "{from}: {e}");
    }
    // Options an include or import does not take are refused, as Ansible refuses them (a typo is not ignored).
    for (task, want) in [
        ("import_role: {name: f, task_from: other}", "Invalid options for import_role: task_from"),
        ("include_role: {name: f, vars: {a: 1}}", "Invalid options for include_role: vars"),
        ("include_tasks: {file: x.yml, foo: 1}", "Invalid options for include_tasks: foo"),
        ("import_tasks: {file: x.yml, apply: {}}", "Invalid options for import_tasks: apply"),
        ("include_role: {name: f, allow_duplicates: false}", "allow_duplicates: false on include_role is not supported by hlprov"),
    ] {
        let pb = format!("- hosts: all\n  tasks:\n    - {task}\n");
        std::fs::write(dir.path().join("site.yml"), &pb).unwrap();
        let e = hlprov::playbook::load(&dir.path().join("site.yml"), &Default::default()).unwrap_err().to_string();
        assert!(e.contains(want) && e.contains("site.yml:3"), "{task}: {e}");
    }
    // A template in import_role's options is rendered at load time with the play's vars, as a role name is.
    let pb = "- hosts: all\n  tasks:\n    - import_role: {name: f, vars_from: \"{{ x }}\"}\n";
    std::fs::write(dir.path().join("site.yml"), pb).unwrap();
    let e = hlprov::playbook::load(&dir.path().join("site.yml"), &Default::default()).unwrap_err().to_string();
    assert!(e.contains("`vars_from: {{ x }}` of import_role must be known when the playbook is loaded") && e.contains("site.yml:3"), "{e}");
}

const DYNAMIC_INVENTORY: &str = r#"
- hosts: all
  gather_facts: false
  tasks:
    - group_by: {key: "odd"}
      when: inventory_hostname in ['h1', 'h3']
      register: g1
    - group_by: {key: "odd"}
      when: inventory_hostname in ['h1', 'h3']
      register: g2
    - group_by: {key: "web tier", parents: [frontend]}
      when: inventory_hostname == 'h2'
    - add_host:
        name: extra
        groups: dyn,later
        ansible_host: "{{ hostvars['h2']['ansible_host'] }}"
        ansible_port: "{{ hostvars['h2']['ansible_port'] }}"
        extra_var: 42
      register: added
    - copy: {dest: /tmp/first, content: "{{ g1.changed | default('-') }} {{ g2.changed | default('-') }} {{ added.add_host.host_name }} {{ added.add_host.groups }} {{ ansible_play_hosts_all | length }}\n"}
- hosts: odd
  gather_facts: false
  tasks:
    - copy: {dest: /tmp/odd, content: "{{ groups['odd'] }} {{ group_names }}\n"}
- hosts: frontend
  gather_facts: false
  tasks:
    - copy: {dest: /tmp/frontend, content: "{{ groups['web-tier'] }}\n"}
- hosts: dyn
  gather_facts: false
  tasks:
    - copy: {dest: /tmp/dyn, content: "{{ inventory_hostname }} {{ extra_var }} {{ from_group_vars }} {{ group_names }}\n"}
    - copy: {dest: /tmp/patterns, content: "{{ lookup('inventory_hostnames', 'odd:dyn') }} {{ query('inventory_hostnames', 'all:!odd') }}\n"}
    - shell: echo {{ item }} >> /tmp/loop
      with_inventory_hostnames: ["odd", "frontend"]
"#;

/// group_by and add_host, as Ansible documents them: later plays target the groups made at run time, a new
/// group's group_vars apply, add_host runs once (not per host) and its host is reachable by its variables
/// (here the address of h2, under another name).
#[tokio::test(flavor = "multi_thread")]
async fn group_by_and_add_host_change_the_inventory_for_later_plays() {
    let lab = TestLab::start(3).await;
    let dir = tempfile::tempdir().unwrap();
    let files = [("site.yml", DYNAMIC_INVENTORY), ("group_vars/dyn.yml", "from_group_vars: gv\n")];
    let a = apply_in(dir.path(), &lab.inventory(""), &files, "site.yml", RunOptions::default()).await.expect("runs");
    assert_eq!(a.summary.exit_code, 0, "{:?}", a.failures());
    let read = |h: &'static str, p: &'static str| {
        let lab = &lab;
        async move { lab.docker_exec(h, &format!("cat {p} 2>/dev/null || echo absent")).await.1 }
    };
    // group_by changes the inventory once; add_host ran once for the three hosts.
    assert_eq!(read("h1", "/tmp/first").await, "True False extra ['dyn', 'later'] 3\n");
    assert_eq!(read("h2", "/tmp/first").await, "False False extra ['dyn', 'later'] 3\n", "skipped: changed is false");
    assert_eq!(a.results().iter().filter(|r| r.task.contains("add_host")).count(), 1, "add_host bypasses the host loop");
    assert_eq!(read("h1", "/tmp/odd").await, "['h1', 'h3'] ['odd']\n");
    assert_eq!(read("h3", "/tmp/odd").await, "['h1', 'h3'] ['odd']\n");
    assert_eq!(read("h2", "/tmp/odd").await, "absent\n");
    // A lone expression keeps its type (a list, written as JSON) and loses the trailing newline, as in Ansible.
    assert_eq!(read("h2", "/tmp/frontend").await, "[\"h2\"]");
    // The added host reached h2's container under its own name, with its variables and its group's group_vars.
    assert_eq!(read("h2", "/tmp/dyn").await, "extra 42 gv ['dyn', 'later']\n");
    assert_eq!(read("h1", "/tmp/dyn").await, "absent\n");
    assert_eq!(read("h2", "/tmp/patterns").await, "h1,h3,extra ['h2', 'extra']\n");
    assert_eq!(read("h2", "/tmp/loop").await, "h1\nh3\nh2\n");
}
