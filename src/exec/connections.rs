//! From a host's variables to an open connection: Ansible's connection variables (ansible_host, ansible_port,
//! ansible_user, ansible_connection, ansible_ssh_private_key_file, ansible_ssh_common_args/extra_args, …)
//! become an [`SshConfig`] or the local transport. The pool keeps one connection per host for the whole run
//! and a lock per host, so tasks of concurrent phases never run on one host at the same time.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Map, Value};

use crate::modules::args::{shell_words, to_bool};
use crate::redact::Secret;
use crate::transport::local::LocalTransport;
use crate::transport::ssh::{SshConfig, SshTransport};
use crate::transport::{Connection, HostKeyPolicy, Transport};

/// Connection settings from the command line.
#[derive(Clone, Debug, Default)]
pub struct ConnectOptions {
    /// `-u`: the login user when the inventory does not set ansible_user.
    pub user: Option<String>,
    /// `--private-key`, when the inventory does not set ansible_ssh_private_key_file.
    pub private_key: Option<PathBuf>,
    /// `--host-key-checking`: overrides what the inventory says.
    pub host_key_checking: Option<HostKeyPolicy>,
    /// `--known-hosts`: files to check host keys against (default ~/.ssh/known_hosts).
    pub known_hosts: Vec<PathBuf>,
    pub connect_timeout: Option<Duration>,
    pub connect_retries: Option<u32>,
    /// From HLPROV_BECOME_PASSWORD; never printed.
    pub become_password: Option<Secret>,
}

/// Where and how to reach one host.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    Local { user: String },
    Ssh { cfg: Box<SshKey>, become_password: Option<Secret> },
}

/// SshConfig with equality, so the pool can tell whether a host's settings changed.
#[derive(Clone, Debug)]
pub struct SshKey(pub SshConfig);

impl PartialEq for SshKey {
    fn eq(&self, other: &Self) -> bool {
        format!("{:?}", self.0) == format!("{:?}", other.0)
    }
}

fn str_var(vars: &Map<String, Value>, names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| match vars.get(*n)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

/// Work out how to reach `host` from its (rendered) connection variables.
pub fn target(host: &str, vars: &Map<String, Value>, opts: &ConnectOptions) -> Result<Target, String> {
    let connection = str_var(vars, &["ansible_connection"]).unwrap_or_else(|| "ssh".into());
    let user = str_var(vars, &["ansible_user", "ansible_ssh_user", "remote_user"]).or_else(|| opts.user.clone());
    match connection.as_str() {
        "local" => return Ok(Target::Local { user: user.unwrap_or_else(current_user) }),
        "ssh" | "smart" | "paramiko" | "hlprov" => {}
        other => return Err(format!("ansible_connection '{other}' is not supported (ssh or local)")),
    }
    if str_var(vars, &["ansible_password", "ansible_ssh_pass", "ansible_ssh_password"]).is_some() {
        return Err("password authentication is not supported; use an SSH key (ansible_ssh_private_key_file or ssh-agent)".into());
    }
    let address = str_var(vars, &["ansible_host", "ansible_ssh_host"]).unwrap_or_else(|| host.to_string());
    let port = match vars.get("ansible_port").or_else(|| vars.get("ansible_ssh_port")) {
        None | Some(Value::Null) => 22,
        Some(v) => v
            .as_u64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            .filter(|p| (1..=65535).contains(p))
            .ok_or_else(|| format!("ansible_port must be a port number, not {v}"))? as u16,
    };
    let mut cfg = SshConfig::new(address, port, user.unwrap_or_else(current_user));
    if !opts.known_hosts.is_empty() {
        cfg.known_hosts = opts.known_hosts.clone();
    }
    if let Some(k) = str_var(vars, &["ansible_ssh_private_key_file", "ansible_private_key_file"]) {
        cfg.identity_files = vec![expand_home(&k)];
    } else if let Some(k) = &opts.private_key {
        cfg.identity_files = vec![k.clone()];
    }
    if let Some(v) = vars.get("ansible_host_key_checking").and_then(to_bool) {
        cfg.host_key_policy = if v { HostKeyPolicy::Strict } else { HostKeyPolicy::Off };
    }
    if let Some(t) =
        vars.get("ansible_ssh_timeout").or_else(|| vars.get("ansible_timeout")).and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()))
    {
        cfg.connect_timeout = Duration::from_secs(t);
    }
    if let Some(r) = vars.get("ansible_ssh_retries").and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok())) {
        cfg.connect_retries = r as u32;
    }
    let mut proxy_jump = None;
    for key in ["ansible_ssh_common_args", "ansible_ssh_extra_args"] {
        if let Some(args) = str_var(vars, &[key]) {
            apply_ssh_args(&mut cfg, &args, &mut proxy_jump).map_err(|e| format!("{key}: {e}"))?;
        }
    }
    if let Some(p) = opts.host_key_checking {
        cfg.host_key_policy = p;
    }
    if let Some(t) = opts.connect_timeout {
        cfg.connect_timeout = t;
    }
    if let Some(r) = opts.connect_retries {
        cfg.connect_retries = r;
    }
    // Built last, so the hops get the final key, known_hosts and checking policy whatever the option order.
    if let Some(spec) = proxy_jump {
        cfg.jump = jump_chain(&spec, &cfg)?;
    }
    let become_password = str_var(vars, &["ansible_become_password", "ansible_become_pass", "ansible_sudo_pass"])
        .map(Secret::new)
        .or_else(|| opts.become_password.clone());
    Ok(Target::Ssh { cfg: Box::new(SshKey(cfg)), become_password })
}

