//! What the Proxmox API modules share: their connection arguments (one list, spliced into each module's spec by
//! [`pve_api_args!`]), the clients built from them, and PVE errors turned into module errors that name the guest.

use std::time::Duration;

use crate::modules::{Args, ModuleError};
use crate::pve::{Credentials, PveClient, PveError, Trust};

/// A module's `ArgSpec` list followed by the connection arguments every Proxmox API module takes.
#[macro_export]
macro_rules! with_pve_api_args {
    ($($arg:expr),* $(,)?) => {
        &[
        $($arg,)*
        $crate::modules::ArgSpec::new("api_url", $crate::modules::ArgKind::Str)
            .required()
            .help("The node's API, https://HOST[:PORT] (port 8006 unless given). Plain HTTP is refused."),
        $crate::modules::ArgSpec::new("api_token_id", $crate::modules::ArgKind::Str)
            .help("An API token, USER@REALM!TOKENID (with api_token_secret). Tokens never pass PVE's root@pam-only rules."),
        $crate::modules::ArgSpec::new("api_token_secret", $crate::modules::ArgKind::Str)
            .help("The token's secret (keep it in SOPS; it is masked in all output)."),
        $crate::modules::ArgSpec::new("api_user", $crate::modules::ArgKind::Str)
            .default("root@pam")
            .help("The user api_password logs in as."),
        $crate::modules::ArgSpec::new("api_password", $crate::modules::ArgKind::Str)
            .help("A password login (ticket + CSRF token). With root@pam it may set what only root@pam may (devN, privileged features)."),
        $crate::modules::ArgSpec::new("tls_fingerprint", $crate::modules::ArgKind::Str)
            .help("Trust the node's certificate with this SHA-256 fingerprint (AB:CD:…, as `pvenode cert info` shows)."),
        $crate::modules::ArgSpec::new("ca_file", $crate::modules::ArgKind::Path)
            .help("Trust certificates issued by this CA (PEM on the controller, e.g. a copy of /etc/pve/pve-root-ca.pem)."),
        $crate::modules::ArgSpec::new("api_timeout", $crate::modules::ArgKind::Int)
            .default("30")
            .help("Seconds one API request may take."),
        ]
    };
}

/// The clients a module uses: `main` for everything it may do, `root` (a root@pam ticket) for what only root@pam
/// may do, when a root@pam password was given.
pub struct Api {
    pub main: PveClient,
    pub root: Option<PveClient>,
}

/// How the node's certificate is trusted, from the arguments (one of them must be given: never "anything").
pub fn trust(args: &Args) -> Result<Trust, ModuleError> {
    match (args.str("tls_fingerprint"), args.str("ca_file")) {
        (Some(fp), None) => crate::pve::tls::parse_fingerprint(fp).map(Trust::Fingerprint).map_err(ModuleError::Args),
        (None, Some(ca)) => Ok(Trust::CaFile(ca.into())),
        (Some(_), Some(_)) => Err(ModuleError::Args("give tls_fingerprint or ca_file, not both".into())),
        (None, None) => Err(ModuleError::Args(
            "the node's certificate cannot be checked: give tls_fingerprint (its SHA-256) or ca_file (the cluster CA); hlprov never trusts any certificate"
                .into(),
        )),
    }
}

/// Log in with the arguments' credentials. Secrets are registered for masking before anything is sent.
pub async fn connect(args: &Args, label: &str) -> Result<Api, ModuleError> {
    let url = args.req("api_url")?;
    let trust = trust(args)?;
    let timeout = Duration::from_secs(args.int("api_timeout").unwrap_or(30).max(1) as u64);
    for secret in ["api_token_secret", "api_password"] {
        if let Some(s) = args.str(secret) {
            crate::redact::register(s);
        }
    }
    let token = match (args.str("api_token_id"), args.str("api_token_secret")) {
        (Some(id), Some(secret)) => Some(Credentials::Token { id: id.to_string(), secret: secret.to_string() }),
        (None, None) => None,
        _ => return Err(ModuleError::Args("api_token_id and api_token_secret go together".into())),
    };
    let password = args
        .str("api_password")
        .map(|p| Credentials::Password { user: args.str("api_user").unwrap_or("root@pam").to_string(), password: p.to_string() });
    let trust = &trust;
    let login = |creds: Credentials| async move {
        PveClient::connect(url, trust, &creds, timeout).await.map_err(|e| match e.status() {
            Some(401) => ModuleError::failed(format!(
                "{label}: the Proxmox API at {url} refused the login of {creds:?}: {} (wrong or revoked token or password?)",
                e.message()
            )),
            _ => fail(label, e),
        })
    };
    match (token, password) {
        (Some(t), Some(p)) => {
            let main = login(t).await?;
            let root = login(p).await?;
            Ok(Api { main, root: root.is_root_pam().then_some(root) })
        }
        (Some(t), None) => Ok(Api { main: login(t).await?, root: None }),
        (None, Some(p)) => {
            let main = login(p).await?;
            let root = main.is_root_pam().then(|| main.clone());
            Ok(Api { main, root })
        }
        (None, None) => Err(ModuleError::Args("no credentials: give api_token_id + api_token_secret, or api_password".into())),
    }
}

/// A PVE error as a module failure naming the guest; a refused login says so.
pub fn fail(label: &str, e: PveError) -> ModuleError {
    let hint = match e.status() {
        Some(401) => " (the API refused the credentials: wrong or revoked token or password?)",
        _ => "",
    };
    let mut err = ModuleError::failed(format!("{label}: {e}{hint}"));
    if let Some(s) = e.status() {
        err = err.with("status", s);
    }
    if let PveError::Task { upid, log, .. } = &e {
        err = err.with("upid", upid.clone()).with("task_log", log.clone());
    }
    err
}
