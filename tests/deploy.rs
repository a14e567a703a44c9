//! The deployment files cannot be run here (no Docker engine, no systemd), so this checks that
//! they agree with the binary: the port, the health path, the variables and the exit codes.

use std::path::PathBuf;

use novera_assistant::config::{DEFAULT_DATABASE_URL, DEFAULT_HEALTH_ADDR};
use novera_assistant::memory::ALLOCATOR_ENV;

fn read(path: &str) -> String {
    let full = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("read {}: {e}", full.display()))
}

/// The `NAME=value` pairs of the Dockerfile's `ENV` instruction (its continued lines included).
fn image_env() -> Vec<(String, String)> {
    let docker = read("Dockerfile");
    let env = docker
        .split("\nENV ")
        .nth(1)
        .expect("the Dockerfile sets ENV");
    let mut image = Vec::new();
    for line in env.lines() {
        for word in line.split_whitespace() {
            if let Some((name, value)) = word.split_once('=') {
                image.push((name.to_owned(), value.to_owned()));
            }
        }
        if !line.trim_end().ends_with('\\') {
            break;
        }
    }
    image
}

/// Every variable an `.env.example` line documents: `NAME=value`, or `#NAME=value` for one
/// left commented out.
fn documented_variables() -> Vec<String> {
    read(".env.example")
        .lines()
        .map(|l| l.strip_prefix('#').unwrap_or(l))
        .filter_map(|l| l.split_once('='))
        .map(|(name, _)| name.to_owned())
        .filter(|name| {
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')
        })
        .collect()
}

/// The `NAME=value` lines `.env.example` sets (not commented out).
fn example_settings() -> Vec<(String, String)> {
    read(".env.example")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
        .collect()
}

/// `docker run --env-file .env` (the README's command, with `.env` copied from `.env.example`)
/// replaces the image's own `ENV` values with the file's, an empty one included: the example
/// may set none of them to anything else.
#[test]
fn the_env_example_keeps_the_images_own_settings() {
    let image = image_env();
    assert!(
        image.iter().any(|(name, _)| name == "HEALTH_ADDR"),
        "{image:?}"
    );
    for (name, value) in example_settings() {
        if let Some((_, own)) = image.iter().find(|(image_name, _)| *image_name == name) {
            assert_eq!(
                &value, own,
                ".env.example sets {name}, which replaces the image's {name}={own}"
            );
        }
    }
}

#[test]
fn the_dockerfile_matches_the_binary() {
    let docker = read("Dockerfile");
    let port = DEFAULT_HEALTH_ADDR.rsplit(':').next().unwrap();
    assert!(
        docker.contains(&format!("EXPOSE {port}")),
        "EXPOSE does not match HEALTH_ADDR's default port"
    );
    // The default is loopback only; a container must listen on its own interface for the
    // published port (and Docker's HEALTHCHECK) to reach it, so the image says so itself.
    assert!(DEFAULT_HEALTH_ADDR.starts_with("127.0.0.1:"));
    assert!(docker.contains(&format!("HEALTH_ADDR=0.0.0.0:{port}")));
    assert!(
        docker.contains(&format!("http://127.0.0.1:{port}/health")),
        "HEALTHCHECK must hit /health"
    );
    assert!(
        docker.contains("--bin novera-assistant")
            && docker.contains("/usr/local/bin/novera-assistant")
    );
    assert!(
        docker.contains("USER novera"),
        "the runtime must not run as root"
    );
    assert!(
        docker.contains("COPY migrations"),
        "migrations are embedded at build time"
    );
    // Every path the manifest points at must be in the build context: the patched serenity
    // and the workspace's members.
    for path in ["vendor", "crates", "benches"] {
        assert!(
            read("Cargo.toml").contains(&format!("\"{path}/"))
                || (path == "benches" && read("Cargo.toml").contains("[[bench]]")),
            "Cargo.toml no longer uses {path}/: update this test"
        );
        assert!(
            docker.contains(&format!("COPY {path} ./{path}")),
            "the Dockerfile does not copy {path}/, which Cargo.toml needs"
        );
    }
    assert!(
        docker.contains("--profile dist") && docker.contains("target/dist/novera-assistant"),
        "the image is built with the dist profile"
    );
    let manifest = read("Cargo.toml");
    assert!(
        manifest.contains("[profile.dist]"),
        "Cargo.toml has no dist profile"
    );
    let image = image_env();
    assert!(image.len() >= 4, "{image:?}");
    for (name, value) in image {
        assert!(
            documented_variables().contains(&name) || format!("{name}={value}") == ALLOCATOR_ENV,
            "{name} is not a variable the bot reads"
        );
    }
}

#[test]
fn the_systemd_unit_matches_the_binary() {
    let unit = read("deploy/novera-assistant.service");
    assert!(unit.contains("ExecStart=/usr/local/bin/novera-assistant"));
    assert!(unit.contains("EnvironmentFile="));
    assert!(unit.contains("Restart=on-failure"));
    assert!(unit.contains("NoNewPrivileges=true") && unit.contains("ProtectSystem=strict"));
    // The database directory must be writable under ProtectSystem=strict.
    let db_dir = unit
        .lines()
        .find_map(|l| l.strip_prefix("Environment=DATABASE_URL=sqlite://"))
        .and_then(|path| path.rsplit_once('/').map(|(dir, _)| dir.to_owned()))
        .expect("the unit sets DATABASE_URL");
    assert!(
        unit.contains(&format!("ReadWritePaths={db_dir}")),
        "{db_dir} is not writable"
    );
    // Exit codes 2 (configuration) and 3 (bad token) are the binary's "needs a person" codes.
    assert!(unit.contains("RestartPreventExitStatus=2 3"));
    for line in unit.lines().filter_map(|l| l.strip_prefix("Environment=")) {
        let name = line.split_once('=').map(|(n, _)| n).unwrap_or(line);
        assert!(
            documented_variables().contains(&name.to_owned()) || line == ALLOCATOR_ENV,
            "{name} is not a variable the bot reads"
        );
    }
    assert!(DEFAULT_DATABASE_URL.starts_with("sqlite://"));
}

/// glibc reads its tunables before `main`, so only the environment the process starts in can
/// turn its thread cache off: both deployments set it, as the benchmark does.
#[test]
fn both_deployments_start_the_bot_with_the_allocator_setting() {
    let (name, value) = ALLOCATOR_ENV.split_once('=').expect("NAME=value");
    assert!(
        image_env()
            .iter()
            .any(|(image_name, image_value)| image_name == name && image_value == value),
        "the Dockerfile's ENV does not set {ALLOCATOR_ENV}"
    );
    let unit = read("deploy/novera-assistant.service");
    assert!(
        unit.lines()
            .any(|l| l.strip_prefix("Environment=") == Some(ALLOCATOR_ENV)),
        "the systemd unit does not set {ALLOCATOR_ENV}"
    );
}

#[test]
fn env_example_documents_every_variable_the_config_reads() {
    // Every variable config.rs reads, found from its `get("NAME")` calls.
    let config = read("src/config.rs");
    let read_by_config: Vec<&str> = config
        .split("get(\"")
        .skip(1)
        .filter_map(|rest| rest.split_once('"').map(|(name, _)| name))
        .collect();
    assert!(read_by_config.len() >= 8, "{read_by_config:?}");
    let documented = documented_variables();
    for name in read_by_config {
        assert!(
            documented.contains(&name.to_owned()),
            ".env.example does not document {name}"
        );
    }
}
