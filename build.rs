//! Compiles the PostgreSQL tests in (`cfg(postgres_tests)`) only when a server is configured;
//! without one they are reported as ignored rather than passing without running.
//!
//! Also names the PostgreSQL migrations compiled in (`KARVON_PG_MIGRATIONS_HASH`, a hash of
//! their paths and contents): the tests clone a migrated template database named by it, and a
//! hash of the files on disk would name a template after migrations the test binary, built
//! before an edit, does not hold.
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

fn main() {
    println!("cargo::rustc-check-cfg=cfg(postgres_tests)");
    println!("cargo::rerun-if-env-changed=KARVON_TEST_POSTGRES_URL");
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=migrations/postgres");
    if std::env::var("KARVON_TEST_POSTGRES_URL").is_ok_and(|url| !url.is_empty()) {
        println!("cargo::rustc-cfg=postgres_tests");
    }
    let root = Path::new("migrations/postgres");
    let mut hasher = DefaultHasher::new();
    for file in files_under(root) {
        file.strip_prefix(root).unwrap_or(&file).hash(&mut hasher);
        std::fs::read(&file).unwrap_or_default().hash(&mut hasher);
    }
    println!(
        "cargo::rustc-env=KARVON_PG_MIGRATIONS_HASH={:016x}",
        hasher.finish()
    );
}

/// Every file under `root`, sorted.
fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}
