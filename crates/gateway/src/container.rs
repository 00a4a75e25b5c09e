//! Container upstreams through the Docker Engine API, which Podman's service
//! speaks too (`--container-socket`). The container is created with stdin open and
//! attached before it starts (what it writes earlier is lost otherwise), with no tty (a
//! tty mangles the JSON lines); its stdout feeds the MCP transport and its stderr the log
//! ring. It runs with memory, CPU and pids limits, no network unless its entry asks, a
//! read-only root with a small /tmp, no capabilities, no new privileges, an init, as
//! nobody, removed when it stops, and labelled with its owner node so that a node that
//! died has its containers removed by the next one to start. What it keeps lasts in
//! `/data`, a named volume of the upstream's own on each engine (`volume_name`), owned by
//! nobody, kept across restarts and upgrades, removed when the upstream is uninstalled.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::models::{ContainerCreateBody, HostConfig, Mount, MountType, VolumeCreateRequest};
use bollard::query_parameters::{
    AttachContainerOptions, CreateContainerOptions, ListContainersOptions, RemoveContainerOptions,
    StopContainerOptions,
};
use futures::StreamExt;
use guidepost_domain::{ContainerLimits, Network};
use tokio::io::{AsyncWriteExt, DuplexStream};
use tokio::sync::watch;

use crate::confine::EgressError;
use crate::orphans;
use crate::process::{LOG_LINE, LogRing};

const OWNER_LABEL: &str = "guidepost.owner";
const UPSTREAM_LABEL: &str = "guidepost.upstream";
const DEPLOYMENT_LABEL: &str = "guidepost.deployment";
/// Seconds the engine waits after SIGTERM before SIGKILL.
const STOP_GRACE_SECS: i32 = 3;
/// Bytes of stdout buffered between the container and the MCP transport.
const PIPE_BYTES: usize = 1024 * 1024;
/// Where the upstream's volume is mounted.
pub const DATA_DIR: &str = "/data";
/// The user every container runs as (nobody), who owns its volume.
const NOBODY: &str = "65534";

/// An error the container engine's client gave.
type EngineError = bollard::errors::Error;

