//! `qtomo report`: the HTML page of a run, as a person would see it.
//!
//! The page is checked as text (plots, sections, no external URL) and,
//! when Debian's `chromium` is installed, rendered by headless Chromium:
//! no console errors, no request leaving the page, the plots in the DOM,
//! and a screenshot saved under the target directory. Without chromium
//! that test prints `SKIP` and why, and passes.

use crate::util::Sandbox;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Samples of the test runs.
const SAMPLES: usize = 120;

/// The index whose counts are all zero in the test input (a failed sample).
const ZERO_SAMPLE: usize = 5;

/// Simulates a drifting Bell state into `data.csv` (two qubits, fixed
/// seed) with sample [`ZERO_SAMPLE`] zeroed, and runs it into `dir` with
/// the extra `run` arguments; the run exits 3 (one failed sample).
fn run_dir(sandbox: &Sandbox, dir: &str, extra: &[&str]) {
    if !sandbox.join("data.csv").exists() {
        sandbox
            .qtomo(["simulate", "--qubits", "2", "--state", "bell-drift"])
            .args(["--samples", &SAMPLES.to_string(), "--shots", "300"])
            .args(["--seed", "3", "--out", "sim.csv"])
            .ok();
        let text = std::fs::read_to_string(sandbox.join("sim.csv")).expect("read sim.csv");
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        let fields = lines[0].split(',').count();
        lines[ZERO_SAMPLE + 1] = format!("{ZERO_SAMPLE}{}", ",0".repeat(fields - 1));
        sandbox.write("data.csv", lines.join("\n") + "\n");
    }
    sandbox
        .qtomo(["run", "data.csv", "--out", dir, "--workers", "0"])
        .args(extra)
        .expect_code(3);
}

/// The report of `dir` (more arguments in `extra`), checked to succeed.
fn report(sandbox: &Sandbox, dir: &str, extra: &[&str]) -> (String, crate::util::Finished) {
    let out = sandbox.qtomo(["report", dir]).args(extra).ok();
    let path = match extra.iter().position(|a| *a == "--out") {
        Some(i) => sandbox.join(extra[i + 1]),
        None => sandbox.join(dir).join("report.html"),
    };
    let html = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("read {}: {e}\n{out}", path.display()));
    (html, out)
}

/// Every place in `html` that would make a browser fetch from the network:
/// an `http(s)://` `src` or `href`, an `@import`, a CSS `url(http…)`.
/// (The SVG namespace, `xmlns="http://www.w3.org/2000/svg"`, is a name,
/// never fetched.)
fn external_references(html: &str) -> Vec<String> {
    let lower = html.to_ascii_lowercase();
    let mut found = Vec::new();
    for attr in ["src", "href", "xlink:href", "action", "poster", "srcset"] {
        for quote in ["\"", "'", ""] {
            for scheme in ["http://", "https://", "//"] {
                let needle = format!("{attr}={quote}{scheme}");
                if let Some(i) = lower.find(&needle) {
                    found.push(html[i..(i + 80).min(html.len())].to_string());
                }
            }
        }
    }
    for needle in [
        "@import",
        "url(http",
        "url(//",
        "url('http",
        "url(\"http",
        "<script",
        "<link",
    ] {
        if let Some(i) = lower.find(needle) {
            found.push(html[i..(i + 80).min(html.len())].to_string());
        }
    }
    found
}

fn count(html: &str, needle: &str) -> usize {
    html.matches(needle).count()
}

