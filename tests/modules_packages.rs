//! apt, package, apt_repository and deb822_repository on real Debian hosts. Every state is read back with
//! `docker exec` (dpkg, apt's own files), never through hlprov. Package installs are few and tiny (tree, hello,
//! and a package the test builds with dpkg-deb).

mod common;
mod system_support;

use std::path::PathBuf;

use common::{TestEnv, TestLab, run_module};
use hlprov::modules::ModuleError;
use serde_json::{Value, json};
use system_support::{env, failure, ok, sh, status};

/// The package's dpkg status line and version, read by dpkg itself.
async fn dpkg_status(lab: &TestLab, pkg: &str) -> String {
    lab.docker_exec("h1", &format!("dpkg-query -W -f='${{db:Status-Abbrev}}${{Version}}' {pkg} 2>/dev/null")).await.1
}

/// Build a tiny package `name` at `version` on the host (with a conffile, /etc/NAME.conf, and optional Depends).
async fn build_deb(lab: &TestLab, name: &str, version: &str, depends: Option<&str>) -> String {
    let depends = depends.map(|d| format!("Depends: {d}\n")).unwrap_or_default();
    let path = format!("/root/debs/{name}_{version}_all.deb");
    sh(
        lab,
        &format!(
            "set -e; d=$(mktemp -d); mkdir -p $d/DEBIAN $d/usr/share/{name} /root/debs; \
             printf 'Package: {name}\\nVersion: {version}\\nArchitecture: all\\nMaintainer: hlprov tests <t@example.org>\\n{depends}Description: hlprov test package\\n' > $d/DEBIAN/control; \
             echo {version} > $d/usr/share/{name}/version; mkdir -p $d/etc; echo 'setting=1' > $d/etc/{name}.conf; \
             echo /etc/{name}.conf > $d/DEBIAN/conffiles; dpkg-deb --build --root-owner-group $d {path} >/dev/null"
        ),
    )
    .await;
    path
}

