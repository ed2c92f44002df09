//! Ansible compatibility of the language, keywords and loops (issue #20), on real hosts: each playbook is
//! written from ansible-core 2.19's documentation (expected values checked against ansible-playbook) and the
//! tests read the hosts back with `docker exec` and look at the registered results.

mod common;

use common::{TestLab, apply_files};
use hlprov::exec::RunOptions;
use hlprov::report::Status;

async fn read(lab: &TestLab, host: &str, path: &str) -> String {
    let (code, out) = lab.docker_exec(host, &format!("cat {path}")).await;
    if code == 0 { out } else { format!("<no {path}>") }
}

const LOOPS: &str = r#"
- hosts: all
  gather_facts: false
  vars:
    failing_command: "false"
    users:
      - {name: alice, ssh_keys: [k1, k2]}
      - {name: bob, ssh_keys: []}
      - {name: carol, ssh_keys: [k3]}
  tasks:
    - block:
        - name: the failing step
          command:
            cmd: "/bin/{{ failing_command }}"
          register: boom
      rescue:
        - name: record the failure
          copy:
            dest: /tmp/rescue.txt
            content: "{{ ansible_failed_task.name }}|{{ ansible_failed_task.action }}|{{ ansible_failed_task.args.cmd }}|{{ ansible_failed_result.rc }}|{{ ansible_failed_result.failed }}\n"
      always:
        - name: always sees it after the rescue
          shell: echo "{{ ansible_failed_task.name }} rc={{ ansible_failed_result.rc }}" > /tmp/always.txt

    - name: extended loop
      shell: >-
        echo "{{ ansible_loop.index }}/{{ ansible_loop.length }} {{ ansible_loop.index0 }} {{ ansible_loop.first }}
        {{ ansible_loop.last }} {{ ansible_loop.revindex }} {{ ansible_loop.revindex0 }}
        {{ ansible_loop.previtem | default('-') }} {{ ansible_loop.nextitem | default('-') }}
        {{ ansible_loop.allitems | join(',') }}" >> /tmp/extended.txt
      loop: [a, b, c]
      loop_control: {extended: true, label: "{{ item }}"}
    - name: extended without allitems
      shell: echo "{{ ansible_loop.allitems | default('none') }}" >> /tmp/noall.txt
      loop: [a]
      loop_control: {extended: true, extended_allitems: false}

    - name: break_when
      shell: echo {{ item }} >> /tmp/break.txt
      loop: [1, 2, 3, 4]
      register: broke
      loop_control:
        break_when: item >= 2
    - name: build a list item by item
      set_fact:
        acc: "{{ acc | default([]) + [item ~ '!'] }}"
      loop: [1, 2, 3]
    - copy:
        dest: /tmp/registered.txt
        content: "{{ broke.results | map(attribute='item') | list }} {{ acc | join(',') }}\n"

    - shell: echo "{{ item.0 }}-{{ item.1 | default('none', true) }}" >> /tmp/together.txt
      with_together: [[1, 2, 3], [a, b]]
    - shell: echo "{{ item.0 }}{{ item.1 }}" >> /tmp/nested.txt
      with_nested: [[1, 2], [a, b]]
    - shell: echo "{{ item.0 }}{{ item.1 }}" >> /tmp/cartesian.txt
      with_cartesian: [[x, y], [1]]
    - shell: echo "{{ item.0.name }}:{{ item.1 }}:{{ item.0.ssh_keys is defined }}" >> /tmp/sub.txt
      with_subelements: ["{{ users }}", ssh_keys]
    - shell: echo "{{ item }}" >> /tmp/skipmissing.txt
      with_subelements: ["{{ users }}", nokey, {skip_missing: true}]
    - shell: echo "{{ item }}" >> /tmp/items.txt
      with_items: [[1, 2], 3]
    - shell: echo "{{ item }}" >> /tmp/list.txt
      with_list: [[1, 2], 3]
    - shell: echo "{{ item }}" >> /tmp/flat.txt
      with_flattened: [[1, [2, [3]]], 4]
    - shell: echo "{{ item.key }}={{ item.value }}" >> /tmp/dict.txt
      with_dict: {a: 1, b: 2}
    - shell: echo "{{ item.0 }}:{{ item.1 }}" >> /tmp/indexed.txt
      with_indexed_items: [x, y]
    - shell: echo "{{ item }}" >> /tmp/seq.txt
      with_sequence: start=1 end=3 format=n%02d
    - shell: echo "{{ item | basename }}" >> /tmp/glob.txt
      with_fileglob: ["conf/*.conf"]
    - shell: echo "{{ item | basename }}" > /tmp/first.txt
      with_first_found: [missing.conf, conf/b.conf]
    - shell: echo "{{ item }}" > /tmp/random.txt
      with_random_choice: [only]
    - shell: echo never > /tmp/never.txt
      loop: []
      register: nothing
    - debug: {msg: x}
      loop: [a, b]
      loop_control: {extended: true, index_var: i}
      register: indexed
    - copy:
        dest: /tmp/results.txt
        content: "{{ nothing.skipped }} {{ nothing.skipped_reason }} {{ nothing.results }} {{ indexed.results[1].i }} {{ indexed.results[1].ansible_index_var }} {{ indexed.results[1].ansible_loop.previtem }}\n"
