//! The variables Ansible gives a template file, and only it (the `template` module and `lookup('template')`):
//! `template_host`, `template_path`, `template_fullpath`, `template_destpath`, `template_uid`, `template_mtime`,
//! `template_run_date`, and `ansible_managed` unless the user set it. Values as ansible-core 2.19's
//! `generate_ansible_template_vars`; the two dates are strings in Python's `str(datetime)` form.

use std::path::Path;

use serde_json::Value;

use crate::vars::Vars;

/// Ansible's default `ansible_managed` (the `DEFAULT_MANAGED_STR` setting).
const MANAGED_DEFAULT: &str = "Ansible managed";

/// The template variables for the template `src` (as written in the task) found at `fullpath`, written to `dest`
/// (None for a lookup). `ansible_managed` is left out when the user defines it, as Ansible does.
pub fn template_file_vars(src: &str, fullpath: &Path, dest: Option<&str>, user_sets_managed: bool) -> Vars {
    let meta = std::fs::metadata(fullpath).ok();
    let mtime = meta.as_ref().and_then(|m| m.modified().ok()).and_then(|t| jiff::Timestamp::try_from(t).ok());
    let uid = meta.as_ref().map(std::os::unix::fs::MetadataExt::uid);
    let host = hostname();
    let mut vars = Vars::new();
    vars.insert("template_host".into(), Value::from(host));
    vars.insert("template_path".into(), Value::from(src));
    let absolute = std::path::absolute(fullpath).unwrap_or_else(|_| fullpath.to_path_buf());
    vars.insert("template_fullpath".into(), Value::from(absolute.display().to_string()));
    vars.insert("template_destpath".into(), dest.map(Value::from).unwrap_or(Value::Null));
    vars.insert("template_uid".into(), uid.map(user_name).unwrap_or(Value::Null));
    vars.insert("template_mtime".into(), mtime.map(python_datetime).unwrap_or(Value::Null));
    vars.insert("template_run_date".into(), python_datetime(jiff::Timestamp::now()));
    if !user_sets_managed {
        vars.insert("ansible_managed".into(), Value::from(MANAGED_DEFAULT));
    }
    vars
}

/// This machine's host name (Python's `os.uname()[1]`: the kernel's node name), read once per run.
fn hostname() -> String {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        ["/proc/sys/kernel/hostname", "/etc/hostname"].iter().find_map(|f| std::fs::read_to_string(f).ok()).unwrap_or_default().trim().to_string()
    })
    .clone()
}

/// The name of the user `uid` on this machine, or the number when it has none (as Ansible does).
fn user_name(uid: u32) -> Value {
    // /etc/passwd is read once per run, not once per template rendered.
    static USERS: std::sync::OnceLock<std::collections::HashMap<u32, String>> = std::sync::OnceLock::new();
    let users = USERS.get_or_init(|| {
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        let mut users = std::collections::HashMap::new();
        for f in passwd.lines().map(|l| l.split(':').collect::<Vec<_>>()).filter(|f| f.len() > 2) {
            if let Ok(id) = f[2].parse::<u32>() {
                users.entry(id).or_insert_with(|| f[0].to_string());
            }
        }
        users
    });
    users.get(&uid).map(|n| Value::from(n.as_str())).unwrap_or_else(|| Value::from(uid))
}

/// A time as Python prints a local `datetime`: `2026-12-04 09:47:09.853692` (no fraction when it is zero).
fn python_datetime(t: jiff::Timestamp) -> Value {
    let local = t.to_zoned_datetime(jiff::tz::TimeZone::system());
    let micros = local.subsec_nanosecond() / 1000;
    let base = local.strftime("%Y-%m-%d %H:%M:%S").to_string();
    Value::from(if micros == 0 { base } else { format!("{base}.{micros:06}") })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_files_get_ansibles_template_variables() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.j2");
        std::fs::write(&file, "x").unwrap();
        let v = template_file_vars("t.j2", &file, Some("/etc/t"), false);
        assert_eq!(v["template_path"], "t.j2");
        assert_eq!(v["template_fullpath"], file.display().to_string());
        assert_eq!(v["template_destpath"], "/etc/t");
        assert_eq!(v["ansible_managed"], "Ansible managed");
        let me = rustix::process::getuid().as_raw();
        assert_eq!(v["template_uid"], user_name(me));
        assert!(!v["template_host"].as_str().unwrap().is_empty());
        let mtime = v["template_mtime"].as_str().unwrap();
        assert_eq!(&mtime[4..5], "-", "{mtime}");
        assert_eq!(&mtime[10..11], " ", "{mtime}");
        // The user's own ansible_managed is not replaced; a lookup has no destination.
        let v = template_file_vars("t.j2", &file, None, true);
        assert!(!v.contains_key("ansible_managed"));
        assert_eq!(v["template_destpath"], Value::Null);
    }

    #[test]
    fn dates_print_as_python_datetimes() {
        let t = jiff::Timestamp::from_microsecond(1_733_305_629_853_692).unwrap();
        let s = python_datetime(t);
        let s = s.as_str().unwrap();
        assert_eq!(s.len(), "2024-12-04 09:47:09.853692".len(), "{s}");
        assert!(s.ends_with(":09.853692"), "{s}");
        let whole = python_datetime(jiff::Timestamp::from_second(1_733_305_629).unwrap());
        assert!(whole.as_str().unwrap().ends_with(":09"), "{whole}");
    }
}