#[test]
fn report_of_a_run_without_a_target_picks_samples_by_likelihood() {
    let sandbox = Sandbox::new();
    run_dir(&sandbox, "r", &[]);
    let (html, out) = report(&sandbox, "r", &[]);
    out.stderr_has(&["wrote", "report.html"]);
    assert!(
        external_references(&html).is_empty(),
        "{:?}",
        external_references(&html)
    );
    assert!(count(&html, "<svg") >= 6, "{} plots", count(&html, "<svg"));
    for section in ["summary", "distributions", "trends", "samples", "failures"] {
        assert!(
            html.contains(&format!("<section id=\"{section}\">")),
            "{section}"
        );
    }
    // Summary: counts, methods, basis, fingerprint.
    assert!(html.contains(&format!(
        "{SAMPLES} in all: <b>{}</b> ok, <b>1</b> failed",
        SAMPLES - 1
    )));
    assert!(html.contains("mle, pls, linear") && html.contains("pauli(2)"));
    assert!(html.contains("fingerprint") && html.contains("input file data.csv sha256"));
    // Per method histograms; no fidelity without a target; two-qubit metrics.
    for id in [
        "hist-mle-purity",
        "hist-mle-entropy",
        "hist-mle-concurrence",
        "hist-mle-negativity",
        "hist-mle-iterations",
        "hist-mle-gap-bound",
        "hist-mle-gof-p-value",
        "hist-pls-purity",
        "trend-mle-purity",
    ] {
        assert!(html.contains(&format!("id=\"{id}\"")), "no {id}");
    }
    assert!(!html.contains("hist-mle-fidelity"));
    // G² is an MLE figure: no p-value histogram for PLS.
    assert!(!html.contains("hist-pls-gof-p-value"));
    assert!(html.contains("log-likelihood (no target)"));
    // Best, median and worst samples, drawn as city plots and Hinton diagrams.
    for role in ["best", "median", "worst"] {
        for plot in ["city-re", "city-im", "hinton-re", "hinton-im"] {
            assert!(
                html.contains(&format!("id=\"{role}-")) && html.contains(&format!("-{plot}\"")),
                "no {role} {plot}"
            );
        }
    }
    // The failed sample, with its error.
    let failures = &html[html.find("<section id=\"failures\">").expect("failures")..];
    assert!(
        failures.contains(&format!("<td>{ZERO_SAMPLE}</td>")),
        "{failures}"
    );
    assert!(!html.contains("id=\"partial\""));
}

#[test]
fn report_of_a_run_with_a_target_measures_fidelity_and_overlays_it() {
    let sandbox = Sandbox::new();
    run_dir(&sandbox, "r", &["--target", "bell-phi+"]);
    // The run's stored target is used when the report is given none.
    let (html, _) = report(&sandbox, "r", &["--sample", "7", "--out", "page.html"]);
    assert!(
        external_references(&html).is_empty(),
        "{:?}",
        external_references(&html)
    );
    assert!(
        html.contains("id=\"hist-mle-fidelity\"") && html.contains("id=\"trend-mle-fidelity\"")
    );
    assert!(html.contains("by fidelity to the target of <b>mle</b>"));
    assert!(html.contains("<td>bell-phi+</td>"));
    assert!(html.contains("id=\"worst-") && html.contains("-city-re\""));
    assert!(html.contains("id=\"sample-7-city-re\"") && html.contains("id=\"sample-7-hinton-im\""));
    // The best sample of a drifting Bell state is an early one.
    let best = html.find("id=\"best-").expect("best sample");
    let index: u64 = html[best + 9..]
        .split('"')
        .next()
        .and_then(|s| s.parse().ok())
        .expect("best sample index");
    assert!(index < (SAMPLES / 2) as u64, "best sample {index}");
    // A --target on the report overrides the stored one.
    let (other, _) = report(
        &sandbox,
        "r",
        &["--target", "bell-psi-", "--out", "psi.html"],
    );
    assert!(other.contains("<td>bell-psi-</td>"));
}

#[test]
fn report_of_an_unfinished_run_says_it_is_partial() {
    let sandbox = Sandbox::new();
    run_dir(&sandbox, "r", &[]);
    // Cut the log in the middle of a frame, as a killed run leaves it.
    let log = sandbox.join("r/results.log");
    let len = std::fs::metadata(&log).expect("log").len();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&log)
        .expect("open log");
    file.set_len(len / 2 + 3).expect("truncate log");
    let (html, out) = report(&sandbox, "r", &[]);
    out.stderr_has(&["without a result yet (partial)"]);
    assert!(html.contains("id=\"partial\"") && html.contains("have no result yet"));
    assert!(count(&html, "<svg") >= 6);
}

