//! Digest filters: hash (md5, sha1, sha224, sha256, sha384, sha512), md5, checksum and sha1 (sha1),
//! password_hash (sha512-crypt, the `$6$` format of /etc/shadow), to_uuid (a name-based UUID).

use minijinja::value::{Kwargs, Value};
use minijinja::{Environment, Error};
use sha2::Digest;

use super::text::text_of;
use super::{add, fail, sha512_crypt};

pub fn register(env: &mut Environment<'static>) {
    add(env, "hash", hash);
    add(env, "checksum", checksum);
    add(env, "password_hash", password_hash);
    add(env, "age_recipient", age_recipient);
    add(env, "sha1", |v: &Value| text_of(v).and_then(|s| digest_hex("sha1", s.as_bytes())));
    add(env, "md5", |v: &Value| text_of(v).and_then(|s| digest_hex("md5", s.as_bytes())));
    add(env, "to_uuid", |v: &Value, ns: Option<String>, kw: Kwargs| -> Result<String, Error> {
        let ns = kw.get::<Option<String>>("namespace")?.or(ns);
        kw.assert_all_used()?;
        to_uuid(&text_of(v)?, ns.as_deref())
    });
}

/// Ansible's namespace for `to_uuid`.
const UUID_NAMESPACE_ANSIBLE: &str = "361e6d51-faec-444a-9079-341386da8e2e";

/// A name-based UUID (version 5, SHA-1) as Python's `uuid.uuid5(namespace, name)` makes it.
fn to_uuid(name: &str, namespace: Option<&str>) -> Result<String, Error> {
    let ns_text = namespace.unwrap_or(UUID_NAMESPACE_ANSIBLE);
    let ns = hex::decode(ns_text.replace('-', ""))
        .ok()
        .filter(|b| b.len() == 16)
        .ok_or_else(|| fail(format!("Invalid value '{ns_text}' for 'namespace': badly formed hexadecimal UUID string")))?;
    let mut h = sha1::Sha1::new();
    h.update(&ns);
    h.update(name.as_bytes());
    let mut b: Vec<u8> = h.finalize()[..16].to_vec();
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let x = hex::encode(b);
    Ok(format!("{}-{}-{}-{}-{}", &x[..8], &x[8..12], &x[12..16], &x[16..20], &x[20..]))
}

/// hlprov's own filter: the public recipient (`age1…`) of an age identity (`AGE-SECRET-KEY-1…`), to check that
/// a key is one `.sops.yaml` encrypts to. Text holding several identities or comments gives the first's.
fn age_recipient(value: &Value) -> Result<String, Error> {
    use std::str::FromStr;
    let text = value.as_str().ok_or_else(|| fail("age_recipient needs an age identity (a string)"))?;
    let line = text.lines().map(str::trim).find(|l| l.starts_with("AGE-SECRET-KEY-"));
    let id = line
        .and_then(|l| age::x25519::Identity::from_str(l).ok())
        .ok_or_else(|| fail("age_recipient: no valid AGE-SECRET-KEY-1… identity in the value"))?;
    Ok(id.to_public().to_string())
}

pub fn digest_hex(algo: &str, data: &[u8]) -> Result<String, Error> {
    Ok(match algo {
        "md5" => format!("{:x}", md5::compute(data)),
        "sha1" => hex::encode(sha1::Sha1::digest(data)),
        "sha224" => hex::encode(sha2::Sha224::digest(data)),
        "sha256" => hex::encode(sha2::Sha256::digest(data)),
        "sha384" => hex::encode(sha2::Sha384::digest(data)),
        "sha512" => hex::encode(sha2::Sha512::digest(data)),
        other => return Err(fail(format!("hash: unsupported hash type '{other}' (hlprov offers md5, sha1, sha224, sha256, sha384, sha512)"))),
    })
}

fn hash(value: &Value, algo: Option<String>) -> Result<String, Error> {
    digest_hex(algo.as_deref().unwrap_or("sha1"), text_of(value)?.as_bytes())
}

fn checksum(value: &Value) -> Result<String, Error> {
    digest_hex("sha1", text_of(value)?.as_bytes())
}

/// `password | password_hash('sha512', salt, rounds=5000)`; without a salt a random 16-character one is used.
fn password_hash(value: &Value, hashtype: Option<String>, salt: Option<Value>, kwargs: Kwargs) -> Result<String, Error> {
    let password = text_of(value)?;
    let hashtype = hashtype.unwrap_or_else(|| "sha512".into());
    if hashtype != "sha512" && hashtype != "sha512_crypt" {
        return Err(fail(format!("password_hash: hlprov supports 'sha512', not '{hashtype}'")));
    }
    let salt = match salt.filter(|s| !s.is_none()).or(kwargs.get::<Option<Value>>("salt")?) {
        Some(s) => s.as_str().map(str::to_string).ok_or_else(|| fail("password_hash: salt must be a string"))?,
        None => random_salt(),
    };
    if !salt.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '/') {
        return Err(fail("password_hash: salt may only contain letters, digits, '.' and '/'"));
    }
    let rounds = kwargs.get::<Option<u32>>("rounds")?.unwrap_or(sha512_crypt::DEFAULT_ROUNDS);
    let _: Option<Value> = kwargs.get("salt_size")?;
    let _: Option<Value> = kwargs.get("ident")?;
    Ok(sha512_crypt::hash(password.as_bytes(), &salt, rounds))
}

fn random_salt() -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::thread_rng();
    (0..16).map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char).collect()
}
