//! A small HTTPS client for the Proxmox VE API: hyper (HTTP/1.1) over tokio-rustls, with the trust of
//! [`super::tls`]. It authenticates with an API token (`PVEAPIToken=user@realm!id=secret`) or with a ticket from a
//! password login (cookie + CSRF header on writes), sends parameters as PVE expects them (query for GET/DELETE,
//! a form body for POST/PUT, booleans as 1/0), keeps PVE's message and per-field `errors` on failure, and follows
//! tasks (UPIDs) to their end, with their log when they fail. It implements `proxmox_api::client::Client`, so
//! the crate's generated, typed request and response structs are used over this transport.
//!
//! Secrets (token secret, password, ticket, CSRF token) are registered with [`crate::redact`] the moment they
//! enter, and never put in an error message.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::tls::{self, Trust};

/// Why a call to the API failed. Messages are PVE's own where it gave one.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PveError {
    /// PVE answered with an error status: its message and, for parameter errors, one message per field.
    #[error("{method} {path}: {status} {message}{}", field_errors(.errors))]
    Api { method: String, path: String, status: u16, message: String, errors: BTreeMap<String, String> },
    /// The node could not be reached, or its certificate was refused.
    #[error("{0}")]
    Connect(String),
    /// The answer was not what the API schema says.
    #[error("{0}")]
    Decode(String),
    /// A task ended with an error: its exit status and the end of its log.
    #[error("task {upid} failed: {exitstatus}{}", log_tail(.log))]
    Task { upid: String, exitstatus: String, log: Vec<String> },
    /// A task was still running when hlprov stopped waiting.
    #[error("task {upid} was still running after {secs} s")]
    TaskTimeout { upid: String, secs: u64 },
}

fn field_errors(errors: &BTreeMap<String, String>) -> String {
    errors.iter().map(|(k, v)| format!("; {k}: {}", v.trim().replace('\n', " "))).collect()
}

fn log_tail(log: &[String]) -> String {
    let tail: Vec<&str> = log.iter().rev().take(8).rev().map(String::as_str).collect();
    if tail.is_empty() { String::new() } else { format!(" (task log: {})", tail.join(" | ")) }
}

impl PveError {
    /// The HTTP status PVE answered with, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            PveError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
    /// PVE's message (without the method and path).
    pub fn message(&self) -> String {
        match self {
            PveError::Api { message, errors, .. } => format!("{message}{}", field_errors(errors)),
            other => other.to_string(),
        }
    }
    /// The guest's config file does not exist (PVE's 500 "Configuration file '…' does not exist").
    pub fn is_missing_guest(&self) -> bool {
        matches!(self, PveError::Api { status: 500, message, .. } if message.contains("does not exist") && message.contains("Configuration file"))
    }
}

/// How to log in.
#[derive(Clone)]
pub enum Credentials {
    /// An API token: `user@realm!tokenid` and its secret.
    Token { id: String, secret: String },
    /// A user's password; the client logs in for a ticket.
    Password { user: String, password: String },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Token { id, .. } => write!(f, "Token({id})"),
            Credentials::Password { user, .. } => write!(f, "Password({user})"),
        }
    }
}

enum Auth {
    Token { header: String },
    Ticket { cookie: String, csrf: String },
}

/// Where the API listens: `https://host[:port]` (port 8006 unless given).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
}

impl Endpoint {
    pub fn parse(url: &str) -> Result<Endpoint, String> {
        let rest = url.trim().strip_prefix("https://").ok_or_else(|| format!("the API URL '{url}' must start with https://"))?;
        let authority = rest.split('/').next().unwrap_or_default();
        let tail = &rest[authority.len()..];
        if !(tail.is_empty() || tail == "/" || tail == "/api2/json" || tail == "/api2/json/") {
            return Err(format!("the API URL '{url}' must be https://HOST[:PORT] (hlprov adds /api2/json)"));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or_else(|| format!("bad IPv6 address in '{url}'"))?;
            (h.to_string(), after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (authority.to_string(), None),
            }
        };
        if host.is_empty() {
            return Err(format!("the API URL '{url}' has no host"));
        }
        let port = match port {
            Some(p) => p.parse().map_err(|_| format!("bad port in the API URL '{url}'"))?,
            None => 8006,
        };
        Ok(Endpoint { host, port })
    }

