//! uri: an HTTP request made on the host (as Ansible makes it there), with the host's curl or GNU wget. The
//! registered result has Ansible's keys: status, url, msg, redirected, the response headers (lowercased,
//! `-` as `_`), content and json. uri never reports changed unless it wrote dest; it cannot predict a request,
//! so it is skipped in check mode, as in Ansible.

use serde_json::{Map, Value};

use super::helpers::host::Probe;
use super::helpers::http::{self, BodyTo, Request};
use super::{ApplyCtx, ArgKind, ArgSpec, Args, Change, CheckMode, Module, ModuleCtx, ModuleError, ModuleSpec, Outcome, Plan, Step};
use crate::transport::quote::quote;

pub struct Uri;

static SPEC: ModuleSpec = ModuleSpec::new(&[
    ArgSpec::new("url", ArgKind::Str).required().help("The URL to request."),
    ArgSpec::new("method", ArgKind::Str).default("GET").help("HTTP method, one uppercase word (GET, POST, PUT, DELETE, PATCH, HEAD, …)."),
    ArgSpec::new("body", ArgKind::Raw).help("Request body; with body_format json any structure is sent as JSON."),
    ArgSpec::new("body_format", ArgKind::Str)
        .choices(&["raw", "json", "form-urlencoded"])
        .default("raw")
        .help("How to encode body (and the Content-Type to send)."),
    ArgSpec::new("headers", ArgKind::Dict).help("Request headers."),
    ArgSpec::new("status_code", ArgKind::List).default("200").help("Status codes that count as success."),
    ArgSpec::new("return_content", ArgKind::Bool).default("no").help("Register the body as `content` (JSON bodies are always parsed into `json`)."),
    ArgSpec::new("timeout", ArgKind::Int).default("30").help("Seconds for the request."),
    ArgSpec::new("validate_certs", ArgKind::Bool).default("yes").help("Check the server's TLS certificate."),
    ArgSpec::new("follow_redirects", ArgKind::Str)
        .choices(&["all", "no", "none", "safe", "urllib2", "yes"])
        .default("safe")
        .help("safe: follow redirects of GET and HEAD only; all: any; none: never."),
    ArgSpec::new("url_username", ArgKind::Str).aliases(&["user"]).help("User for HTTP basic authentication."),
    ArgSpec::new("url_password", ArgKind::Str).aliases(&["password"]).help("Password for HTTP basic authentication (kept out of output)."),
    ArgSpec::new("force_basic_auth", ArgKind::Bool)
        .default("no")
        .help("Accepted for compatibility: hlprov always sends basic auth up front when a user is given."),
    ArgSpec::new("dest", ArgKind::Path).help("Save the response body to this file on the host (a folder: the URL's file name)."),
    ArgSpec::new("creates", ArgKind::Path).help("Skip the request if this path exists on the host."),
    ArgSpec::new("removes", ArgKind::Path).help("Skip the request unless this path exists on the host."),
])
.check_mode(CheckMode::None)
.changes(&["request"]);

/// `application/json`, `application/problem+json`, … : bodies Ansible parses into `json`.
fn is_json(content_type: &str) -> bool {
    let main = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let Some((_, sub)) = main.split_once('/') else { return false };
    let sub = sub.rsplit('+').next().unwrap_or(sub);
    matches!(sub, "json" | "javascript" | "x-json" | "x-javascript" | "json-patch")
}

/// application/x-www-form-urlencoded encoding of a mapping (or a list of pairs).
fn form_urlencode(body: &Value) -> Result<String, String> {
    fn enc(s: &str) -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
                b' ' => "+".to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    }
    let text = |v: &Value| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string());
    let pairs: Vec<(String, String)> = match body {
        Value::Object(m) => m.iter().map(|(k, v)| (k.clone(), text(v))).collect(),
        Value::Array(a) => a
            .iter()
            .map(|p| match p {
                Value::Array(kv) if kv.len() == 2 => Ok((text(&kv[0]), text(&kv[1]))),
                _ => Err("a list body must hold [key, value] pairs".to_string()),
            })
            .collect::<Result<_, _>>()?,
        Value::String(s) => return Ok(s.clone()),
        other => return Err(format!("cannot encode {other} as a form")),
    };
    Ok(pairs.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&"))
}