#[tokio::test(flavor = "multi_thread")]
async fn apt_installs_upgrades_removes_and_updates_the_cache_like_ansible() {
    let lab = TestLab::start(1).await;
    let conn = lab.connection("h1");
    let (_d, env) = env();

    // Bad arguments are refused before anything runs.
    let err = run_module(&conn, &env, "apt", json!({"name": "tree", "state": "installed"}), false, false).await.unwrap_err();
    assert!(err.to_string().contains("must be one of present, absent, latest"), "{err}");
    let err = run_module(&conn, &env, "apt", json!({"name": "tree; touch /tmp/pwned"}), false, false).await.unwrap_err();
    assert!(err.to_string().contains("is not a valid Debian package name"), "{err}");
    let err = run_module(&conn, &env, "apt", json!({"name": "apt*"}), false, false).await.unwrap_err();
    assert!(err.to_string().contains("patterns are not supported"), "{err}");
    let err = run_module(&conn, &env, "apt", json!({"state": "present"}), false, false).await.unwrap_err();
    assert!(err.to_string().contains("one of these arguments is required"), "{err}");

    // Count real `apt-get update` runs with apt's own hook.
    sh(
        &lab,
        "echo 'APT::Update::Post-Invoke { \"echo ran >> /root/apt-updates\"; };' > /etc/apt/apt.conf.d/99hlprov-test; \
              rm -f /var/lib/apt/periodic/update-success-stamp /root/apt-updates; touch -d '2 days ago' /var/lib/apt/lists",
    )
    .await;
    let updates = || async { lab.docker_exec("h1", "cat /root/apt-updates 2>/dev/null | wc -l").await.1.trim().to_string() };

    // (1) A stale cache is updated.
    let o = ok(run_module(&conn, &env, "apt", json!({"update_cache": true, "cache_valid_time": 3600}), false, false).await);
    assert!(o.changed);
    assert_eq!(o.data["cache_updated"], true);
    assert!(o.data["cache_update_time"].as_i64().unwrap() > 0);
    assert_eq!(updates().await, "1");
    // (2) Fresh now: nothing runs.
    let o = ok(run_module(&conn, &env, "apt", json!({"update_cache": true, "cache_valid_time": 3600}), false, false).await);
    assert!(!o.changed);
    assert_eq!(o.data["cache_updated"], false);
    assert_eq!(updates().await, "1");
    // (3) Check mode on a stale cache reports the update and runs nothing.
    sh(&lab, "touch -d '2 hours ago' /var/lib/apt/periodic/update-success-stamp").await;
    let o = ok(run_module(&conn, &env, "apt", json!({"update_cache": true, "cache_valid_time": 3600}), true, false).await);
    assert!(o.changed);
    assert_eq!(o.data["cache_updated"], true);
    assert_eq!(updates().await, "1");

    // (1) Install from scratch.
    let o = ok(run_module(&conn, &env, "apt", json!({"name": ["tree", "hello"], "install_recommends": false}), false, false).await);
    assert!(o.changed);
    assert!(o.data["stdout"].as_str().unwrap().contains("Setting up tree"), "{}", o.data["stdout"]);
    assert_eq!(o.data["cache_updated"], false);
    assert!(dpkg_status(&lab, "tree").await.starts_with("ii "));
    assert!(dpkg_status(&lab, "hello").await.starts_with("ii "));
    // Marked as manually installed, as Ansible does.
    assert!(!sh(&lab, "apt-mark showauto").await.contains("tree"));
    // (2) Again: nothing to do.
    let o = ok(run_module(&conn, &env, "apt", json!({"name": "tree,hello"}), false, false).await);
    assert!(!o.changed);
    assert_eq!(o.to_value()["cache_updated"], false);
    // A named package apt holds as automatic is marked manual (read from extended_states, not apt-mark).
    sh(&lab, "apt-mark auto tree >/dev/null").await;
    assert!(sh(&lab, "apt-mark showauto").await.contains("tree"));
    let o = ok(run_module(&conn, &env, "apt", json!({"name": ["tree", "hello"]}), false, false).await);
    assert!(!o.changed);
    assert!(!sh(&lab, "apt-mark showauto").await.contains("tree"), "tree is still marked automatic");
    // (3) Check mode against a changed host: reports, simulates, installs nothing.
    sh(&lab, "dpkg -r hello >/dev/null").await;
    let o = ok(run_module(&conn, &env, "apt", json!({"name": ["tree", "hello"]}), true, true).await);
    assert!(o.changed);
    assert!(o.data["stdout"].as_str().unwrap().contains("Inst hello"), "simulated: {}", o.data["stdout"]);
    assert!(!dpkg_status(&lab, "hello").await.starts_with("ii "), "check mode installed it");
    assert_eq!(o.diffs.len(), 1);
    assert_eq!(o.diffs[0].before, "hello: absent\n");
    assert!(o.diffs[0].after.starts_with("hello: 2."), "{:?}", o.diffs[0]);

    // Removal (hello left config files? it has none; tree is removed).
    let o = ok(run_module(&conn, &env, "apt", json!({"name": "tree", "state": "absent"}), false, false).await);
    assert!(o.changed);
    assert!(!dpkg_status(&lab, "tree").await.starts_with("ii "));
    let o = ok(run_module(&conn, &env, "apt", json!({"name": "tree", "state": "absent"}), false, false).await);
    assert!(!o.changed);
    assert!(!o.data.contains_key("cache_updated"), "Ansible's remove reports no cache keys when it does nothing");

    // Unknown package: Ansible's message.
    let o = run_module(&conn, &env, "apt", json!({"name": "hlprov-no-such-package"}), false, false).await.unwrap();
    assert!(o.failed);
    assert_eq!(o.msg.as_deref(), Some("No package matching 'hlprov-no-such-package' is available"));
    // A version that does not exist.
    let o = run_module(&conn, &env, "apt", json!({"name": "tree=0.0.1*"}), false, false).await.unwrap();
    assert!(o.failed);
    assert_eq!(o.msg.as_deref(), Some("no available installation candidate for tree=0.0.1*"));
}

