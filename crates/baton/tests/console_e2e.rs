//! The web console end to end, in a real headless Chromium: `baton up` with the example
//! application, driven by `tests/e2e/console.mjs` (Playwright's `playwright-core`, pinned
//! in `tests/e2e/package-lock.json`, on Debian's `/usr/bin/chromium`). The script makes
//! a student, so the onboarding workflow runs, then clicks through the console: diagrams,
//! an execution's path and a state's input, a dead letter replayed, functions' logs and
//! a collection's documents. Screenshots go to `$CARGO_TARGET_TMPDIR/console-e2e/`.
//!
//! Node.js and Chromium must be installed (`apt-get install nodejs npm chromium`): without
//! them this test fails, it does not skip.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::{start_example, temp_dir};

/// The browser: `BATON_E2E_CHROMIUM`, or Debian's.
fn chromium() -> PathBuf {
    std::env::var_os("BATON_E2E_CHROMIUM")
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from)
}

/// Fails with what to install when a tool is missing.
fn require(program: &str, args: &[&str], install: &str) {
    let ok = Command::new(program).args(args).output().is_ok_and(|o| o.status.success());
    assert!(ok, "the console's end-to-end test needs {program}: {install}");
}

/// `npm ci` in the e2e directory unless its `node_modules` is there.
fn install_playwright(dir: &Path) {
    if dir.join("node_modules/playwright-core/package.json").exists() {
        return;
    }
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(dir)
        .status()
        .expect("npm runs");
    assert!(status.success(), "npm ci in {} failed", dir.display());
}

#[test]
fn the_console_works_in_a_real_browser() {
    let browser = chromium();
    assert!(
        browser.exists(),
        "the console's end-to-end test needs Chromium at {} (apt-get install chromium, or set \
         BATON_E2E_CHROMIUM)",
        browser.display()
    );
    require("node", &["--version"], "apt-get install nodejs");
    require("npm", &["--version"], "apt-get install npm");
    let e2e = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e");
    install_playwright(&e2e);

    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-e2e");
    let _ = std::fs::remove_dir_all(&shots);
    std::fs::create_dir_all(&shots).unwrap();

    let data = temp_dir("console-e2e");
    let b = start_example(&data);
    let out = Command::new("node")
        .arg("console.mjs")
        .current_dir(&e2e)
        .env("BATON_URL", &b.base)
        .env("BATON_API_KEY", "admin-demo-key")
        .env("BATON_E2E_CHROMIUM", &browser)
        .env("SCREENSHOT_DIR", &shots)
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(out.status.success(), "the browser test failed:\n{stdout}\n{stderr}");

    let mut taken: Vec<PathBuf> = std::fs::read_dir(&shots)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "png"))
        .collect();
    taken.sort();
    assert!(taken.len() >= 6, "screenshots: {taken:?}");
    for shot in &taken {
        assert!(std::fs::metadata(shot).unwrap().len() > 1000, "{} is empty", shot.display());
        println!("screenshot: {}", shot.display());
    }
}
