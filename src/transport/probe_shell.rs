//! A long-lived `/bin/sh` on a host for hlprov's own read-only scripts (probes).
//!
//! A command on a new SSH channel costs the host a session: sshd forks, the login shell starts and starts
//! `/bin/sh`, all before the script's first line. In a no-op run every task is one probe, and on a small
//! machine those process starts are most of the run's time (see docs/decisions.md). A probe shell is started
//! once per connection; each probe is sent to it as one line and runs in a subshell (a fork, no exec):
//!
//! ```text
//! ( eval '<script>' ) </dev/null; printf '\n%s %d\n' <end> "$?"; printf '\n%s\n' <end> >&2
//! ```
//!
//! `<end>` is random per shell, so no output can fake it. The subshell keeps variables, `cd`, `exit` and traps
//! to the probe; its stdin is /dev/null so it cannot eat the next probe. Only scripts that read (no stdin, start
//! nothing that outlives them) come here: what they left running could write into the next probe's output.

use russh::ChannelMsg;
use russh::client::Msg;

use super::quote::quote;
use super::{ExitStatus, MAX_OUTPUT_BYTES, Output};

pub(super) struct ProbeShell {
    channel: russh::Channel<Msg>,
    end: String,
}

impl ProbeShell {
    /// Start `/bin/sh` reading scripts from the channel (through the login shell, as every command is).
    pub async fn open<H: russh::client::Handler>(handle: &russh::client::Handle<H>) -> Result<ProbeShell, String> {
        let channel = handle.channel_open_session().await.map_err(|e| e.to_string())?;
        channel.exec(true, "exec /bin/sh").await.map_err(|e| e.to_string())?;
        Ok(ProbeShell { channel, end: format!("hlprov-end-{:016x}", rand::random::<u64>()) })
    }

    /// Run one script. An error means the shell is gone or confused: the caller drops it (the script may or
    /// may not have run; probes only read, so running it again elsewhere is safe).
    pub async fn run(&mut self, script: &str) -> Result<Output, String> {
        let end = &self.end;
        let line = format!("( eval {} ) </dev/null; printf '\\n%s %d\\n' {end} \"$?\"; printf '\\n%s\\n' {end} >&2\n", quote(script));
        self.channel.data(line.as_bytes()).await.map_err(|e| e.to_string())?;
        let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
        let (mut code, mut stderr_done) = (None, false);
        while code.is_none() || !stderr_done {
            match self.channel.wait().await {
                Some(ChannelMsg::Data { data }) if code.is_none() => {
                    let from = stdout.len().saturating_sub(end.len() + 16);
                    stdout.extend_from_slice(&data);
                    code = take_end(&mut stdout, from, end);
                }
                Some(ChannelMsg::ExtendedData { data, ext: 1 }) if !stderr_done => {
                    let from = stderr.len().saturating_sub(end.len() + 16);
                    stderr.extend_from_slice(&data);
                    stderr_done = take_end(&mut stderr, from, end).is_some();
                }
                Some(ChannelMsg::Data { .. } | ChannelMsg::ExtendedData { .. }) => return Err("output after the end of a probe".into()),
                Some(ChannelMsg::Eof | ChannelMsg::Close | ChannelMsg::ExitStatus { .. } | ChannelMsg::ExitSignal { .. }) | None => {
                    return Err("the probe shell ended".into());
                }
                Some(_) => {}
            }
            if stdout.len() > MAX_OUTPUT_BYTES || stderr.len() > MAX_OUTPUT_BYTES {
                return Err(format!("command output exceeded {MAX_OUTPUT_BYTES} bytes"));
            }
        }
        Ok(Output { status: ExitStatus::Code(code.unwrap_or(-1)), stdout, stderr })
    }

    pub async fn close(self) {
        let _ = self.channel.eof().await;
    }
}

/// If `buf` (searched from `from`) ends with `\n<end>\n` or `\n<end> <code>\n`, cut that off and return the
/// code (0 when there is none, as on stderr).
fn take_end(buf: &mut Vec<u8>, from: usize, end: &str) -> Option<i32> {
    let needle = format!("\n{end}");
    let at = buf[from..].windows(needle.len()).position(|w| w == needle.as_bytes())? + from;
    let rest = &buf[at + needle.len()..];
    if rest.last() != Some(&b'\n') {
        return None; // not all of it has arrived
    }
    let code = std::str::from_utf8(&rest[..rest.len() - 1]).ok()?.trim().parse().unwrap_or(0);
    buf.truncate(at);
    Some(code)
}

#[cfg(test)]
mod tests {
    use super::take_end;

    #[test]
    fn end_marker_is_cut_off_once_complete() {
        let mut b = b"hello\n\nEND 3".to_vec();
        assert_eq!(take_end(&mut b, 0, "END"), None, "the line is not complete yet");
        b.extend_from_slice(b"\n");
        assert_eq!(take_end(&mut b, 0, "END"), Some(3));
        assert_eq!(b, b"hello\n");
        let mut b = b"no newline at the end\nEND 0\n".to_vec();
        assert_eq!(take_end(&mut b, 0, "END"), Some(0));
        assert_eq!(b, b"no newline at the end");
        let mut b = b"\nEND\n".to_vec();
        assert_eq!(take_end(&mut b, 0, "END"), Some(0));
        assert!(b.is_empty());
        assert_eq!(take_end(&mut b"just output\n".to_vec(), 0, "END"), None);
    }
}