#[tokio::test(flavor = "multi_thread")]
async fn apt_installs_a_deb_file_with_its_dependencies() {
    let lab = TestLab::start(1).await;
    let conn = lab.connection("h1");
    let (_d, env) = env();
    sh(&lab, "apt-get update -qq").await;
    let v1 = build_deb(&lab, "hlprov-demo", "1.0", Some("hello")).await;
    let v2 = build_deb(&lab, "hlprov-demo", "1.1", Some("hello")).await;

    // (4) A missing file and a file that is no package fail clearly.
    let o = run_module(&conn, &env, "apt", json!({"deb": "/root/debs/missing.deb"}), false, false).await.unwrap();
    assert!(o.failed && o.msg.as_deref().unwrap().contains("does not exist on the host"), "{:?}", o.msg);
    sh(&lab, "echo nope > /root/debs/bad.deb").await;
    let o = run_module(&conn, &env, "apt", json!({"deb": "/root/debs/bad.deb"}), false, false).await.unwrap();
    assert!(o.failed && o.msg.as_deref().unwrap().contains("is not a Debian package"), "{:?}", o.msg);
    let err = run_module(&conn, &env, "apt", json!({"deb": v1, "state": "absent"}), false, false).await.unwrap_err();
    assert!(err.to_string().contains("deb only supports state=present"));

    // (1) From scratch: the package and its dependency from the archive.
    let o = ok(run_module(&conn, &env, "apt", json!({"deb": v1}), false, false).await);
    assert!(o.changed);
    assert_eq!(dpkg_status(&lab, "hlprov-demo").await, "ii 1.0");
    assert!(dpkg_status(&lab, "hello").await.starts_with("ii "), "dependency installed");
    assert_eq!(sh(&lab, "cat /usr/share/hlprov-demo/version").await.trim(), "1.0");
    // (2) Same version: no change.
    let o = ok(run_module(&conn, &env, "apt", json!({"deb": v1}), false, false).await);
    assert!(!o.changed);
    // (3) Check mode with a newer file: reported, not installed.
    let o = ok(run_module(&conn, &env, "apt", json!({"deb": v2}), true, true).await);
    assert!(o.changed);
    assert_eq!(o.diffs[0].before, "hlprov-demo: 1.0\n");
    assert_eq!(o.diffs[0].after, "hlprov-demo: 1.1\n");
    assert_eq!(dpkg_status(&lab, "hlprov-demo").await, "ii 1.0");
    // And for real.
    assert!(ok(run_module(&conn, &env, "apt", json!({"deb": v2}), false, false).await).changed);
    assert_eq!(dpkg_status(&lab, "hlprov-demo").await, "ii 1.1");

    // Purge removes a package that left only configuration files, like Ansible; without purge there is nothing to do.
    sh(&lab, "dpkg -r hlprov-demo >/dev/null").await;
    assert_eq!(dpkg_status(&lab, "hlprov-demo").await, "rc 1.1");
    let o = ok(run_module(&conn, &env, "apt", json!({"name": "hlprov-demo", "state": "absent"}), false, false).await);
    assert!(!o.changed);
    let o = ok(run_module(&conn, &env, "apt", json!({"name": "hlprov-demo", "state": "absent", "purge": true}), false, false).await);
    assert!(o.changed);
    assert_eq!(dpkg_status(&lab, "hlprov-demo").await, "");
    assert_eq!(lab.docker_exec("h1", "test -e /etc/hlprov-demo.conf").await.0, 1, "conffile purged");
}

/// A TaskEnv with gathered facts, to see package pick its backend from os_family.
struct FactsEnv(TestEnv, serde_json::Map<String, Value>);

