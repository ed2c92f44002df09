//! HTTP requests made ON the host (as Ansible's uri, get_url and friends make them there), with the host's curl,
//! or GNU wget when curl is missing. One exec runs the request and returns status, headers, final URL and, if
//! asked, the body; a request body travels on stdin. A host with neither tool gets a message saying what to
//! install. The script is visible in the host's process list while it runs, like any remote command.

use base64::Engine;

use super::host::{end_section, split};
use crate::modules::{ApplyCtx, ModuleCtx, ModuleError};
use crate::transport::quote::quote;

/// One request.
#[derive(Clone, Debug)]
pub struct Request<'a> {
    pub method: &'a str,
    pub url: &'a str,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    /// Seconds for the whole request.
    pub timeout: u64,
    pub validate_certs: bool,
    pub follow_redirects: bool,
    /// Basic auth, sent up front.
    pub basic_auth: Option<(String, String)>,
    /// Ask only for content newer than this file on the host (If-Modified-Since from its mtime).
    pub newer_than: Option<&'a str>,
}

impl<'a> Request<'a> {
    pub fn get(url: &'a str) -> Request<'a> {
        Request {
            method: "GET",
            url,
            headers: Vec::new(),
            body: None,
            timeout: 30,
            validate_certs: true,
            follow_redirects: true,
            basic_auth: None,
            newer_than: None,
        }
    }
}

/// Where the response body goes.
#[derive(Clone, Copy, Debug)]
pub enum BodyTo<'a> {
    /// Discard it.
    Nowhere,
    /// Bring it back (base64 on the wire).
    Return,
    /// Keep it in this file on the host (a temp file the caller named).
    File(&'a str),
}

/// What came back.
#[derive(Clone, Debug, Default)]
pub struct Response {
    /// curl or wget.
    pub client: String,
    /// 0 when no HTTP answer arrived (see `error`).
    pub status: u16,
    /// The status line's reason ("OK", "Not Found").
    pub reason: String,
    /// Response headers of the final response, names lowercased, in order.
    pub headers: Vec<(String, String)>,
    /// The URL that answered (after redirects).
    pub url: String,
    pub body: Option<Vec<u8>>,
    /// Why there is no HTTP answer (connection refused, timeout, TLS failure).
    pub error: Option<String>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// Text of Ansible's "what to install" failure.
pub const NO_CLIENT: &str =
    "this host has neither curl nor GNU wget, which hlprov needs to make HTTP requests on it: install one (apt-get install curl)";

fn is_header_name(k: &str) -> bool {
    !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_!#$%&'*+.^`|~".contains(&b))
}

/// The shell script for a request.
pub fn script(req: &Request<'_>, body_to: BodyTo<'_>) -> Result<String, ModuleError> {
    if !req.url.contains("://") {
        return Err(ModuleError::Args(format!("'{}' is not a URL (it needs a scheme such as http://)", req.url)));
    }
    if !req.method.bytes().all(|b| b.is_ascii_uppercase()) || req.method.is_empty() {
        return Err(ModuleError::Args(format!("Parameter 'method' needs to be a single word in uppercase, like GET or POST, not '{}'", req.method)));
    }
    let mut headers = req.headers.clone();
    for (k, v) in &headers {
        if !is_header_name(k) || v.contains(['\r', '\n']) {
            return Err(ModuleError::Args(format!("invalid HTTP header '{k}'")));
        }
    }
    if let Some((u, p)) = &req.basic_auth {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
        crate::redact::register(&token);
        headers.push(("Authorization".into(), format!("Basic {token}")));
    }
    let out = match body_to {
        BodyTo::Nowhere => "/dev/null".to_string(),
        BodyTo::Return => "\"$t/body\"".to_string(),
        BodyTo::File(f) => quote(f),
    };
    let head = req.method == "HEAD";
    let mut curl = vec!["curl -sS".to_string()];
    curl.push(if head { "-I".into() } else { format!("-X {}", req.method) });
    curl.push(format!("--max-time {}", req.timeout.max(1)));
    if !req.validate_certs {
        curl.push("-k".into());
    }
    if req.follow_redirects {
        curl.push("-L --max-redirs 50".into());
    }
    let mut wget = vec!["wget -q -S --content-on-error".to_string()];
    wget.push(format!("--method={}", req.method));
    wget.push(format!("--timeout={}", req.timeout.max(1)));
    wget.push("--tries=1".into());
    if !req.validate_certs {
        wget.push("--no-check-certificate".into());
    }
    wget.push(format!("--max-redirect={}", if req.follow_redirects { 50 } else { 0 }));
    for (k, v) in &headers {
        let h = quote(&format!("{k}: {v}"));
        curl.push(format!("-H {h}"));
        wget.push(format!("--header={h}"));
    }
    let mut prepare = String::new();
    if req.body.is_some() {
        curl.push("--data-binary @-".into());
        // wget needs a body it can seek in.
        wget.push("--body-file=\"$t/req\"".into());
        prepare.push_str("if [ \"$c\" = wget ]; then cat > \"$t/req\"; fi; ");
    }
    if let Some(f) = req.newer_than {
        let f = quote(f);
        curl.push(format!("-z {f}"));
        wget.push(format!("--header=\"If-Modified-Since: $(date -u -r {f} '+%a, %d %b %Y %H:%M:%S GMT')\""));
    }
    curl.push(format!(
        "-D \"$t/headers\" -o {out} -w '%{{http_code}} %{{condition_unmet}} %{{url_effective}}\\n' {} > \"$t/write\" 2> \"$t/err\"",
        quote(req.url)
    ));
    wget.push(format!("-O {out} {} 2> \"$t/headers\"", quote(req.url)));
    let mut s = String::from(
        "if command -v curl >/dev/null 2>&1; then c=curl; elif wget --version 2>/dev/null | head -n 1 | grep -q 'GNU Wget'; then c=wget; \
         else echo none; exit 0; fi; t=$(mktemp -d) || exit 1; trap 'rm -rf \"$t\"' EXIT; : > \"$t/headers\"; : > \"$t/write\"; : > \"$t/err\"; ",
    );
    s.push_str(&prepare);
    s.push_str(&format!("if [ \"$c\" = curl ]; then {}; else {}; fi; rc=$?; ", curl.join(" "), wget.join(" ")));
    s.push_str(&format!("echo \"$c $rc\"; {e}; cat \"$t/write\"; {e}; cat \"$t/headers\"; {e}; cat \"$t/err\"; {e}; ", e = end_section()));
    if matches!(body_to, BodyTo::Return) {
        s.push_str("[ -f \"$t/body\" ] && base64 < \"$t/body\"; ");
    }
    s.push_str(&format!("{}; exit 0", end_section()));
    Ok(s)
}

/// Header blocks as curl (-D) or wget (-S) print them; the last block is the final response.
fn parse_headers(text: &str) -> (u16, String, Vec<(String, String)>, Vec<String>) {
    let (mut status, mut reason, mut headers, mut locations) = (0, String::new(), Vec::new(), Vec::new());
    for line in text.lines() {
        let l = line.trim();
        if l.starts_with("HTTP/") {
            let mut parts = l.splitn(3, ' ');
            parts.next();
            status = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0);
            reason = parts.next().unwrap_or("").to_string();
            headers.clear();
        } else if let Some((k, v)) = l.split_once(':') {
            if line.starts_with(' ') || line.starts_with(char::is_alphanumeric) {
                let k = k.trim().to_ascii_lowercase();
                if k == "location" {
                    locations.push(v.trim().to_string());
                }
                headers.push((k, v.trim().to_string()));
            }
        }
    }
    (status, reason, headers, locations)
}

/// wget's exit codes, in words.
fn wget_error(rc: i32) -> &'static str {
    match rc {
        3 => "file I/O error",
        4 => "network failure (connection refused, timeout or name resolution)",
        5 => "TLS certificate verification failed",
        6 => "authentication failed",
        7 => "protocol error",
        _ => "wget failed",
    }
}

