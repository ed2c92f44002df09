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
    ];
    let a = apply_in(dir.path(), &lab.inventory(""), files, "site.yml", RunOptions::default()).await.unwrap();
    assert_eq!(a.summary.exit_code, 0, "{:?}", a.failures());

    // Rendered as ansible-core 2.19 renders them (recorded with the oracle).
    assert_eq!(read(&lab, "/srv/t/page").await, "part 5hello w\n");
    assert_eq!(read(&lab, "/srv/t/brackets").await, "x=5{{ literal }} {% raw %}\n");
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
    for t in ["page from the role", "custom delimiters", "remote folder itself", "remote folder contents", "replace again", "apt with force_apt_get"]
    {
        assert!(!changed(&b, t), "{t} changed the second time: {}", result(&b, t));
    }
    for t in ["temp file", "temp dir", "command ignores executable", "shell with executable"] {
        assert!(changed(&b, t), "{t} should report a change every time");
    }

    // A file changed behind hlprov's back is copied again, and only it.
    lab.sh("h1", "echo changed > /srv/rs/d2/sub/b.txt").await;
    let c = apply_in(dir.path(), &lab.inventory(""), files, "site.yml", RunOptions::default()).await.unwrap();
    assert!(changed(&c, "remote folder contents") && !changed(&c, "remote folder itself"));
    assert_eq!(read(&lab, "/srv/rs/d2/sub/b.txt").await, "b\n");
}
