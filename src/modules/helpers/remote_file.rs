//! Files on the target, as modules need them: one round trip to learn everything about a path (type, mode,
//! owner, size, checksum, and the content when a diff is wanted), and atomic writes (temp file in the same
//! folder, fsync, rename) that keep the old file's owner and mode, can validate the new content first, and
//! refuse to overwrite a file that changed since it was probed.

use base64::Engine;

use serde_json::{Map, Value};

use super::mode;
use crate::modules::{ApplyCtx, Args, Diff, ModuleCtx, ModuleError};
use crate::transport::quote::quote;

/// Largest file whose old content is fetched for `--diff` (Ansible's limit is about the same).
pub const MAX_DIFF_BYTES: u64 = 256 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Link,
    Other,
}

/// What a path is on the target.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FileState {
    pub exists: bool,
    pub kind: Option<Kind>,
    /// Permission bits (07777).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub owner: String,
    pub group: String,
    pub size: u64,
    /// Hard links to it (Ansible calls a file with more than one `hard`).
    pub nlink: u64,
    pub inode: u64,
    /// Where a symlink points, as written in the link.
    pub link_target: Option<String>,
    /// For a symlink: the absolute path it resolves to (`readlink -f`), what content edits write to.
    pub real_path: Option<String>,
    /// sha256 of a regular file's content (hex).
    pub sha256: Option<String>,
    /// sha1, when asked for (stat's checksum, Ansible's default algorithm).
    pub sha1: Option<String>,
    /// The content, when asked for and small enough.
    pub content: Option<Vec<u8>>,
}

impl FileState {
    pub fn is_file(&self) -> bool {
        self.kind == Some(Kind::File)
    }
    pub fn is_dir(&self) -> bool {
        self.kind == Some(Kind::Dir)
    }
    pub fn is_link(&self) -> bool {
        self.kind == Some(Kind::Link)
    }
    /// Ansible's name for what the path is: absent, file, directory, link, hard (a file with several links).
    pub fn state_name(&self) -> &'static str {
        match self.kind {
            _ if !self.exists => "absent",
            Some(Kind::Link) => "link",
            Some(Kind::Dir) => "directory",
            _ if self.nlink > 1 => "hard",
            _ => "file",
        }
    }
    /// The content as text (lossy), or empty.
    pub fn text(&self) -> String {
        self.content.as_deref().map(|c| String::from_utf8_lossy(c).into_owned()).unwrap_or_default()
    }
}

/// What to fetch besides the basics.
#[derive(Clone, Copy, Debug, Default)]
pub struct Want {
    /// Fetch content up to this many bytes (0: never).
    pub content_up_to: u64,
    pub sha1: bool,
    /// Follow a symlink and describe its target instead.
    pub follow: bool,
}

/// The shell snippet that prints a path's state as `key=value` lines (content last, base64). It starts as few
/// processes as it can (one `stat`, one `sha256sum` for a file): on a busy host, process starts are what a
/// no-op run costs.
pub fn probe_script(path: &str, want: Want) -> String {
    probe_script_with(path, want, true)
}

/// [`probe_script`]; without `real`, a symlink's resolved path (`real64`) is left out.
fn probe_script_with(path: &str, want: Want, real: bool) -> String {
    let p = quote(path);
    let stat = if want.follow { "stat -L" } else { "stat" };
    // Link targets may hold any byte (newlines too), so they travel base64-encoded. A followed link that
    // leads nowhere is described as the link itself.
    let mut s = format!(
        "p={p}; if [ ! -e \"$p\" ] && [ ! -L \"$p\" ]; then echo exists=0; else echo exists=1; st='{stat}'; \
         {}if [ -L \"$p\" ] {}; then echo type=link; st=stat; printf target64=; readlink -n -- \"$p\" | base64 -w0; echo; \
         elif [ -d \"$p\" ]; then echo type=dir; elif [ -f \"$p\" ]; then echo type=file; else echo type=other; fi; \
         $st -c 'mode=%a\nuid=%u\ngid=%g\nowner=%U\ngroup=%G\nsize=%s\nnlink=%h\ninode=%i' -- \"$p\" || exit 1; ",
        if real { "if [ -L \"$p\" ]; then printf real64=; readlink -n -f -- \"$p\" | base64 -w0; echo; fi; " } else { "" },
        if want.follow { "&& [ ! -e \"$p\" ]" } else { "" }
    );
    // sha256sum prints "HASH  -"; the parser keeps the hash.
    s.push_str("if [ -f \"$p\" ] && [ -r \"$p\" ]; then printf sha256=; sha256sum < \"$p\" || echo; ");
    if want.sha1 {
        s.push_str("printf sha1=; sha1sum < \"$p\" || echo; ");
    }
    if want.content_up_to > 0 {
        s.push_str(&format!("if [ \"$(stat -L -c %s -- \"$p\")\" -le {} ]; then echo content:; base64 < \"$p\"; fi; ", want.content_up_to));
    }
    s.push_str("fi; fi");
    s
}

