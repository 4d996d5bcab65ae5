//! The deployment files under `deploy/` are checked against the binary they deploy: the systemd
//! units pass `systemd-analyze verify`, and every command line the Dockerfile, the units and the
//! Kubernetes sketch run is accepted by `reelsmith`; the Kubernetes operator-key arrangement
//! (a group-readable Secret copied to a 0600 file by an init container) is replayed for real.
//! Building the image needs a Docker daemon, which the test machines do not have; the
//! Dockerfile's runtime command is run here instead.

mod platform;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn deploy(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy")
        .join(path)
}

/// `reelsmith <args> --help` exits 0 only when every argument before `--help` is one the
/// command knows (clap stops at the first unknown one).
fn assert_accepted(args: &[String]) {
    let out = Command::new(platform::bin())
        .args(args)
        .arg("--help")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "reelsmith {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn exec_start(unit: &str) -> Vec<String> {
    let text = std::fs::read_to_string(deploy(unit)).unwrap();
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .unwrap_or_else(|| panic!("{unit} has an ExecStart"));
    let mut words = line.split_whitespace().map(str::to_owned);
    assert_eq!(words.next().as_deref(), Some("/usr/local/bin/reelsmith"));
    words.collect()
}

#[test]
fn the_systemd_units_pass_systemd_analyze_verify_and_start_valid_commands() {
    let temp = tempfile::tempdir().unwrap();
    let units = [
        (
            "systemd/reelsmith-server.service",
            "reelsmith-server.service",
        ),
        (
            "systemd/reelsmith-worker@.service",
            "reelsmith-worker@1.service",
        ),
    ];
    let mut paths = Vec::new();
    for (source, name) in units {
        assert_accepted(&exec_start(source));
        // verify checks that ExecStart is executable: point it at the binary under test.
        let text = std::fs::read_to_string(deploy(source))
            .unwrap()
            .replace("/usr/local/bin/reelsmith", platform::bin());
        let path = temp.path().join(name);
        std::fs::write(&path, text).unwrap();
        paths.push(path);
    }
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .args(&paths)
        .output()
        .expect("systemd-analyze runs (scripts/setup --test installs systemd)");
    let complaints = String::from_utf8_lossy(&out.stderr);
    let ours: Vec<&str> = complaints
        .lines()
        .filter(|l| l.contains("reelsmith"))
        .collect();
    assert!(
        out.status.success() && ours.is_empty(),
        "systemd-analyze verify: {complaints}"
    );
}

/// The JSON array of a Dockerfile instruction in its final stage.
fn instruction(dockerfile: &str, name: &str) -> Vec<String> {
    let final_stage = dockerfile.rsplit("\nFROM ").next().unwrap();
    let line = final_stage
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("the final stage has {name}"));
    serde_json::from_str(line).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dockerfile_runs_as_a_user_and_its_command_serves() {
    let text = std::fs::read_to_string(deploy("Dockerfile")).unwrap();
    let final_stage = text.rsplit("\nFROM ").next().unwrap();
    assert!(
        final_stage.starts_with("debian:bookworm-slim"),
        "slim runtime"
    );
    for program in ["ffmpeg", "espeak-ng", "fonts-dejavu-core"] {
        assert!(
            final_stage.contains(program),
            "the runtime installs {program}"
        );
    }
    let user = final_stage
        .lines()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("a USER");
    let uid: u32 = user
        .split(':')
        .next()
        .unwrap()
        .parse()
        .expect("a numeric uid");
    assert_ne!(uid, 0, "not root");
    for line in text.lines().filter(|l| l.starts_with("FROM ")) {
        assert!(!line.contains(":latest"), "base images are pinned: {line}");
    }
    assert_eq!(
        instruction(&text, "ENTRYPOINT"),
        ["/usr/local/bin/reelsmith"]
    );

    // The image's default command, with the data folder and port moved into this test.
    let temp = tempfile::tempdir().unwrap();
    let port = platform::free_port();
    let cmd: Vec<String> = instruction(&text, "CMD")
        .into_iter()
        .map(|arg| match arg.as_str() {
            "/var/lib/reelsmith" => temp.path().join("data").display().to_string(),
            "0.0.0.0:8080" => format!("127.0.0.1:{port}"),
            _ => arg,
        })
        .collect();
    let mut server = Command::new(platform::bin())
        .args(&cmd)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let ready = wait_ready(port).await;
    let _ = server.kill();
    let _ = server.wait();
    assert!(ready, "`reelsmith {cmd:?}` serves /readyz");
}

