//! Tests of templating against recorded ansible-core output (testdata/ansible_oracle.json, made by
//! tools/ansible-oracle/gen.py) and of hlprov's own guarantees: lazy variables, cycles, `!unsafe`, `omit`,
//! error locations, secret redaction, bounded work.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Value, json};

use super::{Templar, TemplateErrorKind};
use crate::vars::{LayerKind, VarScope, Vars};
use crate::yaml::Span;

fn vars(v: Value) -> Arc<Vars> {
    match v {
        Value::Object(m) => Arc::new(m),
        _ => panic!("vars must be a mapping"),
    }
}

fn scope(v: Value) -> VarScope {
    let mut s = VarScope::new();
    s.push(LayerKind::PlayVars, "play", vars(v));
    s
}

fn origin() -> Span {
    Span::new("play.yml", 7, 9)
}

fn render(t: &Templar, tmpl: &str, s: &VarScope) -> Result<Value, super::TemplateError> {
    t.render_value(&Value::String(tmpl.to_string()), s, &origin())
}

fn oracle_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/template/testdata/oracle")
}

fn sorted(v: &Value) -> Value {
    match v {
        Value::Array(a) => {
            let mut a = a.clone();
            a.sort_by_key(|x| x.to_string());
            Value::Array(a)
        }
        other => other.clone(),
    }
}

