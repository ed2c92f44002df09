//! The age key's own safety: a QR code of the identity for the printed copy (one of the three copies a homelab
//! keeps: password manager, encrypted USB, paper), and the check that a restored key is the one the repository
//! encrypts to and opens every SOPS file in it.

use std::path::Path;
use std::str::FromStr;

use qrcode::render::{svg, unicode};
use qrcode::{EcLevel, QrCode};
use zeroize::Zeroizing;

use super::config::{self, Config};
use super::doctor::{self, Finding};
use super::error::SopsError;
use super::keys::Keyring;

/// One age identity of a key file: the secret line and its public recipient.
pub struct Identity {
    pub secret: Zeroizing<String>,
    pub recipient: String,
}

/// The X25519 identities (`AGE-SECRET-KEY-1…`) in keys.txt text; errors never quote the line.
pub fn identities(text: &str, source: &str) -> Result<Vec<Identity>, SopsError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let id = age::x25519::Identity::from_str(line)
            .map_err(|_| SopsError::Key { msg: format!("{source} line {}: not an age identity (expected AGE-SECRET-KEY-1…)", i + 1) })?;
        out.push(Identity { secret: Zeroizing::new(line.to_string()), recipient: id.to_public().to_string() });
    }
    Ok(out)
}

/// The identity as a QR code (error correction level M: a smudge or a fold on paper still reads) of the
/// uppercase secret line, which QR encodes in its compact alphanumeric mode.
fn code(secret: &str) -> Result<QrCode, SopsError> {
    QrCode::with_error_correction_level(secret.as_bytes(), EcLevel::M).map_err(|e| SopsError::Key { msg: format!("cannot make a QR code: {e}") })
}

/// For a terminal: two rows of modules per line, dark modules as blocks, with the quiet zone a reader needs.
pub fn qr_text(secret: &str) -> Result<Zeroizing<String>, SopsError> {
    Ok(Zeroizing::new(code(secret)?.render::<unicode::Dense1x2>().quiet_zone(true).build()))
}

/// For printing: an SVG image.
pub fn qr_svg(secret: &str) -> Result<Zeroizing<String>, SopsError> {
    Ok(Zeroizing::new(code(secret)?.render::<svg::Color>().min_dimensions(300, 300).quiet_zone(true).build()))
}

/// Is the key in `ring` the one the repository at `dir` uses? Its recipient must be in .sops.yaml's creation
/// rules, and it must decrypt every SOPS file those rules cover (every SOPS file in the work tree when there is
/// no .sops.yaml). One finding per problem, in words.
pub fn check_restored(dir: &Path, ring: &Keyring) -> Result<Vec<Finding>, String> {
    let top = doctor::work_tree_top(dir)?;
    let mut out = Vec::new();
    let mut files = doctor::work_tree_files(&top)?;
    let mine = ring.recipients();
    if mine.is_empty() {
        return Ok(vec![Finding { ok: false, message: "no age key found (SOPS_AGE_KEY_FILE, SOPS_AGE_KEY, SOPS_AGE_KEY_CMD or --key)".into() }]);
    }
    match config::find_from(&top).filter(|p| p.parent() == Some(top.as_path())) {
        None => out.push(Finding { ok: true, message: "no .sops.yaml at the repository root: recipients not compared".into() }),
        Some(path) => {
            let cfg = Config::load(&path).map_err(|e| e.to_string())?;
            files.retain(|f| doctor::matches_rule(&cfg, &top.join(f)));
            let listed: Vec<&String> = cfg.creation_rules.iter().flat_map(|r| &r.recipients).collect();
            for r in &mine {
                let rules: Vec<String> = cfg
                    .creation_rules
                    .iter()
                    .filter(|rule| rule.recipients.contains(r))
                    .map(|rule| rule.path_regex.clone().unwrap_or_else(|| "(every file)".into()))
                    .collect();
                out.push(match rules.is_empty() {
                    false => Finding { ok: true, message: format!("the key's recipient {r} is in .sops.yaml (rules {})", rules.join(", ")) },
                    true => Finding {
                        ok: false,
                        message: format!(
                            "the key's recipient {r} is not in .sops.yaml, which encrypts to {}: this is not the repository's key",
                            dedup(&listed).join(", ")
                        ),
                    },
                });
            }
        }
    }
    out.extend(doctor::decrypts_all(&top, files.iter(), ring));
    Ok(out)
}

fn dedup(v: &[&String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in v {
        if !out.contains(s) {
            out.push((*s).clone());
        }
    }
    out
}
