//! tools/fetch-k3s-artifacts, the acceptance path's first step, against a mirror on 127.0.0.1 (Python's
//! http.server, started by the test, serving stand-in release files in k3s's release layout): what matches the
//! release's checksum file lands in artifacts/k3s/<version>/, anything that does not is refused and nothing is
//! put there, and a release already there is not fetched again. The real release is not reachable here.

mod k3s_support;

use std::path::Path;
use std::process::{Child, Command, Output};

use k3s_support::{NEW, OLD, artifacts, repo, sha256};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Serve `dir` on 127.0.0.1; the base URL.
fn serve(dir: &Path) -> (Server, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new("python3")
        .args(["-m", "http.server", "--bind", "127.0.0.1", &port.to_string(), "--directory"])
        .arg(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("python3 (for a local HTTP server)");
    let server = Server(child);
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return (server, format!("http://127.0.0.1:{port}"));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("the local HTTP server did not start");
}

fn fetch(base: &str, version: &str, out: &Path) -> Output {
    Command::new(repo("tools/fetch-k3s-artifacts")).args([version, "amd64"]).arg(out).env("K3S_RELEASE_URL", base).output().expect("run the script")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn releases_are_fetched_only_when_every_file_matches_its_checksum() {
    let mirror = tempfile::tempdir().unwrap();
    artifacts(mirror.path(), &[NEW, OLD]);
    // OLD's images on the mirror are not what its checksum file says.
    std::fs::write(mirror.path().join(OLD).join("k3s-airgap-images-amd64.tar.zst"), b"truncated download").unwrap();
    let (server, base) = serve(mirror.path());
    let out = tempfile::tempdir().unwrap();

    let o = fetch(&base, NEW, out.path());
    assert!(o.status.success(), "{}", text(&o));
    for f in ["k3s", "k3s-airgap-images-amd64.tar.zst", "sha256sum-amd64.txt"] {
        assert_eq!(std::fs::read(out.path().join(NEW).join(f)).unwrap(), std::fs::read(mirror.path().join(NEW).join(f)).unwrap(), "{f}");
    }
    assert!(text(&o).contains("v1.36.4%2Bk3s1/k3s"), "the release URL encodes '+' as GitHub's does: {}", text(&o));

    let o = fetch(&base, OLD, out.path());
    assert!(!o.status.success());
    assert!(
        text(&o).contains(&format!("k3s-airgap-images-amd64.tar.zst has sha256 {}, but sha256sum-amd64.txt says", sha256(b"truncated download"))),
        "{}",
        text(&o)
    );
    assert!(!out.path().join(OLD).exists(), "nothing of a refused release is kept");
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 1, "no temporary folder is left");

    // A release already there and matching is not fetched again (the mirror is gone now).
    drop(server);
    let o = fetch(&base, NEW, out.path());
    assert!(o.status.success() && text(&o).contains("is there and matches"), "{}", text(&o));
}