impl hlprov::modules::TaskEnv for FactsEnv {
    fn find_file(&self, k: hlprov::modules::FileKind, n: &str) -> Result<PathBuf, String> {
        self.0.find_file(k, n)
    }
    fn render(&self, t: &str, o: &str) -> Result<String, hlprov::template::TemplateError> {
        self.0.render(t, o)
    }
    fn eval(&self, e: &str) -> Result<Value, hlprov::template::TemplateError> {
        self.0.eval(e)
    }
    fn condition(&self, e: &str) -> Result<bool, hlprov::template::TemplateError> {
        self.0.condition(e)
    }
    fn fact(&self, name: &str) -> Option<Value> {
        self.1.get(name).cloned()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn package_dispatches_to_apt_and_refuses_other_families() {
    let lab = TestLab::start(1).await;
    let conn = lab.connection("h1");
    let (d, env) = env();
    sh(&lab, "apt-get update -qq").await;

    // (4) state is required, as in Ansible.
    let err = run_module(&conn, &env, "package", json!({"name": "tree"}), false, false).await.unwrap_err();
    assert!(err.to_string().contains("missing required argument 'state'"), "{err}");

    // Without facts: one probe finds apt. (1) install, (2) again, (3) check mode after removal.
    let o = ok(run_module(&conn, &env, "package", json!({"name": "tree", "state": "present"}), false, false).await);
    assert!(o.changed);
    assert!(dpkg_status(&lab, "tree").await.starts_with("ii "));
    assert!(!ok(run_module(&conn, &env, "package", json!({"name": "tree", "state": "present"}), false, false).await).changed);
    sh(&lab, "dpkg -r tree >/dev/null").await;
    assert!(ok(run_module(&conn, &env, "package", json!({"name": "tree", "state": "present"}), true, false).await).changed);
    assert!(!dpkg_status(&lab, "tree").await.starts_with("ii "));

    // With facts: os_family decides, and another family is refused plainly.
    let redhat = FactsEnv(TestEnv::new(d.path()), [("os_family".to_string(), json!("RedHat"))].into_iter().collect());
    let err = run_module(&conn, &redhat, "package", json!({"name": "tree", "state": "present"}), false, false).await.unwrap_err();
    assert!(matches!(err, ModuleError::Unsupported(_)), "{err:?}");
    assert!(err.to_string().contains("os_family is RedHat"), "{err}");
    let debian = FactsEnv(TestEnv::new(d.path()), [("os_family".to_string(), json!("Debian"))].into_iter().collect());
    assert!(ok(run_module(&conn, &debian, "package", json!({"name": "tree", "state": "present"}), false, false).await).changed);
    let err = run_module(&conn, &env, "package", json!({"name": "tree", "state": "present", "use": "dnf"}), false, false).await.unwrap_err();
    assert!(err.to_string().contains("package manager is dnf"), "{err}");
}

/// A flat repository at /srv/repo holding `name` at `version` (Packages written by hand, as dpkg-scanpackages would).
async fn flat_repo(lab: &TestLab, name: &str, version: &str) {
    let deb = build_deb(lab, name, version, None).await;
    sh(
        lab,
        &format!(
            "set -e; mkdir -p /srv/repo; cp {deb} /srv/repo/; cd /srv/repo; f=$(basename {deb}); \
             {{ dpkg-deb -f $f; echo \"Filename: ./$f\"; echo \"Size: $(stat -c %s $f)\"; echo \"SHA256: $(sha256sum $f | cut -c1-64)\"; echo; }} > Packages"
        ),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn apt_repository_adds_a_source_that_apt_latest_then_upgrades_from() {
    let lab = TestLab::start(1).await;
    let conn = lab.connection("h1");
    let (_d, env) = env();
    let v1 = build_deb(&lab, "hlprov-demo", "1.0", None).await;
    sh(&lab, &format!("dpkg -i {v1} >/dev/null")).await;
    flat_repo(&lab, "hlprov-demo", "2.0").await;
    let repo = "deb [trusted=yes] file:/srv/repo ./";
    let file = "/etc/apt/sources.list.d/file_srv_repo.list";

    // (4) Bad input.
    for bad in ["not a repo", "# deb http://x/ y z"] {
        let err = run_module(&conn, &env, "apt_repository", json!({"repo": bad}), false, false).await.unwrap_err();
        assert!(err.to_string().starts_with("Invalid repository string"), "{err}");
    }
    let err = run_module(&conn, &env, "apt_repository", json!({"repo": "ppa:deadsnakes/ppa"}), false, false).await.unwrap_err();
    assert!(matches!(err, ModuleError::Unsupported(_)), "{err:?}");

    // (1) From scratch: the file Ansible would name, and the cache updated (apt sees the new version).
    let o = ok(run_module(&conn, &env, "apt_repository", json!({"repo": repo}), false, false).await);
    assert!(o.changed);
    assert_eq!(o.data["sources_added"], json!([file]));
    assert_eq!(sh(&lab, &format!("cat {file}; stat -c %a {file}")).await, format!("{repo}\n644\n"));
    assert!(sh(&lab, "apt-cache policy hlprov-demo").await.contains("Candidate: 2.0"));
    // (2) Again.
    let o = ok(run_module(&conn, &env, "apt_repository", json!({"repo": repo}), false, false).await);
    assert!(!o.changed);
    assert_eq!(o.data["sources_added"], json!([]));
    // (3) Check mode against a changed host.
    sh(&lab, &format!("rm {file}")).await;
    let o = ok(run_module(&conn, &env, "apt_repository", json!({"repo": repo}), true, true).await);
    assert!(o.changed);
    assert_eq!((o.diffs[0].before_header.as_str(), o.diffs[0].after.as_str()), ("/dev/null", format!("{repo}\n").as_str()));
    assert_eq!(status(&lab, &format!("test -e {file}")).await, 1);
    assert!(ok(run_module(&conn, &env, "apt_repository", json!({"repo": repo, "filename": "homelab"}), false, false).await).changed);
    assert_eq!(sh(&lab, "cat /etc/apt/sources.list.d/homelab.list").await, format!("{repo}\n"));

    // apt state=latest upgrades from the new source; present leaves an installed version alone.
    assert!(!ok(run_module(&conn, &env, "apt", json!({"name": "hlprov-demo"}), false, false).await).changed);
    let o = ok(run_module(&conn, &env, "apt", json!({"name": "hlprov-demo", "state": "latest"}), true, true).await);
    assert!(o.changed);
    assert_eq!((o.diffs[0].before.as_str(), o.diffs[0].after.as_str()), ("hlprov-demo: 1.0\n", "hlprov-demo: 2.0\n"));
    assert_eq!(dpkg_status(&lab, "hlprov-demo").await, "ii 1.0");
    assert!(ok(run_module(&conn, &env, "apt", json!({"name": "hlprov-demo", "state": "latest"}), false, false).await).changed);
    assert_eq!(dpkg_status(&lab, "hlprov-demo").await, "ii 2.0");
    assert!(!ok(run_module(&conn, &env, "apt", json!({"name": "hlprov-demo", "state": "latest"}), false, false).await).changed);

    // absent removes the line (and the file it leaves empty).
    let o = ok(run_module(&conn, &env, "apt_repository", json!({"repo": repo, "state": "absent"}), false, false).await);
    assert!(o.changed);
    assert_eq!(o.data["sources_removed"], json!(["/etc/apt/sources.list.d/homelab.list"]));
    assert_eq!(status(&lab, "test -e /etc/apt/sources.list.d/homelab.list").await, 1);

    // A source apt cannot fetch: the update fails and the file is put back as it was (here: not there).
    let bad = "deb http://127.0.0.1:9/debian bookworm main";
    let msg = failure(run_module(&conn, &env, "apt_repository", json!({"repo": bad, "update_cache_retries": 1}), false, false).await);
    assert!(msg.starts_with("Failed to update apt cache after 1 retries"), "{msg}");
    assert_eq!(status(&lab, "test -e /etc/apt/sources.list.d/127_0_0_1_9_debian.list").await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn deb822_repository_writes_sources_that_apt_verifies_with_their_key() {
    let lab = TestLab::start(1).await;
    let conn = lab.connection("h1");
    let (_d, env) = env();
    let dest = "/etc/apt/sources.list.d/debian-updates.sources";
    let base = json!({"name": "debian updates", "uris": "http://deb.debian.org/debian", "suites": "bookworm-updates", "components": "main"});
    let with = |extra: serde_json::Value| {
        let mut v = base.clone();
        v.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        v
    };
    // An HTTP server on the host for the key URL case (busybox httpd), and curl for hlprov to fetch with.
    sh(
        &lab,
        "apt-get update -qq && apt-get install -y -qq curl busybox >/dev/null && mkdir -p /srv/www && \
              cp /etc/apt/trusted.gpg.d/debian-archive-bookworm-automatic.asc /srv/www/key.asc && busybox httpd -p 127.0.0.1:8080 -h /srv/www",
    )
    .await;
    // Only this source, so apt-get update's verdict is about it.
    sh(&lab, "mkdir -p /root/apt-off && mv /etc/apt/sources.list /root/apt-off/ 2>/dev/null; mv /etc/apt/sources.list.d/*.sources /root/apt-off/ 2>/dev/null; true").await;
    let apt_update = || async { lab.docker_exec("h1", "apt-get update 2>&1").await };

    // (4) Bad input.
    let err = run_module(&conn, &env, "deb822_repository", json!({"name": "x", "uris": "http://x/"}), false, false).await.unwrap_err();
    assert!(err.to_string().contains("missing: suites"), "{err}");
    let err = run_module(&conn, &env, "deb822_repository", with(json!({"types": "rpm"})), false, false).await.unwrap_err();
    assert!(err.to_string().contains("only deb, deb-src"), "{err}");
    let msg = failure(run_module(&conn, &env, "deb822_repository", with(json!({"signed_by": "/etc/apt/keyrings/missing.gpg"})), false, false).await);
    assert_eq!(msg, "signed_by: /etc/apt/keyrings/missing.gpg is not a file on the host");

    // (1) A keyring on the host: the file Ansible would write, and apt verifies the archive with it.
    let args = with(json!({"signed_by": "/usr/share/keyrings/debian-archive-keyring.gpg"}));
    let o = ok(run_module(&conn, &env, "deb822_repository", args.clone(), false, false).await);
    assert!(o.changed);
    let text = "Components: main\nX-Repolib-Name: debian updates\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\nSuites: bookworm-updates\nTypes: deb\nURIs: http://deb.debian.org/debian\n";
    assert_eq!((o.data["dest"].as_str(), o.data["repo"].as_str()), (Some(dest), Some(text)));
    assert_eq!(sh(&lab, &format!("cat {dest}")).await, text);
    let (rc, out) = apt_update().await;
    assert!(rc == 0 && !out.contains("NO_PUBKEY"), "apt-get update with the right key: {out}");
    // (2) Again.
    assert!(!ok(run_module(&conn, &env, "deb822_repository", args.clone(), false, false).await).changed);
    // (3) Check mode against a changed file.
    sh(&lab, &format!("sed -i 's/main/contrib/' {dest}")).await;
    let o = ok(run_module(&conn, &env, "deb822_repository", args.clone(), true, true).await);
    assert!(o.changed && o.diffs[0].after == text);
    assert!(sh(&lab, &format!("cat {dest}")).await.contains("Components: contrib"));

    // The wrong key makes apt refuse the archive: Signed-By is really what apt uses.
    ok(run_module(&conn, &env, "deb822_repository", with(json!({"signed_by": "/usr/share/keyrings/debian-archive-removed-keys.gpg"})), false, false)
        .await);
    let (rc, out) = apt_update().await;
    assert!(out.contains("NO_PUBKEY"), "apt-get update with a wrong key must fail to verify: {out}");
    let msg = failure(run_module(&conn, &env, "apt", json!({"update_cache": true, "update_cache_retries": 1}), false, false).await);
    assert!(msg.contains("Failed to update apt cache after 1 retries") && msg.contains("NO_PUBKEY"), "hlprov's apt sees the failure: {msg}");
    let _ = rc;

    // An armored key inline, as Ansible embeds it.
    let armored = sh(&lab, "cat /etc/apt/trusted.gpg.d/debian-archive-bookworm-automatic.asc").await;
    let o = ok(run_module(&conn, &env, "deb822_repository", with(json!({"signed_by": armored})), false, false).await);
    assert!(o.changed);
    assert!(sh(&lab, &format!("cat {dest}")).await.contains("Signed-By:\n    -----BEGIN PGP PUBLIC KEY BLOCK-----\n    .\n"));
    let (rc, out) = apt_update().await;
    assert!(rc == 0 && !out.contains("NO_PUBKEY"), "apt-get update with the inline key: {out}");

    // A key URL: downloaded on the host into /etc/apt/keyrings.
    let url_args = with(json!({"signed_by": "http://127.0.0.1:8080/key.asc"}));
    let o = ok(run_module(&conn, &env, "deb822_repository", url_args.clone(), false, false).await);
    assert!(o.changed);
    assert_eq!(o.data["key_filename"], "/etc/apt/keyrings/debian-updates.asc");
    assert_eq!(
        sh(&lab, "cmp /srv/www/key.asc /etc/apt/keyrings/debian-updates.asc && stat -c %a /etc/apt/keyrings/debian-updates.asc").await,
        "644\n"
    );
    assert!(sh(&lab, &format!("cat {dest}")).await.contains("Signed-By: /etc/apt/keyrings/debian-updates.asc\n"));
    let (rc, out) = apt_update().await;
    assert!(rc == 0 && !out.contains("NO_PUBKEY"), "apt-get update with the downloaded key: {out}");
    assert!(!ok(run_module(&conn, &env, "deb822_repository", url_args, false, false).await).changed);
    let msg =
        failure(run_module(&conn, &env, "deb822_repository", with(json!({"signed_by": "http://127.0.0.1:8080/missing.asc"})), false, false).await);
    assert!(msg.starts_with("Could not fetch signed_by key: HTTP Error 404"), "{msg}");

    // absent removes the sources file and the downloaded key.
    assert!(ok(run_module(&conn, &env, "deb822_repository", json!({"name": "debian updates", "state": "absent"}), false, false).await).changed);
    assert_eq!(status(&lab, &format!("test -e {dest} || test -e /etc/apt/keyrings/debian-updates.asc")).await, 1);
    assert!(!ok(run_module(&conn, &env, "deb822_repository", json!({"name": "debian updates", "state": "absent"}), false, false).await).changed);
}

/// Kill -9 every process on h1 whose command line starts with one of `names` (the host has no pkill).
async fn kill_all(lab: &TestLab, names: &str) {
    sh(
        lab,
        &format!(
            "for p in /proc/[0-9]*; do c=$(tr '\\0' ' ' < $p/cmdline 2>/dev/null); for n in {names}; do \
             case \"$c\" in \"$n\"*|/usr/bin/\"$n\"*|/bin/\"$n\"*) kill -9 ${{p#/proc/}} 2>/dev/null;; esac; done; done; true"
        ),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn apt_repairs_a_dpkg_killed_mid_install_and_waits_for_a_held_lock() {
    let lab = TestLab::start(1).await;
    let conn = lab.connection("h1");
    let (_d, env) = env();
    // A package whose postinst blocks while /root/slow exists, so an install can be killed inside dpkg.
    let path = lab.build_slow_deb("h1", "#!/bin/sh\\nif [ -e /root/slow ]; then touch /root/postinst-started; sleep 600; fi\\nexit 0\\n").await;
    sh(&lab, "touch /root/slow").await;
    // A real apt-get install, killed while dpkg configures the package (as a dropped session or Ctrl-C did).
    sh(&lab, &format!("(setsid apt-get install -y {path} > /root/apt.log 2>&1 &) ; for i in $(seq 1 300); do [ -e /root/postinst-started ] && break; sleep 0.1; done; test -e /root/postinst-started")).await;
    kill_all(&lab, "apt-get dpkg sleep").await;
    sh(&lab, "rm -f /root/slow").await;
    let broken = dpkg_status(&lab, "hlprov-slow").await;
    assert_eq!(broken, "iF 1.0", "the kill left the package half-configured");

    // Check mode plans the repair with its reason and changes nothing.
    let o = ok(run_module(&conn, &env, "apt", json!({"name": "hlprov-slow"}), true, true).await);
    assert!(o.changed);
    let diff: String = o.diffs.iter().map(|d| d.after.clone()).collect();
    assert!(diff.contains("dpkg --configure -a") && diff.contains("hlprov-slow (half-configured)"), "{diff}");
    assert_eq!(dpkg_status(&lab, "hlprov-slow").await, "iF 1.0");

    // Another process holds dpkg's lock beyond lock_timeout: the task fails naming it, and waits no longer.
    sh(&lab, "(setsid flock /var/lib/dpkg/lock-frontend sleep 600 > /dev/null 2>&1 &); sleep 0.5").await;
    let started = std::time::Instant::now();
    let msg = failure(run_module(&conn, &env, "apt", json!({"name": "hlprov-slow", "lock_timeout": 2}), false, false).await);
    assert!(
        msg.contains("still held by process") && msg.contains("flock /var/lib/dpkg/lock-frontend sleep 600") && msg.contains("after 2s"),
        "{msg}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(30), "waited {:?}", started.elapsed());
    assert_eq!(dpkg_status(&lab, "hlprov-slow").await, "iF 1.0");
    kill_all(&lab, "flock sleep").await;

    // For real: repaired without a manual step, reported as a change with the reason.
    let o = ok(run_module(&conn, &env, "apt", json!({"name": "hlprov-slow"}), false, false).await);
    assert!(o.changed);
    assert!(o.data["repaired"].as_str().unwrap_or_default().contains("hlprov-slow (half-configured)"), "{:?}", o.data);
    assert_eq!(dpkg_status(&lab, "hlprov-slow").await, "ii 1.0");
    assert_eq!(status(&lab, "apt-get check -q >/dev/null 2>&1").await, 0, "apt is healthy again");
    // And converged.
    let o = ok(run_module(&conn, &env, "apt", json!({"name": "hlprov-slow"}), false, false).await);
    assert!(!o.changed, "{:?}", o.data);
}
