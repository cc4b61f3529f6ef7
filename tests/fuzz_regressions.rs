//! Every input under `fuzz/seeds/<target>/` and every finding under
//! `fuzz/artifacts/<target>/` replayed through its fuzz target's property, so an input that
//! once failed fails `cargo test` for as long as it still does. The properties are the fuzz
//! crate's own files, compiled in here.
#![allow(dead_code)] // the harness has helpers only some targets use

#[path = "../fuzz/src/harness.rs"]
mod harness;
#[path = "../fuzz/src/targets.rs"]
mod targets;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// (target, file) for every file under `fuzz/<dir>/<target>/`.
fn inputs(dir: &str) -> Vec<(String, PathBuf)> {
    let mut found = vec![];
    let Ok(targets) = std::fs::read_dir(fuzz_dir().join(dir)) else { return found };
    for target in targets {
        let target = target.unwrap().path();
        for file in std::fs::read_dir(&target).unwrap() {
            let name = target.file_name().unwrap().to_string_lossy().into_owned();
            found.push((name, file.unwrap().path()));
        }
    }
    found.sort();
    found
}

/// Each input that fails its target, with the failure.
fn failures(inputs: &[(String, PathBuf)]) -> Vec<String> {
    let mut failed = vec![];
    for (target, file) in inputs {
        let bytes = std::fs::read(file).unwrap();
        match catch_unwind(AssertUnwindSafe(|| targets::replay(target, &bytes))) {
            Ok(Ok(())) => {}
            Ok(Err(unknown)) => failed.push(format!("{}: {unknown}", file.display())),
            Err(panic) => {
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                failed.push(format!("{}: {}", file.display(), message.chars().take(300).collect::<String>()));
            }
        }
    }
    failed
}

#[test]
fn every_fuzz_finding_passes_its_target() {
    let findings = inputs("artifacts");
    let failed = failures(&findings);
    assert!(failed.is_empty(), "{} of {} findings fail:\n{}", failed.len(), findings.len(), failed.join("\n"));
}

#[test]
fn every_fuzz_seed_passes_its_target() {
    let seeds = inputs("seeds");
    assert!(seeds.len() >= targets::TARGETS.len(), "{seeds:?}");
    let failed = failures(&seeds);
    assert!(failed.is_empty(), "{} of {} seeds fail:\n{}", failed.len(), seeds.len(), failed.join("\n"));
}

#[test]
fn every_fuzz_target_can_be_replayed() {
    let mut files: Vec<String> = std::fs::read_dir(fuzz_dir().join("fuzz_targets"))
        .unwrap()
        .map(|f| f.unwrap().path().file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut known: Vec<String> = targets::TARGETS.iter().map(|t| t.to_string()).collect();
    known.sort();
    assert_eq!(files, known);
    for target in targets::TARGETS {
        assert_eq!(targets::replay(target, b""), Ok(()));
    }
    assert!(targets::replay("no_such_target", b"").is_err());
}
