//! KVM or TCG, decided at run time. On some machines `/dev/kvm` exists and a VM can be created, but a vCPU
//! makes no progress once the guest leaves real mode (seen on this project's CI machine: the process spins in
//! the kernel). So KVM is trusted only after a probe guest — a 64 KiB firmware that switches to protected mode,
//! turns on paging and long mode, then writes to QEMU's `isa-debug-exit` port — has finished within a
//! deadline. Otherwise TCG (QEMU's software CPU) is used, and the reason is said. The answer is kept for the
//! rest of the machine's boot (keyed by boot id and QEMU binary), so only the first `lab up` pays the deadline.
//! `HLPROV_LAB_ACCEL=kvm|tcg` skips the probe.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// How long a KVM probe guest may take. A working KVM finishes in milliseconds after QEMU starts.
pub const KVM_DEADLINE: Duration = Duration::from_secs(3);
/// TCG runs the same probe (to check that QEMU works at all) within this.
const TCG_DEADLINE: Duration = Duration::from_secs(20);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accel {
    Kvm,
    Tcg,
}

impl Accel {
    pub fn as_str(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        }
    }
    pub fn parse(s: &str) -> Option<Accel> {
        match s.trim() {
            "kvm" => Some(Accel::Kvm),
            "tcg" => Some(Accel::Tcg),
            _ => None,
        }
    }
}

/// The accelerator to use and why.
#[derive(Clone, Debug)]
pub struct Choice {
    pub accel: Accel,
    pub reason: String,
}

/// Decide between KVM and TCG for `qemu`; `cache_dir` keeps the answer for this boot of the machine.
pub async fn choose(qemu: &Path, cache_dir: Option<&Path>) -> Result<Choice, String> {
    if let Ok(forced) = std::env::var("HLPROV_LAB_ACCEL") {
        let accel = Accel::parse(&forced).ok_or_else(|| format!("HLPROV_LAB_ACCEL must be kvm or tcg, not '{forced}'"))?;
        return Ok(Choice { accel, reason: format!("set by HLPROV_LAB_ACCEL={forced}") });
    }
    // QEMU itself must run a guest, whatever the accelerator.
    probe(qemu, Accel::Tcg, TCG_DEADLINE).await.map_err(|e| format!("{} cannot run a guest: {e}", qemu.display()))?;
    if let Err(e) = std::fs::OpenOptions::new().read(true).write(true).open("/dev/kvm") {
        return Ok(Choice { accel: Accel::Tcg, reason: format!("/dev/kvm is not usable ({e})") });
    }
    let key = cache_key(qemu);
    let cache_file = cache_dir.map(|d| d.join("accel-probe"));
    if let (Some(file), Some(key)) = (&cache_file, &key) {
        if let Some(choice) = read_cached(file, key) {
            return Ok(choice);
        }
    }
    let choice = match probe(qemu, Accel::Kvm, KVM_DEADLINE).await {
        Ok(took) => Choice { accel: Accel::Kvm, reason: format!("the KVM probe guest ran in {} ms", took.as_millis()) },
        Err(e) => Choice { accel: Accel::Tcg, reason: format!("KVM is unusable here: {e}") },
    };
    if let (Some(file), Some(key)) = (&cache_file, &key) {
        let _ = std::fs::create_dir_all(file.parent().unwrap_or(Path::new("/")));
        let _ = std::fs::write(file, format!("{key}\n{}\n{}\n", choice.accel.as_str(), choice.reason));
    }
    Ok(choice)
}

/// This boot of the machine and this QEMU binary (path and modification time).
fn cache_key(qemu: &Path) -> Option<String> {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let modified = std::fs::metadata(qemu).ok()?.modified().ok()?.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
    Some(format!("{} {} {modified}", boot.trim(), qemu.display()))
}

fn read_cached(file: &Path, key: &str) -> Option<Choice> {
    let text = std::fs::read_to_string(file).ok()?;
    let mut lines = text.lines();
    if lines.next()? != key {
        return None;
    }
    let accel = Accel::parse(lines.next()?)?;
    Some(Choice { accel, reason: format!("{}; probed earlier in this boot of the machine", lines.next().unwrap_or("")) })
}

