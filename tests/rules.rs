//! The project's rules, checked: every wait goes through `src/wait.rs`, and nothing builds a
//! second runtime or blocks on a future. `clippy.toml` bans the calls; these tests make sure
//! the bans stay in place and are only lifted where the rule allows it.

use std::path::{Path, PathBuf};

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src/") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn clippy_bans_every_way_around_safe_wait_for() {
    let config = read(&root().join("clippy.toml"));
    for banned in [
        "\"tokio::time::timeout\"",
        "\"tokio::time::timeout_at\"",
        "\"tokio::runtime::Runtime::new\"",
        "\"tokio::runtime::Builder::new_multi_thread\"",
        "\"tokio::runtime::Builder::new_current_thread\"",
        "\"tokio::runtime::Handle::block_on\"",
        "\"futures::executor::block_on\"",
        "\"serenity::collector::MessageCollector\"",
        "\"serenity::collector::ComponentInteractionCollector\"",
        "\"serenity::collector::ModalInteractionCollector\"",
        "\"serenity::model::id::ChannelId::await_reply\"",
        "\"serenity::model::user::User::await_reply\"",
        "\"serenity::model::channel::Message::await_component_interaction\"",
        "\"serenity::model::channel::Message::await_modal_interaction\"",
        "\"poise::execute_modal\"",
    ] {
        assert!(
            config.contains(banned),
            "clippy.toml no longer bans {banned}"
        );
    }
}

#[test]
fn the_bans_are_lifted_only_where_the_rule_allows() {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    assert!(files.len() > 5, "found too few source files: {files:?}");
    for file in files {
        let text = read(&file);
        let name = file
            .strip_prefix(root())
            .unwrap_or(&file)
            .display()
            .to_string();
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if !(line.contains("allow(clippy::disallowed_methods)")
                || line.contains("allow(clippy::disallowed_types)"))
            {
                continue;
            }
            let next = lines.get(i + 1).copied().unwrap_or_default();
            let allowed = (name.ends_with("src/wait.rs") && next.contains("pub fn safe_wait_for"))
                || (name.ends_with("src/main.rs") && next.starts_with("#[tokio::main"))
                || next.trim() == "mod tests {";
            assert!(
                allowed,
                "{name}:{}: the wait/runtime bans may not be lifted here",
                i + 1
            );
        }
        if !name.ends_with("src/wait.rs") {
            assert!(
                !text.contains("time::timeout"),
                "{name} times out by itself; use novera_assistant::wait::safe_wait_for"
            );
        }
    }
}
