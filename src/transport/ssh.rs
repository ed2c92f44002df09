//! The SSH transport (russh + tokio): one TCP connection per host, opened on first use and reused for every
//! command as a new channel; reopened after it drops. Key auth from files or ssh-agent; host keys checked
//! against known_hosts; optional jump host (ProxyJump) through a direct-tcpip channel.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use russh::client::{self, Handle};
use russh::keys::agent::client::AgentClient;
use russh::keys::{PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use russh::{ChannelMsg, Disconnect};
use tokio::sync::Mutex;

use super::known_hosts::{self, HostKeyPolicy, HostKeyProblem};
use super::probe_shell::ProbeShell;
use super::quote::quote;
use super::{ExitStatus, MAX_OUTPUT_BYTES, Output, Transport, TransportError, keys};

/// Everything needed to reach one host.
#[derive(Clone, Debug)]
pub struct SshConfig {
    /// Address to dial (ansible_host).
    pub address: String,
    pub port: u16,
    pub user: String,
    /// Private key files to offer, in order; when empty, ssh-agent and then the default ~/.ssh/id_* keys.
    pub identity_files: Vec<PathBuf>,
    pub known_hosts: Vec<PathBuf>,
    pub host_key_policy: HostKeyPolicy,
    pub connect_timeout: Duration,
    /// Extra attempts when the TCP connection or handshake fails (not on auth or host-key errors).
    pub connect_retries: u32,
    /// A bastion to go through (ProxyJump).
    pub jump: Option<Box<SshConfig>>,
}

impl SshConfig {
    pub fn new(address: impl Into<String>, port: u16, user: impl Into<String>) -> SshConfig {
        SshConfig {
            address: address.into(),
            port,
            user: user.into(),
            identity_files: Vec::new(),
            known_hosts: vec![known_hosts::default_known_hosts()],
            host_key_policy: HostKeyPolicy::Strict,
            connect_timeout: Duration::from_secs(10),
            connect_retries: 2,
            jump: None,
        }
    }

    fn target(&self) -> String {
        format!("{}@{}:{}", self.user, self.address, self.port)
    }
}

struct Session {
    handle: Handle<HostKeyCheck>,
    /// Keeps the bastion's connection alive while this one is tunnelled through it.
    _jump: Option<Arc<Session>>,
    /// The shell that runs probes (see `probe_shell`), started on the first probe.
    probe: Mutex<Option<ProbeShell>>,
}

/// An SSH connection to one host.
pub struct SshTransport {
    cfg: SshConfig,
    target: String,
    session: Mutex<Option<Arc<Session>>>,
    opened: AtomicUsize,
}

impl SshTransport {
    pub fn new(cfg: SshConfig) -> SshTransport {
        SshTransport { target: cfg.target(), cfg, session: Mutex::new(None), opened: AtomicUsize::new(0) }
    }

    /// The open session, connecting first if there is none (or the old one dropped).
    async fn session(&self) -> Result<Arc<Session>, TransportError> {
        let mut slot = self.session.lock().await;
        if let Some(s) = slot.as_ref() {
            if !s.handle.is_closed() {
                return Ok(s.clone());
            }
        }
        let session = Arc::new(connect_with_retries(&self.cfg).await?);
        self.opened.fetch_add(1, Ordering::Relaxed);
        *slot = Some(session.clone());
        Ok(session)
    }

    async fn forget_session(&self) {
        self.session.lock().await.take();
    }

    /// Await `fut` until the deadline; past it, the connection may be wedged (host paused), so the session
    /// is forgotten and the next command starts afresh.
    async fn within<T>(&self, deadline: Option<(tokio::time::Instant, Duration)>, fut: impl Future<Output = T>) -> Result<T, TransportError> {
        let Some((at, limit)) = deadline else { return Ok(fut.await) };
        match tokio::time::timeout_at(at, fut).await {
            Ok(v) => Ok(v),
            Err(_) => {
                self.forget_session().await;
                Err(TransportError::Timeout(limit))
            }
        }
    }

    fn lost(&self, reason: String) -> TransportError {
        TransportError::ConnectionLost { target: self.target.clone(), reason }
    }
}

#[async_trait::async_trait]
impl Transport for SshTransport {
    async fn run(&self, command: &str, stdin: Option<&[u8]>, timeout: Option<Duration>) -> Result<Output, TransportError> {
        // Connecting has its own time limit (and an unreachable host is not a slow command).
        let mut session = self.session().await?;
        let deadline = timeout.map(|t| (tokio::time::Instant::now() + t, t));
        let channel = match self.within(deadline, session.handle.channel_open_session()).await? {
            Ok(c) => c,
            Err(_) => {
                // A connection that dropped while idle is only noticed here; nothing has started yet, so reconnect once.
                self.forget_session().await;
                session = self.session().await?;
                self.within(deadline, session.handle.channel_open_session()).await?.map_err(|e| self.lost(e.to_string()))?
            }
        };
        let result = self.within(deadline, exec(channel, command, stdin, &self.target)).await?;
        if matches!(result, Err(TransportError::ConnectionLost { .. })) {
            self.forget_session().await;
        }
        result
    }

    async fn run_probe(&self, script: &str, timeout: Option<Duration>) -> Result<Output, TransportError> {
        let session = self.session().await?;
        // In use by another probe of this host (rare: the executor runs one task per host at a time).
        let Ok(mut shell) = session.probe.try_lock() else {
            return self.run(&format!("/bin/sh -c {}", quote(script)), None, timeout).await;
        };
        let attempt = probe_on(&mut shell, &session, script);
        let result = match timeout {
            Some(t) => tokio::time::timeout(t, attempt).await.ok(),
            None => Some(attempt.await),
        };
        let Some(result) = result else {
            // As for any command: the connection may be wedged (host paused); start afresh next time.
            shell.take();
            drop(shell);
            self.forget_session().await;
            return Err(TransportError::Timeout(timeout.unwrap_or_default()));
        };
        match result {
            Ok(out) => Ok(out),
            Err(_) => {
                // The shell is gone (or the connection is): a probe only reads, so run it the ordinary way,
                // which reconnects or reports the connection as lost.
                if let Some(old) = shell.take() {
                    old.close().await;
                }
                drop(shell);
                self.run(&format!("/bin/sh -c {}", quote(script)), None, timeout).await
            }
        }
    }

    fn target(&self) -> &str {
        &self.target
    }

    fn connections_opened(&self) -> usize {
        self.opened.load(Ordering::Relaxed)
    }

    async fn close(&self) {
        if let Some(s) = self.session.lock().await.take() {
            let _ = s.handle.disconnect(Disconnect::ByApplication, "", "en").await;
        }
    }
}

async fn probe_on(shell: &mut Option<ProbeShell>, session: &Session, script: &str) -> Result<Output, String> {
    if shell.is_none() {
        *shell = Some(ProbeShell::open(&session.handle).await?);
    }
    shell.as_mut().ok_or("no probe shell")?.run(script).await
}

async fn exec(channel: russh::Channel<client::Msg>, command: &str, stdin: Option<&[u8]>, target: &str) -> Result<Output, TransportError> {
    let lost = |e: russh::Error| TransportError::ConnectionLost { target: target.to_string(), reason: e.to_string() };
    channel.exec(true, command.as_bytes()).await.map_err(lost)?;
    let (mut reader, writer) = channel.split();
    let write = async {
        if let Some(data) = stdin {
            writer.data(data).await?;
        }
        writer.eof().await
    };
    let read = async {
        let (mut stdout, mut stderr, mut status) = (Vec::new(), Vec::new(), None);
        while let Some(msg) = reader.wait().await {
            match msg {
                ChannelMsg::Data { data } => stdout.extend_from_slice(&data),
                ChannelMsg::ExtendedData { data, ext: 1 } => stderr.extend_from_slice(&data),
                ChannelMsg::ExitStatus { exit_status } => status = Some(ExitStatus::Code(exit_status as i32)),
                ChannelMsg::ExitSignal { signal_name, .. } => status = Some(ExitStatus::Signal(format!("{signal_name:?}"))),
                ChannelMsg::Close => break,
                _ => {}
            }
            if stdout.len() > MAX_OUTPUT_BYTES || stderr.len() > MAX_OUTPUT_BYTES {
                return Err(TransportError::Other(format!("command output exceeded {MAX_OUTPUT_BYTES} bytes")));
            }
        }
        Ok((stdout, stderr, status))
    };
    let (written, read) = tokio::join!(write, read);
    let (stdout, stderr, status) = read?;
    let Some(status) = status else {
        return Err(TransportError::ConnectionLost {
            target: target.to_string(),
            reason: "it closed before the command reported how it ended; the command may or may not have completed".into(),
        });
    };
    // A command that exits without reading all of stdin makes the write fail; that is not an error.
    let _ = written;
    Ok(Output { status, stdout, stderr })
}

async fn connect_with_retries(cfg: &SshConfig) -> Result<Session, TransportError> {
    let mut attempt = 0;
    loop {
        match connect(cfg).await {
            Err(TransportError::Connect { .. }) if attempt < cfg.connect_retries => {
                tokio::time::sleep(Duration::from_millis(250 << attempt)).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

async fn connect(cfg: &SshConfig) -> Result<Session, TransportError> {
    let target = cfg.target();
    let connect_err = |reason: String| TransportError::Connect { target: target.clone(), reason };
    let problem = Arc::new(StdMutex::new(None));
    let checker = HostKeyCheck {
        address: cfg.address.clone(),
        port: cfg.port,
        files: cfg.known_hosts.clone(),
        policy: cfg.host_key_policy,
        problem: problem.clone(),
    };
    let config =
        Arc::new(client::Config { keepalive_interval: Some(Duration::from_secs(15)), keepalive_max: 3, nodelay: true, ..Default::default() });
    let handshake = async {
        match &cfg.jump {
            None => client::connect(config, (cfg.address.as_str(), cfg.port), checker).await.map(|h| (h, None)),
            Some(jump_cfg) => {
                let jump = Arc::new(Box::pin(connect_with_retries(jump_cfg)).await?);
                let channel = jump
                    .handle
                    .channel_open_direct_tcpip(cfg.address.clone(), cfg.port as u32, "127.0.0.1", 0)
                    .await
                    .map_err(|e| connect_err(format!("jump host {} cannot reach it: {e}", jump_cfg.target())))?;
                client::connect_stream(config, channel.into_stream(), checker).await.map(|h| (h, Some(jump)))
            }
        }
        .map_err(|e| match problem.lock().unwrap_or_else(|p| p.into_inner()).take() {
            Some(p) => TransportError::HostKey(p),
            None => connect_err(describe_io(&e)),
        })
    };
    let (mut handle, jump) = match tokio::time::timeout(cfg.connect_timeout, handshake).await {
        Ok(r) => r?,
        Err(_) => return Err(connect_err(format!("timed out after {}s", cfg.connect_timeout.as_secs()))),
    };
    tokio::time::timeout(cfg.connect_timeout, authenticate(&mut handle, cfg)).await.map_err(|_| TransportError::Auth {
        target: target.clone(),
        user: cfg.user.clone(),
        reason: "timed out".into(),
    })??;
    Ok(Session { handle, _jump: jump, probe: Mutex::new(None) })
}

fn describe_io(e: &russh::Error) -> String {
    match e {
        russh::Error::IO(io) => io.to_string(),
        other => other.to_string(),
    }
}

/// Offer one private key; true when the server accepts it.
async fn offer_key(
    handle: &mut Handle<HostKeyCheck>,
    user: &str,
    key: russh::keys::PrivateKey,
    rsa_hash: Option<russh::keys::HashAlg>,
) -> Result<bool, String> {
    let res = handle.authenticate_publickey(user, PrivateKeyWithHashAlg::new(Arc::new(key), rsa_hash)).await.map_err(|e| e.to_string())?;
    Ok(res.success())
}

/// Offer keys in OpenSSH's order: explicit identity files, else the agent's keys, then the default files.
async fn authenticate(handle: &mut Handle<HostKeyCheck>, cfg: &SshConfig) -> Result<(), TransportError> {
    let auth_err = |reason: String| TransportError::Auth { target: cfg.target(), user: cfg.user.clone(), reason };
    let rsa_hash = handle.best_supported_rsa_hash().await.ok().flatten().flatten();
    let mut tried = Vec::new();
    // Explicit files must load; the default ones are offered only if they exist and load.
    for path in &cfg.identity_files {
        let key = keys::load_private_key(path).map_err(auth_err)?;
        if offer_key(handle, &cfg.user, key, rsa_hash).await.map_err(auth_err)? {
            return Ok(());
        }
        tried.push(path.display().to_string());
    }
    if cfg.identity_files.is_empty() {
        if let Ok(mut agent) = AgentClient::connect_env().await {
            if let Ok(identities) = agent.request_identities().await {
                for id in identities {
                    let public = id.public_key().into_owned();
                    let hash = if matches!(public.algorithm(), russh::keys::Algorithm::Rsa { .. }) { rsa_hash } else { None };
                    if let Ok(res) = handle.authenticate_publickey_with(&cfg.user, public.clone(), hash, &mut agent).await {
                        if res.success() {
                            return Ok(());
                        }
                    }
                    tried.push(format!("agent key {}", known_hosts::fingerprint(&public)));
                }
            }
        }
        for path in keys::default_identity_files() {
            let Ok(key) = keys::load_private_key(&path) else { continue };
            if offer_key(handle, &cfg.user, key, rsa_hash).await.map_err(auth_err)? {
                return Ok(());
            }
            tried.push(path.display().to_string());
        }
    }
    Err(auth_err(if tried.is_empty() {
        "no key to offer (set ansible_ssh_private_key_file, --private-key, or load a key into ssh-agent)".into()
    } else {
        format!("the server accepted none of: {}", tried.join(", "))
    }))
}

/// The russh handler: it only has to judge the server's host key.
struct HostKeyCheck {
    address: String,
    port: u16,
    files: Vec<PathBuf>,
    policy: HostKeyPolicy,
    problem: Arc<StdMutex<Option<HostKeyProblem>>>,
}

impl client::Handler for HostKeyCheck {
    type Error = russh::Error;

    async fn check_server_key(&mut self, key: &PublicKeyOrCertificate) -> Result<bool, Self::Error> {
        let public = match key {
            PublicKeyOrCertificate::PublicKey { key, .. } => key.clone(),
            PublicKeyOrCertificate::Certificate(cert) => russh::keys::PublicKey::from(cert.public_key().clone()),
        };
        match known_hosts::verify(&self.address, self.port, &public, &self.files, self.policy) {
            Ok(()) => Ok(true),
            Err(p) => {
                *self.problem.lock().unwrap_or_else(|e| e.into_inner()) = Some(p);
                Ok(false)
            }
        }
    }
}