async fn wait_ready(port: u16) -> bool {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(r) = reqwest::get(format!("http://127.0.0.1:{port}/readyz")).await {
            if r.status() == 200 {
                return true;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// The documents of the Kubernetes sketch, parsed by PyYAML (installed with moto).
fn kubernetes_documents() -> Vec<Value> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import json, sys, yaml\n\
             print(json.dumps([d for d in yaml.safe_load_all(open(sys.argv[1])) if d]))",
        ])
        .arg(deploy("kubernetes/reelsmith.yaml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the YAML parses: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kubernetes_sketch_runs_valid_commands_as_a_user_and_its_key_copy_works() {
    let docs = kubernetes_documents();
    let deployment = |name: &str| {
        docs.iter()
            .find(|d| d["kind"] == "Deployment" && d["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("a Deployment {name}"))
            .clone()
    };
    let service = docs.iter().find(|d| d["kind"] == "Service").unwrap();
    let server = deployment("reelsmith-server");
    let worker = deployment("reelsmith-worker");
    assert_eq!(
        service["spec"]["selector"],
        server["spec"]["template"]["metadata"]["labels"]
    );
    for (deployment, first) in [(&server, "serve"), (&worker, "worker")] {
        let pod = &deployment["spec"]["template"]["spec"];
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
        assert_ne!(pod["securityContext"]["runAsUser"], 0);
        let container = &pod["containers"][0];
        let args = strings(&container["args"]);
        assert_eq!(args[0], first);
        assert_accepted(&args);
        assert_eq!(
            container["securityContext"]["allowPrivilegeEscalation"],
            false
        );
        assert_eq!(
            container["env"][0]["name"], "REELSMITH__ENCRYPTION__KEY_FILE",
            "the key copy is the key file"
        );
    }
    let server_container = &server["spec"]["template"]["spec"]["containers"][0];
    let server_args = strings(&server_container["args"]);
    assert!(server_args.contains(&"--no-workers".to_owned()));
    assert_eq!(
        server_container["readinessProbe"]["httpGet"]["path"],
        "/readyz"
    );
    assert_eq!(
        server_container["livenessProbe"]["httpGet"]["path"],
        "/healthz"
    );

    // Replay the operator key's journey: kubelet mounts the Secret group-readable (0440), which
    // Reelsmith warns about; the init container's command copies it to a 0600 file of the pod's
    // user, which it uses without a warning.
    use std::os::unix::fs::PermissionsExt;
    let temp = tempfile::tempdir().unwrap();
    let mounted = temp.path().join("operator.key");
    let generated = Command::new(platform::bin())
        .args(["keys", "generate", "--out"])
        .arg(&mounted)
        .output()
        .unwrap();
    assert!(generated.status.success());
    let mode = server["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "config")
        .unwrap()["secret"]["defaultMode"]
        .as_u64()
        .unwrap() as u32;
    std::fs::set_permissions(&mounted, std::fs::Permissions::from_mode(mode)).unwrap();
    let copy = temp.path().join("keys/operator.key");
    std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
    let init = strings(&server["spec"]["template"]["spec"]["initContainers"][0]["command"]);
    let init: Vec<String> = init
        .into_iter()
        .map(|a| match a.as_str() {
            "/etc/reelsmith/operator.key" => mounted.display().to_string(),
            "/keys/operator.key" => copy.display().to_string(),
            _ => a,
        })
        .collect();
    assert!(Command::new(&init[0])
        .args(&init[1..])
        .status()
        .unwrap()
        .success());

    std::fs::write(temp.path().join("reelsmith.toml"), "").unwrap();
    let mut warnings = Vec::new();
    for key in [&mounted, &copy] {
        let port = platform::free_port();
        let args: Vec<String> = server_args
            .iter()
            .map(|a| match a.as_str() {
                "/var/lib/reelsmith" => temp.path().join("data").display().to_string(),
                "/etc/reelsmith/reelsmith.toml" => {
                    temp.path().join("reelsmith.toml").display().to_string()
                }
                "0.0.0.0:8080" => format!("127.0.0.1:{port}"),
                _ => a.clone(),
            })
            .collect();
        let log = temp.path().join(format!("{port}.log"));
        let mut server = Command::new(platform::bin())
            .args(&args)
            .env("REELSMITH__ENCRYPTION__KEY_FILE", key)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let ready = wait_ready(port).await;
        let _ = server.kill();
        let _ = server.wait();
        assert!(ready, "the server starts with {}", key.display());
        let text = std::fs::read_to_string(&log).unwrap();
        warnings.push(text.contains("readable by other users"));
    }
    assert_eq!(
        warnings,
        [true, false],
        "the mounted Secret is group-readable (warned about); the init container's copy is not"
    );
}
