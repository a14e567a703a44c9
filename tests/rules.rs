//! The project's rules, checked: every wait goes through `src/wait.rs`, nothing builds a
//! second runtime or blocks on a future, and no module imports one that imports it back.
//! `clippy.toml` bans the calls; these tests make sure the bans stay in place and are only
//! lifted where the rule allows it.

use std::collections::{BTreeMap, BTreeSet};
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
            let allowed = (name.ends_with("src/wait.rs") && next.contains("fn safe_wait_for"))
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

/// The crate's module name for a file under its `src` (`commands::tryout`, `db`; `crate` for
/// `lib.rs` and `main.rs`).
fn module_of(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).unwrap_or(file);
    let path = relative.with_extension("");
    let parts: Vec<String> = path
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .filter(|p| p != "mod")
        .collect();
    match parts.as_slice() {
        [one] if one == "lib" || one == "main" => "crate".to_owned(),
        _ => parts.join("::"),
    }
}

/// The paths a `use` group names: `{a, b::{c, d}}` → `a`, `b::c`, `b::d`.
fn group_paths(prefix: &str, rest: &str, out: &mut Vec<String>) -> usize {
    // `rest` starts just after a `{`; returns how many bytes the group took, `}` included.
    let mut item = String::new();
    let mut i = 0;
    let bytes = rest.as_bytes();
    while i < bytes.len() {
        match bytes[i] {
            b'{' => {
                let inner = format!("{prefix}{}", item.trim());
                i += 1 + group_paths(&inner, &rest[i + 1..], out);
                item.clear();
                continue;
            }
            b',' | b'}' => {
                let name = item.trim();
                if !name.is_empty() {
                    out.push(format!("{prefix}{name}"));
                }
                item.clear();
                if bytes[i] == b'}' {
                    return i + 1;
                }
            }
            c => item.push(c as char),
        }
        i += 1;
    }
    i
}

/// Every path from the crate's root in `code` outside comments, as the longest known module
/// it names (`crate` when it names no module: an item of `lib.rs`). `crate::`, and `super::`
/// and `self::` resolved against `module`; `use crate::{a, b::{c, d}}` names `a`, `b::c` and
/// `b::d`.
fn imports(module: &str, code: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let code: String = code
        .lines()
        .map(|l| {
            let trimmed = l.trim_start();
            if trimmed.starts_with("//") {
                ""
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let parent = module.rsplit_once("::").map_or("", |(p, _)| p);
    let mut paths = Vec::new();
    for (prefix, base) in [
        ("crate::", String::new()),
        (
            "super::",
            if parent.is_empty() {
                String::new()
            } else {
                format!("{parent}::")
            },
        ),
        ("self::", format!("{module}::")),
    ] {
        for (at, _) in code.match_indices(prefix) {
            // Not the tail of another word (`my_super::`).
            let before = code[..at].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let rest = &code[at + prefix.len()..];
            if let Some(group) = rest.strip_prefix('{') {
                group_paths(&base, group, &mut paths);
            } else {
                let end = rest
                    .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                    .unwrap_or(rest.len());
                let path = rest[..end].trim_end_matches(':');
                paths.push(format!("{base}{path}"));
            }
        }
    }
    paths
        .iter()
        .map(|path| {
            let words: Vec<&str> = path.split("::").filter(|w| !w.is_empty()).collect();
            (1..=words.len())
                .rev()
                .map(|n| words[..n].join("::"))
                .find(|candidate| modules.contains(candidate))
                .unwrap_or_else(|| "crate".to_owned())
        })
        .collect()
}

/// A circle in `graph`, as the modules along it, if there is one.
fn find_circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|n| n == node) {
            let mut circle = path[start..].to_vec();
            circle.push(node.to_owned());
            return Some(circle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(circle) = visit(next, graph, path, done) {
                return Some(circle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn the_circle_finder_finds_circles_and_only_circles() {
    let graph = |edges: &[(&str, &str)]| {
        let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (from, to) in edges {
            g.entry((*from).into()).or_default().insert((*to).into());
        }
        g
    };
    assert_eq!(
        find_circle(&graph(&[("a", "b"), ("b", "c"), ("a", "c")])),
        None
    );
    let circle = find_circle(&graph(&[("a", "b"), ("b", "c"), ("c", "a")]));
    assert_eq!(circle.map(|c| c.len()), Some(4));
    let modules: BTreeSet<String> = ["bot", "commands", "commands::ask"]
        .into_iter()
        .map(String::from)
        .collect();
    let found = imports(
        "commands::general",
        "use crate::{bot::{x, y}, commands::ask::echo};\n// crate::types\nlet x = crate::Config::new();",
        &modules,
    );
    let expected: BTreeSet<String> = ["bot", "commands::ask", "crate"]
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(found, expected);
    let found = imports("commands::general", "use super::{ask, tryout};", &modules);
    let expected: BTreeSet<String> = ["commands::ask", "commands"]
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(found, expected, "super:: is the parent module");
}

/// The crates of this repository: the bot and its simulator.
const CRATE_SOURCES: [&str; 2] = ["src", "crates/discord-sim/src"];

#[test]
fn no_module_imports_one_that_imports_it_back() {
    for src in CRATE_SOURCES {
        let src = root().join(src);
        if let Some(circle) = circle_in(&src) {
            panic!("import circle in {}: {}", src.display(), circle.join(" → "));
        }
    }
}

/// An import circle among the modules of the crate whose sources are under `src`, if any.
fn circle_in(src: &Path) -> Option<Vec<String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    assert!(!files.is_empty(), "no Rust files under {}", src.display());
    let modules: BTreeSet<String> = files.iter().map(|f| module_of(src, f)).collect();
    // The crate root (lib.rs) declares and uses every top-level module: a module that uses an
    // item of the root closes a circle.
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let from = module_of(src, file);
        let code = read(file);
        // Tests may reach anywhere: only the code that ships counts.
        let shipped = code.split("#[cfg(test)]").next().unwrap_or_default();
        let edges = graph.entry(from.clone()).or_default();
        for to in imports(&from, shipped, &modules) {
            // A module may use what it declares (its children) and itself.
            if to != from && !to.starts_with(&format!("{from}::")) {
                edges.insert(to);
            }
        }
    }
    let top: Vec<String> = modules
        .iter()
        .filter(|m| *m != "crate" && !m.contains("::"))
        .cloned()
        .collect();
    graph.entry("crate".to_owned()).or_default().extend(top);
    find_circle(&graph)
}
