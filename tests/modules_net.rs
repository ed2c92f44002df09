//! get_url, uri, wait_for and unarchive on real hosts. HTTP is served inside the test host itself by busybox
//! httpd on 127.0.0.1 (with small CGI scripts that record what they received), so nothing outside the test's
//! containers is contacted except Debian's mirror for installing curl, wget and busybox.

mod common;
mod system_support;

use common::{TestLab, run_module};
use serde_json::json;
use system_support::{env, failure, ok, sh, status};

/// A CGI script that records the method, content type and body it got, then answers 201 with JSON.
const ECHO_CGI: &str = r#"#!/bin/sh
cat > /root/last-body
printf '%s %s\n' "$REQUEST_METHOD" "$CONTENT_TYPE" > /root/last-request
printf 'HTTP/1.0 201 Created\r\nContent-Type: application/json\r\nSet-Cookie: session=abc; Path=/\r\n\r\n'
printf '{"method": "%s", "length": %s}' "$REQUEST_METHOD" "$(wc -c < /root/last-body)"
"#;

/// Install curl, wget and busybox, and serve /srv/www on 127.0.0.1:8080 (CGI in /srv/www/cgi-bin).
async fn web_server(lab: &TestLab) {
    sh(lab, "apt-get update -qq && apt-get install -y -qq curl wget busybox >/dev/null").await;
    sh(
        lab,
        &format!(
            "mkdir -p /srv/www/cgi-bin && head -c 100000 /dev/urandom > /srv/www/tool.bin && echo hello > /srv/www/a.txt && \
             (cd /srv/www && sha256sum tool.bin a.txt > SHA256SUMS) && printf '%s' '{}' > /srv/www/cgi-bin/echo && chmod 755 /srv/www/cgi-bin/echo && \
             busybox httpd -p 127.0.0.1:8080 -h /srv/www",
            ECHO_CGI.replace('\'', "'\\''")
        ),
    )
    .await;
}

