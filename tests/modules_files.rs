//! The file modules (file, copy, template, fetch, stat, slurp, lineinfile, blockinfile, replace) against real
//! hosts. Each scenario runs a module from scratch and reads the host back with docker exec (not through
//! hlprov), runs it again expecting no change, runs it in check mode against a host changed behind its back
//! (nothing may move, changed must be reported), and gives it a bad argument. Round trips of no-op calls are
//! counted on the transport.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::Ran as Outcome;
use common::{TestEnv, TestLab, run_module};
use hlprov::modules::ModuleError;
use hlprov::transport::quote::quote;
use hlprov::transport::{Connection, Output, Transport, TransportError};
use serde_json::{Value, json};

/// A transport that counts the commands (round trips) sent through it.
struct Counting {
    inner: Arc<dyn Transport>,
    runs: AtomicUsize,
}

#[async_trait::async_trait]
impl Transport for Counting {
    async fn run(&self, command: &str, stdin: Option<&[u8]>, timeout: Option<Duration>) -> Result<Output, TransportError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        self.inner.run(command, stdin, timeout).await
    }
    fn target(&self) -> &str {
        self.inner.target()
    }
    fn connections_opened(&self) -> usize {
        self.inner.connections_opened()
    }
    async fn close(&self) {
        self.inner.close().await
    }
}

struct Host<'a> {
    lab: &'a TestLab,
    conn: Connection,
    counter: Arc<Counting>,
    env: TestEnv,
}

impl<'a> Host<'a> {
    fn new(lab: &'a TestLab, files: &std::path::Path) -> Host<'a> {
        let counter = Arc::new(Counting { inner: lab.transport("h1"), runs: AtomicUsize::new(0) });
        let conn = Connection::new(counter.clone(), "root".into(), None);
        Host { lab, conn, counter, env: TestEnv::new(files) }
    }

    /// Run a module that must succeed (not fail), returning its result and the round trips it took.
    async fn ok(&self, module: &str, args: Value, check: bool) -> (Outcome, usize) {
        let before = self.counter.runs.load(Ordering::SeqCst);
        let o = run_module(&self.conn, &self.env, module, args.clone(), check, true).await.unwrap_or_else(|e| panic!("{module} {args}: {e}"));
        assert!(!o.failed, "{module} {args} failed: {:?}", o.msg);
        (o, self.counter.runs.load(Ordering::SeqCst) - before)
    }

    /// Run a module, returning the changed flag and asserting one round trip when nothing changes.
    async fn changed(&self, module: &str, args: Value) -> bool {
        let (o, trips) = self.ok(module, args.clone(), false).await;
        if !o.changed {
            assert_eq!(trips, 1, "{module} {args}: a no-op call is one round trip");
        }
        o.changed
    }

    async fn err(&self, module: &str, args: Value) -> String {
        match run_module(&self.conn, &self.env, module, args.clone(), false, false).await {
            Err(e @ ModuleError::Args(_)) => e.to_string(),
            Err(e) => panic!("{module} {args}: expected an argument error, got {e:?}"),
            Ok(o) => panic!("{module} {args}: expected an argument error, got {:?}", o.to_value()),
        }
    }

    async fn fails(&self, module: &str, args: Value) -> String {
        match run_module(&self.conn, &self.env, module, args.clone(), false, false).await {
            Ok(o) if o.failed => o.msg.unwrap_or_default(),
            Err(ModuleError::Failed(f)) => f.msg,
            other => panic!("{module} {args}: expected a failure, got {other:?}"),
        }
    }

    /// Run a shell command inside the host with docker exec (independently of hlprov); it must succeed.
    async fn sh(&self, script: &str) -> String {
        let (code, out) = self.lab.docker_exec("h1", script).await;
        assert_eq!(code, 0, "docker exec {script}: {out}");
        out
    }

    /// `stat -c FORMAT path` read with docker exec.
    async fn stat(&self, fmt: &str, path: &str) -> String {
        self.sh(&format!("stat -c '{fmt}' {}", quote(path))).await.trim().to_string()
    }
}

fn key<'a>(o: &'a Outcome, k: &str) -> &'a Value {
    o.data.get(k).unwrap_or_else(|| panic!("no key {k} in {:?}", o.to_value()))
}