    fn host_header(&self) -> String {
        if self.host.contains(':') { format!("[{}]:{}", self.host, self.port) } else { format!("{}:{}", self.host, self.port) }
    }

    pub fn url(&self) -> String {
        format!("https://{}", self.host_header())
    }
}

struct Inner {
    endpoint: Endpoint,
    server_name: ServerName<'static>,
    tls: Arc<ClientConfig>,
    auth: Auth,
    user: String,
    timeout: Duration,
}

/// An authenticated connection to one PVE API. Cheap to clone.
#[derive(Clone)]
pub struct PveClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for PveClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PveClient({} as {})", self.inner.endpoint.url(), self.inner.user)
    }
}

/// Percent-encode one path segment (a node name, a UPID) where it holds anything but plain characters.
fn segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b':' | b'@' | b'!' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Parameters as PVE reads them: strings as they are, numbers in decimal, booleans 1/0, lists as repeated keys.
fn pairs(v: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let one = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(if *b { "1" } else { "0" }.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Null => None,
        other => Some(other.to_string()),
    };
    if let Value::Object(m) = v {
        for (k, v) in m {
            match v {
                Value::Array(items) => out.extend(items.iter().filter_map(one).map(|s| (k.clone(), s))),
                v => out.extend(one(v).map(|s| (k.clone(), s))),
            }
        }
    }
    out
}

