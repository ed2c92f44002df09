//! stat: everything about a path (type, mode and permission flags, owner, size, times, checksum, link target,
//! MIME type, file attributes) in the shape of Ansible's `stat` result, in one round trip. Never changes anything.

use base64::Engine;
use serde_json::{Map, Value};

use super::{ArgKind, ArgSpec, Args, Module, ModuleCtx, ModuleError, ModuleSpec, Plan};
use crate::transport::quote::quote;

pub struct Stat;

static SPEC: ModuleSpec = ModuleSpec::new(&[
    ArgSpec::new("path", ArgKind::Path).required().aliases(&["dest", "name"]).help("The path to describe."),
    ArgSpec::new("follow", ArgKind::Bool).default("no").help("Describe what a symlink points to instead of the link."),
    ArgSpec::new("get_checksum", ArgKind::Bool).default("yes").help("Compute the checksum of a regular file."),
    ArgSpec::new("checksum_algorithm", ArgKind::Str)
        .aliases(&["checksum", "checksum_algo"])
        .choices(&["md5", "sha1", "sha224", "sha256", "sha384", "sha512"])
        .default("sha1")
        .help("Algorithm of the checksum."),
    ArgSpec::new("get_mime", ArgKind::Bool)
        .aliases(&["mime", "mime_type", "mime-type"])
        .default("yes")
        .help("Report mimetype and charset (needs the `file` command on the host; 'unknown' otherwise)."),
    ArgSpec::new("get_attributes", ArgKind::Bool)
        .aliases(&["attr", "attributes"])
        .default("yes")
        .help("Report file attributes (needs `lsattr` on the host)."),
]);

/// Ansible's names for lsattr's flags.
const FILE_ATTRIBUTES: &[(char, &str)] = &[
    ('A', "noatime"),
    ('a', "append"),
    ('c', "compressed"),
    ('C', "nocow"),
    ('d', "nodump"),
    ('D', "dirsync"),
    ('e', "extents"),
    ('E', "encrypted"),
    ('h', "blocksize"),
    ('i', "immutable"),
    ('I', "indexed"),
    ('j', "journalled"),
    ('N', "inline"),
    ('s', "zero"),
    ('S', "synchronous"),
    ('t', "notail"),
    ('T', "blockroot"),
    ('u', "undelete"),
    ('X', "compressedraw"),
    ('Z', "compresseddirty"),
];

#[async_trait::async_trait]
impl Module for Stat {
    fn name(&self) -> &'static str {
        "stat"
    }
    fn summary(&self) -> &'static str {
        "Describe a path on the host (exists, type, mode, owner, size, times, checksum, ...)"
    }
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }
    fn notes(&self) -> &'static str {
        "Needs GNU coreutils on the host. The `file` and `lsattr` commands are used when present, as Ansible does. \
         Times have nanosecond precision as the host reports them; SELinux context is not reported."
    }
    async fn plan(&self, ctx: &ModuleCtx<'_>, args: &Args) -> Result<Plan, ModuleError> {
        let path = args.req("path")?;
        let out = ctx.read(&script(path, args)).await?;
        let text = out.stdout_text();
        if !out.success() {
            return Err(ModuleError::failed(out.stderr_text().trim().to_string()));
        }
        let stat = parse(path, args, &text)?;
        Ok(Plan::unchanged().with("stat", Value::Object(stat)))
    }
}

fn script(path: &str, args: &Args) -> String {
    let st = if args.bool("follow") { "stat -L" } else { "stat" };
    let mut s = format!(
        "p={}; if [ ! -e \"$p\" ] {}; then echo exists=0; exit 0; fi; \
         {st} -c 'fmode=%f\nuid=%u\ngid=%g\nsize=%s\ninode=%i\ndev=%d\nnlink=%h\natime=%.9X\nmtime=%.9Y\nctime=%.9Z\nblocks=%b\nblock_size=%o\nrmajor=%t\nrminor=%T\npw_name=%U\ngr_name=%G' -- \"$p\" || exit 1; \
         [ -r \"$p\" ] && echo readable=1; [ -w \"$p\" ] && echo writeable=1; [ -x \"$p\" ] && echo executable=1; ",
        quote(path),
        // A followed link to nothing does not exist, as for Python's os.stat.
        if args.bool("follow") { "" } else { "&& [ ! -L \"$p\" ]" }
    );
    if !args.bool("follow") {
        s.push_str("if [ -L \"$p\" ]; then printf 'lnk_source64=%s\\n' \"$(readlink -n -f -- \"$p\" | base64 -w0)\"; printf 'lnk_target64=%s\\n' \"$(readlink -n -- \"$p\" | base64 -w0)\"; fi; ");
    }
    if args.bool("get_checksum") {
        let algo = args.str("checksum_algorithm").unwrap_or("sha1");
        // Only a regular file (as stat sees it, so not a link unless followed) that can be read.
        s.push_str(&format!(
            "if [ \"$({st} -c %F -- \"$p\")\" = 'regular file' ] || [ \"$({st} -c %F -- \"$p\")\" = 'regular empty file' ]; then [ -r \"$p\" ] && printf 'checksum=%s\\n' \"$({algo}sum < \"$p\" | cut -d' ' -f1)\"; fi; "
        ));
    }
    if args.bool("get_mime") {
        s.push_str(
            "if command -v file >/dev/null 2>&1; then printf 'mime=%s\\n' \"$(file -b --mime-type --mime-encoding -- \"$p\" 2>/dev/null)\"; fi; ",
        );
    }
    if args.bool("get_attributes") {
        s.push_str("if command -v lsattr >/dev/null 2>&1; then printf 'lsattr=%s\\n' \"$(lsattr -vd -- \"$p\" 2>/dev/null | head -n1)\"; fi; ");
    }
    s.push_str("exit 0");
    s
}