#[tokio::test(flavor = "multi_thread")]
async fn file_module() {
    let lab = TestLab::start(1).await;
    let files = tempfile::tempdir().unwrap();
    let h = Host::new(&lab, files.path());
    // A name a careless shell would execute.
    let dir = "/srv/it's a $(touch pwned) `touch pwned` dir";
    // For docker exec scripts: $d is that folder.
    let d = format!("d={}; ", quote(dir));

    // (1) From scratch: a directory chain with a symbolic mode and owner, a touched file, links.
    let (o, _) = h
        .ok(
            "file",
            json!({"path": format!("{dir}/sub"), "state": "directory", "mode": "u=rwx,g=rx,o=", "owner": "nobody", "group": "nogroup"}),
            false,
        )
        .await;
    assert!(o.changed);
    assert_eq!((key(&o, "mode"), key(&o, "owner"), key(&o, "state")), (&json!("0750"), &json!("nobody"), &json!("directory")));
    assert_eq!(h.stat("%a %U %G %F", &format!("{dir}/sub")).await, "750 nobody nogroup directory");
    assert_eq!(h.stat("%a %U", dir).await, "750 nobody", "every folder created gets the attributes");
    h.sh("test ! -e /root/pwned && test ! -e /pwned").await;
    assert!(h.changed("file", json!({"path": format!("{dir}/plain/a"), "state": "directory"})).await);
    assert_eq!(h.stat("%a %U %F", &format!("{dir}/plain/a")).await, "755 root directory", "no attributes asked: mkdir's defaults");
    assert!(h.changed("file", json!({"path": format!("{dir}/f"), "state": "touch", "mode": "0600"})).await);
    assert_eq!(h.stat("%a %s %F", &format!("{dir}/f")).await, "600 0 regular empty file");
    assert!(h.changed("file", json!({"path": format!("{dir}/ln"), "state": "link", "src": "f"})).await);
    assert_eq!(h.sh(&format!("{d}readlink \"$d/ln\"")).await.trim(), "f");
    assert!(h.changed("file", json!({"path": format!("{dir}/hard"), "state": "hard", "src": format!("{dir}/f")})).await);
    assert_eq!(h.stat("%h", &format!("{dir}/f")).await, "2");
    let (o, _) = h.ok("file", json!({"path": format!("{dir}/f")}), false).await;
    assert_eq!(key(&o, "state"), "hard", "a file with two links is 'hard', as Ansible says");

    // (2) Again: nothing changes, one round trip each (touch always changes, as in Ansible).
    assert!(
        !h.changed(
            "file",
            json!({"path": format!("{dir}/sub"), "state": "directory", "mode": "u=rwx,g=rx,o=", "owner": "nobody", "group": "nogroup"})
        )
        .await
    );
    assert!(!h.changed("file", json!({"path": format!("{dir}/ln"), "state": "link", "src": "f"})).await);
    assert!(!h.changed("file", json!({"path": format!("{dir}/hard"), "state": "hard", "src": format!("{dir}/f")})).await);
    assert!(!h.changed("file", json!({"path": format!("{dir}/f"), "state": "file", "mode": "0600"})).await);
    assert!(!h.changed("file", json!({"path": "/nonexistent", "state": "absent"})).await);
    assert!(h.changed("file", json!({"path": format!("{dir}/f"), "state": "touch"})).await);

    // Recursive owner and mode, then removal.
    h.sh(&format!("{d}mkdir -p \"$d/sub/deep\" && echo x > \"$d/sub/deep/x\" && chmod 0600 \"$d/sub/deep/x\"")).await;
    assert!(
        h.changed("file", json!({"path": format!("{dir}/sub"), "state": "directory", "recurse": true, "owner": "daemon", "mode": "u=rwX,g=rX,o=rX"}))
            .await
    );
    assert_eq!(h.stat("%a %U", &format!("{dir}/sub/deep/x")).await, "644 daemon", "X adds x only to folders and files with some x");
    assert_eq!(h.stat("%a %U", &format!("{dir}/sub/deep")).await, "755 daemon");
    assert!(
        !h.changed(
            "file",
            json!({"path": format!("{dir}/sub"), "state": "directory", "recurse": true, "owner": "daemon", "mode": "u=rwX,g=rX,o=rX"})
        )
        .await
    );

    // (3) Check mode against a host changed behind hlprov's back: reported, not done.
    h.sh(&format!("{d}chmod 0777 \"$d/sub\" && ln -sfn /etc \"$d/ln\"")).await;
    for (args, what) in [
        (json!({"path": format!("{dir}/sub"), "state": "directory", "mode": "0750"}), "mode"),
        (json!({"path": format!("{dir}/ln"), "state": "link", "src": "f"}), "link"),
        (json!({"path": format!("{dir}/new"), "state": "directory"}), "new dir"),
        (json!({"path": format!("{dir}/f"), "state": "absent"}), "absent"),
    ] {
        let (o, _) = h.ok("file", args, true).await;
        assert!(o.changed, "check mode reports the {what} change");
        assert!(!o.diffs.is_empty(), "and shows a diff for {what}");
    }
    assert_eq!(h.stat("%a", &format!("{dir}/sub")).await, "777");
    assert_eq!(h.sh(&format!("{d}readlink \"$d/ln\"; test ! -e \"$d/new\"; test -f \"$d/f\"")).await.trim(), "/etc");

    // Absent removes a whole tree.
    assert!(h.changed("file", json!({"path": dir, "state": "absent"})).await);
    h.sh("test ! -e /srv/it*").await;

    // (4) Bad arguments and impossible requests, clearly refused.
    assert!(h.err("file", json!({"path": "/tmp/x", "state": "gone"})).await.contains("must be one of absent, directory, file, hard, link, touch"));
    assert!(
        h.err("file", json!({"path": "/tmp/x", "state": "file", "recurse": true})).await.contains("recurse option requires state to be 'directory'")
    );
    assert!(h.err("file", json!({"path": "/tmp/x", "mode": "u=rwz"})).await.contains("unknown permission 'z'"));
    assert!(h.err("file", json!({"path": "/tmp/x", "state": "link"})).await.contains("src is required"));
    assert!(h.fails("file", json!({"path": "/tmp/missing", "state": "file"})).await.contains("is absent, cannot continue"));
    assert!(
        h.fails("file", json!({"path": "/etc/hostname", "state": "link", "src": "/etc/hosts"}))
            .await
            .contains("refusing to convert from file to symlink")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn copy_and_template() {
    let lab = TestLab::start(1).await;
    let files = tempfile::tempdir().unwrap();
    // Binary content that is not UTF-8 must arrive byte for byte.
    let binary: Vec<u8> = (0..=255u8).chain([0xff, 0xfe, 0x00, b'\n']).collect();
    std::fs::write(files.path().join("blob.bin"), &binary).unwrap();
    std::fs::create_dir_all(files.path().join("site/conf.d")).unwrap();
    std::fs::write(files.path().join("site/index.html"), "<h1>hi</h1>\n").unwrap();
    std::fs::write(files.path().join("site/conf.d/a b.conf"), "a=1\n").unwrap();
    std::fs::write(files.path().join("motd.j2"), "Welcome to {{ inventory_hostname }}\n{% for u in users %}\n- {{ u }}\n{% endfor %}\n").unwrap();
    let mut h = Host::new(&lab, files.path());
    h.env.vars.insert("inventory_hostname".into(), json!("h1"));
    h.env.vars.insert("users".into(), json!(["ann", "bob"]));

    // (1) From scratch.
    let (o, _) = h.ok("copy", json!({"src": "blob.bin", "dest": "/opt/blob.bin", "mode": "0640", "group": "nogroup"}), false).await;
    assert!(o.changed);
    let sha1 = hex::encode(<sha1::Sha1 as sha1::Digest>::digest(&binary));
    assert_eq!(
        (key(&o, "checksum"), key(&o, "mode"), key(&o, "group"), key(&o, "size")),
        (&json!(sha1), &json!("0640"), &json!("nogroup"), &json!(binary.len()))
    );
    assert_eq!(h.sh("sha1sum < /opt/blob.bin | cut -c1-40").await.trim(), sha1, "the bytes arrived intact");
    assert_eq!(h.stat("%a %U %G", "/opt/blob.bin").await, "640 root nogroup");
    assert!(h.err("copy", json!({"content": "x", "dest": "/etc/motd.d/"})).await.contains("can not use content with a dir as dest"));
    assert!(h.changed("copy", json!({"content": "key = 'v'\n", "dest": "/etc/app.conf", "owner": "daemon", "mode": "u=rw,g=r,o="})).await);
    assert_eq!(h.sh("cat /etc/app.conf; stat -c '%a %U' /etc/app.conf").await, "key = 'v'\n640 daemon\n");
    // A folder: with a trailing slash its contents go into dest; dest is an existing folder for a file.
    assert!(h.changed("copy", json!({"src": "site/", "dest": "/var/www", "directory_mode": "0750"})).await);
    assert_eq!(h.sh("cat /var/www/index.html '/var/www/conf.d/a b.conf'; stat -c %a /var/www/conf.d").await, "<h1>hi</h1>\na=1\n750\n");
    assert!(h.changed("copy", json!({"src": "site", "dest": "/var/www"})).await);
    h.sh("test -f /var/www/site/index.html").await;
    let (o, _) = h.ok("copy", json!({"src": "blob.bin", "dest": "/var/www/"}), false).await;
    assert_eq!(key(&o, "dest"), "/var/www/blob.bin");
    // A dest ending in '/' creates the missing folders with directory_mode.
    assert!(h.changed("copy", json!({"src": "blob.bin", "dest": "/srv/new/deeper/", "directory_mode": "0700"})).await);
    assert_eq!(h.sh("stat -c %a /srv/new /srv/new/deeper /srv/new/deeper/blob.bin").await, "700\n700\n644\n");
    let (o, _) = h.ok("template", json!({"src": "motd.j2", "dest": "/etc/motd", "mode": "0644"}), false).await;
    assert!(o.changed);
    assert_eq!(h.sh("cat /etc/motd").await, "Welcome to h1\n- ann\n- bob\n", "trim_blocks is on, as in Ansible");

    // (2) Again: no change, one round trip.
    assert!(!h.changed("copy", json!({"src": "blob.bin", "dest": "/opt/blob.bin", "mode": "0640", "group": "nogroup"})).await);
    assert!(!h.changed("copy", json!({"content": "key = 'v'\n", "dest": "/etc/app.conf", "owner": "daemon", "mode": "u=rw,g=r,o="})).await);
    assert!(!h.changed("copy", json!({"src": "site/", "dest": "/var/www", "directory_mode": "0750"})).await);
    assert!(!h.changed("copy", json!({"src": "blob.bin", "dest": "/var/www"})).await, "dest folder and dest/NAME probed together");
    assert!(!h.changed("template", json!({"src": "motd.j2", "dest": "/etc/motd", "mode": "0644"})).await);
    // force=no never replaces an existing file.
    assert!(!h.changed("copy", json!({"content": "other", "dest": "/etc/app.conf", "force": false})).await);

    // backup and validate: the old file is kept; a rejected file never replaces the old one.
    let (o, _) = h.ok("copy", json!({"content": "key = 'w'\n", "dest": "/etc/app.conf", "backup": true}), false).await;
    let backup = key(&o, "backup_file").as_str().unwrap().to_string();
    assert_eq!(h.sh(&format!("cat '{backup}'; stat -c '%a %U' /etc/app.conf")).await, "key = 'v'\n640 daemon\n", "backup made; owner and mode kept");
    let msg = h.fails("copy", json!({"content": "broken\n", "dest": "/etc/app.conf", "validate": "grep -q key %s"})).await;
    assert!(msg.contains("failed to validate"), "{msg}");
    assert_eq!(h.sh("cat /etc/app.conf").await, "key = 'w'\n");
    assert_eq!(h.sh("ls -a /etc | grep -c hlprov-tmp || true").await.trim(), "0", "no temp file left behind");

    // (3) Check mode against changed files: reported with a diff, nothing written.
    h.sh("echo tampered > /etc/motd; chmod 0600 /opt/blob.bin; rm '/var/www/conf.d/a b.conf'").await;
    let (o, _) = h.ok("template", json!({"src": "motd.j2", "dest": "/etc/motd"}), true).await;
    assert!(o.changed);
    assert_eq!((o.diffs[0].before.as_str(), o.diffs[0].after.as_str()), ("tampered\n", "Welcome to h1\n- ann\n- bob\n"));
    assert!(h.ok("copy", json!({"src": "blob.bin", "dest": "/opt/blob.bin", "mode": "0640"}), true).await.0.changed);
    assert!(h.ok("copy", json!({"src": "site/", "dest": "/var/www"}), true).await.0.changed);
    assert_eq!(h.sh("cat /etc/motd; stat -c %a /opt/blob.bin; test ! -e '/var/www/conf.d/a b.conf' && echo gone").await, "tampered\n600\ngone\n");

    // (4) Bad arguments.
    assert!(h.err("copy", json!({"dest": "/tmp/x"})).await.contains("src (or content) is required"));
    assert!(h.err("copy", json!({"src": "blob.bin", "content": "x", "dest": "/tmp/x"})).await.contains("mutually exclusive"));
    assert!(h.err("copy", json!({"src": "missing.txt", "dest": "/tmp/x"})).await.contains("could not find src=missing.txt"));
    assert!(h.err("template", json!({"src": "motd.j2"})).await.contains("missing required argument 'dest'"));
    assert!(h.err("copy", json!({"content": "x", "dest": "/tmp/x", "mode": "0999"})).await.contains("mode"));
    assert!(
        h.fails("copy", json!({"content": "x", "dest": "/no/such/dir/file"})).await.contains("Destination directory /no/such/dir does not exist")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn lineinfile_blockinfile_replace() {
    let lab = TestLab::start(1).await;
    let files = tempfile::tempdir().unwrap();
    let h = Host::new(&lab, files.path());
    h.sh("printf '# sshd\\nPort 22\\n#PermitRootLogin yes\\n' > /etc/app.cfg && chown daemon /etc/app.cfg && chmod 0640 /etc/app.cfg && ln -s /etc/app.cfg /etc/app-link.cfg").await;

    // (1) lineinfile from scratch, through a symlink: the file it points to is edited, owner and mode kept.
    assert!(h.changed("lineinfile", json!({"path": "/etc/app-link.cfg", "regexp": "^#?PermitRootLogin", "line": "PermitRootLogin no"})).await);
    assert!(h.changed("lineinfile", json!({"path": "/etc/app.cfg", "line": "UseDNS no", "insertafter": "^Port"})).await);
    assert!(h.changed("lineinfile", json!({"path": "/etc/app.cfg", "regexp": "^Port (\\d+)$", "line": "Port \\g<1>22", "backrefs": true})).await);
    assert!(h.changed("lineinfile", json!({"path": "/etc/new.d/x.conf", "line": "a=1", "create": true, "mode": "0600"})).await);
    assert_eq!(
        h.sh("cat /etc/app.cfg; stat -c '%a %U %F' /etc/app.cfg /etc/app-link.cfg /etc/new.d/x.conf").await,
        "# sshd\nPort 2222\nUseDNS no\nPermitRootLogin no\n640 daemon regular file\n777 root symbolic link\n600 root regular file\n"
    );
    // (2) Again: nothing to do, one round trip.
    assert!(!h.changed("lineinfile", json!({"path": "/etc/app-link.cfg", "regexp": "^#?PermitRootLogin", "line": "PermitRootLogin no"})).await);
    assert!(!h.changed("lineinfile", json!({"path": "/etc/app.cfg", "line": "UseDNS no", "insertafter": "^Port"})).await);
    assert!(!h.changed("lineinfile", json!({"path": "/etc/app.cfg", "regexp": "^Port (\\d+)22$", "line": "Port \\g<1>22", "backrefs": true})).await);
    assert!(!h.changed("lineinfile", json!({"path": "/etc/new.d/x.conf", "line": "a=1", "create": true, "mode": "0600"})).await);
    // state=absent counts what it removes.
    let (o, _) = h.ok("lineinfile", json!({"path": "/etc/app.cfg", "regexp": "^#", "state": "absent"}), false).await;
    assert_eq!((key(&o, "found"), o.msg.as_deref()), (&json!(1), Some("1 line(s) removed")));

    // blockinfile: insert, update in place, no-op, remove.
    let block = json!({"path": "/etc/app.cfg", "block": "Match User git\n  X11Forwarding no", "insertbefore": "^UseDNS"});
    let (o, _) = h.ok("blockinfile", block.clone(), false).await;
    assert_eq!(o.msg.as_deref(), Some("Block inserted"));
    assert!(!h.changed("blockinfile", block.clone()).await);
    assert!(h.changed("blockinfile", json!({"path": "/etc/app.cfg", "block": "Match User git\n  X11Forwarding yes"})).await);
    assert_eq!(
        h.sh("cat /etc/app.cfg").await,
        "Port 2222\n# BEGIN ANSIBLE MANAGED BLOCK\nMatch User git\n  X11Forwarding yes\n# END ANSIBLE MANAGED BLOCK\nUseDNS no\nPermitRootLogin no\n",
        "an existing block is updated where it is"
    );

    // replace: every match, with groups; a no-op is one round trip.
    let rep = json!({"path": "/etc/app.cfg", "regexp": "^(\\w+) no$", "replace": "\\1 off"});
    let (o, _) = h.ok("replace", rep.clone(), false).await;
    assert_eq!(o.msg.as_deref(), Some("2 replacements made"));
    assert!(!h.changed("replace", rep.clone()).await);
    assert!(h.changed("replace", json!({"path": "/etc/app.cfg", "regexp": "yes", "replace": "maybe", "after": "BEGIN", "before": "END"})).await);
    assert_eq!(h.sh("grep -c maybe /etc/app.cfg; grep -c off /etc/app.cfg; stat -c '%a %U' /etc/app.cfg").await, "1\n2\n640 daemon\n");
    assert!(h.changed("blockinfile", json!({"path": "/etc/app.cfg", "state": "absent"})).await);
    assert_eq!(h.sh("cat /etc/app.cfg").await, "Port 2222\nUseDNS off\nPermitRootLogin off\n");

    // (3) Check mode against a changed file: reported with the exact diff; the file does not move.
    h.sh("echo 'PermitRootLogin yes' >> /etc/app.cfg").await;
    let before = h.sh("sha256sum /etc/app.cfg").await;
    let (o, _) = h.ok("lineinfile", json!({"path": "/etc/app.cfg", "regexp": "^PermitRootLogin", "line": "PermitRootLogin no"}), true).await;
    assert!(o.changed);
    assert_eq!(o.diffs[0].after, "Port 2222\nUseDNS off\nPermitRootLogin off\nPermitRootLogin no\n");
    assert!(h.ok("blockinfile", json!({"path": "/etc/app.cfg", "block": "x"}), true).await.0.changed);
    assert!(h.ok("replace", json!({"path": "/etc/app.cfg", "regexp": "yes", "replace": "no"}), true).await.0.changed);
    assert!(h.ok("lineinfile", json!({"path": "/etc/app.cfg", "line": "Port 2222", "mode": "0600"}), true).await.0.changed);
    assert_eq!(h.sh("sha256sum /etc/app.cfg").await, before);
    assert_eq!(h.stat("%a", "/etc/app.cfg").await, "640");

    // (4) Bad arguments and impossible requests.
    assert!(h.err("lineinfile", json!({"path": "/etc/app.cfg"})).await.contains("line is required with state=present"));
    assert!(h.err("lineinfile", json!({"path": "/etc/app.cfg", "regexp": "(", "line": "x"})).await.contains("not a valid regular expression"));
    assert!(
        h.err("lineinfile", json!({"path": "/etc/app.cfg", "line": "x", "insertafter": "a", "insertbefore": "b"}))
            .await
            .contains("mutually exclusive")
    );
    assert!(h.err("blockinfile", json!({"block": "x"})).await.contains("missing required argument 'path'"));
    assert!(h.err("replace", json!({"path": "/etc/app.cfg", "regexp": "(a)", "replace": "\\2"})).await.contains("invalid group reference"));
    assert!(h.fails("lineinfile", json!({"path": "/etc/nope.cfg", "line": "x"})).await.contains("Destination /etc/nope.cfg does not exist !"));
    assert!(h.fails("replace", json!({"path": "/etc", "regexp": "x"})).await.contains("Path /etc is a directory !"));
}

#[tokio::test(flavor = "multi_thread")]
async fn stat_slurp_fetch() {
    let lab = TestLab::start(1).await;
    let files = tempfile::tempdir().unwrap();
    let h = Host::new(&lab, files.path());
    let binary: Vec<u8> = vec![0, 159, 146, 150, 255, b'\n'];
    h.sh("printf '\\000\\237\\222\\226\\377\\n' > /root/data.bin && chmod 4751 /root/data.bin && ln -s data.bin /root/data.lnk").await;

    // stat: the facts Ansible reports, compared with what docker exec sees.
    let (o, trips) = h.ok("stat", json!({"path": "/root/data.bin", "checksum_algorithm": "sha256"}), false).await;
    assert_eq!(trips, 1);
    let st = key(&o, "stat");
    let expect = h.sh("stat -c '%i %s %u' /root/data.bin; sha256sum /root/data.bin | cut -c1-64").await;
    assert_eq!(format!("{} {} {}\n{}\n", st["inode"], st["size"], st["uid"], st["checksum"].as_str().unwrap()), expect);
    assert_eq!(
        (&st["exists"], &st["isreg"], &st["isdir"], &st["mode"], &st["isuid"], &st["xoth"], &st["pw_name"]),
        (&json!(true), &json!(true), &json!(false), &json!("4751"), &json!(true), &json!(true), &json!("root"))
    );
    let (o, _) = h.ok("stat", json!({"path": "/root/data.lnk"}), false).await;
    let st = key(&o, "stat");
    assert_eq!((&st["islnk"], &st["lnk_target"], &st["lnk_source"]), (&json!(true), &json!("data.bin"), &json!("/root/data.bin")));
    assert!(st.get("checksum").is_none(), "a link is not a regular file unless followed");
    let (o, _) = h.ok("stat", json!({"path": "/root/data.lnk", "follow": true}), false).await;
    assert_eq!(key(&o, "stat")["checksum"], json!(hex::encode(<sha1::Sha1 as sha1::Digest>::digest(&binary))));
    let (o, _) = h.ok("stat", json!({"path": "/nope"}), false).await;
    assert_eq!(key(&o, "stat"), &json!({"exists": false}));

    // slurp: base64, byte-exact.
    let (o, trips) = h.ok("slurp", json!({"src": "/root/data.bin"}), false).await;
    assert_eq!(trips, 1);
    use base64::Engine;
    assert_eq!(base64::engine::general_purpose::STANDARD.decode(key(&o, "content").as_str().unwrap()).unwrap(), binary);
    assert_eq!((key(&o, "encoding"), key(&o, "source")), (&json!("base64"), &json!("/root/data.bin")));

    // fetch (1) from scratch into DEST/HOSTNAME/PATH, (2) again: no change, one round trip.
    let dest = tempfile::tempdir().unwrap();
    let d = dest.path().to_str().unwrap();
    let (o, _) = h.ok("fetch", json!({"src": "/root/data.bin", "dest": d}), false).await;
    assert!(o.changed);
    let local = dest.path().join("test-host/root/data.bin");
    assert_eq!(std::fs::read(&local).unwrap(), binary);
    assert!(!h.changed("fetch", json!({"src": "/root/data.bin", "dest": d})).await);
    assert!(h.changed("fetch", json!({"src": "/root/data.lnk", "dest": format!("{d}/flat.bin"), "flat": true})).await);
    assert_eq!(std::fs::read(dest.path().join("flat.bin")).unwrap(), binary);

    // (3) Check mode against a changed host: stat and slurp never change anything; fetch reports, writes nothing.
    h.sh("echo changed > /root/data.bin").await;
    for m in [("stat", json!({"path": "/root/data.bin"})), ("slurp", json!({"src": "/root/data.bin"}))] {
        assert!(!h.ok(m.0, m.1, true).await.0.changed, "{} reads only", m.0);
    }
    let (o, _) = h.ok("fetch", json!({"src": "/root/data.bin", "dest": d}), true).await;
    assert!(o.changed);
    assert_eq!(std::fs::read(&local).unwrap(), binary, "check mode wrote nothing");
    assert_eq!(h.sh("cat /root/data.bin").await, "changed\n");

    // (4) Bad arguments and missing files.
    assert!(h.err("stat", json!({"path": "/x", "checksum_algorithm": "crc32"})).await.contains("must be one of md5, sha1"));
    assert!(h.err("slurp", json!({})).await.contains("missing required argument 'src'"));
    assert!(h.err("fetch", json!({"src": "/root/data.bin"})).await.contains("missing required argument 'dest'"));
    assert!(h.err("fetch", json!({"src": "/../../../../etc/passwd", "dest": d})).await.contains("outside"));
    assert_eq!(h.fails("slurp", json!({"src": "/nope"})).await, "File not found: /nope");
    assert_eq!(h.fails("slurp", json!({"src": "/etc"})).await, "Source is a directory and must be a file: /etc");
    assert!(h.fails("fetch", json!({"src": "/nope", "dest": d})).await.contains("the remote file does not exist"));
    let (o, _) = h.ok("fetch", json!({"src": "/nope", "dest": d, "fail_on_missing": false}), false).await;
    assert!(!o.changed);
}

#[tokio::test(flavor = "multi_thread")]
async fn copy_remote_src_copies_a_file_on_the_host_once() {
    // k3s-ansible copies /etc/rancher/k3s/k3s.yaml to the user's kubeconfig with remote_src.
    let lab = TestLab::start(1).await;
    let conn = lab.connection("h1");
    let dir = tempfile::tempdir().unwrap();
    let env = TestEnv::new(dir.path());
    let exec = |s: &'static str| {
        let lab = &lab;
        async move { lab.docker_exec("h1", s).await }
    };
    exec("printf 'apiVersion: v1\\n' > /root/k3s.yaml && chmod 0600 /root/k3s.yaml").await;
    let args = json!({"src": "/root/k3s.yaml", "dest": "/root/config", "remote_src": true, "mode": "0600"});
    // (4) A missing source is refused; a folder is planned whole (copied: ansible_compat_tasks), and check
    // mode makes nothing.
    let missing = run_module(&conn, &env, "copy", json!({"src": "/nowhere", "dest": "/root/x", "remote_src": true}), false, false).await;
    assert!(matches!(&missing, Ok(o) if o.failed && o.msg.as_deref() == Some("Source /nowhere not found")), "{missing:?}");
    let folder = run_module(&conn, &env, "copy", json!({"src": "/etc/apt", "dest": "/root/x", "remote_src": true}), true, false).await.unwrap();
    assert!(folder.changed && !folder.failed, "{folder:?}");
    assert_ne!(exec("test -e /root/x").await.0, 0);
    // (1) Copied, (2) again nothing, (3) check mode after a change behind its back.
    let o = run_module(&conn, &env, "copy", args.clone(), false, true).await.unwrap();
    assert!(o.changed && !o.failed);
    assert_eq!(exec("stat -c %a /root/config && cat /root/config").await, (0, "600\napiVersion: v1\n".to_string()));
    assert!(!run_module(&conn, &env, "copy", args.clone(), false, false).await.unwrap().changed);
    exec("printf 'kind: Config\\n' > /root/k3s.yaml").await;
    let o = run_module(&conn, &env, "copy", args.clone(), true, true).await.unwrap();
    assert!(o.changed);
    assert_eq!(o.diffs[0].after, "kind: Config\n");
    assert_eq!(exec("cat /root/config").await.1, "apiVersion: v1\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn find_lists_files_as_ansibles_find_does() {
    let lab = TestLab::start(1).await;
    let files = tempfile::tempdir().unwrap();
    let h = Host::new(&lab, files.path());
    h.sh("mkdir -p /srv/f/sub/deep && cd /srv/f && head -c 100 /dev/zero > a.conf && echo x > b.conf.bak && echo h > .hidden.conf \
         && { head -c 2000 /dev/zero; printf '\\nneedle here\\n'; } > sub/c.conf && echo d > sub/deep/d.conf && ln -s a.conf link.conf \
         && echo old > old.log && touch -d '3 days ago' old.log")
        .await;
    let paths = |o: &Outcome| -> Vec<String> {
        key(o, "files").as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap().replace("/srv/f/", "")).collect()
    };
    // Expected paths and counts: ansible-core 2.19.14's find on the same tree (`examined` counts every entry walked).
    let cases: Vec<(Value, Vec<&str>, u64)> = vec![
        (json!({"paths": "/srv/f", "patterns": "*.conf"}), vec!["a.conf"], 6),
        (json!({"paths": "/srv/f", "patterns": "*.conf", "recurse": true}), vec!["a.conf", "sub/c.conf", "sub/deep/d.conf"], 9),
        (json!({"paths": "/srv/f", "patterns": "*.conf", "recurse": true, "depth": 2}), vec!["a.conf", "sub/c.conf"], 9),
        (json!({"paths": "/srv/f", "patterns": "*.conf", "hidden": true}), vec![".hidden.conf", "a.conf"], 6),
        (json!({"paths": "/srv/f", "file_type": "link"}), vec!["link.conf"], 6),
        (json!({"paths": "/srv/f", "file_type": "directory", "recurse": true}), vec!["sub", "sub/deep"], 9),
        (json!({"paths": "/srv/f", "contains": "needle", "recurse": true}), vec!["sub/c.conf"], 9),
        (json!({"paths": "/srv/f", "contains": "here", "recurse": true}), vec![], 9),
        (json!({"paths": "/srv/f", "age": "2d"}), vec!["old.log"], 6),
        (json!({"paths": "/srv/f", "size": "1k", "recurse": true}), vec!["sub/c.conf"], 9),
        (json!({"paths": "/srv/f", "patterns": ".*\\.log$", "use_regex": true}), vec!["old.log"], 6),
        (json!({"paths": "/srv/f", "patterns": "*", "excludes": "b*"}), vec!["a.conf", "old.log"], 6),
    ];
    for (args, want, examined) in cases {
        let (o, _) = h.ok("find", args.clone(), false).await;
        assert_eq!(paths(&o), want, "{args}");
        assert_eq!((key(&o, "matched"), key(&o, "examined")), (&json!(want.len()), &json!(examined)), "{args}");
        assert!(!o.changed);
    }
    // A listing without contents is one round trip; each file carries its stat fields.
    let (o, trips) = h.ok("find", json!({"paths": "/srv/f", "patterns": "a.conf"}), false).await;
    assert_eq!(trips, 1);
    let f = &key(&o, "files")[0];
    let expect = h.sh("stat -c '%s %i %U %a' /srv/f/a.conf").await;
    assert_eq!(
        format!("{} {} {} {}\n", f["size"], f["inode"], f["pw_name"].as_str().unwrap(), f["mode"].as_str().unwrap().trim_start_matches('0')),
        expect
    );
    assert_eq!((&f["isreg"], &f["isdir"], &f["rusr"]), (&json!(true), &json!(false), &json!(true)));
    // A missing folder is skipped and said so; checksums are sha1 on request; check mode reads just the same.
    let (o, _) = h.ok("find", json!({"paths": ["/nope", "/srv/f"], "patterns": "a.*", "get_checksum": true}), true).await;
    assert_eq!(key(&o, "skipped_paths"), &json!({"/nope": "'/nope' is not a directory"}));
    assert_eq!(key(&o, "msg"), &json!("Not all paths examined, check warnings for details"));
    let sum = h.sh("sha1sum /srv/f/a.conf | cut -c1-40").await;
    assert_eq!(format!("{}\n", key(&o, "files")[0]["checksum"].as_str().unwrap()), sum);
    assert!(h.err("find", json!({"paths": "/srv/f", "age": "2y"})).await.contains("failed to process age '2y'"));
}
