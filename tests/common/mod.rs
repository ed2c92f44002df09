//! Test harness: N real SSH hosts (systemd + sshd containers from the lab's local image, started with
//! testcontainers and removed when the test ends). Ports are published on 127.0.0.1 only.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

#[path = "../slow_deb/mod.rs"]
mod slow_deb;

use hlprov::lab::{self, docker};
use hlprov::transport::ssh::{SshConfig, SshTransport};
use hlprov::transport::{Connection, Transport, keys};
use testcontainers::CopyTargetOptions;
use testcontainers::core::{IntoContainerPort, Mount};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

pub struct TestHost {
    pub name: String,
    pub port: u16,
    /// Its address on the Docker network, where the other hosts reach it (`lab_address`, as `hlprov lab up`
    /// writes it).
    pub address: String,
    pub container: ContainerAsync<GenericImage>,
}

impl TestHost {
    pub fn id(&self) -> &str {
        self.container.id()
    }
}

/// Hosts for one test, with the key and known_hosts to reach them.
pub struct TestLab {
    pub hosts: Vec<TestHost>,
    pub key_file: PathBuf,
    pub known_hosts: PathBuf,
    pub dir: tempfile::TempDir,
}

/// Build the host image once per machine (CI builds it before the tests; this covers a bare `cargo test`).
pub async fn ensure_image() {
    let lock_path = std::env::temp_dir().join("hlprov-test-image.lock");
    let lock = std::fs::File::create(&lock_path).expect("lock file");
    lock.lock().expect("image lock");
    let client = docker::connect().await.expect("Docker engine (see README: tests need dockerd running)");
    lab::image::ensure(&client, lab::HOST_IMAGE, false, &|m| eprintln!("{m}")).await.expect("host image");
    drop(lock);
}

