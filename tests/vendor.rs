//! The vendored serenity is the published 0.12.5 plus `vendor/serenity.patch`, and nothing
//! else: undoing the patch on a copy of `vendor/serenity` must give back every file of the
//! published crate, byte for byte, as `vendor/serenity-0.12.5.sha256` lists them.
//! (`vendor/make-patch` rewrites both files from the published crate.)

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create the copy's directory");
    for entry in std::fs::read_dir(from).expect("read the vendored tree") {
        let entry = entry.expect("a directory entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("a file type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy a vendored file");
        }
    }
}

/// `(sha256, ./relative/path)` of every file under `root`, sorted by path.
fn hashes(root: &Path) -> Vec<(String, String)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).expect("read a directory") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let bytes = std::fs::read(&path).expect("read a file");
                let hash = Sha256::digest(&bytes)
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>();
                let relative = path.strip_prefix(root).expect("a path under the root");
                out.push((hash, format!("./{}", relative.display())));
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort_by(|a, b| a.1.as_bytes().cmp(b.1.as_bytes()));
    out
}

#[test]
fn vendored_serenity_is_the_published_crate_plus_the_patch() {
    let vendor = Path::new(env!("CARGO_MANIFEST_DIR")).join("vendor");
    let work = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("vendor-check");
    let _ = std::fs::remove_dir_all(&work);
    let tree = work.join("serenity");
    copy_tree(&vendor.join("serenity"), &tree);

    // Outside any repository (the target directory sits inside this one), `git apply` works
    // on plain files.
    let undo = Command::new("git")
        .args(["apply", "--reverse", "--whitespace=nowarn"])
        .arg(vendor.join("serenity.patch"))
        .current_dir(&tree)
        .env("GIT_CEILING_DIRECTORIES", &work)
        .output()
        .expect("git must be installed to check the vendored tree");
    assert!(
        undo.status.success(),
        "vendor/serenity.patch does not undo cleanly on vendor/serenity: the tree changed \
         without the patch (run vendor/make-patch):\n{}",
        String::from_utf8_lossy(&undo.stderr)
    );

    let expected: Vec<(String, String)> =
        std::fs::read_to_string(vendor.join("serenity-0.12.5.sha256"))
            .expect("read the published hashes")
            .lines()
            .filter_map(|line| line.split_once("  "))
            .map(|(hash, path)| (hash.to_owned(), path.to_owned()))
            .collect();
    assert!(expected.len() > 100, "the hash list looks truncated");
    let actual = hashes(&tree);
    let differing: Vec<String> = actual
        .iter()
        .filter(|file| !expected.contains(file))
        .map(|(_, path)| format!("changed or added: {path}"))
        .chain(
            expected
                .iter()
                .filter(|(_, path)| !actual.iter().any(|(_, p)| p == path))
                .map(|(_, path)| format!("missing: {path}")),
        )
        .collect();
    assert!(
        differing.is_empty(),
        "vendor/serenity minus vendor/serenity.patch is not the published serenity 0.12.5 \
         (run vendor/make-patch after changing the tree):\n{}",
        differing.join("\n")
    );
    let _ = std::fs::remove_dir_all(&work);
}