/// Parse what [`probe_script`] printed.
pub fn parse_probe(out: &str) -> Result<FileState, String> {
    let mut st = FileState::default();
    let mut lines = out.lines();
    let mut b64 = String::new();
    while let Some(line) = lines.next() {
        if line == "content:" {
            for l in lines.by_ref() {
                b64.push_str(l.trim());
            }
            let bytes = base64::engine::general_purpose::STANDARD.decode(b64.as_bytes()).map_err(|e| format!("bad content encoding: {e}"))?;
            st.content = Some(bytes);
            break;
        }
        let Some((k, v)) = line.split_once('=') else { continue };
        match k {
            "exists" => st.exists = v == "1",
            "type" => {
                st.kind = Some(match v {
                    "file" => Kind::File,
                    "dir" => Kind::Dir,
                    "link" => Kind::Link,
                    _ => Kind::Other,
                })
            }
            "target64" => st.link_target = Some(decode_path(v)?),
            "real64" => st.real_path = Some(decode_path(v)?),
            "nlink" => st.nlink = v.parse().unwrap_or(1),
            "inode" => st.inode = v.parse().unwrap_or(0),
            "mode" => st.mode = u32::from_str_radix(v, 8).map_err(|_| format!("bad mode {v}"))?,
            "uid" => st.uid = v.parse().unwrap_or(0),
            "gid" => st.gid = v.parse().unwrap_or(0),
            "owner" => st.owner = v.to_string(),
            "group" => st.group = v.to_string(),
            "size" => st.size = v.parse().unwrap_or(0),
            "sha256" => st.sha256 = v.split_whitespace().next().map(str::to_string),
            "sha1" => st.sha1 = v.split_whitespace().next().map(str::to_string),
            _ => {}
        }
    }
    Ok(st)
}

fn decode_path(v: &str) -> Result<String, String> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(v.as_bytes()).map_err(|e| format!("bad path encoding: {e}"))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Separates the paths' sections in [`probe_many`]'s output (never a valid `key=value` or base64 line).
const NEXT: &str = "--hlprov-next--";

/// Probe several paths in one round trip (a directory copy, `dest` and `dest/name`, a link and its target).
pub async fn probe_many(ctx: &ModuleCtx<'_>, paths: &[(String, Want)]) -> Result<Vec<FileState>, ModuleError> {
    if paths.is_empty() {
        return Ok(Vec::new());
    }
    let out = ctx.read(&probe_many_script(paths)).await?;
    if !out.success() {
        let names: Vec<&str> = paths.iter().map(|(p, _)| p.as_str()).collect();
        return Err(ModuleError::failed(format!("cannot inspect {}: {}", names.join(", "), out.stderr_text().trim())));
    }
    Ok(parse_probe_many(&out.stdout_text(), paths.len())?.0)
}

/// The script behind [`probe_many`], for modules that add their own reads to the same round trip. A path
/// probed twice is probed once, and following a path that is not a symlink gives what the plain probe gave
/// (`same=INDEX`): `file` asks for both views of every path, and most paths are not links. A followed link
/// takes its resolved path from the plain probe (`realof=INDEX`).
pub fn probe_many_script(paths: &[(String, Want)]) -> String {
    let mut s = String::new();
    for (i, (p, want)) in paths.iter().enumerate() {
        let same = |w: &Want| w.content_up_to == want.content_up_to && w.sha1 == want.sha1;
        let earlier = |follow: bool| paths[..i].iter().position(|(q, w)| q == p && same(w) && w.follow == follow);
        match (earlier(want.follow), want.follow.then(|| earlier(false)).flatten()) {
            (Some(j), _) => s.push_str(&format!("echo same={j}; ")),
            (None, Some(j)) => {
                s.push_str(&format!("if [ -L {} ]; then echo realof={j}; {}; else echo same={j}; fi; ", quote(p), probe_script_with(p, *want, false)))
            }
            (None, None) => s.push_str(&format!("{}; ", probe_script(p, *want))),
        }
        s.push_str(&format!("echo {NEXT}; "));
    }
    s
}

