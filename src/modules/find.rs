//! find: the files under some folders that match name patterns, type, age, size and content, as Ansible's
//! `find` returns them (`files`, each with its stat fields, `matched`, `examined`, `skipped_paths`). One round
//! trip lists everything with GNU find's `-printf`; a second reads contents only when `contains` asks for it.
//! Never changes anything.

use serde_json::{Map, Value, json};

use super::{ArgKind, ArgSpec, Args, Module, ModuleCtx, ModuleError, ModuleSpec, Plan};
use crate::transport::quote::quote;

pub struct Find;

static SPEC: ModuleSpec = ModuleSpec::new(&[
    ArgSpec::new("paths", ArgKind::List).required().aliases(&["name", "path"]).help("Folders to search."),
    ArgSpec::new("patterns", ArgKind::List)
        .aliases(&["pattern"])
        .help("Shell globs (or Python regexes with use_regex) the file's name must match, any of them; all names when empty."),
    ArgSpec::new("excludes", ArgKind::List).aliases(&["exclude"]).help("Globs (or regexes) of names to leave out."),
    ArgSpec::new("use_regex", ArgKind::Bool)
        .default("no")
        .help("patterns and excludes are regular expressions (matched at the start of the name, as re.match)."),
    ArgSpec::new("file_type", ArgKind::Str).choices(&["any", "directory", "file", "link"]).default("file").help("What kind of entry to return."),
    ArgSpec::new("recurse", ArgKind::Bool).default("no").help("Look in sub-folders too."),
    ArgSpec::new("depth", ArgKind::Int).help("With recurse, how many levels down at most."),
    ArgSpec::new("hidden", ArgKind::Bool).default("no").help("Include names starting with a dot."),
    ArgSpec::new("follow", ArgKind::Bool).default("no").help("Follow symlinks to folders."),
    ArgSpec::new("age", ArgKind::Str).help("At least this old (`2d`, `3h`, `1w`; seconds without a unit), or at most with a leading `-`."),
    ArgSpec::new("age_stamp", ArgKind::Str).choices(&["atime", "ctime", "mtime"]).default("mtime").help("Which time age looks at."),
    ArgSpec::new("size", ArgKind::Str).help("At least this size (`10m`, `1g`, `512k`; bytes without a unit), or at most with a leading `-`."),
    ArgSpec::new("contains", ArgKind::Str).help("A regular expression the file's content must match (files only)."),
    ArgSpec::new("get_checksum", ArgKind::Bool).default("no").help("Add each file's sha1 checksum."),
]);

#[async_trait::async_trait]
impl Module for Find {
    fn name(&self) -> &'static str {
        "find"
    }
    fn summary(&self) -> &'static str {
        "List files under folders by name, type, age, size and content"
    }
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }
    fn notes(&self) -> &'static str {
        "Needs GNU find (findutils, essential on Debian) and, for `contains`, grep. Files come sorted by path (Ansible: \
         the order of os.walk). `contains` is matched at the start of each line, as Ansible's re.match does, with \
         grep's extended regular expressions (Python's `re` syntax mostly agrees); `read_whole_file`, `mode`/`exact_mode` and `encoding` are not offered."
    }
    async fn plan(&self, ctx: &ModuleCtx<'_>, args: &Args) -> Result<Plan, ModuleError> {
        let filter = Filter::from_args(args)?;
        let out = ctx.read(&list_script(args)).await?;
        if !out.success() {
            return Err(ModuleError::failed(format!("find failed: {}", out.stderr_text().trim())));
        }
        let text = out.stdout_text();
        let mut entries = Vec::new();
        let mut skipped = Map::new();
        let mut examined = 0;
        for record in text.split('\0').filter(|r| !r.is_empty()) {
            if let Some(path) = record.strip_prefix("SKIP\t") {
                skipped.insert(path.to_string(), json!(format!("'{path}' is not a directory")));
                continue;
            }
            let Some(e) = Entry::parse(record) else { continue };
            examined += 1;
            if filter.keeps(&e) {
                entries.push(e);
            }
        }
        entries.sort_by(|a, b| a.path.cmp(&b.path));
        if let Some(re) = args.str("contains") {
            let files: Vec<&str> = entries.iter().filter(|e| e.kind == 'f').map(|e| e.path.as_str()).collect();
            let hits = if files.is_empty() {
                Vec::new()
            } else {
                // Ansible matches each line with re.match: anchored at the line's start.
                let script = format!(
                    "grep -lsE -e {} -- {} || true",
                    quote(&format!("^({re})")),
                    files.iter().map(|f| quote(f)).collect::<Vec<_>>().join(" ")
                );
                ctx.read(&script).await?.stdout_text().lines().map(str::to_string).collect()
            };
            entries.retain(|e| e.kind == 'f' && hits.contains(&e.path));
        }
        let mut files: Vec<Value> = entries.iter().map(Entry::to_value).collect();
        if args.bool("get_checksum") {
            let regular: Vec<&str> = entries.iter().filter(|e| e.kind == 'f').map(|e| e.path.as_str()).collect();
            if !regular.is_empty() {
                let script = format!("sha1sum -- {}", regular.iter().map(|f| quote(f)).collect::<Vec<_>>().join(" "));
                let sums = ctx.read(&script).await?.stdout_text();
                for line in sums.lines() {
                    if let Some((sum, path)) = line.split_once("  ") {
                        if let Some(f) = files.iter_mut().find(|f| f["path"] == path) {
                            f["checksum"] = json!(sum);
                        }
                    }
                }
            }
        }
        let matched = files.len();
        let msg = if skipped.is_empty() { "All paths examined" } else { "Not all paths examined, check warnings for details" };
        Ok(Plan::unchanged()
            .with("files", Value::Array(files))
            .with("matched", matched)
            .with("examined", examined)
            .with("skipped_paths", Value::Object(skipped))
            .with("msg", msg))
    }
}

