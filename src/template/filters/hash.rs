//! Digest filters: hash (sha1, sha224, sha256, sha384, sha512; md5 is not offered), checksum (sha1),
//! password_hash (sha512-crypt, the `$6$` format of /etc/shadow).

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
        "sha1" => hex::encode(sha1::Sha1::digest(data)),
        "sha224" => hex::encode(sha2::Sha224::digest(data)),
        "sha256" => hex::encode(sha2::Sha256::digest(data)),
        "sha384" => hex::encode(sha2::Sha384::digest(data)),
        "sha512" => hex::encode(sha2::Sha512::digest(data)),
        other => return Err(fail(format!("hash: unsupported hash type '{other}' (hlprov offers sha1, sha224, sha256, sha384, sha512)"))),
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