impl TestLab {
    /// Build the slow test package (tests/slow_deb) on host `name`, with `postinst` as its postinst (printf
    /// format: `\\n` for a newline). Returns the package's path.
    pub async fn build_slow_deb(&self, name: &str, postinst: &str) -> &'static str {
        self.sh(name, &slow_deb::build_script(postinst)).await;
        slow_deb::PATH
    }

    /// Run `script` in host `name` with docker exec (outside SSH and hlprov); it must succeed.
    pub async fn sh(&self, name: &str, script: &str) -> String {
        let (code, out) = self.docker_exec(name, script).await;
        assert_eq!(code, 0, "{name}: {script}: {out}");
        out
    }

    /// Start `n` hosts named h1..hn and wait until each answers over SSH with systemd running.
    pub async fn start(n: usize) -> TestLab {
        ensure_image().await;
        let dir = tempfile::tempdir().unwrap();
        let client_key = keys::generate_ed25519("hlprov-test");
        let (client_private, client_public) = keys::encode(&client_key);
        let key_file = dir.path().join("id_ed25519");
        write_private(&key_file, &client_private);
        let (repo, tag) = lab::HOST_IMAGE.split_once(':').unwrap();

        let mut starts = Vec::new();
        for i in 1..=n {
            let host_key = keys::generate_ed25519(&format!("root@h{i}"));
            let (host_private, host_public) = keys::encode(&host_key);
            let mut req = GenericImage::new(repo, tag)
                .with_exposed_port(22.tcp())
                .with_cmd(["/sbin/init"])
                .with_hostname(format!("h{i}"))
                .with_env_var("container", "docker")
                .with_cap_add("SYS_ADMIN")
                .with_cap_add("NET_ADMIN")
                .with_security_opt("seccomp=unconfined")
                .with_security_opt("apparmor=unconfined")
                .with_mount(Mount::bind_mount("/sys/fs/cgroup", "/sys/fs/cgroup"))
                .with_mount(Mount::tmpfs_mount("/run"))
                .with_mount(Mount::tmpfs_mount("/run/lock"))
                .with_host_config_modifier(|hc| {
                    // Publish on loopback only.
                    let binding = bollard::models::PortBinding { host_ip: Some("127.0.0.1".into()), host_port: Some(String::new()) };
                    hc.publish_all_ports = Some(false);
                    hc.port_bindings = Some([("22/tcp".to_string(), Some(vec![binding]))].into_iter().collect());
                });
            for (path, mode, data) in lab::host_files(&host_private, &host_public, &client_public) {
                req = req.with_copy_to(CopyTargetOptions::new(path).with_mode(mode), data);
            }
            starts.push(async move { (i, req.start().await.expect("start test host"), host_public) });
        }
        let started = futures::future::join_all(starts).await;

        let known_hosts = dir.path().join("known_hosts");
        let mut kh = String::new();
        let mut hosts = Vec::new();
        for (i, container, host_public) in started {
            let port = container.get_host_port_ipv4(22.tcp()).await.expect("published port");
            let address = String::new();
            kh.push_str(&format!("[127.0.0.1]:{port} {host_public}\n"));
            hosts.push(TestHost { name: format!("h{i}"), port, address, container });
        }
        std::fs::write(&known_hosts, kh).unwrap();
        let mut lab = TestLab { hosts, key_file, known_hosts, dir };
        let waits = lab.hosts.iter().map(|h| lab::wait_ready(lab.ssh_config(&h.name)));
        for r in futures::future::join_all(waits).await {
            r.expect("test host ready");
        }
        for i in 0..lab.hosts.len() {
            let name = lab.hosts[i].name.clone();
            let (code, out) = lab.docker_exec(&name, "hostname -I").await;
            assert_eq!(code, 0, "{name}: hostname -I: {out}");
            lab.hosts[i].address = out.split_whitespace().next().unwrap_or_default().to_string();
        }
        lab
    }

    pub fn host(&self, name: &str) -> &TestHost {
        self.hosts.iter().find(|h| h.name == name).unwrap_or_else(|| panic!("no test host {name}"))
    }

    pub fn ssh_config(&self, name: &str) -> SshConfig {
        lab::lab_ssh_config(self.host(name).port, &self.key_file, &self.known_hosts)
    }

    pub fn transport(&self, name: &str) -> Arc<dyn Transport> {
        Arc::new(SshTransport::new(self.ssh_config(name)))
    }

    pub fn connection(&self, name: &str) -> Connection {
        Connection::new(self.transport(name), "root".into(), None)
    }

    /// An inventory file for these hosts (same shape `hlprov lab up` writes), with extra YAML under `all:`.
    pub fn inventory(&self, extra_all: &str) -> PathBuf {
        let mut s = String::from("all:\n  hosts:\n");
        for h in &self.hosts {
            s.push_str(&format!(
                "    {}:\n      ansible_host: 127.0.0.1\n      ansible_port: {}\n      lab_address: {}\n",
                h.name, h.port, h.address
            ));
        }
        s.push_str(&format!(
            "  vars:\n    ansible_user: root\n    ansible_ssh_private_key_file: {}\n    ansible_ssh_common_args: -o UserKnownHostsFile={} -o StrictHostKeyChecking=yes\n",
            self.key_file.display(),
            self.known_hosts.display()
        ));
        s.push_str(extra_all);
        let path = self.dir.path().join("inventory.yml");
        std::fs::write(&path, s).unwrap();
        path
    }

    /// Run a command inside a host without SSH (docker exec), to check state independently of hlprov.
    pub async fn docker_exec(&self, name: &str, script: &str) -> (i64, String) {
        let client = docker::connect().await.unwrap();
        docker::exec(&client, self.host(name).id(), &["/bin/sh", "-c", script]).await.expect("docker exec")
    }
}

impl TestLab {
    /// Start a stopped host again: Docker may publish its SSH port on another host port, so the port and the
    /// known_hosts entry follow, and this waits until the host answers over SSH again.
    pub async fn restart(&mut self, name: &str) {
        let i = self.hosts.iter().position(|h| h.name == name).unwrap_or_else(|| panic!("no test host {name}"));
        self.hosts[i].container.start().await.expect("restart test host");
        self.refresh_port(name).await;
    }