/// One `find -printf` per path: type, mode, size, uid, gid, owner, group, mtime, atime, ctime, inode, device,
/// links, path; a path that is not a readable folder is reported as `SKIP`.
fn list_script(args: &Args) -> String {
    let follow = if args.bool("follow") { "-L " } else { "" };
    // Ansible walks every level when recursing and applies `depth` to what it returns (so `examined` counts
    // them all); the filter does the same with find's %d.
    let depth = if args.bool("recurse") { "" } else { " -maxdepth 1" };
    let mut script = String::new();
    for p in args.list("paths") {
        script.push_str(&format!(
            "if [ -d {q} ] && [ -r {q} ]; then find {follow}{q} -mindepth 1{depth} -printf '%y\\t%m\\t%s\\t%U\\t%G\\t%u\\t%g\\t%T@\\t%A@\\t%C@\\t%i\\t%D\\t%n\\t%d\\t%p\\0' 2>/dev/null; \
             else printf 'SKIP\\t%s\\0' {q}; fi; ",
            q = quote(&p)
        ));
    }
    script.push_str("exit 0");
    script
}

/// One listed entry.
struct Entry {
    kind: char,
    mode: u32,
    size: u64,
    uid: u64,
    gid: u64,
    owner: String,
    group: String,
    mtime: f64,
    atime: f64,
    ctime: f64,
    inode: u64,
    dev: u64,
    nlink: u64,
    depth: i64,
    path: String,
}

impl Entry {
    fn parse(record: &str) -> Option<Entry> {
        let f: Vec<&str> = record.splitn(15, '\t').collect();
        if f.len() != 15 {
            return None;
        }
        Some(Entry {
            kind: f[0].chars().next()?,
            mode: u32::from_str_radix(f[1], 8).ok()?,
            size: f[2].parse().ok()?,
            uid: f[3].parse().ok()?,
            gid: f[4].parse().ok()?,
            owner: f[5].into(),
            group: f[6].into(),
            mtime: f[7].parse().ok()?,
            atime: f[8].parse().ok()?,
            ctime: f[9].parse().ok()?,
            inode: f[10].parse().ok()?,
            dev: f[11].parse().ok()?,
            nlink: f[12].parse().ok()?,
            depth: f[13].parse().ok()?,
            path: f[14].into(),
        })
    }

    fn name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }

    /// Ansible's stat fields for a found file.
    fn to_value(&self) -> Value {
        let m = self.mode;
        let bit = |b: u32| m & b != 0;
        json!({
            "path": self.path, "mode": format!("{:04o}", m & 0o7777),
            "isdir": self.kind == 'd', "isreg": self.kind == 'f', "islnk": self.kind == 'l', "ischr": self.kind == 'c',
            "isblk": self.kind == 'b', "isfifo": self.kind == 'p', "issock": self.kind == 's',
            "uid": self.uid, "gid": self.gid, "pw_name": self.owner, "gr_name": self.group, "size": self.size,
            "inode": self.inode, "dev": self.dev, "nlink": self.nlink, "atime": self.atime, "mtime": self.mtime, "ctime": self.ctime,
            "rusr": bit(0o400), "wusr": bit(0o200), "xusr": bit(0o100), "rgrp": bit(0o40), "wgrp": bit(0o20), "xgrp": bit(0o10),
            "roth": bit(0o4), "woth": bit(0o2), "xoth": bit(0o1), "isuid": bit(0o4000), "isgid": bit(0o2000),
        })
    }
}

