//! What to run or reach for an upstream: its package's entry point fetched into the
//! cache, the operator's command, a container, or a remote server's URL, with its own
//! directory and what confinement it declares.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use guidepost_domain::{
    CommandSpec, ImageSpec, LaunchLimits, LaunchSpec, Network, PackageSpec, ProcessLimits,
    RemoteSpec, Upstream,
};

use super::Launch;
use crate::GatewayOptions;
use crate::confine::{Confiner, Declaration};
use crate::container::ContainerSpec;
use crate::fetch::{npm_entry_point, pypi_entry_point};
use crate::secret_args::ArgumentSecrets;

/// What to run or reach for `upstream`, fetching its package into the cache if needed
/// (the installer confined by `confiner`; `None` only for the benchmark's unconfined
/// baseline); its `secrets` go to a process's environment, or to an HTTP server's
/// mapped headers.
pub(crate) async fn resolve(
    upstream: &Upstream,
    options: &GatewayOptions,
    secrets: &BTreeMap<String, String>,
    confiner: Option<&Confiner>,
) -> Result<Launch, String> {
    let workdir = data_dir(options, upstream).await?;
    let place = |text: &str| text.replace(DATA_DIR, &workdir.display().to_string());
    let secret_args = ArgumentSecrets::of(&upstream.spec, secrets).map_err(|e| e.to_string())?;
    let placed_args = |args: &[String]| {
        args.iter()
            .map(|a| secret_args.value_of(a).unwrap_or_else(|| place(a)))
            .collect::<Vec<_>>()
    };
    // A secret its command line carries is not also put in its environment.
    let with_secrets = |env: &BTreeMap<String, String>| {
        let mut env: BTreeMap<String, String> =
            env.iter().map(|(k, v)| (k.clone(), place(v))).collect();
        let in_env = secrets.iter().filter(|(k, _)| !secret_args.carries(k));
        env.extend(in_env.map(|(k, v)| (k.clone(), v.clone())));
        env
    };
    let toolchain = &options.toolchain;
    let process = |program: PathBuf, args, env, declaration| Launch::Process {
        program,
        args,
        env,
        workdir: workdir.clone(),
        declaration,
        upstream: upstream.id.to_string(),
        org: upstream.org_id.to_string(),
    };
    match &upstream.spec {
        LaunchSpec::Npm(PackageSpec {
            package,
            version,
            bin,
            args,
            env,
            network,
            limits,
        }) => {
            let entry = npm_entry_point(toolchain, confiner, package, version, bin.as_deref())
                .await
                .map_err(|e| e.to_string())?;
            let mut argv = vec![entry.display().to_string()];
            argv.extend(placed_args(args));
            // The whole install (the package and its dependencies), read-only.
            let installed = entry
                .ancestors()
                .find(|dir| dir.file_name().is_some_and(|n| n == "node_modules"))
                .and_then(Path::parent)
                .unwrap_or(&entry)
                .to_path_buf();
            let declaration = declared(network.clone(), limits, vec![installed], Vec::new());
            Ok(process(
                toolchain.node.clone(),
                argv,
                with_secrets(env),
                declaration,
            ))
        }
        LaunchSpec::Pypi(PackageSpec {
            package,
            version,
            bin,
            args,
            env,
            network,
            limits,
        }) => {
            let entry = pypi_entry_point(toolchain, confiner, package, version, bin.as_deref())
                .await
                .map_err(|e| e.to_string())?;
            // The console script's function, called as its generated script would.
            let call = format!(
                "import sys; from {} import {}; sys.argv[0] = {:?}; sys.exit({}())",
                entry.module,
                entry.function.split('.').next().unwrap_or_default(),
                bin.as_deref().unwrap_or(package),
                entry.function,
            );
            // -P: the working directory (writable by the upstream) is not on the import path.
            let mut argv = vec!["-P".to_owned(), "-c".to_owned(), call];
            argv.extend(placed_args(args));
            let mut env = with_secrets(env);
            env.insert("PYTHONPATH".into(), entry.path.display().to_string());
            let declaration = declared(
                network.clone(),
                limits,
                vec![entry.path.clone()],
                Vec::new(),
            );
            Ok(process(toolchain.python.clone(), argv, env, declaration))
        }
        LaunchSpec::Command(CommandSpec {
            command,
            args,
            env,
            network,
            limits,
            paths,
        }) => {
            let absolute = |list: &[String]| list.iter().map(|p| PathBuf::from(place(p))).collect();
            let mut read: Vec<PathBuf> = absolute(&paths.read);
            // The command and the installation it belongs to (a venv's root, say).
            read.push(PathBuf::from(command));
            read.extend(crate::confine::runtime_dirs(Path::new(command)));
            let declaration = declared(network.clone(), limits, read, absolute(&paths.write));
            Ok(process(
                command.into(),
                placed_args(args),
                with_secrets(env),
                declaration,
            ))
        }
        LaunchSpec::Http(RemoteSpec {
            url,
            headers,
            secret_headers,
            ..
        }) => {
            // A refusal of the fence is no crash to retry: the upstream fails at once.
            crate::reach::check_reachable(url, options.http_allow_private)
                .await
                .map_err(|e| e.to_string())?;
            let mut headers = headers.clone();
            for (header, secret) in secret_headers {
                let value = secrets
                    .get(secret)
                    .ok_or_else(|| format!("the secret {secret} is not set"))?;
                headers.insert(header.clone(), value.clone());
            }
            Ok(Launch::Http {
                url: url.clone(),
                headers,
                signed_in: None,
            })
        }
        LaunchSpec::Container(ImageSpec {
            image,
            args,
            env,
            limits,
            network,
        }) => {
            if options.container_socket.is_none() {
                return Err(
                    "this platform runs no container engine (start it with --container-socket)"
                        .into(),
                );
            }
            let env = with_secrets(env)
                .into_iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            Ok(Launch::Container(ContainerSpec {
                image: image.clone(),
                // Its own paths, not the host's: only secrets are put in.
                args: args
                    .iter()
                    .map(|a| secret_args.value_of(a).unwrap_or_else(|| a.clone()))
                    .collect(),
                env,
                limits: limits.clone(),
                network: network.clone(),
                allow_private: options.http_allow_private,
                platform_ports: options.confinement.platform_ports.clone(),
                upstream: upstream.id.to_string(),
                org: upstream.org_id.to_string(),
                owner: crate::orphans::marker(&options.deployment),
                deployment: options.deployment.clone(),
            }))
        }
    }
}

