//! The raw `lxc.*` lines of a container's /etc/pve/lxc/VMID.conf. The Proxmox API cannot set them (PUT /config
//! has no such parameter); they are written by editing the file on the node. The file holds the current
//! configuration first, then `[pve:pending]` and one `[snapshot]` section each (pve-container's
//! `parse_pct_config` / `write_pct_config`, src/PVE/LXC/Config.pm). Only the `lxc.*` lines of the current section
//! are ever changed here: every other byte, and every byte from the first section header on, is kept as it was.

use std::sync::LazyLock;

use regex::Regex;

/// A raw key line as pve-container's parser reads it: `lxc.key: value` or `lxc.key = value`, value trimmed.
static RAW: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^(lxc\.[a-z0-9_\-\.]+)(?::|\s*=)\s*(.*?)\s*$").unwrap());
/// A section header: `[pve:pending]` or `[snapname]` (case-insensitive, as the parser takes them).
static SECTION: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?i)^\[(?:pve:pending|[a-z][a-z0-9_\-]+)\]\s*$").unwrap());
/// A plain option line (`cores: 4`, `lock: backup`).
static OPTION: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^([a-z][a-z_]*\d*):\s*(.*?)\s*$").unwrap());

/// One raw line: key and value.
pub type RawLine = (String, String);

/// The byte offset where the current section ends: the start of the first section header line (or the end).
pub fn current_section_end(text: &str) -> usize {
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        if SECTION.is_match(line.trim_end_matches(['\n', '\r'])) {
            return at;
        }
        at += line.len();
    }
    text.len()
}

/// The raw `lxc.*` lines of the current section, in file order (duplicates kept, as LXC reads them).
pub fn raw_lines(text: &str) -> Vec<RawLine> {
    text[..current_section_end(text)].lines().filter_map(|l| RAW.captures(l).map(|c| (c[1].to_string(), c[2].to_string()))).collect()
}

/// The value of a plain option of the current section (`lock`, `hostname`…), if set.
pub fn option(text: &str, key: &str) -> Option<String> {
    text[..current_section_end(text)].lines().find_map(|l| {
        let c = OPTION.captures(l)?;
        (&c[1] == key).then(|| c[2].to_string())
    })
}

/// How PVE writes a raw line: `key: value`, so an empty value leaves `key: ` with its space.
pub fn format_line(key: &str, value: &str) -> String {
    format!("{key}: {value}")
}

/// `text` with the current section's raw lines replaced by `lines`, written where PVE writes them: after the
/// section's other lines (description, options), before the blank line that precedes the next section. Lines
/// that are not raw keys keep their order and bytes; everything from the first section header on is untouched.
pub fn with_raw_lines(text: &str, lines: &[RawLine]) -> String {
    let end = current_section_end(text);
    let (head, rest) = text.split_at(end);
    let kept: Vec<&str> = head.split_inclusive('\n').filter(|l| !RAW.is_match(l.trim_end_matches(['\n', '\r']))).collect();
    // The blank lines at the end of the section belong before the next header, as PVE writes "\n[name]\n".
    let body_len = kept.iter().rposition(|l| !l.trim().is_empty()).map_or(0, |i| i + 1);
    let mut out = String::with_capacity(text.len() + lines.len() * 40);
    for l in &kept[..body_len] {
        out.push_str(l);
    }
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    for (k, v) in lines {
        out.push_str(&format_line(k, v));
        out.push('\n');
    }
    for l in &kept[body_len..] {
        out.push_str(l);
    }
    if !rest.is_empty() && !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(rest);
    out
}

/// Check one wanted raw line the way pve-container would accept it, and say why not otherwise.
pub fn check_line(key: &str, value: &str) -> Result<(), String> {
    if !RAW.is_match(&format_line(key, "x")) || key.ends_with('.') || key.contains("..") {
        return Err(format!("'{key}' is not a raw LXC key (lxc. followed by lower-case letters, digits, '_', '-' and '.')"));
    }
    if key == "lxc.rootfs.path" || key == "lxc.rootfs.options" {
        return Err(format!("{key} is refused by Proxmox VE (it sets the root file system itself); use rootfs"));
    }
    if let Some(rest) = key.strip_prefix("lxc.cgroup.") {
        return Err(format!(
            "{key} is the cgroup v1 key; Proxmox VE 7 and later run a pure cgroup v2 system where it does nothing: use lxc.cgroup2.{rest}"
        ));
    }
    if value.contains(['\n', '\r']) {
        return Err(format!("the value of {key} holds a line break"));
    }
    Ok(())
}