/// What an entry must be to be returned (everything but `contains`, which needs the content).
struct Filter {
    patterns: Vec<regex::Regex>,
    excludes: Vec<regex::Regex>,
    file_type: String,
    hidden: bool,
    age: Option<(f64, &'static str)>,
    size: Option<i64>,
    depth: Option<i64>,
    now: f64,
}

impl Filter {
    fn from_args(args: &Args) -> Result<Filter, ModuleError> {
        let regex = args.bool("use_regex");
        let compile = |p: &String| -> Result<regex::Regex, ModuleError> {
            let src = if regex { format!("^(?:{p})") } else { fnmatch(p) };
            regex::Regex::new(&src).map_err(|e| ModuleError::Args(format!("pattern '{p}': {e}")))
        };
        let age = match args.str("age") {
            None => None,
            Some(a) => Some((
                seconds(a).ok_or_else(|| ModuleError::Args(format!("failed to process age '{a}'")))?,
                match args.str("age_stamp") {
                    Some("atime") => "atime",
                    Some("ctime") => "ctime",
                    _ => "mtime",
                },
            )),
        };
        let size = match args.str("size") {
            None => None,
            Some(s) => Some(bytes(s).ok_or_else(|| ModuleError::Args(format!("failed to process size '{s}'")))?),
        };
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
        Ok(Filter {
            patterns: args.list("patterns").iter().map(compile).collect::<Result<_, _>>()?,
            excludes: args.list("excludes").iter().map(compile).collect::<Result<_, _>>()?,
            file_type: args.str("file_type").unwrap_or("file").to_string(),
            hidden: args.bool("hidden"),
            age,
            size,
            depth: if args.bool("recurse") { args.int("depth") } else { None },
            now,
        })
    }

    fn keeps(&self, e: &Entry) -> bool {
        let name = e.name();
        let type_ok = match self.file_type.as_str() {
            "file" => e.kind == 'f',
            "directory" => e.kind == 'd',
            "link" => e.kind == 'l',
            _ => true,
        };
        let name_ok = (self.patterns.is_empty() || self.patterns.iter().any(|p| p.is_match(name))) && !self.excludes.iter().any(|p| p.is_match(name));
        let hidden_ok = self.hidden || !name.starts_with('.');
        let age_ok = self.age.is_none_or(|(limit, stamp)| {
            let t = match stamp {
                "atime" => e.atime,
                "ctime" => e.ctime,
                _ => e.mtime,
            };
            let age = self.now - t;
            if limit >= 0.0 { age >= limit } else { age <= -limit }
        });
        // Ansible compares sizes of files only; folders pass.
        let size_ok = self.size.is_none_or(|limit| e.kind != 'f' || if limit >= 0 { e.size as i64 >= limit } else { e.size as i64 <= -limit });
        let depth_ok = self.depth.is_none_or(|d| e.depth <= d);
        type_ok && name_ok && hidden_ok && age_ok && size_ok && depth_ok
    }
}

/// Python's `fnmatch.translate`: `*`, `?`, `[...]` (with `!` for negation), the whole name.
fn fnmatch(p: &str) -> String {
    let mut out = String::from("^(?s:");
    let mut chars = p.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' => out.push_str(".*"),
            '?' => out.push('.'),
            '[' => {
                let class: String = chars.by_ref().take_while(|c| *c != ']').collect();
                let class = class.strip_prefix('!').map_or(class.clone(), |rest| format!("^{rest}"));
                out.push_str(&format!("[{}]", class.replace('\\', "\\\\")));
            }
            c => out.push_str(&regex::escape(&c.to_string())),
        }
    }
    out.push_str(")$");
    out
}

/// `2d`, `-3h`, `1w`, `90`: seconds (negative for "at most").
fn seconds(a: &str) -> Option<f64> {
    let (neg, body) = a.strip_prefix('-').map_or((false, a), |b| (true, b));
    let (num, unit) = body.split_at(body.find(|c: char| !c.is_ascii_digit()).unwrap_or(body.len()));
    let n: f64 = num.parse().ok()?;
    let mult = match unit.to_ascii_lowercase().as_str() {
        "" | "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86400.0,
        "w" => 604800.0,
        _ => return None,
    };
    Some(if neg { -n * mult } else { n * mult })
}

/// `10m`, `-1k`, `512`: bytes (negative for "at most").
fn bytes(s: &str) -> Option<i64> {
    let (neg, body) = s.strip_prefix('-').map_or((false, s), |b| (true, b));
    let (num, unit) = body.split_at(body.find(|c: char| !c.is_ascii_digit()).unwrap_or(body.len()));
    let n: i64 = num.parse().ok()?;
    let mult: i64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        _ => return None,
    };
    Some(if neg { -n * mult } else { n * mult })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_ages_and_sizes_read_as_ansibles_find_reads_them() {
        let m = |p: &str, name: &str| regex::Regex::new(&fnmatch(p)).unwrap().is_match(name);
        assert!(m("*.conf", "a.conf") && !m("*.conf", "a.conf.bak") && m("file?.[!x]", "file1.y") && !m("file?.[!x]", "file1.x"));
        assert_eq!(seconds("2d"), Some(172800.0));
        assert_eq!(seconds("-1w"), Some(-604800.0));
        assert_eq!(bytes("10m"), Some(10 << 20));
        assert_eq!(bytes("-1k"), Some(-1024));
        assert_eq!(seconds("2y"), None);
    }
}