/// Resolve a Location header against the URL it came from (enough for absolute and path-absolute forms).
pub fn join_url(base: &str, location: &str) -> String {
    if location.contains("://") {
        return location.to_string();
    }
    let Some((scheme, rest)) = base.split_once("://") else { return location.to_string() };
    let host = rest.split('/').next().unwrap_or(rest);
    if location.starts_with('/') {
        return format!("{scheme}://{host}{location}");
    }
    let dir = match base.rfind('/') {
        Some(i) if i > scheme.len() + 2 => &base[..=i],
        _ => return format!("{scheme}://{host}/{location}"),
    };
    format!("{dir}{location}")
}

/// Make a request that may change the host (a body saved to a file, any method but GET/HEAD).
pub async fn request(ctx: &ApplyCtx<'_>, req: &Request<'_>, body_to: BodyTo<'_>) -> Result<Response, ModuleError> {
    let s = script(req, body_to)?;
    let returns = matches!(body_to, BodyTo::Return);
    let out = ctx.write(&s, req.body.as_deref()).await?;
    parse_response(req, out, returns)
}

/// Make a request that only reads (a HEAD or GET whose body is returned or dropped), while planning.
pub async fn request_read(ctx: &ModuleCtx<'_>, req: &Request<'_>, body_to: BodyTo<'_>) -> Result<Response, ModuleError> {
    let s = script(req, body_to)?;
    let returns = matches!(body_to, BodyTo::Return);
    let out = ctx.read_input(&s, req.body.as_deref()).await?;
    parse_response(req, out, returns)
}

