//! `hlprov sops …`: command-line definitions and the command functions for SOPS files (keygen, encrypt, decrypt,
//! edit, updatekeys, doctor). The main CLI mounts [`SopsCommand`] and calls [`run`].
//!
//! Messages go to stderr; stdout carries only what the user asked for (a recipient, a file's contents).
//! Decrypted text is written only where the user pointed it (stdout, `--output`, `--in-place`, the editor's
//! temp file) — never into an error or log line. The library work lives in `crate::secrets`.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use crate::secrets::config::{self, Config};
use crate::secrets::rules::Rules;
use crate::secrets::sops_file::{self, EncryptOptions};
use crate::secrets::{Format, Keyring, SopsError, doctor, keys};

/// Exit code of a failed check (bad input exits 4, through [`SopsError::exit_code`]).
const EXIT_FAIL: i32 = 1;

#[derive(Subcommand, Debug)]
pub enum SopsCommand {
    /// Generate an age identity (X25519) and print its public recipient.
    ///
    /// Writes the secret key to FILE (default: the sops key location, $XDG_CONFIG_HOME/sops/age/keys.txt or
    /// ~/.config/sops/age/keys.txt) with mode 0600, and refuses to overwrite an existing file. Put the printed
    /// recipient (age1…) into .sops.yaml; keep the key file out of git.
    Keygen(KeygenArgs),
    /// Encrypt a YAML, JSON, dotenv, INI or other file into the SOPS format.
    ///
    /// Recipients come from --age, else SOPS_AGE_RECIPIENTS, else the first matching creation rule in
    /// .sops.yaml (searched from the file's directory upwards, then from the working directory). Writes to
    /// stdout unless --in-place or --output is given. The result decrypts with `sops decrypt`.
    Encrypt(EncryptArgs),
    /// Decrypt a SOPS file and print the plaintext.
    ///
    /// The age identity is looked up like sops does: SOPS_AGE_KEY, SOPS_AGE_KEY_FILE, SOPS_AGE_KEY_CMD, then
    /// $XDG_CONFIG_HOME/sops/age/keys.txt (~/.config/sops/age/keys.txt). The MAC is verified before anything is
    /// written; a tampered file fails with "MAC mismatch" and prints nothing.
    Decrypt(DecryptArgs),
    /// Edit a SOPS file in $EDITOR and re-encrypt it.
    ///
    /// The plaintext goes to a private temporary file (mode 0600) that is removed afterwards. If you change
    /// nothing, the file is left untouched; otherwise it is re-encrypted with the same data key, and values you
    /// did not change keep their ciphertext, so git diffs show only what changed. A file that does not exist yet
    /// is created from an empty document, encrypted by the matching .sops.yaml creation rule.
    Edit(EditArgs),
    /// Re-wrap a file's data key for the recipients its .sops.yaml creation rule lists now.
    ///
    /// Values and MAC are left as they are. After removing a recipient, also change the secrets themselves:
    /// the removed key can still decrypt older copies from git history.
    Updatekeys(UpdatekeysArgs),
    /// Check the repository's secrets hygiene.
    ///
    /// Verifies that your age key decrypts every SOPS file in the work tree, that the key file and *.dec.* files
    /// are ignored by git and were never committed (the whole history is scanned), and that no file matching a
    /// .sops.yaml creation rule is tracked, or was ever committed, unencrypted. Exits 1 if anything is wrong.
    Doctor(DoctorArgs),
    /// Print the age key as a QR code, for the paper copy of the key.
    ///
    /// The key comes from --key FILE, else from the sops lookup (SOPS_AGE_KEY_FILE, then the default key
    /// location). The QR code goes to stdout (only when it is a terminal, unless --force) or, with --svg, to a
    /// new file (mode 0600) to print. Scanning it gives back the AGE-SECRET-KEY-1… line; `hlprov sops check-key`
    /// then checks the restored key. docs/dr.md says where the three copies go.
    Qr(QrArgs),
    /// Check a restored age key against this repository.
    ///
    /// Its recipient must be in .sops.yaml's creation rules and it must decrypt every SOPS file in the work tree;
    /// each finding is one line. Exits 1 if the key is not the repository's. The first step of a rebuild.
    CheckKey(CheckKeyArgs),
}