    /// Re-read a host's published SSH port (after a restart or a network reconnect) and rewrite known_hosts.
    pub async fn refresh_port(&mut self, name: &str) {
        let i = self.hosts.iter().position(|h| h.name == name).unwrap_or_else(|| panic!("no test host {name}"));
        let old = self.hosts[i].port;
        let mut new = None;
        for _ in 0..100 {
            if let Ok(p) = self.hosts[i].container.get_host_port_ipv4(22.tcp()).await {
                new = Some(p);
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let new = new.expect("published port after restart");
        self.hosts[i].port = new;
        let kh = std::fs::read_to_string(&self.known_hosts).unwrap().replace(&format!("[127.0.0.1]:{old} "), &format!("[127.0.0.1]:{new} "));
        std::fs::write(&self.known_hosts, kh).unwrap();
        lab::wait_ready(self.ssh_config(name)).await.expect("test host ready again");
    }
}

fn write_private(path: &Path, text: &str) {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path).unwrap();
    std::io::Write::write_all(&mut f, text.as_bytes()).unwrap();
}

/// What a module run came to, as the tests look at it: changed, failed (with the failure's message and keys),
/// or skipped (check mode). Errors that are not failures (bad arguments, an unreachable host) stay errors.
#[derive(Clone, Debug, Default)]
pub struct Ran {
    pub changed: bool,
    pub failed: bool,
    pub skipped: bool,
    pub msg: Option<String>,
    pub data: serde_json::Map<String, serde_json::Value>,
    pub diffs: Vec<hlprov::modules::Diff>,
    pub facts: Option<serde_json::Map<String, serde_json::Value>>,
}

impl Ran {
    /// The keys, as a task would register them.
    pub fn to_value(&self) -> serde_json::Value {
        let mut m = self.data.clone();
        m.insert("changed".into(), self.changed.into());
        m.insert("failed".into(), self.failed.into());
        if self.skipped {
            m.insert("skipped".into(), true.into());
        }
        if let Some(msg) = &self.msg {
            m.insert("msg".into(), msg.clone().into());
        }
        if let Some(f) = &self.facts {
            m.insert("ansible_facts".into(), serde_json::Value::Object(f.clone()));
        }
        serde_json::Value::Object(m)
    }
}

/// What a module run returned.
pub type ModuleRun = Result<Ran, hlprov::modules::ModuleError>;

/// A task environment for module tests: controller files from `files_dir`, templates rendered with `vars`.
pub struct TestEnv {
    pub files_dir: PathBuf,
    pub vars: serde_json::Map<String, serde_json::Value>,
    pub templar: hlprov::template::Templar,
}

impl TestEnv {
    pub fn new(files_dir: &Path) -> TestEnv {
        TestEnv { files_dir: files_dir.to_path_buf(), vars: Default::default(), templar: Default::default() }
    }
    fn scope(&self) -> hlprov::vars::VarScope {
        let mut s = hlprov::vars::VarScope::new();
        s.push(hlprov::vars::LayerKind::PlayVars, "test vars", Arc::new(self.vars.clone()));
        s.set_search_paths(vec![self.files_dir.clone()]);
        s
    }
}

impl hlprov::modules::TaskEnv for TestEnv {
    fn find_file(&self, _: hlprov::modules::FileKind, name: &str) -> Result<PathBuf, String> {
        let p = self.files_dir.join(name);
        if p.exists() { Ok(p) } else { Err(format!("could not find '{name}' in {}", self.files_dir.display())) }
    }
    fn render(&self, text: &str, origin: &str) -> Result<String, hlprov::template::TemplateError> {
        self.templar.render_text(text, &self.scope(), &hlprov::yaml::Span::new(origin, 1, 1))
    }
    fn eval(&self, expr: &str) -> Result<serde_json::Value, hlprov::template::TemplateError> {
        self.templar.eval_expression(expr, &self.scope(), &hlprov::yaml::Span::synthetic("test"))
    }
    fn condition(&self, expr: &str) -> Result<bool, hlprov::template::TemplateError> {
        self.templar.eval_condition(expr, &self.scope(), &hlprov::yaml::Span::synthetic("test"))
    }
    fn fact(&self, _: &str) -> Option<serde_json::Value> {
        None
    }
}

/// Run module `name` with `args` on a connection, checking arguments first exactly as a task would.
pub async fn run_module(
    conn: &Connection,
    env: &dyn hlprov::modules::TaskEnv,
    name: &str,
    args: serde_json::Value,
    check: bool,
    diff: bool,
) -> ModuleRun {
    let module = hlprov::modules::registry::find(name).unwrap_or_else(|| panic!("no module {name}"));
    let raw = args.as_object().cloned().unwrap_or_default();
    let checked = module.spec().check(&raw, false).map_err(hlprov::modules::ModuleError::Args)?;
    let mut ctx = hlprov::modules::ModuleCtx::new("test-host", Some(conn), env);
    ctx.diff = diff;
    match hlprov::exec::module_step::run(module, ctx, &checked, check, diff).await {
        Ok(hlprov::exec::module_step::ModuleRun::Done(o)) => {
            Ok(Ran { changed: o.changed, msg: o.msg, data: o.data, diffs: o.diffs, facts: o.facts, ..Default::default() })
        }
        Ok(hlprov::exec::module_step::ModuleRun::Skipped(msg)) => Ok(Ran { skipped: true, msg: Some(msg), ..Default::default() }),
        Ok(hlprov::exec::module_step::ModuleRun::Undecided { outcome, why }) => {
            let o = outcome.unwrap_or_default();
            Ok(Ran { skipped: true, changed: o.changed, msg: Some(why), data: o.data, diffs: o.diffs, ..Default::default() })
        }
        Err(hlprov::modules::ModuleError::Failed(f)) => {
            Ok(Ran { failed: true, changed: f.changed, msg: Some(f.msg), data: f.data, ..Default::default() })
        }
        Err(e) => Err(e),
    }
}

/// The outcome of applying a playbook in a test: the summary and every event, redacted as users see them.
pub struct Applied {
    pub summary: hlprov::exec::RunSummary,
    pub events: Vec<hlprov::report::Event>,
}

impl Applied {
    /// "host task result" for every failed task.
    pub fn failures(&self) -> Vec<String> {
        self.results().iter().filter(|r| r.status == hlprov::report::Status::Failed).map(|r| format!("{} {} {}", r.host, r.task, r.result)).collect()
    }

