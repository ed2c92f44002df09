//! What several modules share: file probes and atomic writes (`remote_file`), several read-only snippets in one
//! round trip and what a host is (`host`), file modes (`mode`), line edits (`text_edit`), HTTP over the host's
//! curl or wget (`http`), Python regular expressions (`pyre`), the Proxmox API modules' connection (`pve`).
//! Nothing here is a module of its own.

pub mod host;
pub mod http;
pub mod mode;
pub mod pve;
pub mod pyre;
pub mod remote_file;
pub mod text_edit;