/// The OpenSSH options hlprov understands in ansible_ssh_common_args / ansible_ssh_extra_args.
fn apply_ssh_args(cfg: &mut SshConfig, args: &str, proxy_jump: &mut Option<String>) -> Result<(), String> {
    let words = shell_words(args)?;
    let mut i = 0;
    while i < words.len() {
        let w = &words[i];
        let mut value = |flag: &str| -> Result<String, String> {
            if w.len() > flag.len() {
                Ok(w[flag.len()..].to_string())
            } else {
                i += 1;
                words.get(i).cloned().ok_or_else(|| format!("{flag} needs a value"))
            }
        };
        if w.starts_with("-o") {
            let opt = value("-o")?;
            let (k, v) = opt.split_once(['=', ' ']).ok_or_else(|| format!("-o {opt}: expected Option=value"))?;
            apply_ssh_option(cfg, k.trim(), v.trim(), proxy_jump)?;
        } else if w.starts_with("-J") {
            let v = value("-J")?;
            apply_ssh_option(cfg, "ProxyJump", &v, proxy_jump)?;
        } else if w.starts_with("-p") {
            let v = value("-p")?;
            cfg.port = v.parse().map_err(|_| format!("-p {v}: not a port"))?;
        } else if w.starts_with("-i") {
            let v = value("-i")?;
            cfg.identity_files = vec![expand_home(&v)];
        } else if w.starts_with("-l") {
            cfg.user = value("-l")?;
        } else {
            return Err(format!("'{w}' is not an ssh option hlprov understands (-o Option=value, -J, -p, -i, -l)"));
        }
        i += 1;
    }
    Ok(())
}

fn apply_ssh_option(cfg: &mut SshConfig, key: &str, value: &str, proxy_jump: &mut Option<String>) -> Result<(), String> {
    match key.to_ascii_lowercase().as_str() {
        "userknownhostsfile" => cfg.known_hosts = value.split_whitespace().map(expand_home).collect(),
        "stricthostkeychecking" => {
            cfg.host_key_policy = match value.to_ascii_lowercase().as_str() {
                "yes" | "true" | "ask" => HostKeyPolicy::Strict,
                "accept-new" => HostKeyPolicy::AcceptNew,
                "no" | "off" | "false" => HostKeyPolicy::Off,
                other => return Err(format!("StrictHostKeyChecking={other}: expected yes, accept-new or no")),
            }
        }
        "proxyjump" => *proxy_jump = (!value.eq_ignore_ascii_case("none")).then(|| value.to_string()),
        "port" => cfg.port = value.parse().map_err(|_| format!("Port={value}: not a port"))?,
        "user" => cfg.user = value.to_string(),
        "identityfile" => cfg.identity_files = vec![expand_home(value)],
        "connecttimeout" => cfg.connect_timeout = Duration::from_secs(value.parse().map_err(|_| format!("ConnectTimeout={value}: not a number"))?),
        // Harmless for hlprov: its connections are already multiplexed and kept alive.
        "controlmaster"
        | "controlpersist"
        | "controlpath"
        | "serveraliveinterval"
        | "serveralivecountmax"
        | "compression"
        | "loglevel"
        | "forwardagent"
        | "identitiesonly"
        | "preferredauthentications"
        | "batchmode"
        | "pubkeyauthentication" => {}
        other => return Err(format!("ssh option '{key}' is not supported by hlprov ({other})")),
    }
    Ok(())
}