#[derive(Args, Debug)]
pub struct QrArgs {
    /// The key file (keys.txt format); default: the sops lookup.
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// Which identity, when the file has several: its recipient (age1…).
    #[arg(long, value_name = "AGE1…")]
    pub recipient: Option<String>,
    /// Write an SVG image to this new file (mode 0600) instead of printing to the terminal.
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
    /// Print to stdout even when it is not a terminal (the key then goes wherever stdout goes).
    #[arg(long)]
    pub force: bool,
}

#[derive(Args, Debug)]
pub struct CheckKeyArgs {
    /// The restored key file (keys.txt format); default: the sops lookup.
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// The repository (default: the current directory).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
}

#[derive(Args, Debug)]
pub struct KeygenArgs {
    /// Write the identity to FILE instead of the default sops key location.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct FormatArgs {
    /// The file's format, if its extension does not say it: yaml, json, dotenv, ini or binary.
    #[arg(long, value_name = "TYPE")]
    pub input_type: Option<String>,
}

#[derive(Args, Debug)]
pub struct EncryptArgs {
    /// The plaintext file.
    pub file: PathBuf,
    /// age recipients (age1…), comma-separated; overrides .sops.yaml.
    #[arg(long, value_name = "RECIPIENTS")]
    pub age: Option<String>,
    /// Encrypt only values under keys matching this regular expression (Kubernetes: '^(data|stringData)$').
    #[arg(long, value_name = "REGEX")]
    pub encrypted_regex: Option<String>,
    /// Leave values under keys matching this regular expression in clear.
    #[arg(long, value_name = "REGEX")]
    pub unencrypted_regex: Option<String>,
    /// Encrypt only values under keys ending with this suffix.
    #[arg(long, value_name = "SUFFIX")]
    pub encrypted_suffix: Option<String>,
    /// Leave values under keys ending with this suffix in clear (default: _unencrypted).
    #[arg(long, value_name = "SUFFIX")]
    pub unencrypted_suffix: Option<String>,
    /// Let the MAC cover only encrypted values, so clear values can be edited without the key.
    #[arg(long)]
    pub mac_only_encrypted: bool,
    /// Replace FILE with its encrypted form.
    #[arg(short, long, conflicts_with = "output")]
    pub in_place: bool,
    /// Write the encrypted file to PATH.
    #[arg(short, long, value_name = "PATH")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub format: FormatArgs,
}

#[derive(Args, Debug)]
pub struct DecryptArgs {
    /// The SOPS file.
    pub file: PathBuf,
    /// Replace FILE with its plaintext.
    #[arg(short, long, conflicts_with = "output")]
    pub in_place: bool,
    /// Write the plaintext to PATH (mode 0600). Name it *.dec.* and keep that pattern in .gitignore.
    #[arg(short, long, value_name = "PATH")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub format: FormatArgs,
}

#[derive(Args, Debug)]
pub struct EditArgs {
    /// The SOPS file (created if it does not exist).
    pub file: PathBuf,
    #[command(flatten)]
    pub format: FormatArgs,
}

#[derive(Args, Debug)]
pub struct UpdatekeysArgs {
    /// The SOPS files.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Apply without asking.
    #[arg(short, long)]
    pub yes: bool,
}

#[derive(Args, Debug)]
pub struct DoctorArgs {
    /// The repository to check (default: the current directory).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
}

/// Run one `hlprov sops` command; returns the process exit code.
pub fn run(cmd: SopsCommand) -> i32 {
    let result = match cmd {
        SopsCommand::Keygen(a) => keygen(a),
        SopsCommand::Encrypt(a) => encrypt(a),
        SopsCommand::Decrypt(a) => decrypt(a),
        SopsCommand::Edit(a) => edit(a),
        SopsCommand::Updatekeys(a) => updatekeys(a),
        SopsCommand::Doctor(a) => doctor(a),
        SopsCommand::Qr(a) => qr(a),
        SopsCommand::CheckKey(a) => check_key(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("hlprov sops: {}", crate::redact::redact(&e.to_string()));
            e.exit_code()
        }
    }
}

fn keygen(a: KeygenArgs) -> Result<i32, SopsError> {
    let path = match a.output {
        Some(p) => p,
        None => {
            keys::default_key_file().ok_or(SopsError::Key { msg: "cannot find the default key location: HOME is not set; use -o FILE".into() })?
        }
    };
    let recipient = keys::keygen(&path)?;
    eprintln!("age identity written to {} (mode 0600); its public recipient:", path.display());
    println!("{recipient}");
    Ok(0)
}