/// Parse `lxc.key: value` or `lxc.key = value` (a line as users copy it from guides) into key and value.
pub fn parse_line(line: &str) -> Result<RawLine, String> {
    let c = RAW.captures(line.trim()).ok_or_else(|| format!("'{line}' is not a raw LXC line ('lxc.key: value')"))?;
    Ok((c[1].to_string(), c[2].to_string()))
}

/// How the raw lines read in an LXC config of its own (`/var/lib/lxc/NAME/config`): `key = value`, the form PVE
/// writes when it generates that file from VMID.conf (pve-container src/PVE/LXC.pm, update_lxc_config).
pub fn lxc_native(lines: &[RawLine]) -> String {
    lines.iter().map(|(k, v)| format!("{k} = {v}\n")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "#k3s agent%3A managed\narch: amd64\ncores: 4\nlxc.apparmor.profile: unconfined\nswap: 0\nlxc.cap.drop: \n\n[pve:pending]\ncores: 6\nlxc.cap.drop: x\n\n[snap1]\nlxc.apparmor.profile: unconfined\nsnaptime: 1\n";

    #[test]
    fn reads_only_the_current_section() {
        assert_eq!(raw_lines(SAMPLE), vec![("lxc.apparmor.profile".into(), "unconfined".into()), ("lxc.cap.drop".into(), String::new())]);
        assert_eq!(option(SAMPLE, "cores").as_deref(), Some("4"));
        assert_eq!(option(SAMPLE, "lock"), None);
        assert_eq!(&SAMPLE[current_section_end(SAMPLE)..current_section_end(SAMPLE) + 13], "[pve:pending]");
    }

    #[test]
    fn rewrites_raw_lines_after_the_options_and_keeps_the_rest() {
        let lines = vec![("lxc.cgroup2.devices.allow".to_string(), "c 226:* rwm".to_string())];
        let out = with_raw_lines(SAMPLE, &lines);
        assert_eq!(
            out,
            "#k3s agent%3A managed\narch: amd64\ncores: 4\nswap: 0\nlxc.cgroup2.devices.allow: c 226:* rwm\n\n[pve:pending]\ncores: 6\nlxc.cap.drop: x\n\n[snap1]\nlxc.apparmor.profile: unconfined\nsnaptime: 1\n"
        );
        assert_eq!(raw_lines(&out), lines);
        assert_eq!(with_raw_lines(&out, &lines), out, "idempotent");
        assert_eq!(
            with_raw_lines(&out, &[]),
            "#k3s agent%3A managed\narch: amd64\ncores: 4\nswap: 0\n\n[pve:pending]\ncores: 6\nlxc.cap.drop: x\n\n[snap1]\nlxc.apparmor.profile: unconfined\nsnaptime: 1\n"
        );
    }

    #[test]
    fn files_without_sections_or_final_newline() {
        assert_eq!(with_raw_lines("cores: 1", &[("lxc.cap.drop".into(), String::new())]), "cores: 1\nlxc.cap.drop: \n");
        assert_eq!(with_raw_lines("", &[("lxc.cap.drop".into(), String::new())]), "lxc.cap.drop: \n");
        assert_eq!(with_raw_lines("cores: 1\nlxc.mount.auto = proc:rw\n", &[]), "cores: 1\n");
    }

    #[test]
    fn checks_keys_as_pve_would() {
        assert!(check_line("lxc.cgroup2.devices.allow", "c 226:* rwm").is_ok());
        assert!(check_line("lxc.cap.drop", "").is_ok());
        assert!(check_line("lxc.cgroup.devices.allow", "a").unwrap_err().contains("lxc.cgroup2.devices.allow"));
        assert!(check_line("lxc.rootfs.path", "/x").is_err());
        assert!(check_line("cores", "1").is_err());
        assert!(check_line("lxc.Mount", "1").is_err());
        assert!(check_line("lxc.mount.entry", "a\nb").is_err());
        assert_eq!(parse_line("lxc.mount.auto = proc:rw sys:rw").unwrap(), ("lxc.mount.auto".into(), "proc:rw sys:rw".into()));
        assert_eq!(parse_line("lxc.cap.drop:").unwrap(), ("lxc.cap.drop".into(), String::new()));
        assert!(parse_line("cores: 4").is_err());
    }

    #[test]
    fn native_form_is_key_equals_value() {
        assert_eq!(
            lxc_native(&[("lxc.cap.drop".into(), String::new()), ("lxc.mount.auto".into(), "proc:rw".into())]),
            "lxc.cap.drop = \nlxc.mount.auto = proc:rw\n"
        );
    }
}