"#;

#[tokio::test(flavor = "multi_thread")]
async fn rescue_sees_the_failed_task_and_loops_follow_ansible() {
    let lab = TestLab::start(1).await;
    let files = [("site.yml", LOOPS), ("conf/a.conf", "a\n"), ("conf/b.conf", "b\n"), ("conf/c.txt", "c\n")];
    let applied = apply_files(&lab.inventory(""), &files, "site.yml", RunOptions::default()).await.expect("runs");
    let failures = applied.failures();
    assert!(failures.len() == 1 && failures[0].starts_with("h1 the failing step"), "{failures:?}");
    let stats = applied.stats("h1");
    assert_eq!((stats.rescued, stats.failed), (1, 0));

    assert_eq!(read(&lab, "h1", "/tmp/rescue.txt").await, "the failing step|command|/bin/false|1|True\n");
    assert_eq!(read(&lab, "h1", "/tmp/always.txt").await, "the failing step rc=1\n");
    assert_eq!(
        read(&lab, "h1", "/tmp/extended.txt").await,
        "1/3 0 True False 3 2 - b a,b,c\n2/3 1 False False 2 1 a c a,b,c\n3/3 2 False True 1 0 b - a,b,c\n"
    );
    assert_eq!(read(&lab, "h1", "/tmp/noall.txt").await, "none\n");
    // break_when: the item that met it ran and is registered; the rest did not run.
    assert_eq!(read(&lab, "h1", "/tmp/break.txt").await, "1\n2\n");
    assert_eq!(read(&lab, "h1", "/tmp/registered.txt").await, "[1, 2] 1!,2!,3!\n");
    let broke = applied.of("break_when", "h1").into_iter().find(|r| r.item.is_none()).expect("loop summary");
    assert_eq!(broke.result["results"].as_array().map(Vec::len), Some(2));

    assert_eq!(read(&lab, "h1", "/tmp/together.txt").await, "1-a\n2-b\n3-none\n");
    assert_eq!(read(&lab, "h1", "/tmp/nested.txt").await, "1a\n1b\n2a\n2b\n");
    assert_eq!(read(&lab, "h1", "/tmp/cartesian.txt").await, "x1\ny1\n");
    // item.0 is the element without the subelement key, as Ansible gives it.
    assert_eq!(read(&lab, "h1", "/tmp/sub.txt").await, "alice:k1:False\nalice:k2:False\ncarol:k3:False\n");
    assert_eq!(read(&lab, "h1", "/tmp/skipmissing.txt").await, "<no /tmp/skipmissing.txt>");
    assert_eq!(read(&lab, "h1", "/tmp/items.txt").await, "1\n2\n3\n");
    assert_eq!(read(&lab, "h1", "/tmp/list.txt").await, "[1, 2]\n3\n");
    assert_eq!(read(&lab, "h1", "/tmp/flat.txt").await, "1\n2\n3\n4\n");
    assert_eq!(read(&lab, "h1", "/tmp/dict.txt").await, "a=1\nb=2\n");
    assert_eq!(read(&lab, "h1", "/tmp/indexed.txt").await, "0:x\n1:y\n");
    assert_eq!(read(&lab, "h1", "/tmp/seq.txt").await, "n01\nn02\nn03\n");
    // Ansible gives the files in the folder's order; hlprov sorts them.
    let mut globbed: Vec<String> = read(&lab, "h1", "/tmp/glob.txt").await.lines().map(str::to_string).collect();
    globbed.sort();
    assert_eq!(globbed, ["a.conf", "b.conf"]);
    assert_eq!(read(&lab, "h1", "/tmp/first.txt").await, "b.conf\n");
    assert_eq!(read(&lab, "h1", "/tmp/random.txt").await, "only\n");
    assert_eq!(read(&lab, "h1", "/tmp/never.txt").await, "<no /tmp/never.txt>");
    assert_eq!(read(&lab, "h1", "/tmp/results.txt").await, "True No items in the list [] 1 i a\n");
}

