//! The few Docker Engine calls the lab needs, through bollard (the Docker API client crate).

use std::collections::HashMap;

use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig, PortBinding};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListContainersOptionsBuilder, RemoveContainerOptionsBuilder, UploadToContainerOptionsBuilder,
};
use futures::StreamExt;

pub use bollard::Docker as Client;

/// Label put on everything the lab creates, with the lab's name as value.
pub const LAB_LABEL: &str = "org.hlprov.lab";

/// A Docker error in words a user can act on.
pub fn explain(e: bollard::errors::Error) -> String {
    let text = e.to_string();
    if text.contains("No such file or directory") || text.contains("Connection refused") || text.contains("connect") {
        format!("cannot reach the Docker engine ({text}); is dockerd running? (see README: apt-get install docker.io; dockerd &)")
    } else {
        text
    }
}

/// Connect to the local engine and agree on an API version it speaks (Debian's engine is older than bollard's default).
pub async fn connect() -> Result<Docker, String> {
    let docker = Docker::connect_with_local_defaults().map_err(explain)?;
    docker.negotiate_version().await.map_err(explain)
}

/// What a systemd test host needs from the engine (verified recipe: single capabilities, no --privileged).
pub fn host_container_body(image: &str, hostname: &str, labels: HashMap<String, String>, network: Option<&str>) -> ContainerCreateBody {
    let mut ports = HashMap::new();
    ports.insert("22/tcp".to_string(), Some(vec![PortBinding { host_ip: Some("127.0.0.1".into()), host_port: Some(String::new()) }]));
    let tmpfs = [("/run".to_string(), String::new()), ("/run/lock".to_string(), String::new())].into_iter().collect();
    ContainerCreateBody {
        image: Some(image.to_string()),
        hostname: Some(hostname.to_string()),
        cmd: Some(vec!["/sbin/init".into()]),
        env: Some(vec!["container=docker".into()]),
        labels: Some(labels),
        exposed_ports: Some(vec!["22/tcp".to_string()]),
        stop_signal: Some("SIGRTMIN+3".into()),
        host_config: Some(HostConfig {
            cap_add: Some(vec!["SYS_ADMIN".into(), "NET_ADMIN".into()]),
            security_opt: Some(vec!["seccomp=unconfined".into(), "apparmor=unconfined".into()]),
            binds: Some(vec!["/sys/fs/cgroup:/sys/fs/cgroup:rw".into()]),
            tmpfs: Some(tmpfs),
            port_bindings: Some(ports),
            network_mode: network.map(str::to_string),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub async fn create(docker: &Docker, name: &str, body: ContainerCreateBody) -> Result<String, String> {
    let opts = CreateContainerOptionsBuilder::default().name(name).build();
    Ok(docker.create_container(Some(opts), body).await.map_err(explain)?.id)
}

/// Files to place in a container before it starts: (absolute path, mode, contents).
pub type FileSpec = (String, u32, Vec<u8>);

/// Copy files into a container (works on created, not yet started containers), as root.
pub async fn upload(docker: &Docker, container: &str, files: &[FileSpec]) -> Result<(), String> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, mode, data) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(*mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_cksum();
        builder.append_data(&mut header, path.trim_start_matches('/'), data.as_slice()).map_err(|e| e.to_string())?;
    }
    let archive = builder.into_inner().map_err(|e| e.to_string())?;
    let opts = UploadToContainerOptionsBuilder::default().path("/").build();
    docker.upload_to_container(container, Some(opts), bollard::body_full(archive.into())).await.map_err(explain)
}

/// The host port that container port 22 is published on (127.0.0.1 only).
pub async fn ssh_port(docker: &Docker, container: &str) -> Result<u16, String> {
    let info = docker.inspect_container(container, None).await.map_err(explain)?;
    info.network_settings
        .and_then(|n| n.ports)
        .and_then(|p| p.get("22/tcp").cloned().flatten())
        .and_then(|b| b.into_iter().find_map(|b| b.host_port?.parse().ok()))
        .ok_or_else(|| format!("container {container} has no published SSH port"))
}

/// The container's address on a network (for host-to-host traffic inside the lab).
pub async fn address_on(docker: &Docker, container: &str, network: &str) -> Option<String> {
    let info = docker.inspect_container(container, None).await.ok()?;
    info.network_settings?.networks?.get(network)?.ip_address.clone().filter(|a| !a.is_empty())
}

/// Containers carrying `label=value`, by name, with their state ("running", "exited", …).
pub async fn list_labelled(docker: &Docker, label: &str, value: &str) -> Result<Vec<(String, String)>, String> {
    let mut filters = HashMap::new();
    filters.insert("label".to_string(), vec![format!("{label}={value}")]);
    let opts = ListContainersOptionsBuilder::default().all(true).filters(&filters).build();
    let list = docker.list_containers(Some(opts)).await.map_err(explain)?;
    let mut out: Vec<(String, String)> = list
        .into_iter()
        .filter_map(|c| {
            let name = c.names?.first()?.trim_start_matches('/').to_string();
            Some((name, c.state.map(|s| s.to_string()).unwrap_or_default()))
        })
        .collect();
    out.sort();
    Ok(out)
}

pub async fn remove(docker: &Docker, container: &str) -> Result<(), String> {
    let opts = RemoveContainerOptionsBuilder::default().force(true).v(true).build();
    match docker.remove_container(container, Some(opts)).await {
        Ok(()) => Ok(()),
        Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => Ok(()),
        Err(e) => Err(explain(e)),
    }
}

/// Run a command in a container (outside SSH) and return (exit code, stdout+stderr). Tests use this to read
/// a host's state independently of hlprov.
pub async fn exec(docker: &Docker, container: &str, argv: &[&str]) -> Result<(i64, String), String> {
    use bollard::exec::{CreateExecOptions, StartExecResults};
    let exec = docker
        .create_exec(
            container,
            CreateExecOptions {
                cmd: Some(argv.iter().map(|s| s.to_string()).collect()),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                ..Default::default()
            },
        )
        .await
        .map_err(explain)?;
    let mut text = String::new();
    if let StartExecResults::Attached { mut output, .. } = docker.start_exec(&exec.id, None).await.map_err(explain)? {
        while let Some(chunk) = output.next().await {
            text.push_str(&chunk.map_err(explain)?.to_string());
        }
    }
    let code = docker.inspect_exec(&exec.id).await.map_err(explain)?.exit_code.unwrap_or(-1);
    Ok((code, text))
}