/// Parse [`probe_many_script`]'s output for `n` paths; returns the states and whatever was printed after them.
pub fn parse_probe_many(text: &str, n: usize) -> Result<(Vec<FileState>, &str), ModuleError> {
    let sections: Vec<&str> = text.splitn(n + 1, &format!("{NEXT}\n")).collect();
    if sections.len() != n + 1 {
        return Err(ModuleError::Internal(format!("inspecting {n} paths: unexpected output")));
    }
    let mut states: Vec<FileState> = Vec::with_capacity(n);
    for section in &sections[..n] {
        // Both markers are the first line of their section.
        let earlier = |key: &str| section.lines().next()?.strip_prefix(key)?.parse::<usize>().ok().filter(|j| *j < states.len());
        let st = match earlier("same=") {
            Some(j) => states[j].clone(),
            None => {
                let mut st = parse_probe(section).map_err(|e| ModuleError::Internal(format!("inspecting paths: {e}")))?;
                if let Some(j) = earlier("realof=") {
                    st.real_path = states[j].real_path.clone();
                }
                st
            }
        };
        states.push(st);
    }
    Ok((states, sections[n]))
}

/// Probe one path (one round trip; allowed in check mode).
pub async fn probe(ctx: &ModuleCtx<'_>, path: &str, want: Want) -> Result<FileState, ModuleError> {
    let out = ctx.read(&probe_script(path, want)).await?;
    if !out.success() {
        return Err(ModuleError::failed(format!("cannot inspect {path}: {}", out.stderr_text().trim())));
    }
    parse_probe(&out.stdout_text()).map_err(|e| ModuleError::Internal(format!("inspecting {path}: {e}")))
}

/// Owner, group and mode to give a file.
#[derive(Clone, Debug, Default)]
pub struct Attrs {
    pub owner: Option<String>,
    pub group: Option<String>,
    /// Octal permission bits.
    pub mode: Option<u32>,
}

/// A file write, planned: where, what, and how (see [`write_atomic`]).
#[derive(Clone, Debug, Default)]
pub struct WriteSpec {
    pub path: String,
    pub content: Vec<u8>,
    pub attrs: Attrs,
    /// Keep a timestamped copy of the old file (Ansible's `backup: yes`).
    pub backup: bool,
    /// A command that must accept the new content first; `%s` is the temp file (e.g. `visudo -cf %s`).
    pub validate: Option<String>,
    /// The sha256 the file had when probed (None: it did not exist); the write fails if it changed since.
    pub expect_sha256: Option<Option<String>>,
    /// Create missing parent folders first, each with these attributes (lineinfile's `create`, copy's
    /// `directory_mode` with owner and group).
    pub create_parents: Option<Attrs>,
    /// A symlink at path is removed and a file written in its place (copy without `follow`, as Ansible does).
    pub replace_symlink: bool,
}

impl WriteSpec {
    /// Write `content` to `path`, only if the file still is as probed (`probed_sha256`: None if it was absent).
    pub fn new(path: &str, content: impl Into<Vec<u8>>, probed_sha256: Option<&str>) -> WriteSpec {
        WriteSpec { path: path.to_string(), content: content.into(), expect_sha256: Some(probed_sha256.map(str::to_string)), ..Default::default() }
    }
}

/// What a write did.
#[derive(Clone, Debug, Default)]
pub struct Written {
    pub backup_file: Option<String>,
    /// The file as it is after the write (probed in the same round trip).
    pub after: FileState,
}