fn format_of(path: &Path, args: &FormatArgs) -> Result<Format, SopsError> {
    match &args.input_type {
        None => Ok(Format::from_path(path)),
        Some(t) => Format::from_name(t)
            .ok_or_else(|| SopsError::input(path.display(), format!("unknown --input-type '{t}' (expected yaml, json, dotenv, ini or binary)"))),
    }
}

/// Recipients and rules for a new file: command line first, then SOPS_AGE_RECIPIENTS, then .sops.yaml.
fn options_for(path: &Path, age: Option<&str>, rules: Rules) -> Result<EncryptOptions, SopsError> {
    let split = |s: &str| s.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect::<Vec<_>>();
    let rule_given = rules != Rules::default();
    let cfg = match config::find_for(path) {
        Some(p) => Some(Config::load(&p)?),
        None => None,
    };
    let rule = match &cfg {
        Some(c) => c.rule_for(path)?.cloned(),
        None => None,
    };
    let recipients = if let Some(a) = age {
        split(a)
    } else if let Some(env) = std::env::var("SOPS_AGE_RECIPIENTS").ok().filter(|s| !s.trim().is_empty()) {
        split(&env)
    } else if let Some(r) = &rule {
        r.recipients.clone()
    } else {
        let hint = match &cfg {
            Some(c) => format!("no creation rule in {} matches it", c.path.display()),
            None => "no .sops.yaml was found".into(),
        };
        return Err(SopsError::input(path.display(), format!("no age recipient to encrypt to: {hint}; give --age age1…")));
    };
    for r in &recipients {
        keys::parse_recipient(r).map_err(|e| SopsError::input(path.display(), e))?;
    }
    let rules = if rule_given { rules } else { rule.map(|r| r.rules).unwrap_or_default() };
    Ok(EncryptOptions { recipients, rules })
}

fn encrypt(a: EncryptArgs) -> Result<i32, SopsError> {
    let format = format_of(&a.file, &a.format)?;
    let text = crate::yaml::read_text_file(&a.file).map_err(|e| SopsError::io(a.file.display(), e))?;
    let rules = Rules {
        unencrypted_suffix: a.unencrypted_suffix,
        encrypted_suffix: a.encrypted_suffix,
        unencrypted_regex: a.unencrypted_regex,
        encrypted_regex: a.encrypted_regex,
        mac_only_encrypted: a.mac_only_encrypted,
        ..Default::default()
    };
    let opts = options_for(&a.file, a.age.as_deref(), rules)?;
    let out = sops_file::encrypt_text(&text, format, &a.file.display().to_string(), &opts)?;
    let target = if a.in_place { Some(a.file.clone()) } else { a.output };
    write_out(target.as_deref(), &out, None)?;
    Ok(0)
}

fn decrypt(a: DecryptArgs) -> Result<i32, SopsError> {
    let format = format_of(&a.file, &a.format)?;
    let enc = sops_file::read(&a.file, Some(format))?.ok_or_else(|| SopsError::input(a.file.display(), "is not a SOPS file (no 'sops' metadata)"))?;
    let plain = enc.decrypt(&Keyring::from_env()?)?;
    plain.register_secrets();
    let text = plain.emit_plain()?;
    let target = if a.in_place { Some(a.file.clone()) } else { a.output };
    write_out(target.as_deref(), &text, Some(0o600))?;
    Ok(0)
}

fn edit(a: EditArgs) -> Result<i32, SopsError> {
    let format = format_of(&a.file, &a.format)?;
    let file = a.file.display().to_string();
    let existing = if a.file.exists() {
        let enc = sops_file::read(&a.file, Some(format))?
            .ok_or_else(|| SopsError::input(&file, "is not a SOPS file (no 'sops' metadata); use `hlprov sops encrypt -i` first"))?;
        Some(enc.decrypt(&Keyring::from_env()?)?)
    } else {
        None
    };
    let original = match &existing {
        Some(d) => d.emit_plain()?,
        None => String::new(),
    };
    let dir = tempfile::Builder::new().prefix("hlprov-sops-edit").tempdir().map_err(|e| SopsError::io("temporary directory", e))?;
    let name = a.file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "secret".into());
    let tmp = dir.path().join(&name);
    write_private(&tmp, &original)?;
    loop {
        run_editor(&tmp)?;
        let edited = crate::yaml::read_text_file(&tmp).map_err(|e| SopsError::io(tmp.display(), e))?;
        if edited == original {
            eprintln!("{file}: unchanged");
            return Ok(0);
        }
        let result = match &existing {
            Some(d) => format.parse_plain(&edited, &name).map_err(|e| SopsError::input(&file, e)).and_then(|docs| d.reencrypt(docs)),
            None => options_for(&a.file, None, Rules::default()).and_then(|o| sops_file::encrypt_text(&edited, format, &file, &o)),
        };
        match result {
            Ok(out) => {
                write_out(Some(&a.file), &out, None)?;
                eprintln!("{file}: saved");
                return Ok(0);
            }
            // Let the user fix a syntax error rather than lose the edit.
            Err(e) if std::io::stdin().is_terminal() => {
                eprintln!("hlprov sops: {e}\nPress Enter to edit again, or Ctrl-C to discard the changes.");
                let mut line = String::new();
                if std::io::stdin().read_line(&mut line).map_or(true, |n| n == 0) {
                    return Err(e);
                }
            }
            Err(e) => return Err(e),
        }
    }
}