fn has_header(headers: &[(String, String)], name: &str) -> bool {
    headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name))
}

#[async_trait::async_trait]
impl Module for Uri {
    fn name(&self) -> &'static str {
        "uri"
    }
    fn summary(&self) -> &'static str {
        "Make an HTTP request from the host (REST APIs, health checks) and register the response"
    }
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }
    fn notes(&self) -> &'static str {
        "The request runs on the host with curl, or GNU wget when curl is missing; a host with neither fails with a \
         message naming what to install. body_format form-multipart, src, unix_socket, client certificates, ca_path \
         and ciphers are not supported; `cookies` is read from Set-Cookie headers, but no cookie jar is kept. The \
         request line (and basic-auth header) is visible in the host's process list while it runs."
    }
    async fn plan(&self, ctx: &ModuleCtx<'_>, args: &Args) -> Result<Plan, ModuleError> {
        let url = args.req("url")?;
        let method = args.req("method")?.to_string();
        if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(ModuleError::Args("Parameter 'method' needs to be a single word in uppercase, like GET or POST.".into()));
        }
        let codes: Vec<u16> = args
            .list("status_code")
            .iter()
            .map(|c| c.trim().parse::<u16>().map_err(|_| ModuleError::Args(format!("status_code: '{c}' is not an HTTP status code"))))
            .collect::<Result<_, _>>()?;
        if let Some(p) = args.str("url_password") {
            crate::redact::register(p);
        }

        // creates / removes: one look at the host first.
        if args.has("creates") || args.has("removes") {
            let mut p = Probe::new();
            p.add(format!("[ -e {} ]", quote(args.str("creates").unwrap_or("/nonexistent/hlprov"))));
            p.add(format!("[ -e {} ]", quote(args.str("removes").unwrap_or("/"))));
            let s = p.run(ctx).await?;
            if let (Some(c), true) = (args.str("creates"), s[0].ok()) {
                return Ok(Plan::unchanged().with("stdout", format!("skipped, since '{c}' exists")));
            }
            if let (Some(r), false) = (args.str("removes"), s[1].ok()) {
                return Ok(Plan::unchanged().with("stdout", format!("skipped, since '{r}' does not exist")));
            }
        }
        let d = super::helpers::remote_file::property_diff(url, &[], &[("request", format!("{method} {url}"))]);
        Ok(Plan::unchanged().change(Change::new("request", d, Step::Module)).keep(codes))
    }
    async fn apply(&self, ctx: &ApplyCtx<'_>, args: &Args, mut plan: Plan) -> Result<Outcome, ModuleError> {
        let codes: Vec<u16> = plan.take_found().unwrap_or_default();
        let url = args.req("url")?;
        let method = args.req("method")?.to_string();
        let mut req = Request::get(url);
        req.method = &method;
        req.timeout = args.int("timeout").unwrap_or(30).max(1) as u64;
        req.validate_certs = args.bool("validate_certs");
        req.follow_redirects = match args.req("follow_redirects")? {
            "all" | "yes" => true,
            "safe" | "urllib2" => method == "GET" || method == "HEAD",
            _ => false,
        };
        if let Some(Value::Object(h)) = args.get("headers") {
            req.headers = h.iter().map(|(k, v)| (k.clone(), v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()))).collect();
        }
        if let Some(user) = args.str("url_username") {
            req.basic_auth = Some((user.to_string(), args.str("url_password").unwrap_or("").to_string()));
        }
        if let Some(body) = args.get("body") {
            let (bytes, content_type) = match args.req("body_format")? {
                "json" => (
                    match body {
                        Value::String(s) => s.clone(),
                        other => serde_json::to_string(other).map_err(|e| ModuleError::Args(format!("body: {e}")))?,
                    },
                    Some("application/json"),
                ),
                "form-urlencoded" => (
                    form_urlencode(body).map_err(|e| ModuleError::Args(format!("failed to parse body as form_urlencoded: {e}")))?,
                    Some("application/x-www-form-urlencoded"),
                ),
                _ => (body.as_str().map(str::to_string).unwrap_or_else(|| body.to_string()), None),
            };
            if let Some(ct) = content_type.filter(|_| !has_header(&req.headers, "content-type")) {
                req.headers.push(("Content-Type".into(), ct.into()));
            }
            req.body = Some(bytes.into_bytes());
        }

        let started = std::time::Instant::now();
        let dest = args.str("dest");
        let tmp = dest.map(|_| format!("/tmp/.hlprov-uri.{:016x}", rand::random::<u64>()));
        let body_to = match &tmp {
            Some(t) => BodyTo::File(t),
            None => BodyTo::Return,
        };
        let resp = http::request(ctx, &req, body_to).await?;
        let elapsed = started.elapsed().as_secs();

        let mut data = Map::new();
        if let Some(e) = &resp.error {
            if let Some(t) = &tmp {
                let _ = ctx.write(&format!("rm -f -- {}", quote(t)), None).await;
            }
            return Err(ModuleError::failed(format!("Status code was -1 and not {codes:?}: Request failed: {e}"))
                .with("status", -1)
                .with("url", url)
                .with("elapsed", elapsed)
                .with("redirected", false));
        }
        for (k, v) in &resp.headers {
            let key = k.replace('-', "_");
            let v = if key == "location" { http::join_url(url, v) } else { v.clone() };
            data.insert(key, Value::String(v));
        }
        let cookies: Map<String, Value> = resp
            .headers
            .iter()
            .filter(|(k, _)| k == "set-cookie")
            .filter_map(|(_, v)| v.split(';').next()?.split_once('=').map(|(n, val)| (n.trim().to_string(), Value::String(val.trim().to_string()))))
            .collect();
        let cookies_string = cookies.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or(""))).collect::<Vec<_>>().join("; ");
        let msg = if resp.status < 400 {
            format!("OK ({} bytes)", resp.header("content-length").unwrap_or("unknown"))
        } else {
            format!("HTTP Error {}: {}", resp.status, resp.reason)
        };
        let mut o = Outcome { data, ..Default::default() }
            .with("status", resp.status)
            .with("url", resp.url.clone())
            .with("redirected", resp.url != url)
            .with("elapsed", elapsed)
            .with("cookies", Value::Object(cookies))
            .with("cookies_string", cookies_string);
        let ok = codes.contains(&resp.status);
        let content_type = resp.header("content-type").unwrap_or("").to_string();
        let body = resp.body.clone().unwrap_or_default();
        let text = String::from_utf8_lossy(&body).into_owned();
        if dest.is_none() && is_json(&content_type) {
            if let Ok(j) = serde_json::from_str::<Value>(&text) {
                o = o.with("json", j);
            }
        }
        if let (Some(dest), Some(t)) = (dest, &tmp) {
            // Keep the body at dest when the status is one we accept (and not 304).
            let final_dest = format!("d={}; [ -d \"$d\" ] && d=\"${{d%/}}\"/{}; ", quote(dest), quote(&super::get_url::url_filename(&resp.url)));
            let script = if ok && resp.status != 304 {
                format!("{final_dest}mv -f -- {} \"$d\" && printf '%s' \"$d\"", quote(t))
            } else {
                format!("{final_dest}rm -f -- {}; printf '%s' \"$d\"", quote(t))
            };
            let out = ctx.write_ok(&script, None, "saving the response").await?;
            if ok && resp.status != 304 {
                o.changed = true;
            }
            o = o.with("path", out.stdout_text());
        }
        if !ok {
            if args.bool("return_content") {
                o = o.with("content", text);
            }
            let mut e = ModuleError::failed(format!("Status code was {} and not {codes:?}: {msg}", resp.status));
            if let ModuleError::Failed(f) = &mut e {
                (f.data, f.changed) = (o.data, o.changed);
            }
            return Err(e);
        }
        if args.bool("return_content") {
            o = o.with("content", text);
        }
        Ok(o.msg(msg))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_content_types() {
        assert!(is_json("application/json; charset=utf-8"));
        assert!(is_json("application/problem+json"));
        assert!(!is_json("text/html"));
    }

    #[test]
    fn forms_encode_like_urlencode() {
        assert_eq!(form_urlencode(&serde_json::json!({"a": "x y", "b": "&="})).unwrap(), "a=x+y&b=%26%3D");
        assert_eq!(form_urlencode(&serde_json::json!([["k", 1]])).unwrap(), "k=1");
        assert!(form_urlencode(&serde_json::json!(5)).is_err());
    }
}