/// Write a file atomically, in one round trip: a temp file in the same folder, fsync, rename; the old file's
/// owner and mode kept unless `attrs` say otherwise; validated first if asked.
pub async fn write_atomic(ctx: &ApplyCtx<'_>, w: &WriteSpec) -> Result<Written, ModuleError> {
    let path = w.path.as_str();
    let p = quote(path);
    let dir = parent_dir(path);
    let d = quote(&dir);
    let mut s = String::from("set -e; ");
    if let Some(attrs) = &w.create_parents {
        s.push_str(&mkdirs_script(&dir, attrs));
    }
    s.push_str(&format!(
        "p={p}; [ -d {d} ] || {{ echo 'Destination directory {} does not exist' >&2; exit 1; }}; {}\
         t=$(mktemp {d}/{TEMP_PREFIX}$(self_id).XXXXXXXX); trap 'rm -f -- \"$t\"' EXIT; {TRAP_SIGNALS}cat > \"$t\"; ",
        dir.replace('\'', ""),
        stale_temp_cleanup(&d),
    ));
    if w.replace_symlink {
        s.push_str("if [ -L \"$p\" ]; then rm -f -- \"$p\"; fi; ");
    }
    // Keep the old file's owner and mode unless told otherwise.
    s.push_str(
        "if [ -e \"$p\" ]; then chown --reference=\"$p\" \"$t\" 2>/dev/null || true; chmod --reference=\"$p\" \"$t\"; else chmod 0644 \"$t\"; fi; ",
    );
    s.push_str(&attr_commands("\"$t\"", &w.attrs));
    // Validate after the attributes are set: some validators check them (sshd wants 0600 keys, …).
    if let Some(v) = &w.validate {
        if !v.contains("%s") {
            return Err(ModuleError::Args(format!("validate must contain %s (the file to check): '{v}'")));
        }
        let cmd = v.replace("%s", "\"$t\"");
        s.push_str(&format!("if ! out=$({cmd} 2>&1); then echo \"failed to validate: $out\" >&2; exit 3; fi; "));
    }
    if let Some(expect) = &w.expect_sha256 {
        match expect {
            Some(sum) => s.push_str(&format!(
                "[ -f \"$p\" ] && [ \"$(sha256sum < \"$p\" | cut -c1-64)\" = {} ] || {{ echo \"$p changed while hlprov was working on it; not overwriting\" >&2; exit 4; }}; ",
                quote(sum)
            )),
            None => s.push_str("if [ -e \"$p\" ]; then echo \"$p appeared while hlprov was working on it; not overwriting\" >&2; exit 4; fi; "),
        }
    }
    if w.backup {
        // Ansible's backup name: path.PID.YYYY-MM-DD@HH:MM:SS~
        s.push_str("b=; if [ -f \"$p\" ]; then b=\"$p.$$.$(date +%Y-%m-%d@%H:%M:%S~)\"; cp -p -- \"$p\" \"$b\"; fi; ");
    }
    s.push_str(&format!("sync \"$t\" 2>/dev/null || true; mv -f -- \"$t\" \"$p\"; trap - EXIT; sync {d} 2>/dev/null || true; "));
    if w.backup {
        s.push_str("if [ -n \"$b\" ]; then printf 'backup=%s\\n' \"$b\"; fi; ");
    }
    s.push_str(&after_probe(path));
    let out = ctx.write(&s, Some(&w.content)).await?;
    if !out.success() {
        return Err(ModuleError::failed(out.stderr_text().trim().to_string()));
    }
    let text = out.stdout_text();
    let (head, after) = split_after(&text)?;
    let backup_file = head.lines().find_map(|l| l.strip_prefix("backup=").map(str::to_string));
    Ok(Written { backup_file, after })
}

/// Temp files are `.hlprov-tmp.<pid>-<start time>.XXXXXXXX` beside their destination, so the rename is atomic.
const TEMP_PREFIX: &str = ".hlprov-tmp.";

/// The EXIT trap does not run when the shell dies of a signal; these make HUP, INT, TERM and PIPE exit instead,
/// which runs it. Only SIGKILL (or a host that stops) leaves a temp file, for [`stale_temp_cleanup`].
const TRAP_SIGNALS: &str = "trap 'exit 129' HUP; trap 'exit 130' INT; trap 'exit 143' TERM; trap 'exit 141' PIPE; ";

/// Shell functions: `self_id` names this shell (`pid-starttime`, unique even after pids are reused), and
/// `alive ID` says whether that process still runs (start time from /proc/PID/stat, field 22).
const PROC_ID_FUNCS: &str = "start_of() { s=$(cat \"/proc/$1/stat\" 2>/dev/null) || return 1; s=${s##*) }; set -- $s; echo \"${20}\"; }; \
     self_id() { echo \"$$-$(start_of $$)\"; }; \
     alive() { [ \"$(start_of \"${1%%-*}\")\" = \"${1#*-}\" ]; }; ";

