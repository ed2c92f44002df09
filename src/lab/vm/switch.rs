//! The lab's private Ethernet segment: a small learning switch between the VMs' QEMU `dgram` network back ends,
//! over unix datagram sockets in the lab's `net/` folder. Frames go from one QEMU to this process to another
//! QEMU and never enter the machine's network stack: no interface, address, route or packet appears on the
//! machine (no tap, no bridge, no multicast). `hlprov lab switch` runs it; `up` starts it, `down` stops it.
//!
//! Sockets are named relative to `net/` (QEMU and the switch run there), because a unix socket path is limited
//! to 108 bytes and a lab folder may be deep.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::time::{Duration, Instant};

use tokio::net::UnixDatagram;

/// The switch's own socket, in the lab's `net/` folder.
pub const SOCKET: &str = "switch.sock";

/// The socket a VM's QEMU binds in `net/`.
pub fn vm_socket(host: &str) -> String {
    format!("{host}.sock")
}

/// Largest datagram read; QEMU sends one Ethernet frame per datagram.
const MAX_FRAME: usize = 65536;

/// Serve the segment in `net_dir` until its socket file disappears or is replaced (the lab folder was removed,
/// or another switch took over): a switch never outlives its lab by more than a second.
pub async fn run(net_dir: &Path) -> Result<(), String> {
    let path = net_dir.join(SOCKET);
    let _ = std::fs::remove_file(&path);
    let socket = UnixDatagram::bind(&path).map_err(|e| format!("cannot bind {}: {e}", path.display()))?;
    let inode = std::fs::metadata(&path).map_err(|e| e.to_string())?.ino();
    let mut switch = Switch::new(net_dir);
    let mut buf = vec![0u8; MAX_FRAME];
    loop {
        tokio::select! {
            got = socket.recv_from(&mut buf) => {
                let Ok((len, from)) = got else { continue };
                let Some(from) = from.as_pathname().and_then(Path::file_name) else { continue };
                for to in switch.forward(&buf[..len], from) {
                    // A full or vanished receiver drops the frame, as a switch port would; nothing ever blocks.
                    let _ = socket.try_send_to(&buf[..len], net_dir.join(to));
                }
            }
            _ = tokio::time::sleep(Duration::from_secs(1)) => {
                if std::fs::metadata(&path).map(|m| m.ino()).ok() != Some(inode) {
                    return Ok(());
                }
            }
        }
    }
}

/// Forwarding decisions: which MAC lives behind which port (a VM socket's name in `dir`), and which ports exist.
pub struct Switch {
    dir: std::path::PathBuf,
    table: HashMap<[u8; 6], OsString>,
    ports: Vec<OsString>,
    scanned: Option<Instant>,
}

impl Switch {
    pub fn new(dir: &Path) -> Switch {
        Switch { dir: dir.to_path_buf(), table: HashMap::new(), ports: Vec::new(), scanned: None }
    }

    /// The ports a frame from port `from` goes to: the one port its destination was seen behind, or every other
    /// port (broadcast, multicast, or a destination not seen yet). Runts go nowhere.
    pub fn forward(&mut self, frame: &[u8], from: &OsStr) -> Vec<OsString> {
        if frame.len() < 14 {
            return Vec::new();
        }
        let dst: [u8; 6] = frame[0..6].try_into().unwrap_or_default();
        let src: [u8; 6] = frame[6..12].try_into().unwrap_or_default();
        if src[0] & 1 == 0 {
            self.table.insert(src, from.to_os_string());
        }
        if dst[0] & 1 == 0 {
            if let Some(port) = self.table.get(&dst) {
                return if port == from { Vec::new() } else { vec![port.clone()] };
            }
        }
        self.rescan(from);
        self.ports.iter().filter(|p| p.as_os_str() != from).cloned().collect()
    }

    /// The VM sockets in the folder; read again at most once a second, or at once when an unknown port speaks.
    fn rescan(&mut self, from: &OsStr) {
        let fresh = self.scanned.is_some_and(|t| t.elapsed() < Duration::from_secs(1));
        if fresh && self.ports.iter().any(|p| p == from) {
            return;
        }
        self.scanned = Some(Instant::now());
        self.ports = std::fs::read_dir(&self.dir)
            .map(|entries| {
                entries.flatten().filter(|e| e.file_type().is_ok_and(|t| t.is_socket()) && e.file_name() != SOCKET).map(|e| e.file_name()).collect()
            })
            .unwrap_or_default();
        self.ports.sort();
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::net::UnixDatagram as StdDatagram;

    use super::*;

    fn frame(dst: [u8; 6], src: [u8; 6]) -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(&dst);
        f.extend_from_slice(&src);
        f.extend_from_slice(&[0x08, 0x06]);
        f.extend_from_slice(&[0u8; 28]);
        f
    }

    const A: [u8; 6] = [0x52, 0x54, 0, 0x77, 0, 11];
    const B: [u8; 6] = [0x52, 0x54, 0, 0x77, 0, 12];

    #[test]
    fn floods_unknown_and_broadcast_then_learns_unicast() {
        let dir = tempfile::tempdir().unwrap();
        let _bound: Vec<StdDatagram> = ["h1.sock", "h2.sock", "h3.sock"].iter().map(|n| StdDatagram::bind(dir.path().join(n)).unwrap()).collect();
        std::fs::write(dir.path().join("switch.log"), "").unwrap();
        let mut sw = Switch::new(dir.path());
        let (h1, h2) = (OsStr::new("h1.sock"), OsStr::new("h2.sock"));
        let names = |v: Vec<OsString>| v.into_iter().map(|s| s.into_string().unwrap()).collect::<Vec<_>>();
        assert_eq!(names(sw.forward(&frame([0xff; 6], A), h1)), ["h2.sock", "h3.sock"], "broadcast: every other port");
        assert_eq!(names(sw.forward(&frame(B, A), h1)), ["h2.sock", "h3.sock"], "unknown destination: flooded");
        assert_eq!(names(sw.forward(&frame(A, B), h2)), ["h1.sock"], "A was learned behind h1");
        assert_eq!(names(sw.forward(&frame(B, A), h1)), ["h2.sock"], "B was learned behind h2");
        assert!(sw.forward(&[0u8; 10], h1).is_empty(), "a runt goes nowhere");
    }

    #[tokio::test]
    async fn carries_frames_between_sockets_and_stops_when_its_socket_goes() {
        let dir = tempfile::tempdir().unwrap();
        let net = dir.path().to_path_buf();
        let switch = tokio::spawn({
            let net = net.clone();
            async move { run(&net).await }
        });
        while !net.join(SOCKET).exists() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let h1 = UnixDatagram::bind(net.join("h1.sock")).unwrap();
        let h2 = UnixDatagram::bind(net.join("h2.sock")).unwrap();
        h1.send_to(&frame([0xff; 6], A), net.join(SOCKET)).await.unwrap();
        let mut buf = [0u8; 100];
        let n = tokio::time::timeout(Duration::from_secs(5), h2.recv(&mut buf)).await.expect("frame reached h2").unwrap();
        assert_eq!(&buf[..n], frame([0xff; 6], A).as_slice());
        std::fs::remove_file(net.join(SOCKET)).unwrap();
        tokio::time::timeout(Duration::from_secs(5), switch).await.expect("switch stops once its socket is gone").unwrap().unwrap();
    }
}
