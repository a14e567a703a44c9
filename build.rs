//! Lays out the release binary's code so that what the bot runs is packed together.
//!
//! The kernel maps a binary's code into the process in 64 KiB blocks around each page it
//! touches ("fault-around"), so code that runs is resident along with whatever the linker put
//! beside it. `link/hot-symbols.txt` lists the functions that run when the bot starts, idles
//! and serves its commands (`scripts/hot-symbols` makes it from callgrind profiles); the linker
//! puts them first and everything else after them, so the rarely-run rest of the binary stays
//! out of memory. A list that no longer matches the code only costs memory: the linker skips
//! names it does not find.
//!
//! Only for release builds on x86_64 Linux with Rust 1.90 or later, which links there with its
//! bundled LLD (`--symbol-ordering-file` is an LLD option; older toolchains use the system
//! linker, which lacks it). The names carry hashes that depend on the Rust version: the list
//! is made with the toolchain the Dockerfile pins.

/// Whether this rustc links x86_64 Linux binaries with its bundled LLD by default (1.90+).
fn links_with_lld() -> bool {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let Ok(out) = std::process::Command::new(rustc).arg("-vV").output() else {
        return false;
    };
    let info = String::from_utf8_lossy(&out.stdout);
    let Some(release) = info.lines().find_map(|l| l.strip_prefix("release: ")) else {
        return false;
    };
    let mut parts = release
        .split(['.', '-'])
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (1, 90)
}

fn main() {
    const LIST: &str = "link/hot-symbols.txt";
    println!("cargo:rerun-if-changed={LIST}");
    println!("cargo:rerun-if-changed=build.rs");
    let release = std::env::var("PROFILE").is_ok_and(|p| p == "release");
    let target = std::env::var("TARGET").unwrap_or_default();
    let list = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(LIST);
    if release && target == "x86_64-unknown-linux-gnu" && list.exists() && links_with_lld() {
        println!(
            "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
            list.display()
        );
        println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
}