/// Remove temp files that writers killed with SIGKILL (or a host stopped mid-write) left in `dir` (quoted):
/// a temp file whose writing shell is gone is stale; one being written by a live shell is left alone.
fn stale_temp_cleanup(dir: &str) -> String {
    format!(
        "{PROC_ID_FUNCS}for o in {dir}/{TEMP_PREFIX}*; do [ -f \"$o\" ] || continue; w=${{o##*/{TEMP_PREFIX}}}; w=${{w%.*}}; \
         alive \"$w\" || rm -f -- \"$o\"; done; "
    )
}

/// The folder holding `path` ("." for a bare name).
pub fn parent_dir(path: &str) -> String {
    match path.trim_end_matches('/').rsplit_once('/') {
        Some(("", _)) => "/".to_string(),
        Some((d, _)) => d.to_string(),
        None => ".".to_string(),
    }
}

/// Shell lines that create `dir` and its missing parents, giving each new one `attrs` (mkdir -p would give
/// the parents the default mode only).
pub fn mkdirs_script(dir: &str, attrs: &Attrs) -> String {
    let mut prefixes = Vec::new();
    let mut cur = String::new();
    for part in dir.split('/').filter(|p| !p.is_empty()) {
        if !cur.is_empty() || dir.starts_with('/') {
            cur.push('/');
        }
        cur.push_str(part);
        if part != "." {
            prefixes.push(quote(&cur));
        }
    }
    if prefixes.is_empty() {
        return String::new();
    }
    format!("for d in {}; do [ -d \"$d\" ] || {{ mkdir -- \"$d\"; {}}}; done; ", prefixes.join(" "), attr_commands("\"$d\"", attrs))
}

/// The tail of a changing script: a separator, then the path's state after the change.
fn after_probe(path: &str) -> String {
    format!("echo {NEXT}; ( set +e; {} )", probe_script(path, Want::default()))
}

/// Split a changing script's output into what it printed and the state [`after_probe`] reported.
fn split_after(text: &str) -> Result<(&str, FileState), ModuleError> {
    let (head, tail) = text.rsplit_once(&format!("{NEXT}\n")).ok_or_else(|| ModuleError::Internal("no state after the change".into()))?;
    Ok((head, parse_probe(tail).map_err(ModuleError::Internal)?))
}

/// Run `script` (which changes `path`) and return the path's state afterwards, in one round trip.
pub async fn change_and_probe(ctx: &ApplyCtx<'_>, path: &str, script: &str, what: &str) -> Result<FileState, ModuleError> {
    let out = ctx.write(&format!("set -e; {script}{}", after_probe(path)), None).await?;
    if !out.success() {
        return Err(ModuleError::failed(format!("{what}: {}", out.stderr_text().trim())));
    }
    Ok(split_after(&out.stdout_text())?.1)
}

/// Shell commands that set owner, group and mode on `target` (an already quoted word).
pub fn attr_commands(target: &str, attrs: &Attrs) -> String {
    let mut s = String::new();
    match (&attrs.owner, &attrs.group) {
        (Some(o), Some(g)) => s.push_str(&format!("chown -h {} {target}; ", quote(&format!("{o}:{g}")))),
        (Some(o), None) => s.push_str(&format!("chown -h {} {target}; ", quote(o))),
        (None, Some(g)) => s.push_str(&format!("chgrp -h {} {target}; ", quote(g))),
        (None, None) => {}
    }
    if let Some(m) = attrs.mode {
        s.push_str(&format!("chmod {:04o} {target}; ", m));
    }
    s
}

/// Does `st` differ from `attrs`? (Names and numeric ids both match.)
pub fn attrs_differ(st: &FileState, attrs: &Attrs) -> Vec<&'static str> {
    let mut diff = Vec::new();
    if let Some(o) = &attrs.owner {
        if *o != st.owner && o.parse::<u32>().ok() != Some(st.uid) {
            diff.push("owner");
        }
    }
    if let Some(g) = &attrs.group {
        if *g != st.group && g.parse::<u32>().ok() != Some(st.gid) {
            diff.push("group");
        }
    }
    if let Some(m) = attrs.mode {
        if m != st.mode {
            diff.push("mode");
        }
    }
    diff
}