/// What failed in talking to the container engine, with the engine's own error.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ContainerError {
    #[error("the container socket path is not UTF-8")]
    SocketNotUtf8,
    #[error("cannot reach the container engine at {path}: {source}")]
    Unreachable {
        path: String,
        #[source]
        source: EngineError,
    },
    #[error("the container engine at {path} did not answer: {source}")]
    Silent {
        path: String,
        #[source]
        source: EngineError,
    },
    #[error("the container could not be created: {0}")]
    NotCreated(#[source] EngineError),
    #[error("cannot attach to the container: {0}")]
    NotAttached(#[source] EngineError),
    #[error("the container did not start: {0}")]
    NotStarted(#[source] EngineError),
    #[error("cannot inspect the container: {0}")]
    NotInspected(#[source] EngineError),
    #[error("the container has no process to fence")]
    NoProcess,
    #[error(transparent)]
    Egress(#[from] EgressError),
    #[error("the upstream's volume could not be created: {source} (with its owner: {with_owner})")]
    VolumeNotCreated {
        #[source]
        source: EngineError,
        /// The first attempt's error, which gave the volume its owner.
        with_owner: EngineError,
    },
    #[error("could not remove the volume {name}: {source}")]
    VolumeNotRemoved {
        name: String,
        #[source]
        source: EngineError,
    },
    #[error("cannot list volumes: {0}")]
    VolumesNotListed(#[source] EngineError),
    #[error("cannot list containers: {0}")]
    ContainersNotListed(#[source] EngineError),
}

/// The name of the volume that holds `upstream`'s `/data` on an engine.
pub fn volume_name(upstream: &str) -> String {
    format!("guidepost-{upstream}-data")
}

/// What to run.
#[derive(Debug, Clone)]
pub(crate) struct ContainerSpec {
    pub image: String,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub limits: ContainerLimits,
    /// Whether it gets a way out (and to which hosts): never the engine's bridge (which
    /// reaches the host and its private networks), but the egress fence inside its own
    /// network namespace.
    pub network: Network,
    /// The egress fence's policy: private addresses too, and the platform's own ports.
    pub allow_private: bool,
    pub platform_ports: Vec<u16>,
    pub upstream: String,
    /// Its organization, whose caps its memory and processes count on.
    pub org: String,
    /// The owner marker (`orphans::marker`).
    pub owner: String,
    /// The deployment, on the upstream's volume: a node sweeps only its own deployment's.
    pub deployment: String,
}

/// A running container. Dropped without `stop` (a launch given up mid-handshake), it is
/// removed all the same.
pub(crate) struct Container {
    docker: Docker,
    id: String,
    exited: watch::Receiver<bool>,
    removed: bool,
    /// Its way out, if it asked for network.
    _egress: Option<crate::confine::Egress>,
    /// Its share of the organization's and the node's caps, given back when it goes.
    pub reservation: Option<crate::confine::Reservation>,
}

impl Drop for Container {
    fn drop(&mut self) {
        if self.removed {
            return;
        }
        let (docker, id) = (self.docker.clone(), self.id.clone());
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move { remove(&docker, &id).await });
        }
    }
}

/// The engine behind `socket`, at the API version both speak (Podman's is 1.41).
async fn engine(socket: &Path) -> Result<Docker, ContainerError> {
    let path = socket.to_str().ok_or(ContainerError::SocketNotUtf8)?;
    let docker =
        Docker::connect_with_unix(path, 120, bollard::API_DEFAULT_VERSION).map_err(|source| {
            ContainerError::Unreachable {
                path: path.into(),
                source,
            }
        })?;
    docker
        .negotiate_version()
        .await
        .map_err(|source| ContainerError::Silent {
            path: path.into(),
            source,
        })
}

/// Creates, attaches and starts the container; returns it with its stdout (as a byte
/// stream) and its stdin.
pub(crate) async fn start(
    socket: &Path,
    spec: &ContainerSpec,
    logs: &LogRing,
) -> Result<
    (
        Container,
        DuplexStream,
        std::pin::Pin<Box<dyn tokio::io::AsyncWrite + Send>>,
    ),
    ContainerError,
> {
    let docker = engine(socket).await?;
    ensure_volume(&docker, spec).await?;
    let suffix = guidepost_domain::hash_secret(&format!(
        "{}{:?}",
        spec.upstream,
        std::time::SystemTime::now()
    ));
    let name = format!("guidepost-{}-{}", spec.upstream, &suffix[..8]);
    let options = CreateContainerOptions {
        name: Some(name),
        ..Default::default()
    };
    let created = docker
        .create_container(Some(options), body(spec))
        .await
        .map_err(ContainerError::NotCreated)?;
    let id = created.id;
    let attach = AttachContainerOptions {
        stdin: true,
        stdout: true,
        stderr: true,
        stream: true,
        logs: false,
        ..Default::default()
    };
    let attached = match docker.attach_container(&id, Some(attach)).await {
        Ok(attached) => attached,
        Err(e) => {
            remove(&docker, &id).await;
            return Err(ContainerError::NotAttached(e));
        }
    };
    let (stdout_writer, stdout_reader) = tokio::io::duplex(PIPE_BYTES);
    tokio::spawn(demultiplex(attached.output, stdout_writer, logs.clone()));
    if let Err(e) = docker.start_container(&id, None).await {
        remove(&docker, &id).await;
        return Err(ContainerError::NotStarted(e));
    }
    let egress = if spec.network.is_on() {
        match fence(&docker, &id, spec).await {
            Ok(egress) => Some(egress),
            Err(why) => {
                remove(&docker, &id).await;
                return Err(why);
            }
        }
    } else {
        None
    };
    let (tell, exited) = watch::channel(false);
    let waiting = docker.clone();
    let waited = id.clone();
    tokio::spawn(async move {
        let mut wait = waiting.wait_container(&waited, None);
        while let Some(Ok(_)) = wait.next().await {}
        let _ = tell.send(true);
    });
    let container = Container {
        docker,
        id,
        exited,
        removed: false,
        _egress: egress,
        reservation: None,
    };
    Ok((container, stdout_reader, attached.input))
}

/// Opens the egress fence inside the started container's network namespace.
async fn fence(
    docker: &Docker,
    id: &str,
    spec: &ContainerSpec,
) -> Result<crate::confine::Egress, ContainerError> {
    let inspected = docker
        .inspect_container(id, None)
        .await
        .map_err(ContainerError::NotInspected)?;
    let pid = inspected
        .state
        .and_then(|state| state.pid)
        .and_then(|pid| u32::try_from(pid).ok())
        .filter(|pid| *pid > 0)
        .ok_or(ContainerError::NoProcess)?;
    let mut fence = crate::confine::Fence::open(spec.allow_private, spec.platform_ports.clone());
    if let Some(hosts) = spec.network.allowed_hosts() {
        fence = fence.limited_to(hosts.to_vec());
    }
    let egress = crate::confine::Egress::start(pid, fence)?;
    Ok(egress)
}

/// The upstream's volume, created at its first start on this engine, owned by nobody.
async fn ensure_volume(docker: &Docker, spec: &ContainerSpec) -> Result<(), ContainerError> {
    let name = volume_name(&spec.upstream);
    if docker.inspect_volume(&name).await.is_ok() {
        return Ok(());
    }
    let request = |owner: Option<String>| VolumeCreateRequest {
        name: Some(name.clone()),
        driver_opts: owner.map(|o| HashMap::from([("o".to_owned(), o)])),
        labels: Some(HashMap::from([
            (UPSTREAM_LABEL.into(), spec.upstream.clone()),
            (DEPLOYMENT_LABEL.into(), spec.deployment.clone()),
        ])),
        ..Default::default()
    };
    // Podman's local driver takes the owner as a mount option. Docker's refuses it without
    // a device: there the volume is made plain and takes the owner of the image's /data
    // (an image for Guidepost makes it nobody's).
    let owner = format!("uid={NOBODY},gid={NOBODY}");
    let first = match docker.create_volume(request(Some(owner))).await {
        Ok(_) => return Ok(()),
        Err(error) => error,
    };
    match docker.create_volume(request(None)).await {
        Ok(_) => Ok(()),
        // Another replica made it meanwhile.
        Err(_) if docker.inspect_volume(&name).await.is_ok() => Ok(()),
        Err(source) => Err(ContainerError::VolumeNotCreated {
            source,
            with_owner: first,
        }),
    }
}

/// Removes `upstream`'s volume from the engine behind `socket` (it was uninstalled);
/// nothing to do when it has none here.
pub(crate) async fn remove_volume(socket: &Path, upstream: &str) -> Result<(), ContainerError> {
    let docker = engine(socket).await?;
    remove_named(&docker, &volume_name(upstream)).await
}

/// Removes the volume `name`; one already gone (or never made here) is not an error.
async fn remove_named(docker: &Docker, name: &str) -> Result<(), ContainerError> {
    let force = bollard::query_parameters::RemoveVolumeOptions { force: true };
    match docker.remove_volume(name, Some(force)).await {
        Ok(()) => Ok(()),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(()),
        Err(source) => Err(ContainerError::VolumeNotRemoved {
            name: name.into(),
            source,
        }),
    }
}

fn body(spec: &ContainerSpec) -> ContainerCreateBody {
    let memory = i64::from(spec.limits.memory_mb) * 1024 * 1024;
    let host = HostConfig {
        memory: Some(memory),
        memory_swap: Some(memory),
        nano_cpus: Some((spec.limits.cpus * 1e9) as i64),
        pids_limit: Some(i64::from(spec.limits.pids)),
        cap_drop: Some(vec!["ALL".into()]),
        security_opt: Some(vec!["no-new-privileges".into()]),
        readonly_rootfs: Some(true),
        tmpfs: Some(HashMap::from([("/tmp".into(), "rw,size=16m".into())])),
        mounts: Some(vec![Mount {
            target: Some(DATA_DIR.into()),
            source: Some(volume_name(&spec.upstream)),
            typ: Some(MountType::VOLUME),
            read_only: Some(false),
            ..Default::default()
        }]),
        // Never a bridge: a network entry reaches out through the egress fence only.
        network_mode: Some("none".into()),
        init: Some(true),
        auto_remove: Some(true),
        ..Default::default()
    };
    let labels = HashMap::from([
        (OWNER_LABEL.into(), spec.owner.clone()),
        (UPSTREAM_LABEL.into(), spec.upstream.clone()),
    ]);
    let mut env = spec.env.clone();
    if spec.network.is_on() {
        let proxy = crate::confine::proxy_url();
        for name in crate::confine::PROXY_VARIABLES {
            env.push(format!("{name}={proxy}"));
        }
    }
    ContainerCreateBody {
        image: Some(spec.image.clone()),
        cmd: (!spec.args.is_empty()).then(|| spec.args.clone()),
        env: Some(env),
        user: Some(format!("{NOBODY}:{NOBODY}")),
        attach_stdin: Some(true),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        open_stdin: Some(true),
        stdin_once: Some(true),
        tty: Some(false),
        labels: Some(labels),
        host_config: Some(host),
        ..Default::default()
    }
}

/// Stdout frames to the transport's pipe, stderr frames to the log ring by line.
async fn demultiplex(
    mut output: std::pin::Pin<
        Box<dyn futures::Stream<Item = Result<LogOutput, bollard::errors::Error>> + Send>,
    >,
    mut stdout: DuplexStream,
    logs: LogRing,
) {
    let mut line = Vec::new();
    let mut cut = false;
    while let Some(Ok(frame)) = output.next().await {
        match frame {
            LogOutput::StdOut { message } | LogOutput::Console { message } => {
                if stdout.write_all(&message).await.is_err() {
                    break;
                }
            }
            LogOutput::StdErr { message } => {
                for byte in message {
                    if byte == b'\n' {
                        logs.push_read(&line, cut);
                        line.clear();
                        cut = false;
                    } else if line.len() < LOG_LINE {
                        line.push(byte);
                    } else {
                        cut = true;
                    }
                }
            }
            LogOutput::StdIn { .. } => {}
        }
    }
    if !line.is_empty() {
        logs.push_read(&line, cut);
    }
}

impl Container {
    pub fn exited(&self) -> bool {
        *self.exited.borrow()
    }

    pub fn exit(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut exited = self.exited.clone();
        async move {
            let _ = exited.wait_for(|gone| *gone).await;
        }
    }

    /// Stops it (SIGTERM, then SIGKILL after the grace) and removes it.
    pub async fn stop(mut self) {
        let options = StopContainerOptions {
            t: Some(STOP_GRACE_SECS),
            ..Default::default()
        };
        let _ = self.docker.stop_container(&self.id, Some(options)).await;
        let _ = tokio::time::timeout(Duration::from_secs(10), self.exit()).await;
        remove(&self.docker, &self.id).await;
        self.removed = true;
    }
}

async fn remove(docker: &Docker, id: &str) {
    let options = RemoveContainerOptions {
        force: true,
        ..Default::default()
    };
    let _ = docker.remove_container(id, Some(options)).await;
}

/// Removes the deployment's volumes of upstreams not `installed` (uninstalled while this
/// node was down, or by another node); returns how many.
pub(crate) async fn sweep_volumes(
    socket: &Path,
    deployment: &str,
    installed: &std::collections::HashSet<String>,
) -> Result<usize, ContainerError> {
    let docker = engine(socket).await?;
    let label = format!("{DEPLOYMENT_LABEL}={deployment}");
    let options = bollard::query_parameters::ListVolumesOptions {
        filters: Some(HashMap::from([("label".to_owned(), vec![label])])),
    };
    let listed = docker
        .list_volumes(Some(options))
        .await
        .map_err(ContainerError::VolumesNotListed)?;
    let mut swept = 0;
    for volume in listed.volumes.unwrap_or_default() {
        let upstream = volume
            .labels
            .get(UPSTREAM_LABEL)
            .cloned()
            .unwrap_or_default();
        if upstream.is_empty() || installed.contains(&upstream) {
            continue;
        }
        remove_named(&docker, &volume.name).await?;
        swept += 1;
    }
    Ok(swept)
}

/// Removes every container of the deployment whose owner node no longer runs; returns
/// how many.
pub(crate) async fn reap(socket: &Path, deployment: &str) -> Result<usize, ContainerError> {
    let docker = engine(socket).await?;
    let filters = HashMap::from([("label".to_owned(), vec![OWNER_LABEL.to_owned()])]);
    let options = ListContainersOptions {
        all: true,
        filters: Some(filters),
        ..Default::default()
    };
    let listed = docker
        .list_containers(Some(options))
        .await
        .map_err(ContainerError::ContainersNotListed)?;
    let mut reaped = 0;
    for container in listed {
        let owner = container
            .labels
            .as_ref()
            .and_then(|l| l.get(OWNER_LABEL))
            .cloned()
            .unwrap_or_default();
        if !orphans::is_orphan(&owner, deployment) {
            continue;
        }
        if let Some(id) = container.id {
            remove(&docker, &id).await;
            reaped += 1;
        }
    }
    Ok(reaped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_stderr_line_past_the_limit_is_kept_cut_and_marked() {
        let long = format!("{}\nshort\n", "x".repeat(LOG_LINE + 100));
        let frames = vec![
            Ok(LogOutput::StdErr {
                message: long.into_bytes().into(),
            }),
            Ok(LogOutput::StdErr {
                message: "no newline at the end".into(),
            }),
        ];
        let (stdout, _reader) = tokio::io::duplex(64);
        let logs = LogRing::default();
        demultiplex(
            Box::pin(futures::stream::iter(frames)),
            stdout,
            logs.clone(),
        )
        .await;
        assert_eq!(
            logs.lines(),
            [
                format!("{} …", "x".repeat(LOG_LINE)),
                "short".to_owned(),
                "no newline at the end".to_owned(),
            ]
        );
    }
}