/// The bastions of a ProxyJump spec `[user@]host[:port],…`: the target is reached through the last, which is
/// reached through the one before it. Hops use the target's key, known_hosts and host key policy.
fn jump_chain(spec: &str, cfg: &SshConfig) -> Result<Option<Box<SshConfig>>, String> {
    let mut jump: Option<Box<SshConfig>> = None;
    for hop in spec.split(',') {
        let (user, rest) = match hop.rsplit_once('@') {
            Some((u, r)) => (Some(u.to_string()), r),
            None => (None, hop),
        };
        let (address, port) = match rest.rsplit_once(':') {
            Some((a, p)) if !a.contains(':') => (a.to_string(), p.parse().map_err(|_| format!("ProxyJump {hop}: bad port"))?),
            _ => (rest.to_string(), 22),
        };
        if address.is_empty() || address.starts_with('-') {
            return Err(format!("ProxyJump {hop}: not a host"));
        }
        let mut hop_cfg = SshConfig::new(address, port, user.unwrap_or_else(|| cfg.user.clone()));
        hop_cfg.identity_files = cfg.identity_files.clone();
        hop_cfg.known_hosts = cfg.known_hosts.clone();
        hop_cfg.host_key_policy = cfg.host_key_policy;
        hop_cfg.connect_timeout = cfg.connect_timeout;
        hop_cfg.connect_retries = cfg.connect_retries;
        hop_cfg.jump = jump.take();
        jump = Some(Box::new(hop_cfg));
    }
    Ok(jump)
}

fn expand_home(p: &str) -> PathBuf {
    match p.strip_prefix("~/") {
        Some(rest) => std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default().join(rest),
        None => PathBuf::from(p),
    }
}

fn current_user() -> String {
    std::env::var("USER").ok().filter(|u| !u.is_empty()).unwrap_or_else(|| "root".into())
}

struct Slot {
    target: Target,
    conn: Arc<Connection>,
}

/// One connection per host for the whole run, and a lock per host.
#[derive(Default)]
pub struct Pool {
    slots: Mutex<HashMap<String, Slot>>,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Pool {
    /// The host's connection, opened lazily (the SSH session itself opens on the first command).
    /// If the host's settings changed (a play set another ansible_user, say), a new one replaces the old.
    pub fn get(&self, host: &str, target: &Target) -> Arc<Connection> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(slot) = slots.get(host) {
            if &slot.target == target {
                return slot.conn.clone();
            }
        }
        let conn = Arc::new(match target {
            Target::Local { user } => Connection::new(Arc::new(LocalTransport::new()), user.clone(), None),
            Target::Ssh { cfg, become_password } => {
                let user = cfg.0.user.clone();
                let password = become_password.as_ref().map(|p| p.expose().to_string());
                Connection::new(Arc::new(SshTransport::new(cfg.0.clone())) as Arc<dyn Transport>, user, password)
            }
        });
        slots.insert(host.to_string(), Slot { target: target.clone(), conn: conn.clone() });
        conn
    }

    /// The lock that serialises tasks on `host`.
    pub fn lock(&self, host: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.locks.lock().unwrap_or_else(|p| p.into_inner()).entry(host.to_string()).or_default().clone()
    }

    /// How many connections were opened per host (for `-vv` and tests).
    pub fn connections_opened(&self) -> Vec<(String, usize)> {
        let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let mut v: Vec<(String, usize)> = slots.iter().map(|(h, s)| (h.clone(), s.conn.transport().connections_opened())).collect();
        v.sort();
        v
    }