/// Does a `stat -c '%u %g %U %G %a …'` line (exactly `fields` words) differ from the owner, group and mode
/// arguments? Names and numeric ids both match; a symbolic mode is applied to the current one. A line of
/// another shape (the path is missing) differs.
pub fn stat_line_attrs_differ(line: &str, fields: usize, args: &Args) -> bool {
    let f: Vec<&str> = line.split_whitespace().collect();
    if f.len() != fields || fields < 5 {
        return true;
    }
    let differs = |want: Option<&str>, id: &str, name: &str| want.is_some_and(|w| w != id && w != name);
    let mode_differs = args.str("mode").is_some_and(|m| {
        let cur = u32::from_str_radix(f[4], 8).unwrap_or(0);
        mode::parse(m).map(|p| p.apply(cur, false) != cur).unwrap_or(true)
    });
    differs(args.str("owner"), f[0], f[2]) || differs(args.str("group"), f[1], f[3]) || mode_differs
}

/// The owner, group and mode a task asks for (`owner`, `group`, `mode` arguments), with a symbolic mode
/// applied to `current` (the path's mode now, or the mode a new one gets).
pub fn wanted_attrs(args: &Args, current: u32, is_dir: bool) -> Result<Attrs, ModuleError> {
    let mode = match args.str("mode") {
        None => None,
        Some(m) => match mode::parse(m).map_err(|e| ModuleError::Args(format!("mode: {e}")))? {
            mode::Mode::Preserve => return Err(ModuleError::Args("mode=preserve is only for copy and template".into())),
            parsed => Some(parsed.apply(current, is_dir)),
        },
    };
    Ok(Attrs { owner: args.str("owner").map(str::to_string), group: args.str("group").map(str::to_string), mode })
}

/// The keys Ansible adds to a result that names a path (`uid`, `gid`, `owner`, `group`, `mode`, `state`,
/// `size`), from the path's state after the task. Nothing if it does not exist.
pub fn path_info(st: &FileState) -> Map<String, Value> {
    let mut m = Map::new();
    if st.exists {
        m.insert("uid".into(), st.uid.into());
        m.insert("gid".into(), st.gid.into());
        m.insert("owner".into(), st.owner.clone().into());
        m.insert("group".into(), st.group.clone().into());
        m.insert("mode".into(), format!("0{:03o}", st.mode).into());
        m.insert("state".into(), st.state_name().into());
        m.insert("size".into(), st.size.into());
    }
    m
}

/// A before/after diff of the attributes that change (`names` as [`attrs_differ`] gives them).
pub fn attrs_diff(header: &str, st: &FileState, attrs: &Attrs, names: &[&str]) -> Diff {
    let (mut before, mut after) = (Vec::new(), Vec::new());
    for name in names {
        let (b, a) = match *name {
            "owner" => (st.owner.clone(), attrs.owner.clone().unwrap_or_default()),
            "group" => (st.group.clone(), attrs.group.clone().unwrap_or_default()),
            _ => (format!("0{:03o}", st.mode), attrs.mode.map(|m| format!("0{m:03o}")).unwrap_or_default()),
        };
        before.push((*name, b));
        after.push((*name, a));
    }
    property_diff(header, &before, &after)
}

/// A content diff for `--diff`.
pub fn content_diff(path: &str, before: &FileState, after: &[u8]) -> Diff {
    let before_text = if before.exists { before.text() } else { String::new() };
    Diff {
        before_header: if before.exists { path.to_string() } else { "/dev/null".to_string() },
        after_header: path.to_string(),
        before: before_text,
        after: String::from_utf8_lossy(after).into_owned(),
    }
}

/// A before/after diff of file properties (state, mode, owner) for `--diff`.
pub fn property_diff(path: &str, before: &[(&str, String)], after: &[(&str, String)]) -> Diff {
    let render = |pairs: &[(&str, String)]| pairs.iter().map(|(k, v)| format!("{k}: {v}\n")).collect::<String>();
    Diff { before_header: path.to_string(), after_header: path.to_string(), before: render(before), after: render(after) }
}

/// sha256 of bytes, hex (to compare with the host's).
pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