/// A `with_<lookup>` hlprov does not have is refused when the playbook loads, naming the file, the line and the
/// lookup (no host needed).
#[test]
fn unknown_with_lookups_are_refused_at_load_time_naming_the_lookup() {
    let dir = tempfile::tempdir().unwrap();
    let pb = dir.path().join("site.yml");
    std::fs::write(&pb, "- hosts: all\n  tasks:\n    - debug: var=item\n      with_password: /dev/null\n").unwrap();
    let Err(err) = hlprov::playbook::load(&pb, &Default::default()) else { panic!("with_password was accepted") };
    let err = err.to_string();
    assert!(err.contains("site.yml:4:7") && err.contains("`with_password:` (the password lookup as a loop) is not supported"), "{err}");
}

/// Static role names from templates (`roles:`, `import_role`) are rendered when the playbook loads, with the
/// play's vars and an import_playbook's vars (which become the imported plays' vars, over their own, and
/// nowhere else), as ansible-core 2.19 does; a name not known then is refused naming the file and line.
#[test]
fn role_names_from_play_and_import_playbook_vars_are_resolved_at_load_time() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("roles/r1/tasks")).unwrap();
    std::fs::write(d.join("roles/r1/tasks/main.yml"), "- debug: {msg: r1 ran}\n").unwrap();
    std::fs::write(d.join("site.yml"), "- import_playbook: inner.yml\n  vars: {which: r1, shared: import}\n- import_playbook: other.yml\n").unwrap();
    std::fs::write(
        d.join("inner.yml"),
        "- hosts: all\n  vars: {shared: play}\n  roles: [\"{{ which }}\"]\n  tasks:\n    - import_role: {name: \"{{ which }}\"}\n",
    )
    .unwrap();
    std::fs::write(d.join("other.yml"), "- hosts: all\n  tasks: []\n").unwrap();
    let pb = hlprov::playbook::load(&d.join("site.yml"), &Default::default()).expect("loads");
    let role_of = |n: &hlprov::playbook::Node| match n {
        hlprov::playbook::Node::Block(b) => b.role.as_ref().map(|r| r.name.clone()),
        _ => None,
    };
    let roles: Vec<String> = pb.plays[0].tasks.iter().filter_map(role_of).collect();
    assert_eq!(roles, ["r1", "r1"], "roles: and an import_role both run, as in Ansible");
    assert_eq!((pb.plays[0].vars.get("which"), pb.plays[0].vars.get("shared")), (Some(&serde_json::json!("r1")), Some(&serde_json::json!("import"))));
    assert!(pb.plays[1].vars.get("which").is_none(), "import vars stay with the import");
    std::fs::write(d.join("bad.yml"), "- hosts: all\n  roles: [\"{{ nope }}\"]\n").unwrap();
    let err = hlprov::playbook::load(&d.join("bad.yml"), &Default::default()).unwrap_err().to_string();
    assert!(
        err.contains("bad.yml:2:11") && err.contains("must be known when the playbook is loaded") && err.contains("'nope' is undefined"),
        "{err}"
    );
}

const WITH_LOOKUPS: &str = r#"
- hosts: all
  gather_facts: false
  tasks:
    - debug: {msg: "L={{ item }}"}
      with_lines: printf 'one\ntwo\n'
    - debug: {msg: "F={{ item }}"}
      with_file: [a.txt, b.txt]
    - debug: {msg: "P={{ item }}"}
      with_pipe: [echo x, echo y]
    - debug: {msg: "E={{ item }}"}
      with_env: [HOME]
    - debug: {msg: "I={{ item }}"}
      with_ini: ["user section=db file=app.ini", "port section=web file=app.ini"]
    - debug: {msg: "C={{ item }}"}
      with_csvfile: ["bob file=users.csv delimiter=,"]