fn encode(pairs: &[(String, String)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

#[derive(serde::Deserialize)]
#[serde(bound = "R: DeserializeOwned")]
struct Envelope<R> {
    data: R,
}

impl PveClient {
    /// Connect to `url`, trusting what `trust` says, and log in. A password login asks for a ticket now, so a
    /// wrong password fails here; a token is checked by the first request.
    pub async fn connect(url: &str, trust: &Trust, creds: &Credentials, timeout: Duration) -> Result<PveClient, PveError> {
        let endpoint = Endpoint::parse(url).map_err(PveError::Connect)?;
        let tls = tls::client_config(trust).map_err(PveError::Connect)?;
        let server_name = ServerName::try_from(endpoint.host.clone())
            .map_err(|_| PveError::Connect(format!("'{}' is not a host name or address", endpoint.host)))?;
        let (auth, user) = match creds {
            Credentials::Token { id, secret } => {
                crate::redact::register(secret);
                if !id.contains('!') || !id.contains('@') {
                    return Err(PveError::Connect(format!("the API token id '{id}' must be USER@REALM!TOKENID")));
                }
                (Auth::Token { header: format!("PVEAPIToken={id}={secret}") }, id.clone())
            }
            Credentials::Password { user, password } => {
                crate::redact::register(password);
                let anon = PveClient {
                    inner: Arc::new(Inner {
                        endpoint: endpoint.clone(),
                        server_name: server_name.clone(),
                        tls: tls.clone(),
                        auth: Auth::Token { header: String::new() },
                        user: String::new(),
                        timeout,
                    }),
                };
                let form = vec![("username".to_string(), user.clone()), ("password".to_string(), password.clone())];
                let v: Value = anon.call(hyper::Method::POST, "/access/ticket", &form).await?;
                let ticket = v["ticket"].as_str().unwrap_or_default().to_string();
                let csrf = v["CSRFPreventionToken"].as_str().unwrap_or_default().to_string();
                if ticket.is_empty() || csrf.is_empty() {
                    return Err(PveError::Decode(format!("the login of {user} gave no ticket (two-factor authentication is not supported)")));
                }
                crate::redact::register(&ticket);
                crate::redact::register(&csrf);
                let user = v["username"].as_str().unwrap_or(user).to_string();
                (Auth::Ticket { cookie: format!("PVEAuthCookie={ticket}"), csrf }, user)
            }
        };
        Ok(PveClient { inner: Arc::new(Inner { endpoint, server_name, tls, auth, user, timeout }) })
    }

    /// The user the client acts as (`root@pam`, or a token's `root@pam!hl`).
    pub fn user(&self) -> &str {
        &self.inner.user
    }

    /// Whether PVE's root@pam-only rules let this client through (a ticket of root@pam; never a token).
    pub fn is_root_pam(&self) -> bool {
        matches!(self.inner.auth, Auth::Ticket { .. }) && self.inner.user == "root@pam"
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.inner.endpoint
    }

    /// One request; `params` go in the query (GET, DELETE) or the form body (POST, PUT).
    pub async fn call<R: DeserializeOwned>(&self, method: hyper::Method, path: &str, params: &[(String, String)]) -> Result<R, PveError> {
        let what = |e: String| PveError::Connect(format!("{} {}{path}: {e}", method, self.inner.endpoint.url()));
        let limit = self.inner.timeout;
        let send = self.send(&method, path, params);
        let (status, reason, body) = match tokio::time::timeout(limit, send).await {
            Ok(r) => r.map_err(what)?,
            Err(_) => return Err(what(format!("no answer within {} s", limit.as_secs()))),
        };
        if status == 200 {
            return serde_json::from_slice::<Envelope<R>>(&body)
                .map(|e| e.data)
                .map_err(|e| PveError::Decode(format!("{method} {path}: the answer does not fit the API schema: {e}")));
        }
        let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let message = v["message"].as_str().map(str::to_string).filter(|m| !m.trim().is_empty()).unwrap_or(reason);
        let errors = match &v["errors"] {
            Value::Object(m) => m.iter().map(|(k, v)| (k.clone(), v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()))).collect(),
            _ => BTreeMap::new(),
        };
        Err(PveError::Api { method: method.to_string(), path: path.to_string(), status, message: message.trim().to_string(), errors })
    }

    async fn send(&self, method: &hyper::Method, path: &str, params: &[(String, String)]) -> Result<(u16, String, Bytes), String> {
        let i = &self.inner;
        let tcp = tokio::net::TcpStream::connect((i.endpoint.host.as_str(), i.endpoint.port)).await.map_err(|e| e.to_string())?;
        let tls = tokio_rustls::TlsConnector::from(i.tls.clone()).connect(i.server_name.clone(), tcp).await.map_err(|e| format!("TLS: {e}"))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls)).await.map_err(|e| e.to_string())?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let form = encode(params);
        let in_query = matches!(*method, hyper::Method::GET | hyper::Method::DELETE);
        let mut uri = format!("/api2/json{path}");
        if in_query && !form.is_empty() {
            uri.push('?');
            uri.push_str(&form);
        }
        let mut req = hyper::Request::builder().method(method.clone()).uri(uri).header(hyper::header::HOST, i.endpoint.host_header());
        match &i.auth {
            Auth::Token { header } if !header.is_empty() => req = req.header(hyper::header::AUTHORIZATION, header),
            Auth::Token { .. } => {}
            Auth::Ticket { cookie, csrf } => {
                req = req.header(hyper::header::COOKIE, cookie);
                if !matches!(*method, hyper::Method::GET | hyper::Method::HEAD) {
                    req = req.header("CSRFPreventionToken", csrf);
                }
            }
        }
        let body = if in_query {
            Bytes::new()
        } else {
            req = req.header(hyper::header::CONTENT_TYPE, "application/x-www-form-urlencoded");
            Bytes::from(form)
        };
        let req = req.body(Full::new(body)).map_err(|e| e.to_string())?;
        let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let reason = resp
            .extensions()
            .get::<hyper::ext::ReasonPhrase>()
            .map(|r| String::from_utf8_lossy(r.as_bytes()).into_owned())
            .or_else(|| resp.status().canonical_reason().map(str::to_string))
            .unwrap_or_default();
        let body = resp.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
        Ok((status, reason, body))
    }

    /// Follow a task to its end. `OK` and `WARNINGS: n` are success (PVE's `status_is_error`); any other exit
    /// status is an error carrying the end of the task's log.
    pub async fn wait_task(&self, upid: &str, limit: Duration) -> Result<String, PveError> {
        let node = upid.split(':').nth(1).filter(|n| !n.is_empty()).ok_or_else(|| PveError::Decode(format!("'{upid}' is not a task id (UPID)")))?;
        let base = format!("/nodes/{}/tasks/{}", segment(node), segment(upid));
        let started = tokio::time::Instant::now();
        let mut pause = Duration::from_millis(100);
        loop {
            let st: Value = self.call(hyper::Method::GET, &format!("{base}/status"), &[]).await?;
            if st["status"].as_str() == Some("stopped") {
                let exit = st["exitstatus"].as_str().unwrap_or("unknown").to_string();
                if exit == "OK" || exit.starts_with("WARNINGS") {
                    return Ok(exit);
                }
                let log: Value =
                    self.call(hyper::Method::GET, &format!("{base}/log"), &[("limit".to_string(), "500".to_string())]).await.unwrap_or(Value::Null);
                let lines = log.as_array().map(|a| a.iter().filter_map(|l| l["t"].as_str().map(str::to_string)).collect()).unwrap_or_default();
                return Err(PveError::Task { upid: upid.to_string(), exitstatus: exit, log: lines });
            }
            if started.elapsed() >= limit {
                return Err(PveError::TaskTimeout { upid: upid.to_string(), secs: limit.as_secs() });
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(1));
        }
    }
}