fn run_editor(path: &Path) -> Result<(), SopsError> {
    let editor = ["SOPS_EDITOR", "VISUAL", "EDITOR"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.trim().is_empty()))
        .unwrap_or_else(|| "vi".into());
    // Like git and sops, the editor setting may carry arguments ("code --wait").
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("editor")
        .arg(path)
        .status()
        .map_err(|e| SopsError::Io { file: editor.clone(), msg: format!("cannot start the editor: {e}") })?;
    if !status.success() {
        return Err(SopsError::Io { file: editor, msg: format!("the editor exited with {status}; nothing was saved") });
    }
    Ok(())
}

fn updatekeys(a: UpdatekeysArgs) -> Result<i32, SopsError> {
    let ring = Keyring::from_env()?;
    for path in &a.files {
        let file = path.display().to_string();
        let enc = sops_file::read(path, None)?.ok_or_else(|| SopsError::input(&file, "is not a SOPS file"))?;
        let cfg_path = config::find_for(path).ok_or_else(|| SopsError::input(&file, "no .sops.yaml found to take the recipients from"))?;
        let cfg = Config::load(&cfg_path)?;
        let rule = cfg.rule_for(path)?.ok_or_else(|| SopsError::input(&file, format!("no creation rule in {} matches it", cfg_path.display())))?;
        let old: Vec<String> = enc.metadata.age.iter().map(|k| k.recipient.clone()).collect();
        let added: Vec<&String> = rule.recipients.iter().filter(|r| !old.contains(r)).collect();
        let removed: Vec<&String> = old.iter().filter(|r| !rule.recipients.contains(r)).collect();
        if added.is_empty() && removed.is_empty() {
            eprintln!("{file}: recipients already up to date");
            continue;
        }
        for r in &added {
            eprintln!("{file}: + {r}");
        }
        for r in &removed {
            eprintln!("{file}: - {r}");
        }
        if !a.yes && !confirm("Update the recipients?") {
            eprintln!("{file}: not changed");
            continue;
        }
        let encrypted_docs = enc.docs.clone();
        let format = enc.format;
        let plain = enc.decrypt(&ring)?;
        let md = plain.rewrap(&rule.recipients)?;
        let out = format.emit_encrypted(&encrypted_docs, &md).map_err(|e| SopsError::input(&file, e))?;
        write_out(Some(path), &out, None)?;
        eprintln!("{file}: updated");
        if !removed.is_empty() {
            eprintln!("{file}: note: removed recipients can still decrypt older copies from git history; change those secrets");
        }
    }
    Ok(0)
}

fn confirm(q: &str) -> bool {
    if !std::io::stdin().is_terminal() {
        eprintln!("{q} (not a terminal; use --yes)");
        return false;
    }
    eprint!("{q} [y/N] ");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).is_ok() && matches!(line.trim(), "y" | "Y" | "yes")
}

fn doctor(a: DoctorArgs) -> Result<i32, SopsError> {
    let ring = Keyring::from_env()?;
    let mut key_files: Vec<PathBuf> = std::env::var_os("SOPS_AGE_KEY_FILE").filter(|p| !p.is_empty()).map(PathBuf::from).into_iter().collect();
    key_files.extend(keys::default_key_file().filter(|p| p.exists()));
    let findings = doctor::run(&a.dir, &ring, &key_files).map_err(|e| SopsError::input(a.dir.display(), e))?;
    let mut failed = false;
    for f in &findings {
        failed |= !f.ok;
        println!("{} {}", if f.ok { "ok  " } else { "FAIL" }, crate::redact::redact(&f.message));
    }
    Ok(if failed { EXIT_FAIL } else { 0 })
}