"#;

/// `with_lines`, `with_file`, `with_pipe`, `with_env`, `with_ini`, `with_csvfile` are the lookups of those names as loops (controller-side,
/// so the local connection is enough); the items are what ansible-core 2.19 gives for the same playbook.
#[tokio::test(flavor = "multi_thread")]
async fn with_lookup_loops_run_the_lookup_of_that_name() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("files")).unwrap();
    std::fs::write(d.join("files/a.txt"), "alpha\n").unwrap();
    std::fs::write(d.join("files/b.txt"), "beta\n").unwrap();
    std::fs::write(d.join("files/app.ini"), "[db]\nuser = app\n[web]\nport = 80\n").unwrap();
    std::fs::write(d.join("files/users.csv"), "alice,1\nbob,2\n").unwrap();
    std::fs::write(d.join("site.yml"), WITH_LOOKUPS).unwrap();
    std::fs::write(d.join("hosts.ini"), "probe ansible_connection=local\n").unwrap();
    let pb = hlprov::playbook::load(&d.join("site.yml"), &Default::default()).expect("loads");
    let inv = hlprov::inventory::Inventory::load(&[d.join("hosts.ini")]).expect("inventory");
    let collector = std::sync::Arc::new(hlprov::report::Collector::default());
    let reporter = hlprov::report::Reporter::new(vec![collector.clone()]);
    hlprov::exec::run_playbook(std::sync::Arc::new(pb), std::sync::Arc::new(inv), RunOptions::default(), reporter).await.expect("run");
    let text = format!("{:?}", collector.events.lock().unwrap());
    let home = std::env::var("HOME").unwrap_or_default();
    for want in ["L=one", "L=two", "F=alpha", "F=beta", "P=x", "P=y", &format!("E={home}"), "I=app", "I=80", "C=2"] {
        assert!(text.contains(&format!("\"{want}\"")), "{want} not among the items");
    }
}

const KEYWORDS: &str = r#"
- hosts: all
  gather_facts: true
  strategy: "{{ chosen_strategy }}"
  vars:
    chosen_strategy: linear
    on_first: "{{ inventory_hostname == 'h1' }}"
    var_name: thing
    n: 7
    deep: {a: {}}
    empty: []
  tasks:
    - name: module named by a template
      action: "{{ (ansible_facts.pkg_mgr == 'apt') | ternary('file', 'nope') }} path=/tmp/from-action state=touch"
    - name: templated loop_var
      shell: echo {{ thing }} >> /tmp/loopvar.txt
      loop: [x, y]
      loop_control: {loop_var: "{{ var_name }}"}
    - name: templated run_once
      shell: hostname > /tmp/once.txt
      run_once: "{{ on_first }}"
    - name: free-form arguments with Jinja holding spaces
      file: path=/tmp/kv-{{ inventory_hostname }} state=touch mode={{ '0' ~ '640' }}
    - copy: dest=/tmp/kv-msg.txt content="{{ missing | default('b c') }} {{ [1, 2] | join(' + ') }}"
    - include_role:
        name: r1
        tasks_from: "{{ omit }}"
    - include_role:
        name: r1
        tasks_from: "{{ other_file | default(omit) }}"
      vars: {other_file: other}

    - include_tasks: each.yml
      loop: [p, q]
      loop_control: {extended: true, loop_var: word, index_var: idx}
      # Never used inside: undefined values fail only where they are used.
      vars: {unused: "{{ nope.x }}"}

    - name: percent and format
      copy:
        dest: /tmp/format.txt
        content: "{{ 'node%02d' % n }} {{ '%s-%s' % (inventory_hostname, n) }} {{ '%(k)s' % {'k': 'v'} }} {{ '{}:{:03d}'.format('x', n) }} {{ 'a' ~ 1 ~ none }}\n"
    - template: {src: t.j2, dest: /tmp/format-template.txt}

    - name: template in a condition
      debug: {msg: x}
      when: "{{ n }} == 7"
      register: w1
      ignore_errors: true
    - name: attribute of an undefined value in a condition
      debug: {msg: x}
      when: deep.a.b.c == 1
      register: w2
      ignore_errors: true
    - name: missing element
      debug: {msg: "{{ empty[0] }}"}
      register: w3
      ignore_errors: true
    - name: missing attribute
      debug: {msg: "{{ deep.a.x }}"}
      register: w4
      ignore_errors: true
    - name: a defined test on the chain is fine
      debug: {msg: x}
      when: deep.a.b.c is defined
      register: w5
    - block:
        - debug: {msg: x}
          when: n ==
      rescue:
        - file: path=/tmp/rescued-when state=touch
    - copy:
        dest: /tmp/when-errors.txt
        content: "{{ [w1, w2, w3, w4] | map(attribute='failed') | list }} {{ w5.skipped }}\n{{ w2.msg }}\n{{ w3.msg }}\n{{ w4.msg }}\n"