fn parse_response(req: &Request<'_>, out: crate::transport::Output, returns_body: bool) -> Result<Response, ModuleError> {
    let text = out.stdout_text();
    if text.trim() == "none" {
        return Err(ModuleError::failed(NO_CLIENT));
    }
    let sections = split(&text);
    if sections.len() < 5 {
        return Err(ModuleError::failed(format!("the HTTP request on the host failed to run (rc={}): {}", out.rc(), out.stderr_text().trim())));
    }
    let (client, rc) = sections[0].out.trim().split_once(' ').unwrap_or(("?", "1"));
    let rc: i32 = rc.parse().unwrap_or(1);
    let (status, reason, headers, locations) = parse_headers(&sections[2].out);
    let mut resp = Response { client: client.to_string(), status, reason, headers, url: req.url.to_string(), ..Default::default() };
    if client == "curl" {
        let mut w = sections[1].out.trim().splitn(3, ' ');
        if let (Some(code), Some(unmet), Some(url)) = (w.next(), w.next(), w.next()) {
            resp.status = code.parse().unwrap_or(resp.status);
            resp.url = url.to_string();
            // A server that ignores If-Modified-Since: curl compares Last-Modified itself and keeps no body.
            if unmet == "1" {
                resp.status = 304;
                resp.reason = "Not Modified".into();
            }
        }
        if rc != 0 {
            resp.error = Some(sections[3].out.trim().to_string());
        }
    } else {
        let mut url = req.url.to_string();
        if req.follow_redirects {
            for l in &locations {
                url = join_url(&url, l);
            }
        }
        resp.url = url;
        if rc != 0 && rc != 8 {
            resp.error = Some(format!("wget: {} (exit code {rc})", wget_error(rc)));
        }
    }
    // A file: URL has no HTTP status; curl read it when it exits 0.
    if resp.status == 0 && rc == 0 && resp.error.is_none() && req.url.starts_with("file:") {
        resp.status = 200;
        resp.reason = "OK".into();
    }
    if resp.error.is_some() || resp.status == 0 {
        resp.status = 0;
        resp.error.get_or_insert_with(|| format!("{}: no HTTP response", resp.client));
    }
    if returns_body {
        let b64: String = sections[4].out.split_whitespace().collect();
        resp.body =
            Some(base64::engine::general_purpose::STANDARD.decode(b64.as_bytes()).map_err(|e| ModuleError::Internal(format!("response body: {e}")))?);
    }
    Ok(resp)
}

/// Fetch a small text resource (a key, a checksum file) for a module; fails unless the answer is 200.
pub async fn fetch_text(ctx: &ModuleCtx<'_>, url: &str, validate_certs: bool) -> Result<String, ModuleError> {
    let mut req = Request::get(url);
    req.validate_certs = validate_certs;
    let resp = request_read(ctx, &req, BodyTo::Return).await?;
    if let Some(e) = resp.error {
        return Err(ModuleError::failed(format!("Request to {url} failed: {e}")));
    }
    if resp.status != 200 {
        return Err(ModuleError::failed(format!("Request to {url} failed: HTTP {} {}", resp.status, resp.reason)));
    }
    Ok(String::from_utf8_lossy(&resp.body.unwrap_or_default()).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_blocks_keep_the_final_response() {
        let curl = "HTTP/1.1 302 Found\r\nLocation: /b\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Thing: a: b\r\n\r\n";
        let (status, reason, headers, locations) = parse_headers(curl);
        assert_eq!((status, reason.as_str()), (200, "OK"));
        assert_eq!(headers, vec![("content-type".to_string(), "text/plain".to_string()), ("x-thing".to_string(), "a: b".to_string())]);
        assert_eq!(locations, ["/b"]);
        let wget = "  HTTP/1.1 404 Not Found\n  Content-type: text/html\n";
        assert_eq!(parse_headers(wget).0, 404);
    }

    #[test]
    fn locations_resolve_against_the_url() {
        assert_eq!(join_url("http://h:8/a/b?x", "/c"), "http://h:8/c");
        assert_eq!(join_url("http://h:8/a/b", "c"), "http://h:8/a/c");
        assert_eq!(join_url("http://h:8", "c"), "http://h:8/c");
        assert_eq!(join_url("http://h/a", "https://o/x"), "https://o/x");
    }

    #[test]
    fn bad_requests_are_refused_before_running() {
        assert!(script(&Request::get("example.org/x"), BodyTo::Nowhere).is_err());
        let mut r = Request::get("http://x/");
        r.method = "get";
        assert!(script(&r, BodyTo::Nowhere).unwrap_err().to_string().contains("uppercase"));
        let mut r = Request::get("http://x/");
        r.headers.push(("X-A".into(), "1\r\nInjected: yes".into()));
        assert!(script(&r, BodyTo::Nowhere).is_err());
    }
}