/// The key file of --key, else the first of the sops lookup locations that is a file.
fn key_file(given: Option<PathBuf>) -> Result<PathBuf, SopsError> {
    let found = given
        .or_else(|| std::env::var_os("SOPS_AGE_KEY_FILE").filter(|p| !p.is_empty()).map(PathBuf::from))
        .or_else(|| keys::default_key_file().filter(|p| p.exists()));
    found.ok_or_else(|| SopsError::Key { msg: "no age key file: give --key FILE or set SOPS_AGE_KEY_FILE".into() })
}

fn qr(a: QrArgs) -> Result<i32, SopsError> {
    use crate::secrets::paper;
    let path = key_file(a.key)?;
    let text = zeroize::Zeroizing::new(std::fs::read_to_string(&path).map_err(|e| SopsError::io(path.display(), e))?);
    let ids = paper::identities(&text, &path.display().to_string())?;
    let id = match (&a.recipient, ids.len()) {
        (Some(r), _) => ids.iter().find(|i| &i.recipient == r).ok_or_else(|| SopsError::Key {
            msg: format!(
                "{}: no identity for {r} (it has {})",
                path.display(),
                ids.iter().map(|i| i.recipient.as_str()).collect::<Vec<_>>().join(", ")
            ),
        })?,
        (None, 1) => &ids[0],
        (None, 0) => return Err(SopsError::Key { msg: format!("{}: no age identity in the file", path.display()) }),
        (None, _) => {
            return Err(SopsError::Key {
                msg: format!(
                    "{} has several identities; choose one with --recipient: {}",
                    path.display(),
                    ids.iter().map(|i| i.recipient.as_str()).collect::<Vec<_>>().join(", ")
                ),
            });
        }
    };
    if let Some(svg) = &a.svg {
        write_private(svg, &paper::qr_svg(&id.secret)?)?;
        eprintln!("QR code of the age identity for {} written to {} (mode 0600): print it, then delete the file", id.recipient, svg.display());
        return Ok(0);
    }
    if !std::io::stdout().is_terminal() && !a.force {
        eprintln!("hlprov sops qr: stdout is not a terminal, and the QR code holds the secret key; use --svg FILE, or --force");
        return Ok(EXIT_FAIL);
    }
    eprintln!("The age identity for {} (scan it back, then run `hlprov sops check-key`):", id.recipient);
    write_out(None, &format!("{}\n", paper::qr_text(&id.secret)?.as_str()), None)?;
    Ok(0)
}

fn check_key(a: CheckKeyArgs) -> Result<i32, SopsError> {
    let ring = match a.key {
        Some(path) => {
            let mut ring = Keyring::empty();
            ring.add_file(&path, "--key")?;
            ring
        }
        None => Keyring::from_env()?,
    };
    let findings = crate::secrets::paper::check_restored(&a.dir, &ring).map_err(|e| SopsError::input(a.dir.display(), e))?;
    let mut failed = false;
    for f in &findings {
        failed |= !f.ok;
        println!("{} {}", if f.ok { "ok  " } else { "FAIL" }, crate::redact::redact(&f.message));
    }
    Ok(if failed { EXIT_FAIL } else { 0 })
}

/// Write to `path` atomically (temp file + rename, keeping an existing file's mode), or to stdout.
fn write_out(path: Option<&Path>, text: &str, new_mode: Option<u32>) -> Result<(), SopsError> {
    let Some(path) = path else {
        let mut out = std::io::stdout().lock();
        return out.write_all(text.as_bytes()).and_then(|_| out.flush()).map_err(|e| SopsError::io("stdout", e));
    };
    use std::os::unix::fs::PermissionsExt;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mode = std::fs::metadata(path).map(|m| m.permissions().mode() & 0o7777).ok().or(new_mode);
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| SopsError::io(dir.display(), e))?;
    tmp.write_all(text.as_bytes()).map_err(|e| SopsError::io(path.display(), e))?;
    let mode = mode.unwrap_or(0o644);
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(mode)).map_err(|e| SopsError::io(path.display(), e))?;
    tmp.persist(path).map_err(|e| SopsError::io(path.display(), e.error))?;
    Ok(())
}

fn write_private(path: &Path, text: &str) -> Result<(), SopsError> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(|e| SopsError::io(path.display(), e))?;
    f.write_all(text.as_bytes()).map_err(|e| SopsError::io(path.display(), e))
}