#[test]
fn report_refuses_a_folder_that_is_not_a_run_and_a_sample_outside_it() {
    let sandbox = Sandbox::new();
    std::fs::create_dir(sandbox.join("empty")).expect("mkdir");
    sandbox
        .qtomo(["report", "empty"])
        .expect_code(2)
        .stderr_has(&["not a run directory"]);
    sandbox
        .qtomo(["report", "missing"])
        .expect_code(2)
        .stderr_has(&["not a run directory"]);
    assert!(!sandbox.join("empty/report.html").exists());
    run_dir(&sandbox, "r", &[]);
    sandbox
        .qtomo(["report", "r", "--sample", &SAMPLES.to_string()])
        .expect_code(2)
        .stderr_has(&["--sample 120", "below 120"]);
    sandbox
        .qtomo(["report", "r", "--target", "nonesuch"])
        .expect_code(2)
        .stderr_has(&["unknown target 'nonesuch'"]);
    sandbox
        .qtomo(["report", "r", "--out", "no-such-folder/page.html"])
        .expect_code(2)
        .stderr_has(&["no-such-folder/page.html"]);
    assert!(!sandbox.join("r/report.html").exists());
}

/// The Chromium binary, if one is installed.
fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| {
            std::env::var_os("PATH")
                .map(|p| {
                    std::env::split_paths(&p)
                        .map(|d| d.join(name))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        })
        .find(|p| p.is_file())
}

/// Runs `cmd` with stdout and stderr to files in `dir` and a hard time
/// bound (killed by pid past it); returns (success, stdout, stderr).
fn run_bounded(
    mut cmd: Command,
    dir: &Path,
    name: &str,
    limit: Duration,
) -> (bool, String, String) {
    let out_path = dir.join(format!("{name}.stdout"));
    let err_path = dir.join(format!("{name}.stderr"));
    let out = std::fs::File::create(&out_path).expect("stdout file");
    let err = std::fs::File::create(&err_path).expect("stderr file");
    println!("*** executing: {cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() >= deadline => {
                let pid = nix::unistd::Pid::from_raw(child.id() as i32);
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => panic!("waiting for {cmd:?}: {e}"),
        }
    };
    let read =
        |p: &Path| String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned();
    let (stdout, stderr) = (read(&out_path), read(&err_path));
    assert!(
        status.is_some(),
        "{cmd:?} timed out after {limit:?}\n{stderr}"
    );
    (status.is_some_and(|s| s.success()), stdout, stderr)
}

/// Headless Chromium with nothing from the network: the browser's own
/// background services are off, and a proxy on a closed loopback port
/// catches any request that still goes out (it fails, and the net log
/// records its URL).
fn headless(browser: &Path, profile: &Path) -> Command {
    let mut cmd = Command::new(browser);
    cmd.args([
        "--headless",
        "--disable-gpu",
        "--no-sandbox",
        "--hide-scrollbars",
    ])
    .args([
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
    ])
    .args([
        "--disable-sync",
        "--disable-default-apps",
        "--disable-extensions",
    ])
    .arg("--proxy-server=127.0.0.1:9")
    .arg(format!("--user-data-dir={}", profile.display()));
    cmd
}