    pub fn results(&self) -> Vec<hlprov::report::TaskResult> {
        self.events
            .iter()
            .filter_map(|e| match e {
                hlprov::report::Event::TaskResult(r) => Some((**r).clone()),
                _ => None,
            })
            .collect()
    }
    /// Results of the task named `task` on `host` (summary results of loops included).
    pub fn of(&self, task: &str, host: &str) -> Vec<hlprov::report::TaskResult> {
        self.results().into_iter().filter(|r| r.task.ends_with(task) && r.host == host).collect()
    }
    pub fn stats(&self, host: &str) -> hlprov::report::HostStats {
        self.summary.stats.iter().find(|(h, _)| h == host).map(|(_, s)| s.clone()).unwrap_or_default()
    }
    pub fn total_changed(&self) -> u32 {
        self.summary.stats.iter().map(|(_, s)| s.changed).sum()
    }
}

/// Write `files` (relative path → content) into a fresh playbook folder and apply `playbook` from it.
pub async fn apply_files(inventory: &Path, files: &[(&str, &str)], playbook: &str, opts: hlprov::exec::RunOptions) -> Result<Applied, String> {
    let dir = tempfile::tempdir().unwrap();
    apply_in(dir.path(), inventory, files, playbook, opts).await
}

/// The same in a given folder, so that several runs share one playbook path (run records, --resume).
pub async fn apply_in(
    dir: &Path,
    inventory: &Path,
    files: &[(&str, &str)],
    playbook: &str,
    opts: hlprov::exec::RunOptions,
) -> Result<Applied, String> {
    for (rel, text) in files {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
    }
    let pb = hlprov::playbook::load(&dir.join(playbook), &Default::default()).map_err(|e| e.to_string())?;
    let mut inv = hlprov::inventory::Inventory::load(&[inventory.to_path_buf()]).map_err(|e| e.to_string())?;
    inv.add_playbook_vars_dir(&pb.dir).map_err(|e| e.to_string())?;
    let collector = Arc::new(hlprov::report::Collector::default());
    let reporter = hlprov::report::Reporter::new(vec![collector.clone()]);
    let summary = hlprov::exec::run_playbook(Arc::new(pb), Arc::new(inv), opts, reporter).await.map_err(|e| e.to_string())?;
    let events = collector.events.lock().unwrap().clone();
    Ok(Applied { summary, events })
}

/// Apply a single-file playbook.
pub async fn apply(inventory: &Path, playbook: &str, opts: hlprov::exec::RunOptions) -> Result<Applied, String> {
    apply_files(inventory, &[("site.yml", playbook)], "site.yml", opts).await
}

/// The repository's playbooks/site.yml on `inventories` (the lab's own first, then the groups and settings).
pub async fn apply_site(inventories: &[PathBuf], opts: hlprov::exec::RunOptions) -> Applied {
    let site = Path::new(env!("CARGO_MANIFEST_DIR")).join("playbooks/site.yml");
    let pb = hlprov::playbook::load(&site, &Default::default()).expect("site.yml loads");
    let mut inv = hlprov::inventory::Inventory::load(inventories).expect("inventory");
    inv.add_playbook_vars_dir(&pb.dir).unwrap();
    let collector = Arc::new(hlprov::report::Collector::default());
    let reporter = hlprov::report::Reporter::new(vec![collector.clone()]);
    let summary = hlprov::exec::run_playbook(Arc::new(pb), Arc::new(inv), opts, reporter).await.expect("no preflight error");
    let events = collector.events.lock().unwrap().clone();
    Applied { summary, events }
}