    pub async fn close_all(&self) {
        let conns: Vec<Arc<Connection>> = self.slots.lock().unwrap_or_else(|p| p.into_inner()).values().map(|s| s.conn.clone()).collect();
        for c in conns {
            c.transport().close().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn ansible_connection_variables_map_to_ssh_settings() {
        let v = vars(json!({
            "ansible_host": "127.0.0.1", "ansible_port": 2222, "ansible_user": "admin",
            "ansible_ssh_private_key_file": "/k/id",
            "ansible_ssh_common_args": "-o UserKnownHostsFile=/k/known -o StrictHostKeyChecking=accept-new -J jump@bastion:2200"
        }));
        let Target::Ssh { cfg, .. } = target("w1", &v, &ConnectOptions::default()).unwrap() else { panic!() };
        let c = cfg.0;
        assert_eq!((c.address.as_str(), c.port, c.user.as_str()), ("127.0.0.1", 2222, "admin"));
        assert_eq!(c.identity_files, [PathBuf::from("/k/id")]);
        assert_eq!(c.known_hosts, [PathBuf::from("/k/known")]);
        assert_eq!(c.host_key_policy, HostKeyPolicy::AcceptNew);
        let jump = c.jump.unwrap();
        assert_eq!((jump.address.as_str(), jump.port, jump.user.as_str()), ("bastion", 2200, "jump"));
    }

    #[test]
    fn jump_hosts_get_the_final_key_known_hosts_and_policy_whatever_the_order() {
        let v = vars(json!({
            "ansible_host": "10.0.0.2", "ansible_user": "admin",
            "ansible_ssh_common_args": "-J b1,ops@b2:2200 -o UserKnownHostsFile=/k/known -i /k/id"
        }));
        let opts = ConnectOptions { host_key_checking: Some(HostKeyPolicy::AcceptNew), ..Default::default() };
        let Target::Ssh { cfg, .. } = target("t", &v, &opts).unwrap() else { panic!() };
        let last = cfg.0.jump.unwrap();
        assert_eq!((last.address.as_str(), last.port, last.user.as_str()), ("b2", 2200, "ops"));
        let first = last.jump.clone().unwrap();
        assert_eq!((first.address.as_str(), first.port, first.user.as_str()), ("b1", 22, "admin"));
        for hop in [&last, &first] {
            assert_eq!(hop.known_hosts, [PathBuf::from("/k/known")]);
            assert_eq!(hop.identity_files, [PathBuf::from("/k/id")]);
            assert_eq!(hop.host_key_policy, HostKeyPolicy::AcceptNew);
        }
        assert!(target("t", &vars(json!({"ansible_ssh_common_args": "-J -oProxyCommand=x"})), &ConnectOptions::default()).is_err());
    }

    #[test]
    fn local_connection_and_refused_settings() {
        assert!(matches!(target("localhost", &vars(json!({"ansible_connection": "local"})), &ConnectOptions::default()), Ok(Target::Local { .. })));
        assert!(target("h", &vars(json!({"ansible_connection": "winrm"})), &ConnectOptions::default()).unwrap_err().contains("not supported"));
        assert!(target("h", &vars(json!({"ansible_password": "x"})), &ConnectOptions::default()).unwrap_err().contains("password"));
        assert!(target("h", &vars(json!({"ansible_port": "http"})), &ConnectOptions::default()).is_err());
        assert!(target("h", &vars(json!({"ansible_ssh_common_args": "-o Tunnel=yes"})), &ConnectOptions::default()).is_err());
    }

    #[test]
    fn command_line_settings_fill_in_and_host_key_flag_overrides() {
        let opts = ConnectOptions { user: Some("cli".into()), host_key_checking: Some(HostKeyPolicy::Off), ..Default::default() };
        let Target::Ssh { cfg, .. } = target("h", &vars(json!({"ansible_ssh_common_args": "-o StrictHostKeyChecking=yes"})), &opts).unwrap() else {
            panic!()
        };
        assert_eq!(cfg.0.user, "cli");
        assert_eq!(cfg.0.host_key_policy, HostKeyPolicy::Off);
        // Inventory variables win over -u, as in Ansible.
        let Target::Ssh { cfg, .. } = target("h", &vars(json!({"ansible_user": "inv"})), &opts).unwrap() else { panic!() };
        assert_eq!(cfg.0.user, "inv");
    }
}
