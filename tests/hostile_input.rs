//! Hostile input (issue: reliability), as two tables.
//!
//! On a real host: file names and contents with spaces, quotes, `$()`, backticks, newlines, globs, leading
//! dashes, unicode, the longest and a too-long name; command arguments, environment values and folders; regexes
//! and replacements; template output holding `{{`; command output holding a template; non-UTF-8 bytes where
//! they can occur (a binary file copied, command output, file names made on the host). Each row goes through
//! a playbook, a module and SSH, and is checked on the host with `docker exec` running argv (no shell) or on the
//! task's result. Nothing any row holds may run: no `pwned` file may appear on the host or on the controller.
//!
//! Loader-level: alias bomb, deep nesting, 40 MiB files, recursive templates and variables, runaway loops,
//! invalid UTF-8, a NUL byte, duplicate keys, tabs, and a hostile inventory; each is refused with its exact,
//! located error, or handled literally.

mod common;

use std::path::Path;

use base64::Engine;
use common::{TestLab, apply, apply_files};
use hlprov::exec::RunOptions;
use hlprov::report::Status;
use serde_json::{Value, json};

/// A YAML scalar holding `s` exactly (JSON strings are YAML double-quoted scalars).
fn y(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

/// What must hold after a row ran.
enum Check {
    /// The row's task named `it` ended so.
    Status(Status),
    /// Another task of the row ended so.
    TaskStatus(&'static str, Status),
    /// This argv, run on the host with docker exec (no shell), prints exactly this.
    Host(Vec<String>, String),
    /// The names in this folder on the host, sorted, joined with '/'.
    Names(String, String),
    /// A key of `it`'s result.
    Result(&'static str, Value),
    /// `it`'s message contains this.
    Msg(String),
}

struct Row {
    name: &'static str,
    /// Shell run on the host with docker exec before the row (folders, decoys, odd bytes).
    setup: String,
    /// The row's tasks (a YAML list, indented by 4); its subject is named `it`.
    tasks: String,
    checks: Vec<Check>,
}

fn argv(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

fn row(name: &'static str, setup: &str, tasks: String, checks: Vec<Check>) -> Row {
    Row { name, setup: setup.to_string(), tasks, checks }
}

/// A copy of `content` to `dest`, as the row's subject.
fn copy_row(name: &'static str, dir: &str, file: &str, content: &str) -> Row {
    let dest = format!("{dir}/{file}");
    row(
        name,
        "",
        format!("    - name: it\n      copy: {{dest: {}, content: {}}}\n", y(&dest), y(content)),
        vec![
            Check::Status(Status::Changed),
            Check::Host(argv(&["cat", "--", &dest]), content.to_string()),
            Check::Names(dir.to_string(), file.to_string()),
        ],
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_arguments_names_and_contents_reach_the_host_literally() {
    let lab = TestLab::start(1).await;
    let ctl = tempfile::tempdir().unwrap();
    let ctl_dir = ctl.path().to_str().unwrap().to_string();
    // Controller-side canaries: a row that executes anything on the controller would create one.
    let pwned_ctl = |n: &str| format!("{ctl_dir}/pwned-ctl-{n}");
    let binary: Vec<u8> = (0..=255u8).rev().chain(0..=255u8).collect();
    std::fs::write(ctl.path().join("binary.dat"), &binary).unwrap();
    std::fs::write(ctl.path().join("braces.j2"), "{% raw %}{{ not_a_var }}{% endraw %} {{ '{{' }}x\n").unwrap();
    std::fs::write(ctl.path().join("evil.j2"), "v={{ evil }}\n").unwrap();
    let long = "n".repeat(255);
    let too_long = "n".repeat(256);
    let env_value = "$(touch /tmp/pwned-env) `touch /tmp/pwned-env2` 'q' \"d\" \\ *";
    let template_text = |n: &str| format!("{{{{ lookup('pipe', 'touch {}') }}}}", pwned_ctl(n));

    let rows = vec![
        copy_row("spaces", "/srv/h/r1", "a b  c.txt", "x y\n"),
        copy_row("quotes", "/srv/h/r2", "it's \"q\".txt", "'\"\n"),
        copy_row("command substitution", "/srv/h/r3", "$(touch pwned-r3)", "s\n"),
        copy_row("backticks", "/srv/h/r4", "`touch pwned-r4`", "b\n"),
        copy_row("newline in a name", "/srv/h/r5", "one\ntwo", "n\n"),
        {
            let mut r = copy_row("glob characters, beside a file they would match", "/srv/h/r6", "*.txt", "star\n");
            r.setup = "printf decoy > /srv/h/r6/a.txt".into();
            r.checks.pop();
            r.checks.push(Check::Names("/srv/h/r6".into(), "*.txt/a.txt".into()));
            r.checks.push(Check::Host(argv(&["cat", "/srv/h/r6/a.txt"]), "decoy".into()));
            r
        },
        row(
            "leading dashes in names and lines",
            "",
            "    - name: it\n      lineinfile: {path: /srv/h/r7/-e, line: \"-n\", create: true}\n    - name: touch\n      file: {path: /srv/h/r7/--help, state: touch}\n".into(),
            vec![
                Check::Status(Status::Changed),
                Check::TaskStatus("touch", Status::Changed),
                Check::Host(argv(&["cat", "--", "/srv/h/r7/-e"]), "-n\n".into()),
                Check::Names("/srv/h/r7".into(), "--help/-e".into()),
            ],
        ),
        copy_row("unicode", "/srv/h/r8", "ünï ⌘ 𝄞 日本.txt", "héllo ⌘\n"),
        copy_row("a 255-byte name (the limit)", "/srv/h/r9", &long, "long\n"),
        row(
            "a 256-byte name",
            "",
            format!("    - name: it\n      copy: {{dest: {}, content: x}}\n", y(&format!("/srv/h/r10/{too_long}"))),
            vec![Check::Status(Status::Failed), Check::Msg("File name too long".into()), Check::Names("/srv/h/r10".into(), String::new())],
        ),
        copy_row("shell syntax in content", "/srv/h/r11", "f", "$(touch /tmp/pwned-r11)\n`touch /tmp/pwned-r11b`\n'\"\\ \t\r\n%s%n $HOME\n"),
        row(
            "a binary file (all 256 byte values), twice",
            "",
            format!(
                "    - name: it\n      copy: {{src: {}, dest: /srv/h/r12/bin}}\n    - name: again\n      copy: {{src: {}, dest: /srv/h/r12/bin}}\n",
                y(&format!("{ctl_dir}/binary.dat")),
                y(&format!("{ctl_dir}/binary.dat"))
            ),
            vec![
                Check::Status(Status::Changed),
                Check::TaskStatus("again", Status::Ok),
                Check::Host(argv(&["sha256sum", "/srv/h/r12/bin"]), format!("{}  /srv/h/r12/bin\n", hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&binary)))),
            ],
        ),
        row(
            "command argv",
            "",
            format!(
                "    - name: it\n      command:\n        argv: [printf, \"%s|\", \"a b\", {}, {}, \"'\", {}, \"*\", \"-n\", {}, {}]\n",
                y("$(touch /tmp/pwned-r13)"),
                y("`touch /tmp/pwned-r13b`"),
                y("\""),
                y("\\"),
                y("x\ny")
            ),
            vec![Check::Status(Status::Changed), Check::Result("stdout", json!("a b|$(touch /tmp/pwned-r13)|`touch /tmp/pwned-r13b`|'|\"|*|-n|\\|x\ny|"))],
        ),
        row(
            "command line split into words, nothing expanded",
            "",
            format!("    - name: it\n      command: {}\n", y("printf '%s|' \"a b\" '$HOME' \"*\" '$(touch /tmp/pwned-r14)' ~")),
            vec![Check::Result("stdout", json!("a b|$HOME|*|$(touch /tmp/pwned-r14)|~|"))],
        ),
        row(
            "environment values",
            "",
            format!("    - name: it\n      shell: printf %s \"$V\"\n      environment: {{V: {}}}\n", y(env_value)),
            vec![Check::Result("stdout", json!(env_value))],
        ),
        row(
            "chdir into a folder named like a command",
            "mkdir -p '/srv/h/r16/$(touch /tmp/pwned-r16)'",
            format!("    - name: it\n      command: pwd\n      args: {{chdir: {}}}\n", y("/srv/h/r16/$(touch /tmp/pwned-r16)")),
            vec![Check::Result("stdout", json!("/srv/h/r16/$(touch /tmp/pwned-r16)"))],
        ),
        row(
            "creates: a glob with shell syntax",
            "",
            format!("    - name: it\n      command: echo ran\n      args: {{creates: {}}}\n", y("/srv/h/r17/*$(touch /tmp/pwned-r17)")),
            vec![Check::Status(Status::Changed), Check::Result("stdout", json!("ran"))],
        ),
        row(
            "lineinfile: a regex, and a line with shell syntax and backreferences",
            "printf '#PermitRootLogin yes\\nother\\n' > /srv/h/r18/sshd",
            format!(
                "    - name: it\n      lineinfile: {{path: /srv/h/r18/sshd, regexp: {}, line: {}}}\n",
                y(r"^#?PermitRootLogin\s"),
                y("PermitRootLogin no # $(touch /tmp/pwned-r18) \\1 $1 `id`")
            ),
            vec![Check::Status(Status::Changed), Check::Host(argv(&["cat", "/srv/h/r18/sshd"]), "PermitRootLogin no # $(touch /tmp/pwned-r18) \\1 $1 `id`\nother\n".into())],
        ),
        row(
            "replace: groups and shell syntax in the replacement",
            "printf 'a=1\\nb=2\\n' > /srv/h/r19/f",
            format!("    - name: it\n      replace: {{path: /srv/h/r19/f, regexp: {}, replace: {}}}\n", y(r"(\w+)=(\d+)"), y("\\2=\\1 $(id) '")),
            vec![Check::Status(Status::Changed), Check::Host(argv(&["cat", "/srv/h/r19/f"]), "1=a $(id) '\n2=b $(id) '\n".into())],
        ),
        row(
            "blockinfile: quotes in the block and the marker",
            "printf 'top\\n' > /srv/h/r20/f",
            format!("    - name: it\n      blockinfile: {{path: /srv/h/r20/f, block: {}, marker: {}}}\n", y("it's $(id)\n`x`"), y("# {mark} it's \"managed\"")),
            vec![Check::Status(Status::Changed), Check::Host(argv(&["cat", "/srv/h/r20/f"]), "top\n# BEGIN it's \"managed\"\nit's $(id)\n`x`\n# END it's \"managed\"\n".into())],
        ),
        row(
            "template output holding {{",
            "",
            format!("    - name: it\n      template: {{src: {}, dest: /srv/h/r21/out}}\n", y(&format!("{ctl_dir}/braces.j2"))),
            vec![Check::Status(Status::Changed), Check::Host(argv(&["cat", "/srv/h/r21/out"]), "{{ not_a_var }} {{x\n".into())],
        ),
        row(
            "an !unsafe variable holding a lookup, in a template",
            "",
            format!(
                "    - name: it\n      template: {{src: {}, dest: /srv/h/r22/out}}\n      vars:\n        evil: !unsafe {}\n",
                y(&format!("{ctl_dir}/evil.j2")),
                y(&template_text("r22"))
            ),
            vec![Check::Status(Status::Changed), Check::Host(argv(&["cat", "/srv/h/r22/out"]), format!("v={}\n", template_text("r22")))],
        ),
        row(
            "command output holding a template, used in a later task",
            "",
            format!(
                "    - name: echo\n      shell: {}\n      register: r\n    - name: it\n      copy: {{dest: /srv/h/r23/f, content: \"{{{{ r.stdout }}}}\"}}\n",
                y(&format!("printf '%s' \"{{{{ '{{{{' }}}} lookup('pipe', 'touch {}') {{{{ '}}}}' }}}}\"", pwned_ctl("r23")))
            ),
            vec![Check::Status(Status::Changed), Check::Host(argv(&["cat", "/srv/h/r23/f"]), template_text("r23"))],
        ),
        row(
            "command output holding a template, through set_fact",
            "",
            format!(
                "    - name: echo\n      shell: {}\n      register: r\n    - set_fact: {{y: \"{{{{ r.stdout }}}}\"}}\n    - name: it\n      copy: {{dest: /srv/h/r24/f, content: \"{{{{ y }}}}\"}}\n",
                y(&format!("printf '%s' \"{{{{ '{{{{' }}}} lookup('pipe', 'touch {}') {{{{ '}}}}' }}}}\"", pwned_ctl("r24")))
            ),
            vec![Check::Status(Status::Changed), Check::Host(argv(&["cat", "/srv/h/r24/f"]), template_text("r24"))],
        ),
        row(
            "command output holding a template, as loop items",
            "",
            format!(
                "    - name: echo\n      shell: {}\n      register: r\n    - name: it\n      copy: {{dest: /srv/h/r25/f, content: \"{{{{ item }}}}\"}}\n      loop: \"{{{{ r.stdout_lines }}}}\"\n",
                y(&format!("printf '%s' \"{{{{ '{{{{' }}}} lookup('pipe', 'touch {}') {{{{ '}}}}' }}}}\"", pwned_ctl("r25")))
            ),
            vec![Check::Status(Status::Changed), Check::Host(argv(&["cat", "/srv/h/r25/f"]), template_text("r25"))],
        ),
        row(
            "non-UTF-8 command output",
            "printf 'ok\\377\\376end' > /srv/h/r26/bin",
            "    - name: it\n      command: cat /srv/h/r26/bin\n".into(),
            vec![Check::Status(Status::Changed), Check::Result("stdout", json!("ok\u{FFFD}\u{FFFD}end"))],
        ),
        row(
            "non-UTF-8 file names made on the host: found, and changed by a recursive mode",
            "touch \"/srv/h/r27/bad$(printf '\\377')name\" && chmod 600 /srv/h/r27/bad*name",
            "    - name: list\n      command: find /srv/h/r27 -type f\n    - name: it\n      file: {path: /srv/h/r27, state: directory, mode: \"0750\", recurse: true}\n".into(),
            vec![
                Check::Status(Status::Changed),
                Check::TaskStatus("list", Status::Changed),
                Check::Host(argv(&["find", "/srv/h/r27", "-type", "f", "-perm", "750", "-printf", "%f|"]), "bad\u{FFFD}name|".into()),
            ],
        ),
        row(
            "slurp of a binary file",
            "printf 'a\\000b\\377c' > /srv/h/r28/bin",
            "    - name: it\n      slurp: {src: /srv/h/r28/bin}\n".into(),
            vec![Check::Status(Status::Ok), Check::Result("content", json!(base64::engine::general_purpose::STANDARD.encode(b"a\0b\xffc")))],
        ),
        row(
            "stat and fetch of a name with shell syntax",
            "printf fetched > \"/srv/h/r29/a b\\$(id)'\"",
            format!(
                "    - name: stat\n      stat: {{path: {p}}}\n      register: st\n    - assert: {{that: [st.stat.exists, st.stat.size == 7]}}\n    - name: it\n      fetch: {{src: {p}, dest: {d}, flat: true}}\n",
                p = y("/srv/h/r29/a b$(id)'"),
                d = y(&format!("{ctl_dir}/fetched/"))
            ),
            vec![Check::Status(Status::Changed), Check::TaskStatus("stat", Status::Ok)],
        ),
    ];
    assert!(rows.len() >= 20);

    let inv = lab.inventory("");
    for (i, r) in rows.iter().enumerate() {
        // Each row in its own folder (its number from its paths; /srv/h/rN).
        let dir = format!("/srv/h/r{}", i + 1);
        assert_eq!(lab.docker_exec("h1", &format!("mkdir -p {dir}")).await.0, 0);
        if !r.setup.is_empty() {
            let (code, out) = lab.docker_exec("h1", &r.setup).await;
            assert_eq!(code, 0, "{}: setup: {out}", r.name);
        }
        let pb = format!("- hosts: all\n  gather_facts: false\n  tasks:\n{}", r.tasks);
        let a = apply(&inv, &pb, RunOptions::default()).await.unwrap_or_else(|e| panic!("{}: {e}\n{pb}", r.name));
        // One result, or for a loop its items and then the summary: the last one counts.
        let it = a.of("it", "h1");
        let it = it.last().unwrap_or_else(|| panic!("{}: no result: {:?}", r.name, a.results()));
        for c in &r.checks {
            match c {
                Check::Status(s) => assert_eq!(it.status, *s, "{}: {:?}", r.name, it.result),
                Check::TaskStatus(t, s) => assert_eq!(a.of(t, "h1")[0].status, *s, "{}: {t}: {:?}", r.name, a.of(t, "h1")[0].result),
                Check::Host(argv, want) => {
                    let client = hlprov::lab::docker::connect().await.unwrap();
                    let args: Vec<&str> = argv.iter().map(String::as_str).collect();
                    let (code, out) = hlprov::lab::docker::exec(&client, lab.host("h1").id(), &args).await.unwrap();
                    assert_eq!((code, out.as_str()), (0, want.as_str()), "{}: {argv:?}", r.name);
                }
                Check::Names(dir, want) => {
                    let client = hlprov::lab::docker::connect().await.unwrap();
                    let (_, out) =
                        hlprov::lab::docker::exec(&client, lab.host("h1").id(), &["find", dir, "-mindepth", "1", "-printf", "%f/"]).await.unwrap();
                    let mut names: Vec<&str> = out.split('/').filter(|n| !n.is_empty()).collect();
                    names.sort();
                    assert_eq!(names.join("/"), *want, "{}", r.name);
                }
                Check::Result(key, want) => assert_eq!(it.result.get(*key), Some(want), "{}: {:?}", r.name, it.result),
                Check::Msg(want) => assert!(it.msg.as_deref().unwrap_or_default().contains(want.as_str()), "{}: {:?}", r.name, it.msg),
            }
        }
    }

    assert_eq!(std::fs::read(ctl.path().join("fetched/a b$(id)'")).unwrap(), b"fetched");
    // Nothing ran: no canary on the host (in /tmp, or wherever the two relative ones would land), none on the
    // controller.
    assert_eq!(lab.docker_exec("h1", "ls -a /tmp | grep pwned; find / -xdev \\( -name pwned-r3 -o -name pwned-r4 \\) 2>/dev/null").await.1, "");
    let on_controller: Vec<_> =
        std::fs::read_dir(ctl.path()).unwrap().map(|e| e.unwrap().file_name()).filter(|n| n.to_string_lossy().contains("pwned")).collect();
    assert!(on_controller.is_empty(), "{on_controller:?}");
    // Every atomic write cleaned up after itself.
    assert_eq!(lab.docker_exec("h1", "find /srv/h -name '.hlprov-tmp.*'").await.1, "");
}

/// A playbook (or inventory) file and what loading or running it must say.
struct Doc {
    name: &'static str,
    text: Vec<u8>,
    /// The exact error, or a part of it that names the place and the problem (`{path}` is the file).
    expect: Expect,
}

enum Expect {
    /// Loading the playbook fails with an error containing each of these (`{path}` replaced).
    LoadError(Vec<&'static str>),
    /// It runs on the local host; the task named `it` ends so, with this in its message.
    Runs(Status, &'static str),
}

fn local_inventory(dir: &Path, extra_host_vars: &str) -> std::path::PathBuf {
    let p = dir.join(format!("inv-{}.yml", extra_host_vars.len()));
    std::fs::write(&p, format!("all:\n  hosts:\n    target:\n      ansible_connection: local\n{extra_host_vars}")).unwrap();
    p
}

fn nested(depth: usize) -> String {
    let mut s = String::from("- hosts: all\n  vars:\n    deep:\n");
    for d in 0..depth {
        s.push_str(&format!("{}- \n", "  ".repeat(d + 3)));
    }
    s
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_documents_are_refused_with_a_clear_located_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut bomb = String::from("- hosts: all\n  vars:\n    a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    let mut prev = 'a';
    for n in "bcdefghij".chars() {
        bomb.push_str(&format!("    {n}: &{n} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
        prev = n;
    }
    let mut huge = b"- hosts: all\n  vars:\n    pad: |\n".to_vec();
    huge.resize(40 * 1024 * 1024, b'x');
    let docs = vec![
        Doc { name: "alias bomb", text: bomb.into_bytes(), expect: Expect::LoadError(vec!["{path}:", "(an alias bomb?); refusing it"]) },
        Doc { name: "300 levels of nesting", text: nested(300).into_bytes(), expect: Expect::LoadError(vec!["{path}:", "document nests deeper than 256 levels"]) },
        Doc {
            name: "10000 nested flow brackets",
            text: format!("- hosts: all\n  vars: {{x: {}}}\n", "[".repeat(10_000)).into_bytes(),
            expect: Expect::LoadError(vec!["{path}:2:", "nests deeper"]),
        },
        Doc { name: "a 40 MiB file", text: huge, expect: Expect::LoadError(vec!["{path}: file is 41943040 bytes; hlprov reads files up to 33554432 bytes"]) },
        Doc {
            name: "invalid UTF-8",
            text: b"- hosts: all\n  vars: {name: caf\xe9}\n".to_vec(),
            expect: Expect::LoadError(vec!["{path}:2:19: not UTF-8 text: invalid byte 0xe9"]),
        },
        Doc { name: "a NUL byte", text: b"- hosts: all\n  vars: {a: 1}\n\0\n  tasks: []\n".to_vec(), expect: Expect::LoadError(vec!["{path}:3:1: a NUL byte"]) },
        Doc {
            name: "a module key twice",
            text: b"- hosts: all\n  tasks:\n    - name: t\n      shell: echo one\n      shell: echo two\n".to_vec(),
            expect: Expect::LoadError(vec!["{path}:3:7: a task runs one module, but this one names several: shell, shell"]),
        },
        Doc { name: "a tab for indentation", text: b"- hosts: all\n\tgather_facts: false\n".to_vec(), expect: Expect::LoadError(vec!["{path}:1:", "found a tab"]) },
        Doc {
            name: "an unknown module",
            text: b"- hosts: all\n  tasks:\n    - name: t\n      shel: echo\n".to_vec(),
            expect: Expect::LoadError(vec!["{path}:4:7: unknown module 'shel'"]),
        },
        Doc {
            name: "variables that refer to each other",
            text: b"- hosts: all\n  gather_facts: false\n  vars: {a: '{{ b }}', b: '{{ a }}'}\n  tasks:\n    - name: it\n      debug: {msg: '{{ a }}'}\n".to_vec(),
            expect: Expect::Runs(Status::Failed, "variable 'a' refers to itself through b → a"),
        },
        Doc {
            name: "a recursive macro",
            text: b"- hosts: all\n  gather_facts: false\n  tasks:\n    - name: it\n      debug: {msg: '{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}'}\n".to_vec(),
            expect: Expect::Runs(Status::Failed, "recursion"),
        },
        Doc {
            name: "a runaway loop",
            text: b"- hosts: all\n  gather_facts: false\n  tasks:\n    - name: it\n      debug: {msg: '{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}'}\n".to_vec(),
            expect: Expect::Runs(Status::Failed, "too much work"),
        },
        Doc {
            name: "a repeated plain key: the last one wins, as in PyYAML",
            text: b"- hosts: all\n  gather_facts: false\n  tasks:\n    - name: first\n      name: it\n      debug: {msg: last}\n".to_vec(),
            expect: Expect::Runs(Status::Ok, "last"),
        },
        Doc {
            name: "a 1 MiB value",
            text: format!("- hosts: all\n  gather_facts: false\n  vars: {{big: {}}}\n  tasks:\n    - name: it\n      debug: {{msg: '{{{{ big | length }}}} characters'}}\n", "y".repeat(1 << 20)).into_bytes(),
            expect: Expect::Runs(Status::Ok, "1048576 characters"),
        },
    ];
    let inv = local_inventory(dir.path(), "");
    for (i, d) in docs.iter().enumerate() {
        let path = dir.path().join(format!("doc{i}.yml"));
        std::fs::write(&path, &d.text).unwrap();
        let shown = path.display().to_string();
        let t0 = std::time::Instant::now();
        match &d.expect {
            Expect::LoadError(parts) => {
                let err = hlprov::playbook::load(&path, &Default::default()).err().unwrap_or_else(|| panic!("{}: loaded", d.name)).to_string();
                for p in parts {
                    assert!(err.contains(&p.replace("{path}", &shown)), "{}: {err}", d.name);
                }
            }
            Expect::Runs(status, msg) => {
                let text = String::from_utf8(d.text.clone()).unwrap();
                let a =
                    apply_files(&inv, &[("site.yml", &text)], "site.yml", RunOptions::default()).await.unwrap_or_else(|e| panic!("{}: {e}", d.name));
                let it = a.of("it", "target");
                assert_eq!(it.len(), 1, "{}: {:?}", d.name, a.results());
                assert_eq!(it[0].status, *status, "{}: {:?}", d.name, it[0].result);
                assert!(it[0].msg.as_deref().unwrap_or_default().contains(msg), "{}: {:?}", d.name, it[0].msg);
            }
        }
        assert!(t0.elapsed() < std::time::Duration::from_secs(20), "{} took {:?}", d.name, t0.elapsed());
    }

    // A 40 MiB inventory is refused by its size before it is read.
    let big_inv = dir.path().join("big.yml");
    std::fs::write(&big_inv, vec![b'#'; 40 * 1024 * 1024]).unwrap();
    let err = hlprov::inventory::Inventory::load(std::slice::from_ref(&big_inv)).err().expect("refused").to_string();
    assert!(err.contains(&format!("{}: file is 41943040 bytes; hlprov reads inventories up to 33554432 bytes", big_inv.display())), "{err}");

    // A hostile inventory: a ProxyCommand (a command on the controller) is refused; an address that is shell
    // syntax is only ever an address.
    let canary = dir.path().join("pwned-inventory");
    let pb = "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: it\n      command: 'true'\n";
    for (vars, want) in [
        (
            format!("      ansible_connection: ssh\n      ansible_ssh_common_args: -o ProxyCommand='touch {}'\n", canary.display()),
            "ssh option 'ProxyCommand' is not supported",
        ),
        (
            format!("      ansible_connection: ssh\n      ansible_host: '$(touch {})'\n      ansible_ssh_retries: 0\n", canary.display()),
            "cannot connect to root@$(touch",
        ),
    ] {
        let inv = dir.path().join("hostile-inv.yml");
        std::fs::write(&inv, format!("all:\n  hosts:\n    target:\n{vars}      ansible_user: root\n")).unwrap();
        let a = apply(&inv, pb, RunOptions::default()).await.unwrap();
        let it = &a.of("it", "target")[0];
        assert_eq!(it.status, Status::Unreachable, "{:?}", it.result);
        assert!(it.msg.as_deref().unwrap_or_default().contains(want), "{:?}", it.msg);
        assert!(!canary.exists(), "the inventory ran a command on the controller");
    }
}