/// sha1 of bytes, hex: Ansible's `checksum` in copy, fetch and stat results.
pub fn sha1_hex(data: &[u8]) -> String {
    use sha1::Digest;
    hex::encode(sha1::Sha1::digest(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_output_parses() {
        let out = "exists=1\ntype=file\nmode=640\nuid=0\ngid=4\nowner=root\ngroup=adm\nsize=5\nsha256=abc\ncontent:\naGVsbG8=\n";
        let st = parse_probe(out).unwrap();
        assert!(st.exists && st.is_file());
        assert_eq!((st.mode, st.owner.as_str(), st.group.as_str(), st.size), (0o640, "root", "adm", 5));
        assert_eq!(st.content.as_deref(), Some(&b"hello"[..]));
        assert!(!parse_probe("exists=0\n").unwrap().exists);
    }

    #[test]
    fn stale_temp_files_are_removed_and_live_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap();
        // A live writer: a shell that names itself as write_atomic does, then waits.
        let mut live = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(format!("{PROC_ID_FUNCS}self_id; exec sleep 30"))
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut id = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(live.stdout.as_mut().unwrap()), &mut id).unwrap();
        let id = id.trim();
        assert!(id.contains('-') && id.len() > 3, "{id}");
        let keep = dir.path().join(format!("{TEMP_PREFIX}{id}.AAAAAAAA"));
        // Same pid, other start time (a reused pid), a pid that is gone, and the old naming.
        let pid = id.split('-').next().unwrap();
        let stale = [format!("{pid}-1.BBBBBBBB"), "999999999-5.CCCCCCCC".to_string(), "DDDDDDDD".to_string()];
        std::fs::write(&keep, "x").unwrap();
        for s in &stale {
            std::fs::write(dir.path().join(format!("{TEMP_PREFIX}{s}")), "x").unwrap();
        }
        std::fs::write(dir.path().join("unrelated"), "x").unwrap();
        let out = std::process::Command::new("/bin/sh").arg("-c").arg(format!("set -e; {}", stale_temp_cleanup(&quote(d)))).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let mut left: Vec<String> = std::fs::read_dir(d).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        left.sort();
        assert_eq!(left, [keep.file_name().unwrap().to_str().unwrap().to_string(), "unrelated".to_string()]);
        live.kill().unwrap();
        live.wait().unwrap();
    }

    #[test]
    fn probe_many_probes_each_path_once_and_follows_only_links() {
        let dir = tempfile::tempdir().unwrap();
        let (f, l) = (dir.path().join("file"), dir.path().join("link"));
        std::fs::write(&f, "x").unwrap();
        std::os::unix::fs::symlink(&f, &l).unwrap();
        let plain = Want::default();
        let follow = Want { follow: true, ..Want::default() };
        let (f, l) = (f.to_str().unwrap().to_string(), l.to_str().unwrap().to_string());
        let paths = vec![
            (f.clone(), plain),
            (f.clone(), follow),
            (l.clone(), plain),
            (l.clone(), follow),
            (l.clone(), plain),
            ("/nonexistent".into(), follow),
        ];
        let script = probe_many_script(&paths);
        assert!(script.contains("echo same=2;"), "a path asked for twice is probed once");
        let out = std::process::Command::new("/bin/sh").arg("-c").arg(&script).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(text.matches("exists=").count(), 4, "the followed file and the repeated link are not probed again");
        let (sts, rest) = parse_probe_many(&text, paths.len()).unwrap();
        assert!(sts[0].is_file() && sts[1] == sts[0], "following a file is the file");
        assert!(sts[2].is_link() && sts[4] == sts[2]);
        assert!(sts[3].is_file() && sts[3].inode == sts[0].inode, "following the link is the file");
        assert_eq!(sts[3].real_path, sts[2].real_path);
        assert_eq!(sts[3].real_path.as_deref(), Some(std::fs::canonicalize(&f).unwrap().to_str().unwrap()));
        assert!(!sts[5].exists);
        assert_eq!(rest, "");
    }

    #[test]
    fn probe_script_works_against_a_real_shell() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("it's a file");
        std::fs::write(&f, "hello").unwrap();
        let script = probe_script(f.to_str().unwrap(), Want { content_up_to: 100, sha1: true, follow: false });
        let out = std::process::Command::new("/bin/sh").arg("-c").arg(&script).output().unwrap();
        let st = parse_probe(&String::from_utf8_lossy(&out.stdout)).unwrap();
        assert!(st.is_file(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(st.sha256.as_deref(), Some(sha256_hex(b"hello").as_str()));
        assert_eq!(st.sha1.as_deref(), Some("aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d"));
        assert_eq!(st.content.as_deref(), Some(&b"hello"[..]));
    }
}