- hosts: all
  gather_facts: false
  strategy: "{{ 'host_pinned' }}"
  tasks:
    - file: path=/tmp/pinned state=touch
"#;

#[tokio::test(flavor = "multi_thread")]
async fn templated_keywords_kv_arguments_python_formatting_and_when_errors() {
    let lab = TestLab::start(2).await;
    let files = [
        ("site.yml", KEYWORDS),
        ("roles/r1/tasks/main.yml", "- file: path=/tmp/role-main state=touch\n"),
        ("roles/r1/tasks/other.yml", "- file: path=/tmp/role-other state=touch\n"),
        ("each.yml", "- shell: echo \"{{ word }} {{ idx }} {{ ansible_loop.last }}\" >> /tmp/include-loop.txt\n"),
        ("templates/t.j2", "{{ '%05.1f' % 3.14159 }}\n{% for i in range(3) %}{{ '%02d' % i }}{% if not loop.last %},{% endif %}{% endfor %}\n"),
    ];
    let applied = apply_files(&lab.inventory(""), &files, "site.yml", RunOptions::default()).await.expect("runs");
    // The only failures are the rescued syntax error of `when: n ==`, at run time, one per host.
    let failures = applied.failures();
    assert_eq!(failures.len(), 2, "{failures:?}");
    let line = KEYWORDS.lines().position(|l| l.trim() == "when: n ==").expect("the bad condition") + 1;
    let at = format!("site.yml:{line}:17: template syntax error");
    assert!(failures.iter().all(|f| f.contains(&at)), "{failures:?}");
    for h in ["h1", "h2"] {
        assert_eq!((applied.stats(h).failed, applied.stats(h).rescued), (0, 1), "{h}");
        assert_eq!(applied.stats(h).ignored, 4, "{h}");
        assert_eq!(read(&lab, h, "/tmp/from-action && echo yes").await, "yes\n", "{h}");
        assert_eq!(read(&lab, h, "/tmp/loopvar.txt").await, "x\ny\n");
        let (_, mode) = lab.docker_exec(h, &format!("stat -c %a /tmp/kv-{h}")).await;
        assert_eq!(mode.trim(), "640");
        assert_eq!(read(&lab, h, "/tmp/kv-msg.txt").await, "b c 1 + 2");
        assert_eq!(read(&lab, h, "/tmp/role-main && echo main").await, "main\n");
        assert_eq!(read(&lab, h, "/tmp/role-other && echo other").await, "other\n");
        assert_eq!(read(&lab, h, "/tmp/include-loop.txt").await, "p 0 False\nq 1 True\n");
        assert_eq!(read(&lab, h, "/tmp/format.txt").await, format!("node07 {h}-7 v x:007 a1None\n"));
        assert_eq!(read(&lab, h, "/tmp/format-template.txt").await, "003.1\n00,01,02\n");
        assert_eq!(read(&lab, h, "/tmp/rescued-when && echo rescued").await, "rescued\n");
        assert_eq!(read(&lab, h, "/tmp/pinned && echo pinned").await, "pinned\n");
        let errors = read(&lab, h, "/tmp/when-errors.txt").await;
        let lines: Vec<&str> = errors.lines().collect();
        assert_eq!(lines[0], "[True, True, True, True] True", "{errors}");
        assert!(lines[1].ends_with("object of type 'dict' has no attribute 'b'"), "{errors}");
        assert!(lines[2].ends_with("list object has no element 0"), "{errors}");
        assert!(lines[3].ends_with("object of type 'dict' has no attribute 'x'"), "{errors}");
    }
    // run_once: "{{ on_first }}" is true for the first host: the task ran there only.
    assert_eq!(read(&lab, "h1", "/tmp/once.txt").await, "h1\n");
    assert_eq!(read(&lab, "h2", "/tmp/once.txt").await, "<no /tmp/once.txt>");
    let w1 = applied.of("template in a condition", "h1");
    assert_eq!(w1.len(), 1);
    assert_eq!(w1[0].status, Status::Ignored);
}