fn parse(path: &str, args: &Args, text: &str) -> Result<Map<String, Value>, ModuleError> {
    let mut kv = Map::new();
    let mut raw = std::collections::HashMap::new();
    for line in text.lines() {
        if let Some((k, v)) = line.split_once('=') {
            raw.insert(k.to_string(), v.to_string());
        }
    }
    if raw.get("exists").map(String::as_str) == Some("0") {
        kv.insert("exists".into(), false.into());
        return Ok(kv);
    }
    let get = |k: &str| raw.get(k).cloned().unwrap_or_default();
    let num = |k: &str| get(k).parse::<u64>().unwrap_or(0);
    let float = |k: &str| get(k).parse::<f64>().map(Value::from).unwrap_or(Value::Null);
    let bad = || ModuleError::Internal(format!("stat of {path}: unexpected output"));
    let fmode = u32::from_str_radix(raw.get("fmode").ok_or_else(bad)?, 16).map_err(|_| bad())?;
    let kind = fmode & 0o170000;
    let b64 = |k: &str| {
        raw.get(k).map(|v| base64::engine::general_purpose::STANDARD.decode(v).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default())
    };
    kv.insert("exists".into(), true.into());
    kv.insert("path".into(), path.into());
    kv.insert("mode".into(), format!("{:04o}", fmode & 0o7777).into());
    for (key, bits) in [
        ("isdir", 0o040000),
        ("ischr", 0o020000),
        ("isblk", 0o060000),
        ("isreg", 0o100000),
        ("isfifo", 0o010000),
        ("islnk", 0o120000),
        ("issock", 0o140000),
    ] {
        kv.insert(key.into(), (kind == bits).into());
    }
    for key in ["uid", "gid", "size", "inode", "dev", "nlink"] {
        kv.insert(key.into(), num(key).into());
    }
    for key in ["atime", "mtime", "ctime"] {
        kv.insert(key.into(), float(key));
    }
    for (key, bit) in [
        ("wusr", 0o200),
        ("rusr", 0o400),
        ("xusr", 0o100),
        ("wgrp", 0o020),
        ("rgrp", 0o040),
        ("xgrp", 0o010),
        ("woth", 0o002),
        ("roth", 0o004),
        ("xoth", 0o001),
        ("isuid", 0o4000),
        ("isgid", 0o2000),
    ] {
        kv.insert(key.into(), (fmode & bit != 0).into());
    }
    kv.insert("blocks".into(), num("blocks").into());
    kv.insert("block_size".into(), num("block_size").into());
    let (major, minor) = (u64::from_str_radix(&get("rmajor"), 16).unwrap_or(0), u64::from_str_radix(&get("rminor"), 16).unwrap_or(0));
    kv.insert("device_type".into(), makedev(major, minor).into());
    for key in ["readable", "writeable", "executable"] {
        kv.insert(key.into(), raw.contains_key(key).into());
    }
    if let (Some(src), Some(target)) = (b64("lnk_source64"), b64("lnk_target64")) {
        kv.insert("lnk_source".into(), src.into());
        kv.insert("lnk_target".into(), target.into());
    }
    // stat prints UNKNOWN for ids without a name; Ansible then leaves the key out.
    for key in ["pw_name", "gr_name"] {
        if let Some(v) = raw.get(key).filter(|v| *v != "UNKNOWN") {
            kv.insert(key.into(), v.clone().into());
        }
    }
    if let Some(c) = raw.get("checksum") {
        kv.insert("checksum".into(), c.clone().into());
    }
    if args.bool("get_mime") {
        // Ansible's answer when the `file` command is missing or fails.
        let (mut mt, mut cs) = ("unknown".to_string(), "unknown".to_string());
        if let Some((a, b)) = raw.get("mime").and_then(|m| m.split_once(';')) {
            (mt, cs) = (a.trim().to_string(), b.trim().trim_start_matches("charset=").trim().to_string());
        }
        kv.insert("mimetype".into(), mt.into());
        kv.insert("charset".into(), cs.into());
    }
    if args.bool("get_attributes") {
        let (mut version, mut flags) = (Value::Null, String::new());
        if let [v, f, ..] = raw.get("lsattr").map(|l| l.split_whitespace().collect::<Vec<_>>()).unwrap_or_default().as_slice() {
            (version, flags) = (Value::from(v.to_string()), f.replace('-', ""));
        }
        let names: Vec<Value> = flags.chars().filter_map(|c| FILE_ATTRIBUTES.iter().find(|(f, _)| *f == c).map(|(_, n)| Value::from(*n))).collect();
        kv.insert("version".into(), version);
        kv.insert("attributes".into(), Value::Array(names));
        kv.insert("attr_flags".into(), flags.into());
    }
    Ok(kv)
}

/// glibc's makedev: how Python reports st_rdev.
fn makedev(major: u64, minor: u64) -> u64 {
    ((major & 0xffff_f000) << 32) | ((major & 0xfff) << 8) | ((minor & 0xffff_ff00) << 12) | (minor & 0xff)
}