impl proxmox_api::client::Client for PveClient {
    type Error = PveError;

    fn request_with_body_and_query<B, Q, R>(
        &self,
        method: proxmox_api::client::Method,
        path: &str,
        body: Option<&B>,
        query: Option<&Q>,
    ) -> impl Future<Output = Result<R, Self::Error>>
    where
        B: Serialize,
        Q: Serialize,
        R: DeserializeOwned,
    {
        use proxmox_api::client::Method as M;
        let method = match method {
            M::Get => hyper::Method::GET,
            M::Post => hyper::Method::POST,
            M::Put => hyper::Method::PUT,
            M::Delete => hyper::Method::DELETE,
        };
        // Serialised here, before the future: the future then holds only owned data (and is Send).
        let params = body
            .map(serde_json::to_value)
            .or_else(|| query.map(serde_json::to_value))
            .transpose()
            .map(|v| v.map(|v| pairs(&v)).unwrap_or_default())
            .map_err(|e| PveError::Decode(format!("{method} {path}: parameters: {e}")));
        let path = path.to_string();
        let client = self.clone();
        async move { client.call(method, &path, &params?).await }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn endpoints_parse_with_and_without_port() {
        assert_eq!(Endpoint::parse("https://pve1:8006").unwrap(), Endpoint { host: "pve1".into(), port: 8006 });
        assert_eq!(Endpoint::parse("https://192.168.10.11").unwrap().port, 8006);
        assert_eq!(Endpoint::parse("https://[fd00::1]:443/").unwrap(), Endpoint { host: "fd00::1".into(), port: 443 });
        assert!(Endpoint::parse("http://pve1:8006").is_err(), "never plain HTTP");
        assert!(Endpoint::parse("https://pve1:8006/other").is_err());
        assert_eq!(Endpoint::parse("https://[fd00::1]:443").unwrap().url(), "https://[fd00::1]:443");
    }

    #[test]
    fn parameters_are_sent_as_pve_reads_them() {
        let p = pairs(&json!({"cores": 4, "onboot": true, "net0": "name=eth0,bridge=vmbr0", "skip": null, "x": ["a", "b"]}));
        assert_eq!(encode(&p), "cores=4&onboot=1&net0=name%3Deth0%2Cbridge%3Dvmbr0&x=a&x=b");
        assert_eq!(segment("UPID:pve1:0000:x:root@pam!hl:"), "UPID:pve1:0000:x:root@pam!hl:");
        assert_eq!(segment("a b/c"), "a%20b%2Fc");
    }

    #[test]
    fn errors_keep_pve_message_and_field_errors_without_secrets() {
        let e = PveError::Api {
            method: "PUT".into(),
            path: "/nodes/pve1/lxc/131/config".into(),
            status: 400,
            message: "Parameter verification failed.".into(),
            errors: [("dev0".to_string(), "invalid format - format error\ndev0.mode: value does not match the regex pattern\n".to_string())].into(),
        };
        assert_eq!(
            e.to_string(),
            "PUT /nodes/pve1/lxc/131/config: 400 Parameter verification failed.; dev0: invalid format - format error dev0.mode: value does not match the regex pattern"
        );
        let debug = format!("{:?}", Credentials::Token { id: "root@pam!hl".into(), secret: "s3cr3t-value".into() });
        assert!(!debug.contains("s3cr3t"));
    }
}