/// Boot the probe firmware with `accel`; Ok(how long QEMU took) when it reached long mode and exited.
pub async fn probe(qemu: &Path, accel: Accel, deadline: Duration) -> Result<Duration, String> {
    let mut firmware = tempfile::Builder::new().prefix("hlprov-probe-").suffix(".bin").tempfile().map_err(|e| e.to_string())?;
    std::io::Write::write_all(&mut firmware, &probe_firmware()).map_err(|e| e.to_string())?;
    let cpu = if accel == Accel::Kvm { "host" } else { "max" };
    let start = Instant::now();
    let mut child = tokio::process::Command::new(qemu)
        .args(["-accel", accel.as_str(), "-machine", "pc", "-cpu", cpu, "-m", "16", "-nodefaults", "-no-user-config"])
        .args(["-display", "none", "-serial", "none", "-monitor", "none", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04", "-bios"])
        .arg(firmware.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", qemu.display()))?;
    let mut stderr = child.stderr.take();
    let waited = tokio::time::timeout(deadline, child.wait()).await;
    let took = start.elapsed();
    let status = match waited {
        Ok(status) => status.map_err(|e| e.to_string())?,
        Err(_) => {
            let _ = child.start_kill();
            // A vCPU stuck in the kernel still takes SIGKILL; do not wait forever if it did not.
            let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
            return Err(format!("the probe guest made no progress within {} s", deadline.as_secs()));
        }
    };
    // isa-debug-exit makes QEMU exit with (value << 1) | 1; the firmware writes 0x2a once in long mode.
    if status.code() == Some(0x2a << 1 | 1) {
        return Ok(took);
    }
    let mut err = String::new();
    if let Some(s) = stderr.as_mut() {
        let _ = tokio::io::AsyncReadExt::read_to_string(s, &mut err).await;
    }
    let last = err.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("no message").to_string();
    Err(format!("the probe guest did not finish ({status}): {last}"))
}

/// The probe firmware: 64 KiB mapped below 4 GiB and at 0xF0000, entered at the reset vector (offset 0xFFF0).
/// Assembled from this source (GNU as, `as --64 probe.S && ld -Ttext=0xF0000 --oformat binary`):
///
/// ```text
///         .code16                          # at 0xF0000; the reset vector jumps here
///         cli; mov $0x3f8,%dx; mov $'R',%al; out %al,%dx
///         xor %ax,%ax; mov %ax,%ds; lgdtl %cs:gdt_desc-0xF0000
///         mov %cr0,%eax; or $1,%eax; mov %eax,%cr0; ljmpl $0x08,$start32
///         .code32
/// start32: mov $0x10,%ax; mov %ax,%ds; mov %ax,%es; mov %ax,%ss
///         mov $0x3f8,%dx; mov $'P',%al; out %al,%dx
///         movl $0x2003,0x1000; movl $0,0x1004     # PML4[0] -> PDPT at 0x2000
///         movl $0x3003,0x2000; movl $0,0x2004     # PDPT[0] -> PD at 0x3000
///         movl $0x83,0x3000;   movl $0,0x3004     # PD[0]: the first 2 MiB, identity-mapped
///         mov $0x1000,%eax; mov %eax,%cr3
///         mov %cr4,%eax; or $0x20,%eax; mov %eax,%cr4            # PAE
///         mov $0xC0000080,%ecx; rdmsr; or $0x100,%eax; wrmsr     # EFER.LME
///         mov %cr0,%eax; or $0x80000000,%eax; mov %eax,%cr0      # paging: long mode
///         ljmp $0x18,$start64
///         .code64
/// start64: mov $0x3f8,%dx; mov $'L',%al; out %al,%dx
///         mov $0x2a,%al; out %al,$0xf4                           # isa-debug-exit: QEMU exits 85
/// 1:      hlt; jmp 1b
///         .balign 8
/// gdt:    .quad 0, 0x00CF9A000000FFFF, 0x00CF92000000FFFF, 0x00AF9A000000FFFF
/// gdt_desc: .word gdt_desc-gdt-1; .long gdt
///         .org 0xFFF0
///         .code16; ljmp $0xF000,$0                               # the reset vector
///         .org 0x10000
/// ```
pub fn probe_firmware() -> Vec<u8> {
    const CODE: [u8; 214] = [
        0xfa, 0xba, 0xf8, 0x03, 0xb0, 0x52, 0xee, 0x31, 0xc0, 0x8e, 0xd8, 0x2e, 0x66, 0x0f, 0x01, 0x16, //
        0xd0, 0x00, 0x0f, 0x20, 0xc0, 0x66, 0x83, 0xc8, 0x01, 0x0f, 0x22, 0xc0, 0x66, 0xea, 0x24, 0x00, //
        0x0f, 0x00, 0x08, 0x00, 0x66, 0xb8, 0x10, 0x00, 0x8e, 0xd8, 0x8e, 0xc0, 0x8e, 0xd0, 0x66, 0xba, //
        0xf8, 0x03, 0xb0, 0x50, 0xee, 0xc7, 0x05, 0x00, 0x10, 0x00, 0x00, 0x03, 0x20, 0x00, 0x00, 0xc7, //
        0x05, 0x04, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc7, 0x05, 0x00, 0x20, 0x00, 0x00, 0x03, //
        0x30, 0x00, 0x00, 0xc7, 0x05, 0x04, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc7, 0x05, 0x00, //
        0x30, 0x00, 0x00, 0x83, 0x00, 0x00, 0x00, 0xc7, 0x05, 0x04, 0x30, 0x00, 0x00, 0x00, 0x00, 0x00, //
        0x00, 0xb8, 0x00, 0x10, 0x00, 0x00, 0x0f, 0x22, 0xd8, 0x0f, 0x20, 0xe0, 0x83, 0xc8, 0x20, 0x0f, //
        0x22, 0xe0, 0xb9, 0x80, 0x00, 0x00, 0xc0, 0x0f, 0x32, 0x0d, 0x00, 0x01, 0x00, 0x00, 0x0f, 0x30, //
        0x0f, 0x20, 0xc0, 0x0d, 0x00, 0x00, 0x00, 0x80, 0x0f, 0x22, 0xc0, 0xea, 0xa2, 0x00, 0x0f, 0x00, //
        0x18, 0x00, 0x66, 0xba, 0xf8, 0x03, 0xb0, 0x4c, 0xee, 0xb0, 0x2a, 0xe6, 0xf4, 0xf4, 0xeb, 0xfd, //
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0x00, 0x00, 0x00, 0x9a, 0xcf, 0x00, //
        0xff, 0xff, 0x00, 0x00, 0x00, 0x92, 0xcf, 0x00, 0xff, 0xff, 0x00, 0x00, 0x00, 0x9a, 0xaf, 0x00, //
        0x1f, 0x00, 0xb0, 0x00, 0x0f, 0x00,
    ];
    const RESET_VECTOR: [u8; 5] = [0xea, 0x00, 0x00, 0x00, 0xf0];
    let mut image = vec![0u8; 0x10000];
    image[..CODE.len()].copy_from_slice(&CODE);
    image[0xfff0..0xfff0 + RESET_VECTOR.len()].copy_from_slice(&RESET_VECTOR);
    image
}

/// Where QEMU is: `HLPROV_QEMU` or `qemu-system-x86_64` on PATH.
pub fn find_qemu() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("HLPROV_QEMU") {
        return Ok(PathBuf::from(p));
    }
    super::super::image::which("qemu-system-x86_64")
        .ok_or_else(|| "qemu-system-x86_64 is not installed: apt-get install --no-install-recommends qemu-system-x86 qemu-utils".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn firmware_is_64k_with_code_at_the_start_and_a_jump_at_the_reset_vector() {
        let fw = probe_firmware();
        assert_eq!(fw.len(), 65536, "QEMU wants a BIOS in 64 KiB units");
        assert_eq!(fw[0], 0xfa, "cli");
        assert_eq!(&fw[0xfff0..0xfff5], &[0xea, 0, 0, 0, 0xf0], "ljmp 0xF000:0");
        // The GDT descriptor at 0xD0 points at the GDT at 0xF00B0 with limit 31.
        assert_eq!(&fw[0xd0..0xd6], &[0x1f, 0, 0xb0, 0, 0x0f, 0]);
    }

    #[test]
    fn accelerator_names() {
        assert_eq!(Accel::parse("kvm"), Some(Accel::Kvm));
        assert_eq!(Accel::parse("tcg\n"), Some(Accel::Tcg));
        assert_eq!(Accel::parse("hvf"), None);
    }
}