/// What a process upstream's entry declares, before anything is fetched (its paths
/// aside); `None` for what runs no process of this host.
pub(crate) fn declaration_of(spec: &LaunchSpec) -> Option<Declaration> {
    match spec.limits() {
        LaunchLimits::Process(limits) => Some(declared(
            spec.network_access().cloned().unwrap_or_default(),
            limits,
            Vec::new(),
            Vec::new(),
        )),
        LaunchLimits::Container(_) | LaunchLimits::Remote => None,
    }
}

/// A process's declaration from its entry.
fn declared(
    network: Network,
    limits: &ProcessLimits,
    read: Vec<PathBuf>,
    write: Vec<PathBuf>,
) -> Declaration {
    Declaration {
        network,
        memory_mb: limits.memory_mb,
        processes: limits.processes,
        disk_mb: limits.disk_mb,
        read,
        write,
    }
}

/// What an entry writes for the upstream's own directory.
pub(crate) const DATA_DIR: &str = "${DATA_DIR}";

/// The upstream's own directory on this node, created (owner only) if missing.
async fn data_dir(options: &GatewayOptions, upstream: &Upstream) -> Result<PathBuf, String> {
    let dir = options.toolchain.data_dir.join(upstream.id.as_str());
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let dir = tokio::fs::canonicalize(&dir)
        .await
        .map_err(|e| e.to_string())?;
    use std::os::unix::fs::PermissionsExt;
    let owner_only = std::fs::Permissions::from_mode(0o700);
    tokio::fs::set_permissions(&dir, owner_only)
        .await
        .map_err(|e| e.to_string())?;
    Ok(dir)
}