/// Found by running Ansible-written playbooks side by side with ansible-core 2.19.14 (`-c local`): each line
/// of the expected files is what ansible-core wrote for the same playbook.
const SIDE_BY_SIDE: &str = r#"
- hosts: all
  gather_facts: false
  vars:
    L: /tmp/sbs.log
    m: copy
    margs: {content: "from args\n", dest: /tmp/sbs-args}
    a: "{{ undefined_thing }}"
    c: {x: "{{ undefined_thing }}", y: 2}
    lst: ["{{ undefined_thing }}", 5]
  tasks:
    - name: an include whose file name cannot be rendered, ignored
      include_tasks: "{{ nofile }}"
      ignore_errors: true
    - name: an include whose condition cannot be evaluated, ignored
      include_tasks: t.yml
      when: nope_cond
      ignore_errors: true
    - shell: echo after >> {{ L }}
    - block:
        - block:
            - {name: no-rescue fail, shell: exit 4}
          always:
            - shell: echo "{{ ansible_failed_task.name | default('UNDEF') }} {{ ansible_failed_result.rc | default('UNDEF') }}" >> {{ L }}
      rescue:
        - shell: echo rescued >> {{ L }}
    - copy: content="{{ 'a' ~ ' b' }}\n" dest=/tmp/sbs-c1
    - copy: content=a\nb dest=/tmp/sbs-c2
    - copy: content="x\ty\\n" dest=/tmp/sbs-c3
    - action: "{{ m }}"
      args: "{{ margs }}"
    - shell: echo "host={{ ansible_host == inventory_hostname or ansible_host == '127.0.0.1' }}" >> {{ L }}
    - command: "echo {{ item }}"
      loop: [1, 2]
      when: false
      register: sk
    - command: "echo {{ item }}"
      loop: [1, 2]
      register: nsk
    - shell: echo "sk={{ sk.skipped }} {{ sk.msg }} nsk={{ nsk.skipped }} {{ nsk.msg }}" >> {{ L }}
    - shell: echo "{{ c.y }} {{ lst[1] }} {{ a | default('dd') }} {{ a is defined }} {{ c.x | default('ee') }} {{ c | length }}" >> {{ L }}
    - copy: {content: "{{ 'Ansible managed' | comment }}\n{{ 'x' | comment('c') }}\n", dest: /tmp/sbs-comment}
"#;

#[tokio::test(flavor = "multi_thread")]
async fn side_by_side_with_ansible_includes_ignore_errors_always_kv_escapes_templated_args_lazy_vars_and_comment() {
    let lab = TestLab::start(1).await;
    let files = [("site.yml", SIDE_BY_SIDE), ("t.yml", "- shell: echo t >> /tmp/sbs.log\n")];
    let applied = apply_files(&lab.inventory(""), &files, "site.yml", RunOptions::default()).await.expect("runs");
    assert_eq!(applied.summary.exit_code, 0, "{:?}", applied.failures());
    let s = applied.stats("h1");
    assert_eq!((s.ignored, s.rescued, s.failed), (2, 1, 0));
    assert_eq!(
        read(&lab, "h1", "/tmp/sbs.log").await,
        "after\nno-rescue fail 4\nrescued\nhost=True\nsk=True All items skipped nsk=False All items completed\n2 5 dd False ee 2\n"
    );
    assert_eq!(read(&lab, "h1", "/tmp/sbs-c1").await, "a b\n");
    assert_eq!(read(&lab, "h1", "/tmp/sbs-c2").await, "a\nb");
    assert_eq!(read(&lab, "h1", "/tmp/sbs-c3").await, "x\ty\\n");
    assert_eq!(read(&lab, "h1", "/tmp/sbs-args").await, "from args\n");
    assert_eq!(read(&lab, "h1", "/tmp/sbs-comment").await, "#\n# Ansible managed\n#\n//\n// x\n//\n");
}