/// URLs in a Chromium net log other than the browser's own services
/// (update checks, time, accounts, which it contacts whatever the page).
fn page_requests(net_log: &str) -> Vec<String> {
    let own = ["google.com", "googleapis.com", "gvt1.com", "gstatic.com"];
    net_log
        .split("\"url\":\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .filter(|url| url.starts_with("http://") || url.starts_with("https://"))
        .filter(|url| {
            let host = url.split('/').nth(2).unwrap_or("");
            let host = host.split(':').next().unwrap_or("");
            !own.iter()
                .any(|o| host == *o || host.ends_with(&format!(".{o}")))
        })
        .map(str::to_string)
        .collect()
}

#[test]
fn report_renders_in_headless_chromium_without_errors_or_requests() {
    let Some(browser) = chromium() else {
        println!(
            "SKIP: no chromium on PATH (apt-get install chromium); the report was not rendered"
        );
        return;
    };
    let sandbox = Sandbox::new();
    run_dir(&sandbox, "plain", &[]);
    run_dir(&sandbox, "target", &["--target", "bell-phi+"]);
    for dir in ["plain", "target"] {
        let (html, _) = report(&sandbox, dir, &[]);
        let page = sandbox.join(dir).join("report.html");
        let url = format!("file://{}", page.display());
        let net_log = sandbox.join(format!("{dir}.netlog.json"));
        let mut cmd = headless(&browser, &sandbox.join(format!("{dir}.profile")));
        cmd.args(["--enable-logging=stderr", "--v=0"])
            .arg(format!("--log-net-log={}", net_log.display()))
            .args(["--dump-dom", &url]);
        let (ok, dom, stderr) = run_bounded(cmd, sandbox.path(), dir, Duration::from_secs(90));
        assert!(ok, "chromium failed on {url}\n{stderr}");
        let console: Vec<&str> = stderr.lines().filter(|l| l.contains(":CONSOLE")).collect();
        assert!(
            console.is_empty(),
            "console messages on {url}: {console:#?}"
        );
        let requests = page_requests(&std::fs::read_to_string(&net_log).unwrap_or_default());
        assert!(
            requests.is_empty(),
            "the page of {dir} made requests: {requests:?}"
        );
        let plots = count(&dom, "<svg");
        assert!(
            plots >= 6 && plots == count(&html, "<svg"),
            "{plots} plots in the DOM of {url}"
        );
        let worst = dom
            .find("id=\"worst-")
            .expect("the worst sample in the DOM");
        assert!(
            dom[worst..].contains("-city-re\"><svg"),
            "no city plot of the worst sample"
        );
    }
    // A screenshot, as a person sees the top of the page.
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-screenshot.png");
    let _ = std::fs::remove_file(&shot);
    let mut cmd = headless(&browser, &sandbox.join("shot.profile"));
    cmd.arg(format!("--screenshot={}", shot.display()))
        .arg("--window-size=1280,2400")
        .arg(format!(
            "file://{}",
            sandbox.join("target/report.html").display()
        ));
    let (ok, _, stderr) = run_bounded(cmd, sandbox.path(), "shot", Duration::from_secs(90));
    assert!(ok, "chromium --screenshot failed\n{stderr}");
    let png = std::fs::read(&shot).expect("the screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "{} bytes",
        png.len()
    );
    println!("screenshot of the report: {}", shot.display());
}

#[test]
fn report_labels_the_trends_with_times_when_the_ids_are_times() {
    let sandbox = Sandbox::new();
    sandbox
        .qtomo([
            "simulate",
            "--qubits",
            "1",
            "--samples",
            "90",
            "--seed",
            "5",
        ])
        .args(["--shots", "200", "--out", "sim.csv"])
        .ok();
    let text = std::fs::read_to_string(sandbox.join("sim.csv")).expect("read sim.csv");
    let mut lines = text.lines();
    let mut csv = format!("{}\n", lines.next().expect("header"));
    for (i, line) in lines.enumerate() {
        let (_, counts) = line.split_once(',').expect("id column");
        csv.push_str(&format!(
            "2026-12-03T{:02}:{:02}:00Z,{counts}\n",
            i / 60,
            i % 60
        ));
    }
    sandbox.write("timed.csv", csv);
    sandbox
        .qtomo([
            "run",
            "timed.csv",
            "--out",
            "r",
            "--workers",
            "0",
            "--method",
            "pls",
        ])
        .ok();
    let (html, _) = report(&sandbox, "r", &[]);
    assert!(html.contains("The sample ids are times"));
    assert!(
        html.contains("sample time (UTC, from the ids)") && html.contains("\n01:00:00\n</text>")
    );
    // Index ids are not times.
    run_dir(&sandbox, "plain", &[]);
    let (plain, _) = report(&sandbox, "plain", &[]);
    assert!(!plain.contains("sample time") && plain.contains("sample index"));
}

#[test]
#[cfg_attr(
    not(feature = "fault-injection"),
    ignore = "needs --features fault-injection"
)]
fn report_of_a_run_in_progress_names_its_holder_and_leaves_it_running() {
    use crate::supervisor::{BOUND, Fixture};
    let fx = Fixture::new(300);
    // 20 ms per sample: about six seconds of run with one worker.
    let mut sup = fx.start(&["--workers", "1"], &[("QTOMO_FAULT", "delay:20")]);
    fx.wait_working(&sup, 1, 5);
    let out = crate::util::QtomoCmd::new(fx.dir.path())
        .args(["report", "out", "--out", "live.html"])
        .ok();
    out.stderr_has(&["without a result yet (partial)"]);
    let html = std::fs::read_to_string(fx.path("live.html")).expect("live.html");
    assert!(
        html.contains("a run holds this directory now (pid "),
        "not partial"
    );
    assert!(count(&html, "<svg") >= 6);
    // The run was not disturbed: it completes, every sample once.
    let st = sup.wait(BOUND);
    assert_eq!(st.code(), Some(0), "{}", sup.stderr());
    assert!(fx.assert_each_once().is_empty());
}