/// Every case recorded from ansible-core renders to the same value in hlprov (or fails where Ansible fails).
#[test]
#[allow(unsafe_code)]
fn every_oracle_case_matches_ansible() {
    let doc: Value = serde_json::from_str(include_str!("testdata/ansible_oracle.json")).unwrap();
    // SAFETY: no other test reads or writes this variable.
    unsafe { std::env::set_var("HLPROV_ORACLE_ENV", "from-env") };
    let mut s = scope(doc["vars"].clone());
    s.set_search_paths(vec![oracle_dir()]);
    let t = Templar::new();
    let mut failures = Vec::new();
    let cases = doc["cases"].as_array().unwrap();
    assert!(cases.len() > 150, "the oracle file lost cases");
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let tmpl = case["template"].as_str().unwrap();
        let got = render(&t, tmpl, &s);
        match (case.get("result"), got) {
            (Some(want), Ok(got)) => {
                let same = if case.get("compare").is_some() { sorted(want) == sorted(&got) } else { *want == got };
                if !same {
                    failures.push(format!("{name}: {tmpl}\n   ansible: {want}\n   hlprov:  {got}"));
                }
            }
            (Some(want), Err(e)) => failures.push(format!("{name}: {tmpl}\n   ansible: {want}\n   hlprov error: {e}")),
            (None, Ok(got)) => failures.push(format!("{name}: {tmpl}\n   ansible failed: {}\n   hlprov:  {got}", case["error"])),
            (None, Err(e)) => {
                // Where Ansible names an undefined variable, hlprov must name it too.
                let msg = case["error"].as_str().unwrap_or_default();
                if msg.contains("'nope' is undefined") && e.undefined.as_deref() != Some("nope") {
                    failures.push(format!("{name}: {tmpl}\n   ansible: {msg}\n   hlprov does not name 'nope': {e}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} of {} cases differ from {}:\n{}", failures.len(), cases.len(), doc["ansible"], failures.join("\n"));
}

#[test]
fn variables_are_templated_lazily_in_the_scope_that_reads_them() {
    let t = Templar::new();
    let mut s = scope(json!({"greeting": "hello {{ who }}", "who": "play"}));
    assert_eq!(render(&t, "{{ greeting }}", &s).unwrap(), json!("hello play"));
    // A higher layer redefines `who`: `greeting` is re-rendered with it, as in Ansible.
    s.push(LayerKind::TaskVars, "task", vars(json!({"who": "task"})));
    assert_eq!(render(&t, "{{ greeting }}", &s).unwrap(), json!("hello task"));
    // Variables never read are never rendered: a broken one does not matter.
    let s = scope(json!({"ok": 1, "broken": "{{ nope }}"}));
    assert_eq!(render(&t, "{{ ok }}", &s).unwrap(), json!(1));
}

#[test]
fn cycles_are_reported_with_their_path() {
    let t = Templar::new();
    let s = scope(json!({"a": "{{ b }}", "b": "x{{ c }}", "c": "{{ a }}", "me": "{{ me }}"}));
    let e = render(&t, "{{ a }}", &s).unwrap_err();
    assert_eq!(e.kind, TemplateErrorKind::Cycle);
    assert!(e.message.contains("variable 'a' refers to itself through b → c → a"), "{e}");
    assert!(e.to_string().starts_with("play.yml:7:9: "), "{e}");
    let e = render(&t, "{{ me }}", &s).unwrap_err();
    assert!(e.message.contains("variable 'me' refers to itself"), "{e}");
}

#[test]
fn deep_variable_chains_end_with_an_error_not_a_stack_overflow() {
    let t = Templar::new();
    let mut m = serde_json::Map::new();
    for i in 0..500 {
        m.insert(format!("v{i}"), json!(format!("{{{{ v{} }}}}", i + 1)));
    }
    m.insert("v500".into(), json!("end"));
    let s = scope(Value::Object(m));
    // Run on a small stack, like a tokio worker thread.
    let e = std::thread::Builder::new().stack_size(2 * 1024 * 1024).spawn(move || render(&t, "{{ v0 }}", &s).unwrap_err()).unwrap().join().unwrap();
    assert!(e.message.contains("levels deep"), "{e}");
}

#[test]
fn runaway_templates_are_stopped() {
    let t = Templar::new();
    let s = scope(json!({}));
    let e = render(&t, "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}", &s).unwrap_err();
    assert!(e.message.contains("too much work") || e.message.contains("fuel"), "{e}");
    let e = render(&t, "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", &s).unwrap_err();
    assert!(e.message.contains("recursion"), "{e}");
}

#[test]
fn unsafe_values_are_never_templated() {
    let t = Templar::new();
    let doc = crate::yaml::load_one("raw: !unsafe '{{ lookup(\"pipe\", \"echo pwned\") }}'\nuses: '{{ raw }}'\n", "vars.yml").unwrap();
    let s = scope(doc.to_value());
    assert_eq!(render(&t, "{{ raw }}", &s).unwrap(), json!("{{ lookup(\"pipe\", \"echo pwned\") }}"));
    assert_eq!(render(&t, "{{ uses }}", &s).unwrap(), json!("{{ lookup(\"pipe\", \"echo pwned\") }}"));
    // The unsafe value itself, handed to render_value, comes out as plain text.
    let v = t.render_value(&doc.to_value(), &s, &origin()).unwrap();
    assert_eq!(v, json!({"raw": "{{ lookup(\"pipe\", \"echo pwned\") }}", "uses": "{{ lookup(\"pipe\", \"echo pwned\") }}"}));
    // Registered results and facts are module output: a `{{` in them is data.
    let mut s = VarScope::new();
    s.push(LayerKind::Registered, "register", vars(json!({"out": {"stdout": "{{ 7 * 6 }}"}})));
    s.push(LayerKind::Facts, "facts", vars(json!({"ansible_motd": "{{ boom }}"})));
    assert_eq!(render(&t, "{{ out.stdout }}", &s).unwrap(), json!("{{ 7 * 6 }}"));
    assert_eq!(render(&t, "{{ ansible_motd }}", &s).unwrap(), json!("{{ boom }}"));
}

#[test]
fn render_value_is_deep_native_and_drops_omitted_entries() {
    let t = Templar::new();
    let s = scope(json!({"port": 8080, "opts": ["a", "b"], "name": "web"}));
    let args = json!({
        "port": "{{ port }}",
        "label": "{{ name }}-{{ port }}",
        "opts": "{{ opts }}",
        "mode": "{{ mode | default(omit) }}",
        "list": ["{{ name }}", "{{ omit }}"],
        "{{ name }}_key": true,
        "plain": 1.5
    });
    let out = t.render_value(&args, &s, &origin()).unwrap();
    assert_eq!(out, json!({"port": 8080, "label": "web-8080", "opts": ["a", "b"], "list": ["web"], "web_key": true, "plain": 1.5}));
    assert!(t.omit_token().starts_with("__omit_place_holder__"));
}

#[test]
fn undefined_errors_name_the_variable_the_template_and_the_line() {
    let t = Templar::new();
    let s = scope(json!({"known": {"a": 1}}));
    let e = render(&t, "{{ missing_var }}", &s).unwrap_err();
    assert_eq!((e.kind.clone(), e.undefined.as_deref()), (TemplateErrorKind::Undefined, Some("missing_var")));
    assert_eq!(e.to_string(), "play.yml:7:9: 'missing_var' is undefined");
    // A template file: the error points into the file.
    let text = "line 1\nline 2 {{ known.a }}\nport {{ sshd_port }}\n";
    let e = t.render_text(text, &s, &Span::new("roles/base/templates/sshd.conf.j2", 1, 1)).unwrap_err();
    assert_eq!(e.to_string(), "roles/base/templates/sshd.conf.j2:3: 'sshd_port' is undefined");
    // A nested variable: the chain is told.
    let s = scope(json!({"url": "http://{{ host }}:{{ port }}", "host": "h"}));
    let e = render(&t, "{{ url }}", &s).unwrap_err();
    assert_eq!(e.undefined.as_deref(), Some("port"));
    assert!(e.message.contains("'port' is undefined (while templating 'url' from play (play vars))"), "{e}");
    // Undefined values may not be printed or filtered, but may be tested and defaulted.
    let s = scope(json!({"m": {"a": 1}}));
    assert!(render(&t, "{{ m.zz | upper }}", &s).is_err());
    // A missing attribute of a defined mapping is told as Ansible tells it; the path stays in `undefined`.
    let e = render(&t, "x{{ m.zz }}y", &s).unwrap_err();
    assert_eq!(e.to_string(), "play.yml:7:9: object of type 'dict' has no attribute 'zz'", "one-line templates carry no line number");
    assert_eq!(e.undefined.as_deref(), Some("m.zz"));
    let e = render(&t, "first\nsecond {{ m.zz }}", &s).unwrap_err();
    assert_eq!(e.to_string(), "play.yml:7:9: object of type 'dict' has no attribute 'zz' (line 2 of the template)");
    assert_eq!(render(&t, "{{ m.zz is defined }}-{{ nope is undefined }}", &s).unwrap(), json!("False-True"));
    assert_eq!(render(&t, "{{ nope | mandatory('set nope in group_vars') if false else 1 }}", &s).unwrap(), json!(1));
    let e = render(&t, "{{ nope | mandatory('set nope in group_vars') }}", &s).unwrap_err();
    assert!(e.message.contains("set nope in group_vars"), "{e}");
    // An inline if without else is undefined when false (as in Jinja2); functions such as range are not
    // variables, so the message does not blame them.
    let e = render(&t, "{% for i in range(2) %}{{ ',' if i == 0 }}{% endfor %}", &s).unwrap_err();
    assert!(!e.message.contains("range"), "{e}");
}

#[test]
fn errors_never_show_secret_values() {
    let secret = "s3cr3t-canary-value";
    crate::redact::register(secret);
    let t = Templar::new();
    let s = scope(json!({"db_password": secret, "n": 1}));
    // A failing filter on the secret, and a syntax error in a template that contains it.
    for tmpl in [
        "{{ db_password | from_json }}",
        "{{ db_password | b64decode }}",
        "{{ 's3cr3t-canary-value' + }}",
        "{{ db_password | regex_replace('(', 'x') }}",
    ] {
        let e = render(&t, tmpl, &s).unwrap_err();
        assert!(!e.to_string().contains(secret), "secret leaked: {e}");
    }
}

#[test]
fn conditions_use_ansible_truthiness_and_accept_braces() {
    let t = Templar::new();
    let s = scope(json!({"flag": "yes", "off": "false", "items": [], "n": 3, "res": {"changed": true, "rc": 0}}));
    let c = |e: &str| t.eval_condition(e, &s, &origin());
    assert!(c("flag | bool").unwrap());
    assert!(!c("off").unwrap(), "the string 'false' is false, as Ansible's bool says");
    assert!(c("flag").unwrap());
    assert!(!c("items").unwrap());
    assert!(c("{{ n > 2 }}").unwrap(), "a {{ }}-wrapped condition is accepted");
    assert!(c("res is changed and res.rc == 0").unwrap());
    assert!(c("undefined_thing is not defined").unwrap());
    assert!(c("'web' in inventory_hostname | default('web01')").unwrap());
    assert!(c("'a\\d' is search('\\\\d') == false").is_ok());
    // Backslashes in a condition's string literals, as ansible-core 2.19 evaluates them (it does not escape
    // conditions): Jinja's escapes are processed, any other backslash stays (a regex's `\d`).
    for cond in [
        r#""a\nb" | length == 3"#,
        r#""x\ty" | length == 3"#,
        r"'ab12' is search('\d+')",
        r"'a.b' is match('a\.b')",
        r"'axb' is not match('a\.b')",
        r"'a\\b' | length == 3",
    ] {
        assert!(c(cond).unwrap(), "{cond}");
    }
    let e = c("undefined_thing").unwrap_err();
    assert_eq!(e.undefined.as_deref(), Some("undefined_thing"));
    assert!(c("").is_err());
}

#[test]
fn template_files_follow_ansible_whitespace_rules() {
    let t = Templar::new();
    let s = scope(json!({"users": ["a", "b"]}));
    let o = Span::new("t.j2", 1, 1);
    // trim_blocks: the newline after a block tag goes; lstrip_blocks off: indentation before it stays.
    assert_eq!(t.render_text("{% for u in users %}\n{{ u }}\n{% endfor %}\n", &s, &o).unwrap(), "a\nb\n");
    // ...and the source's trailing newline, eaten by trim_blocks, is put back (Ansible does the same).
    assert_eq!(t.render_text("  {% if true %}\nx\n  {% endif %}\n", &s, &o).unwrap(), "  x\n  \n");
    // The #jinja2 header switches lstrip_blocks on and is not part of the output; lines still count from it.
    assert_eq!(t.render_text("#jinja2: lstrip_blocks: True\n  {% if true %}\nx\n  {% endif %}\n", &s, &o).unwrap(), "x\n");
    let e = t.render_text("#jinja2: lstrip_blocks: True\nok\n{{ nope }}\n", &s, &o).unwrap_err();
    assert_eq!(e.to_string(), "t.j2:3: 'nope' is undefined");
    // Trailing newlines of the source are kept, like Ansible.
    assert_eq!(t.render_text("x\n\n", &s, &o).unwrap(), "x\n\n");
    let opts = super::TextOptions { trim_blocks: false, lstrip_blocks: false };
    assert_eq!(t.render_text_with("{% if true %}\nx{% endif %}", &s, &o, opts).unwrap(), "\nx");
}

struct Hosts;

impl crate::vars::HostVarsSource for Hosts {
    fn host_scope(&self, host: &str) -> Option<VarScope> {
        let ip = match host {
            "w1" => "10.0.0.11",
            "w2" => "10.0.0.12",
            _ => return None,
        };
        let mut s = VarScope::new();
        s.push(LayerKind::InventoryHost, format!("host_vars/{host}"), vars(json!({"ansible_host": ip, "url": "https://{{ ansible_host }}"})));
        Some(s)
    }
    fn hosts(&self) -> Vec<String> {
        vec!["w1".into(), "w2".into()]
    }
}

#[test]
fn hostvars_are_lazy_and_templated_in_the_other_hosts_scope() {
    let t = Templar::new();
    let mut s = scope(json!({"ansible_host": "10.9.9.9", "peers": ["w1", "w2"]}));
    s.set_hostvars(Arc::new(Hosts));
    assert_eq!(render(&t, "{{ hostvars['w1']['ansible_host'] }}", &s).unwrap(), json!("10.0.0.11"));
    assert_eq!(render(&t, "{{ hostvars.w2.url }}", &s).unwrap(), json!("https://10.0.0.12"));
    assert_eq!(render(&t, "{{ peers | map('extract', hostvars, 'ansible_host') | list }}", &s).unwrap(), json!(["10.0.0.11", "10.0.0.12"]));
    assert_eq!(render(&t, "{{ hostvars | list }}", &s).unwrap(), json!(["w1", "w2"]));
    assert_eq!(render(&t, "{{ hostvars['nope'] | default('none') }}", &s).unwrap(), json!("none"));
    assert_eq!(render(&t, "{{ vars['ansible_host'] }}", &s).unwrap(), json!("10.9.9.9"));
}

#[test]
fn lookups_search_role_then_playbook_and_fail_clearly() {
    let t = Templar::new();
    let dir = tempfile::tempdir().unwrap();
    let role = dir.path().join("roles/r");
    std::fs::create_dir_all(role.join("files")).unwrap();
    std::fs::create_dir_all(role.join("templates")).unwrap();
    std::fs::write(role.join("files/motd"), "role motd\n").unwrap();
    std::fs::write(dir.path().join("motd"), "playbook motd\n").unwrap();
    std::fs::write(dir.path().join("only-pb"), "pb\n").unwrap();
    std::fs::write(role.join("templates/self.j2"), "{{ lookup('template', 'self.j2') }}").unwrap();
    std::fs::write(role.join("templates/bad.j2"), "ok\n{{ missing_in_tpl }}\n").unwrap();
    let mut s = scope(json!({"who": "x"}));
    s.set_search_paths(vec![role.clone(), dir.path().to_path_buf()]);
    assert_eq!(render(&t, "{{ lookup('file', 'motd') }}", &s).unwrap(), json!("role motd"));
    assert_eq!(render(&t, "{{ lookup('file', 'motd', 'only-pb') }}", &s).unwrap(), json!("role motd,pb"));
    assert_eq!(render(&t, "{{ q('file', 'only-pb') }}", &s).unwrap(), json!(["pb"]));
    let e = render(&t, "{{ lookup('file', 'absent') }}", &s).unwrap_err();
    assert!(e.message.contains("could not find 'absent'"), "{e}");
    assert_eq!(render(&t, "{{ query('file', 'absent', errors='ignore') }}", &s).unwrap(), json!([]));
    let e = render(&t, "{{ lookup('template', 'self.j2') }}", &s).unwrap_err();
    assert!(e.message.contains("refers to itself"), "{e}");
    let e = render(&t, "{{ lookup('template', 'bad.j2') }}", &s).unwrap_err();
    assert!(e.message.contains("bad.j2:2: 'missing_in_tpl' is undefined"), "{e}");
    assert_eq!(render(&t, "{{ lookup('template', 'bad.j2', template_vars={'missing_in_tpl': 3}) }}", &s).unwrap(), json!("ok\n3\n"));
    let e = render(&t, "{{ lookup('pipe', 'exit 3') }}", &s).unwrap_err();
    assert!(e.message.contains("exited"), "{e}");
    let e = render(&t, "{{ lookup('password', 'x') }}", &s).unwrap_err();
    assert!(e.message.contains("not available"), "{e}");
    // fileglob: the name pattern in the role's files/ first; dot files only for a pattern with a dot.
    std::fs::write(role.join("files/a.conf"), "").unwrap();
    std::fs::write(role.join("files/b.conf"), "").unwrap();
    std::fs::write(role.join("files/.hidden.conf"), "").unwrap();
    let files = role.join("files");
    let want = json!([files.join("a.conf").display().to_string(), files.join("b.conf").display().to_string()]);
    assert_eq!(render(&t, "{{ q('fileglob', '*.conf') }}", &s).unwrap(), want);
    let abs = format!("{{{{ q('fileglob', '{}/[ab].c?nf') }}}}", files.display());
    assert_eq!(render(&t, &abs, &s).unwrap(), want);
    assert_eq!(render(&t, "{{ q('fileglob', '.*.conf') | length }}", &s).unwrap(), json!(1));
    assert_eq!(render(&t, "{{ q('fileglob', 'none/*.conf') }}", &s).unwrap(), json!([]));
}

#[test]
fn fqcn_filters_and_unknown_filters() {
    let t = Templar::new();
    let s = scope(json!({"x": "A"}));
    assert_eq!(render(&t, "{{ x | ansible.builtin.lower }}", &s).unwrap(), json!("a"));
    assert_eq!(render(&t, "{{ 'yes' | ansible.builtin.bool }}", &s).unwrap(), json!(true));
    let e = render(&t, "{{ x | community.general.nope }}", &s).unwrap_err();
    assert!(e.message.contains("community.general.nope"), "{e}");
}

#[test]
fn set_filters_are_linear_on_big_lists() {
    let t = Templar::new();
    let scope = crate::vars::VarScope::new();
    // 200,000 items: a quadratic filter would run for hours (the test would time out); a linear one is instant.
    let v = t
        .render_value(
            &Value::String("{{ (range(100000) | list + range(100000) | list) | unique | length }}".into()),
            &scope,
            &crate::yaml::Span::synthetic("t"),
        )
        .unwrap();
    assert_eq!(v, serde_json::json!(100000));
    let v = t
        .render_value(
            &Value::String("{{ range(100000) | difference(range(1, 100000)) | union(range(5)) | length }}".into()),
            &scope,
            &crate::yaml::Span::synthetic("t"),
        )
        .unwrap();
    assert_eq!(v, serde_json::json!(5));
}

#[test]
fn from_yaml_passes_an_undefined_input_to_default_but_printing_it_still_fails() {
    // k3s-ansible: `(server_config_yaml | from_yaml)['cluster-cidr'] | default('10.42.0.0/16')` with no server_config_yaml.
    let t = Templar::default();
    let s = scope(json!({}));
    let v = render(&t, "{{ (nope | from_yaml)['cluster-cidr'] | default('10.42.0.0/16') }}", &s).unwrap();
    assert_eq!(v, json!("10.42.0.0/16"));
    let err = render(&t, "{{ nope | from_yaml }}", &s).unwrap_err().to_string();
    assert!(err.contains("'nope' is undefined"), "{err}");
}

/// Python's `%` formatting, `str.format` and `~`/`+` as ansible-core 2.19 renders them (outputs taken from it).
#[test]
fn python_percent_and_format_render_as_ansible_does() {
    let t = Templar::default();
    let s = scope(json!({"n": 7, "a": "x", "b": 3, "d": {"k": "v", "num": 5}, "l": [1, "a"]}));
    let text = "{{ '%02d' % n }}|{{ '%s-%s' % (a, b) }}|{{ '%(k)s=%(num)03d' % d }}|{{ '%5.2f' % 3.14159 }}|{{ '%x' % 255 }}|\
{{ '%s' % [1,2] }}|{{ '%-4s|' % 'ab' }}|{{ '%d%%' % 50 }}";
    assert_eq!(render(&t, text, &s).unwrap(), json!("07|x-3|v=005| 3.14|ff|[1, 2]|ab  ||50%"));
    let text = "{{ '{}-{}'.format(a, b) }}|{{ '{0:02d}'.format(n) }}|{{ '{1}{0}'.format(a,b) }}|{{ '{k}'.format(k=a) }}|\
{{ '{:>5}'.format(a) }}|{{ '{:.2f}'.format(2.5) }}";
    assert_eq!(render(&t, text, &s).unwrap(), json!("x-3|07|3x|x|    x|2.50"));
    let text = "{{ 'a' ~ none }}|{{ 'x' ~ l }}|{{ 'x' ~ true }}|{{ 'a' ~ {'k':1} }}|{{ 'a' + 'b' ~ 3 }}|{{ l + [2] }}|{{ '%s' % l }}|\
{{ '%s' % true }}|{{ '%s' % none }}|{{ '%.1f%%' % 12.34 }}";
    assert_eq!(render(&t, text, &s).unwrap(), json!("aNone|x[1, 'a']|xTrue|a{'k': 1}|ab3|[1, 'a', 2]|[1, 'a']|True|None|12.3%"));
    // A lone expression keeps its type; a condition takes the same syntax; the remainder of numbers is unchanged.
    assert_eq!(render(&t, "{{ 'node%02d' % n }}", &s).unwrap(), json!("node07"));
    assert!(t.eval_condition("'%03d' % n == '007' and n % 2 == 1", &s, &origin()).unwrap());
    assert!(render(&t, "{{ 'a' + 1 }}", &s).is_err());
    assert!(render(&t, "{{ '%s %s' % (a,) }}", &s).is_err());
    assert!(render(&t, "{{ '%d' % a }}", &s).is_err());
    assert_eq!(render(&t, "{{ '%s' % nope }}", &s).unwrap_err().message, "'nope' is undefined");
}

/// Undefined nested values fail where they are used, with ansible-core 2.19's messages (taken from it); a
/// condition that compares or reads past an undefined value fails, one that tests for it does not.
#[test]
fn undefined_nested_values_fail_where_used_with_ansibles_messages() {
    let t = Templar::default();
    let s = scope(json!({"deep": {"a": {}}, "lst": [], "groups": {"server": ["h1"]}, "g": "agent"}));
    let msg = |r: Result<Value, super::TemplateError>| r.unwrap_err().message;
    assert_eq!(msg(render(&t, "{{ deep.a.x }}", &s)), "object of type 'dict' has no attribute 'x'");
    assert_eq!(msg(render(&t, "{{ deep.a.x.y }}", &s)), "object of type 'dict' has no attribute 'x'");
    assert_eq!(msg(render(&t, "{{ lst[0] }}", &s)), "list object has no element 0");
    assert_eq!(msg(render(&t, "{{ groups[g] }}", &s)), "object of type 'dict' has no attribute 'agent'");
    assert_eq!(msg(render(&t, "{{ nope.x }}", &s)), "'nope' is undefined");
    assert_eq!(render(&t, "{{ deep.a.b.c | default('d') }}", &s).unwrap(), json!("d"));
    let cond = |c: &str| t.eval_condition(c, &s, &origin()).map_err(|e| e.message);
    assert_eq!(cond("deep.a.b.c == 1").unwrap_err(), "object of type 'dict' has no attribute 'b'");
    assert_eq!(cond("deep.a.b == 1").unwrap_err(), "object of type 'dict' has no attribute 'b'");
    assert_eq!(cond("lst[0] == 1").unwrap_err(), "list object has no element 0");
    assert_eq!(cond("nope == 1").unwrap_err(), "'nope' is undefined");
    assert_eq!(cond("'h1' in groups[g]").unwrap_err(), "object of type 'dict' has no attribute 'agent'");
    assert_eq!(cond("deep.a.b.c is defined"), Ok(false));
    assert_eq!(cond("deep.a.b is defined and deep.a.b.c == 1"), Ok(false));
    assert_eq!(cond("deep.a.b | default(1) == 1"), Ok(true));
    assert_eq!(cond("'h1' in groups['server']"), Ok(true));
    // Lazy as Ansible's variables: what reads something undefined is undefined only where it is used; the rest
    // of its mapping or list, default() and `is defined` work (ansible-core 2.19 prints "2 5 dd False ee 2").
    let s = scope(json!({
        "a": "{{ undefined_thing }}", "b": "{{ a }}",
        "c": {"x": "{{ undefined_thing }}", "y": 2}, "lst": ["{{ undefined_thing }}", 5]
    }));
    let out = render(&t, "{{ c.y }} {{ lst[1] }} {{ a | default('dd') }} {{ a is defined }} {{ c.x | default('ee') }} {{ c | length }}", &s);
    assert_eq!(out.unwrap(), json!("2 5 dd False ee 2"));
    assert_eq!(msg(render(&t, "{{ b }}", &s)), "'undefined_thing' is undefined (while templating 'a' used by 'b' from play (play vars))");
    assert_eq!(msg(render(&t, "{{ c.x }}", &s)), "'undefined_thing' is undefined");
    assert_eq!(cond("a is defined or lst[0] is defined"), Ok(false));
}