async fn sha256(lab: &TestLab, path: &str) -> String {
    sh(lab, &format!("sha256sum {path} | cut -c1-64")).await.trim().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn get_url_downloads_verifies_and_replaces_only_when_needed() {
    let lab = TestLab::start(1).await;
    let conn = lab.connection("h1");
    let (_d, env) = env();
    let url = "http://127.0.0.1:8080/tool.bin";

    // (4) Bad input, and a host without any HTTP client: the message says what to install.
    let err =
        run_module(&conn, &env, "get_url", json!({"url": url, "dest": "/opt/tool.bin", "checksum": "nocolon"}), false, false).await.unwrap_err();
    assert!(err.to_string().contains("<algorithm>:<checksum>"), "{err}");
    let err =
        run_module(&conn, &env, "get_url", json!({"url": url, "dest": "/opt/tool.bin", "checksum": "crc32:abcd"}), false, false).await.unwrap_err();
    assert!(err.to_string().contains("unsupported hash algorithm 'crc32'"), "{err}");
    let msg = failure(run_module(&conn, &env, "get_url", json!({"url": url, "dest": "/opt/tool.bin"}), false, false).await);
    assert!(msg.contains("neither curl nor GNU wget") && msg.contains("apt-get install curl"), "{msg}");

    web_server(&lab).await;
    let sum = sha256(&lab, "/srv/www/tool.bin").await;
    let args = json!({"url": url, "dest": "/opt/tool.bin", "checksum": format!("sha256:{sum}"), "mode": "0750"});
    // (1) From scratch.
    let o = ok(run_module(&conn, &env, "get_url", args.clone(), false, false).await);
    assert!(o.changed);
    assert_eq!((o.data["status_code"].as_u64(), o.msg.as_deref()), (Some(200), Some("OK (100000 bytes)")));
    assert_eq!((o.data["mode"].as_str(), o.data["size"].as_i64()), (Some("0750"), Some(100000)));
    assert_eq!(sha256(&lab, "/opt/tool.bin").await, sum);
    assert_eq!(sh(&lab, "stat -c %a /opt/tool.bin; ls -a /opt").await, "750\n.\n..\ntool.bin\n", "no temp file left");
    // (2) Again: the checksum matches, nothing is downloaded.
    let o = ok(run_module(&conn, &env, "get_url", args.clone(), false, false).await);
    assert!(!o.changed);
    assert_eq!(o.msg.as_deref(), Some("file already exists"));
    // (3) Check mode against a changed file.
    sh(&lab, "echo tampered > /opt/tool.bin").await;
    assert!(ok(run_module(&conn, &env, "get_url", args.clone(), true, false).await).changed);
    assert_eq!(sh(&lab, "cat /opt/tool.bin").await, "tampered\n");
    assert!(ok(run_module(&conn, &env, "get_url", args.clone(), false, false).await).changed);
    assert_eq!(sha256(&lab, "/opt/tool.bin").await, sum);

    // A wrong checksum fails and leaves dest alone.
    let wrong = "0".repeat(64);
    let msg = failure(
        run_module(&conn, &env, "get_url", json!({"url": url, "dest": "/opt/other.bin", "checksum": format!("sha256:{wrong}")}), false, false).await,
    );
    assert!(msg.contains(&format!("did not match {wrong}; it was {sum}")), "{msg}");
    assert_eq!(status(&lab, "test -e /opt/other.bin").await, 1);
    // The checksum from a checksums file, and dest as a folder.
    let o = ok(run_module(
        &conn,
        &env,
        "get_url",
        json!({"url": url, "dest": "/srv/", "checksum": "sha256:http://127.0.0.1:8080/SHA256SUMS"}),
        false,
        false,
    )
    .await);
    assert!(o.changed);
    assert_eq!(o.data["dest"], "/srv/tool.bin");
    assert_eq!(sha256(&lab, "/srv/tool.bin").await, sum);
    // Without a checksum: downloaded again, replaced only if the content differs.
    let plain = json!({"url": "http://127.0.0.1:8080/a.txt", "dest": "/opt/a.txt", "backup": true});
    assert!(ok(run_module(&conn, &env, "get_url", plain.clone(), false, false).await).changed);
    assert!(!ok(run_module(&conn, &env, "get_url", plain.clone(), false, false).await).changed);
    // A dest newer than the server's file is "not modified" (If-Modified-Since), as in Ansible.
    sh(&lab, "echo newer > /opt/a.txt").await;
    let o = ok(run_module(&conn, &env, "get_url", plain.clone(), false, false).await);
    assert!(!o.changed);
    assert_eq!((o.data["status_code"].as_u64(), sh(&lab, "cat /opt/a.txt").await.as_str()), (Some(304), "newer\n"));
    // An older one with other content is replaced.
    sh(&lab, "echo old > /opt/a.txt && touch -d '2 days ago' /opt/a.txt").await;
    let o = ok(run_module(&conn, &env, "get_url", plain.clone(), false, false).await);
    assert!(o.changed);
    let backup = o.data["backup_file"].as_str().unwrap().to_string();
    assert_eq!(sh(&lab, &format!("cat /opt/a.txt {backup}")).await, "hello\nold\n");
    // HTTP errors.
    let o = run_module(&conn, &env, "get_url", json!({"url": "http://127.0.0.1:8080/missing", "dest": "/opt/m"}), false, false).await.unwrap();
    assert!(o.failed);
    assert_eq!((o.msg.as_deref(), o.data["status_code"].as_u64()), (Some("Request failed"), Some(404)));
    let msg = failure(run_module(&conn, &env, "get_url", json!({"url": "http://127.0.0.1:9/x", "dest": "/opt/m"}), false, false).await);
    assert!(msg.contains("Failed to connect"), "{msg}");

    // Without curl, GNU wget does the same job.
    sh(&lab, "mv /usr/bin/curl /usr/bin/curl.off").await;
    let o =
        ok(run_module(&conn, &env, "get_url", json!({"url": url, "dest": "/opt/by-wget.bin", "checksum": format!("sha256:{sum}")}), false, false)
            .await);
    assert!(o.changed);
    assert_eq!(sha256(&lab, "/opt/by-wget.bin").await, sum);
    let o = run_module(&conn, &env, "get_url", json!({"url": "http://127.0.0.1:8080/missing", "dest": "/opt/m"}), false, false).await.unwrap();
    assert_eq!(o.data["status_code"].as_u64(), Some(404), "wget reports the status too");
}

#[tokio::test(flavor = "multi_thread")]
async fn uri_makes_requests_on_the_host_and_registers_ansibles_keys() {
    let lab = TestLab::start(1).await;
    let conn = lab.connection("h1");
    let (_d, env) = env();
    web_server(&lab).await;

    // (4) Bad input.
    let err = run_module(&conn, &env, "uri", json!({"url": "http://127.0.0.1:8080/", "method": "post"}), false, false).await.unwrap_err();
    assert!(err.to_string().contains("single word in uppercase"), "{err}");
    let err = run_module(&conn, &env, "uri", json!({"url": "http://127.0.0.1:8080/", "status_code": "ok"}), false, false).await.unwrap_err();
    assert!(err.to_string().contains("'ok' is not an HTTP status code"), "{err}");
    let err =
        run_module(&conn, &env, "uri", json!({"url": "http://127.0.0.1:8080/", "body_format": "form-multipart"}), false, false).await.unwrap_err();
    assert!(err.to_string().contains("must be one of raw, json, form-urlencoded"), "{err}");

    // GET with return_content.
    let o = ok(run_module(&conn, &env, "uri", json!({"url": "http://127.0.0.1:8080/a.txt", "return_content": true}), false, false).await);
    assert!(!o.changed);
    let v = o.to_value();
    assert_eq!((v["status"].as_u64(), v["content"].as_str(), v["content_length"].as_str()), (Some(200), Some("hello\n"), Some("6")));
    assert_eq!(
        (v["msg"].as_str(), v["redirected"].as_bool(), v["url"].as_str()),
        (Some("OK (6 bytes)"), Some(false), Some("http://127.0.0.1:8080/a.txt"))
    );

    // (1) A JSON POST: the server got the body and the content type; the JSON answer is parsed.
    let post = json!({"url": "http://127.0.0.1:8080/cgi-bin/echo", "method": "POST", "body_format": "json", "body": {"name": "nas", "disks": [1, 2]}, "status_code": [200, 201]});
    let o = ok(run_module(&conn, &env, "uri", post.clone(), false, false).await);
    assert_eq!(sh(&lab, "cat /root/last-body; echo; cat /root/last-request").await, "{\"name\":\"nas\",\"disks\":[1,2]}\nPOST application/json\n");
    let v = o.to_value();
    assert_eq!((v["status"].as_u64(), v["json"]["method"].as_str(), v["json"]["length"].as_u64()), (Some(201), Some("POST"), Some(28)));
    assert_eq!((v["cookies"]["session"].as_str(), v["cookies_string"].as_str()), (Some("abc"), Some("session=abc")));
    // (2) Again: uri never reports a change by itself.
    assert!(!ok(run_module(&conn, &env, "uri", post.clone(), false, false).await).changed);
    // (3) Check mode: skipped, the server sees nothing.
    sh(&lab, "rm /root/last-body").await;
    let o = ok(run_module(&conn, &env, "uri", post.clone(), true, false).await);
    assert!(o.skipped && !o.changed);
    assert_eq!(status(&lab, "test -e /root/last-body").await, 1);

    // A status outside status_code fails with Ansible's message (and the body, with return_content).
    let o = run_module(&conn, &env, "uri", json!({"url": "http://127.0.0.1:8080/missing", "return_content": true}), false, false).await.unwrap();
    assert!(o.failed);
    assert_eq!(o.msg.as_deref(), Some("Status code was 404 and not [200]: HTTP Error 404: Not Found"));
    assert!(o.data["content"].as_str().unwrap().contains("404"));
    // Forms, creates, and a body saved to dest (the only time uri changes something).
    ok(run_module(&conn, &env, "uri", json!({"url": "http://127.0.0.1:8080/cgi-bin/echo", "method": "PUT", "body_format": "form-urlencoded", "body": {"a": "x y"}, "status_code": 201}), false, false).await);
    assert_eq!(sh(&lab, "cat /root/last-body; echo; cat /root/last-request").await, "a=x+y\nPUT application/x-www-form-urlencoded\n");
    let o = ok(run_module(
        &conn,
        &env,
        "uri",
        json!({"url": "http://127.0.0.1:8080/cgi-bin/echo", "method": "POST", "creates": "/root/last-body"}),
        false,
        false,
    )
    .await);
    assert_eq!(o.data["stdout"], "skipped, since '/root/last-body' exists");
    let o = ok(run_module(&conn, &env, "uri", json!({"url": "http://127.0.0.1:8080/a.txt", "dest": "/root/"}), false, false).await);
    assert!(o.changed);
    assert_eq!(o.data["path"], "/root/a.txt");
    assert_eq!(sh(&lab, "cat /root/a.txt").await, "hello\n");
    // Connection refused.
    let msg = failure(run_module(&conn, &env, "uri", json!({"url": "http://127.0.0.1:9/"}), false, false).await);
    assert!(msg.starts_with("Status code was -1 and not [200]: Request failed: curl: (7)"), "{msg}");

    // Without curl, GNU wget: the body still arrives.
    sh(&lab, "mv /usr/bin/curl /usr/bin/curl.off").await;
    let o = ok(run_module(&conn, &env, "uri", post, false, false).await);
    assert_eq!(o.data["status"].as_u64(), Some(201));
    assert_eq!(sh(&lab, "cat /root/last-body").await, "{\"name\":\"nas\",\"disks\":[1,2]}");
}

#[tokio::test(flavor = "multi_thread")]
async fn wait_for_ports_files_greetings_and_drained_connections() {
    let lab = TestLab::start(1).await;
    let conn = lab.connection("h1");
    let (_d, env) = env();

    // (4) Bad input.
    let err = run_module(&conn, &env, "wait_for", json!({"port": 22, "path": "/tmp/x"}), false, false).await.unwrap_err();
    assert!(err.to_string().contains("can not both be passed"), "{err}");
    let err = run_module(&conn, &env, "wait_for", json!({"path": "/tmp/x", "state": "stopped"}), false, false).await.unwrap_err();
    assert!(err.to_string().contains("state=stopped should only be used for checking a port"), "{err}");
    let err = run_module(&conn, &env, "wait_for", json!({"port": 22, "host": "x;reboot"}), false, false).await.unwrap_err();
    assert!(err.to_string().contains("not a host name or address"), "{err}");
    let err = run_module(&conn, &env, "wait_for", json!({"path": "/tmp/x", "search_regex": "("}), false, false).await.unwrap_err();
    assert!(err.to_string().contains("Invalid regular expression"), "{err}");

    // (1) A port that is open (sshd), with its greeting matched.
    let o =
        ok(run_module(&conn, &env, "wait_for", json!({"port": 22, "search_regex": "OpenSSH_(?P<version>[0-9.]+)", "timeout": 10}), false, false)
            .await);
    assert!(!o.changed);
    let version = o.data["match_groupdict"]["version"].as_str().unwrap().to_string();
    assert!(sh(&lab, "dpkg-query -W -f='${Version}' openssh-server").await.starts_with(&format!("1:{version}")), "{version}");
    // A port that opens while we wait (a second sshd, started two seconds from now).
    sh(&lab, "(sleep 2; /usr/sbin/sshd -p 2222) >/dev/null 2>&1 & true").await;
    let o = ok(run_module(&conn, &env, "wait_for", json!({"port": 2222, "timeout": 20}), false, false).await);
    assert!(o.data["elapsed"].as_u64().unwrap() >= 1, "it waited: {:?}", o.data["elapsed"]);
    assert_eq!((o.data["state"].as_str(), o.data["port"].as_u64()), (Some("started"), Some(2222)));
    let closed = failure(run_module(&conn, &env, "wait_for", json!({"port": 8082, "timeout": 2}), false, false).await);
    assert_eq!(closed, "Timeout when waiting for 127.0.0.1:8082");
    assert!(
        ok(run_module(&conn, &env, "wait_for", json!({"port": 8082, "state": "stopped", "timeout": 2}), false, false).await).data["elapsed"].as_u64()
            < Some(2)
    );

    // A file and a line in it, written while we wait.
    sh(&lab, "rm -f /tmp/app.log; (sleep 2; echo 'starting'; echo 'ready: port=5432') > /tmp/app.log.tmp & (sleep 3; mv /tmp/app.log.tmp /tmp/app.log) & true").await;
    let o =
        ok(run_module(&conn, &env, "wait_for", json!({"path": "/tmp/app.log", "search_regex": "^ready: port=(\\d+)$", "timeout": 20}), false, false)
            .await);
    assert_eq!(o.data["match_groups"], json!(["5432"]));
    assert!(o.data["elapsed"].as_u64().unwrap() >= 1, "it waited: {:?}", o.data["elapsed"]);
    // (2) Again: already there, immediately, no change.
    let o = ok(run_module(&conn, &env, "wait_for", json!({"path": "/tmp/app.log", "search_regex": "ready", "timeout": 5}), false, false).await);
    assert!(!o.changed && o.data["elapsed"].as_u64() < Some(2));
    // A file that goes away.
    sh(&lab, "(sleep 1; rm /tmp/app.log) >/dev/null 2>&1 & true").await;
    ok(run_module(&conn, &env, "wait_for", json!({"path": "/tmp/app.log", "state": "absent", "timeout": 10}), false, false).await);
    assert_eq!(status(&lab, "test -e /tmp/app.log").await, 1);
    let msg = failure(run_module(&conn, &env, "wait_for", json!({"path": "/tmp/never", "timeout": 1, "msg": "no app"}), false, false).await);
    assert_eq!(msg, "no app");

    // drained: our own SSH connection keeps port 22 busy, unless its peer is excluded.
    let msg = failure(run_module(&conn, &env, "wait_for", json!({"port": 22, "state": "drained", "timeout": 2}), false, false).await);
    assert_eq!(msg, "Timeout when waiting for 127.0.0.1:22 to drain");
    let peer = sh(&lab, "ss -Htn state established '( sport = :22 )' | awk '{print $4}' | head -n 1").await;
    let peer_host = peer.trim().rsplit_once(':').unwrap().0.to_string();
    ok(run_module(&conn, &env, "wait_for", json!({"port": 22, "state": "drained", "exclude_hosts": [peer_host], "timeout": 5}), false, false).await);

    // (3) Check mode: skipped, as in Ansible.
    let o = ok(run_module(&conn, &env, "wait_for", json!({"path": "/tmp/never", "timeout": 1}), true, false).await);
    assert!(o.skipped);
}

/// Make app.tar.gz on the controller: app/bin/tool (0755), app/etc/app.conf, app/README.
fn controller_archive(dir: &std::path::Path) {
    let root = dir.join("build");
    std::fs::create_dir_all(root.join("app/bin")).unwrap();
    std::fs::create_dir_all(root.join("app/etc")).unwrap();
    std::fs::write(root.join("app/bin/tool"), "#!/bin/sh\necho tool\n").unwrap();
    std::fs::set_permissions(root.join("app/bin/tool"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::write(root.join("app/etc/app.conf"), "port=8080\n").unwrap();
    std::fs::write(root.join("app/README"), "read me\n").unwrap();
    let ok = std::process::Command::new("tar").arg("-C").arg(&root).args(["-czf"]).arg(dir.join("app.tar.gz")).arg("app").status().unwrap().success();
    assert!(ok, "tar on the controller");
}

#[tokio::test(flavor = "multi_thread")]
async fn unarchive_unpacks_controller_host_and_url_archives_once() {
    let lab = TestLab::start(1).await;
    let conn = lab.connection("h1");
    let (dir, env) = env();
    controller_archive(dir.path());
    sh(&lab, "mkdir -p /opt/apps").await;

    // (4) Bad input.
    let msg = failure(run_module(&conn, &env, "unarchive", json!({"src": "app.tar.gz", "dest": "/nope"}), false, false).await);
    assert_eq!(msg, "dest '/nope' must be an existing dir");
    let err = run_module(&conn, &env, "unarchive", json!({"src": "missing.tar.gz", "dest": "/opt/apps"}), false, false).await.unwrap_err();
    assert!(err.to_string().contains("could not find 'missing.tar.gz'"), "{err}");
    let msg =
        failure(run_module(&conn, &env, "unarchive", json!({"src": "/root/none.tar", "dest": "/opt/apps", "remote_src": true}), false, false).await);
    assert_eq!(msg, "Source '/root/none.tar' does not exist");
    let err = run_module(&conn, &env, "unarchive", json!({"src": "http://x/a.tgz", "dest": "/opt/apps"}), false, false).await.unwrap_err();
    assert!(err.to_string().contains("only supported when remote_src is True"), "{err}");
    sh(&lab, "printf 'PK\\003\\004rest' > /root/a.zip; echo 'just text' > /root/a.txt").await;
    let err =
        run_module(&conn, &env, "unarchive", json!({"src": "/root/a.zip", "dest": "/opt/apps", "remote_src": true}), false, false).await.unwrap_err();
    assert!(matches!(err, hlprov::modules::ModuleError::Unsupported(_)) && err.to_string().contains("zip archive"), "{err}");
    let msg =
        failure(run_module(&conn, &env, "unarchive", json!({"src": "/root/a.txt", "dest": "/opt/apps", "remote_src": true}), false, false).await);
    assert!(msg.starts_with("Failed to find handler for \"/root/a.txt\""), "{msg}");

    // (1) A controller archive, streamed to the host's tar.
    let args = json!({"src": "app.tar.gz", "dest": "/opt/apps", "list_files": true});
    let o = ok(run_module(&conn, &env, "unarchive", args.clone(), false, false).await);
    assert!(o.changed);
    assert_eq!(o.data["handler"], "TgzArchive");
    assert_eq!(o.data["extract_results"]["rc"], 0);
    let mut files: Vec<&str> = o.data["files"].as_array().unwrap().iter().map(|f| f.as_str().unwrap()).collect();
    files.sort();
    assert_eq!(files, ["app/", "app/README", "app/bin/", "app/bin/tool", "app/etc/", "app/etc/app.conf"], "the archive's members, in its order");
    assert_eq!(sh(&lab, "cat /opt/apps/app/etc/app.conf; stat -c %a /opt/apps/app/bin/tool; /opt/apps/app/bin/tool").await, "port=8080\n755\ntool\n");
    // (2) Again: tar --diff sees nothing to do.
    assert!(!ok(run_module(&conn, &env, "unarchive", args.clone(), false, false).await).changed);
    // (3) Check mode against a changed file: reported, not restored.
    sh(&lab, "echo port=9090 > /opt/apps/app/etc/app.conf").await;
    let o = ok(run_module(&conn, &env, "unarchive", args.clone(), true, true).await);
    assert!(o.changed);
    assert!(o.diffs[0].after.contains("app/etc/app.conf: "), "{:?}", o.diffs);
    assert_eq!(sh(&lab, "cat /opt/apps/app/etc/app.conf").await, "port=9090\n");
    assert!(ok(run_module(&conn, &env, "unarchive", args.clone(), false, false).await).changed);
    assert_eq!(sh(&lab, "cat /opt/apps/app/etc/app.conf").await, "port=8080\n");

    // Owner and mode for everything unpacked (and the top folder), set once.
    let owned = json!({"src": "app.tar.gz", "dest": "/opt/apps", "owner": "nobody", "mode": "u=rwX,g=rX,o="});
    assert!(ok(run_module(&conn, &env, "unarchive", owned.clone(), false, false).await).changed);
    assert_eq!(
        sh(&lab, "cd /opt/apps && stat -c '%U %a %n' app app/bin/tool app/etc/app.conf").await,
        "nobody 750 app\nnobody 750 app/bin/tool\nnobody 640 app/etc/app.conf\n"
    );
    assert!(!ok(run_module(&conn, &env, "unarchive", owned, false, false).await).changed);

    // An archive already on the host, with extra tar options.
    sh(&lab, "mkdir -p /root/rel/v1 /opt/rel && echo one > /root/rel/v1/file && tar -C /root/rel -cf /root/rel.tar v1").await;
    let remote = json!({"src": "/root/rel.tar", "dest": "/opt/rel", "remote_src": true, "extra_opts": ["--strip-components=1"]});
    let o = ok(run_module(&conn, &env, "unarchive", remote.clone(), false, false).await);
    assert!(o.changed && o.data["handler"] == "TarArchive");
    assert_eq!(sh(&lab, "cat /opt/rel/file").await, "one\n");
    assert!(!ok(run_module(&conn, &env, "unarchive", remote, false, false).await).changed);
    // creates skips.
    let o = ok(run_module(
        &conn,
        &env,
        "unarchive",
        json!({"src": "/root/rel.tar", "dest": "/opt/rel", "remote_src": true, "creates": "/opt/rel/file"}),
        false,
        false,
    )
    .await);
    assert!(o.skipped);

    // A URL, fetched on the host; no temp file stays behind.
    web_server(&lab).await;
    sh(&lab, "cp /root/rel.tar /srv/www/rel.tar && mkdir -p /opt/fromurl").await;
    let url = json!({"src": "http://127.0.0.1:8080/rel.tar", "dest": "/opt/fromurl", "remote_src": true});
    assert!(ok(run_module(&conn, &env, "unarchive", url.clone(), false, false).await).changed);
    assert_eq!(sh(&lab, "cat /opt/fromurl/v1/file").await, "one\n");
    assert!(!ok(run_module(&conn, &env, "unarchive", url.clone(), false, false).await).changed);
    assert!(!ok(run_module(&conn, &env, "unarchive", url, true, false).await).changed);
    assert_eq!(sh(&lab, "ls -a /tmp | grep -c hlprov-unarchive || true").await.trim(), "0");
}
