//! `baton graph` through the binary: a definition file in, an SVG file out; the layout as
//! JSON from standard input; and the exit codes of a drawable but invalid definition, a
//! document that is not a state machine, and a file that cannot be read.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn baton(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_baton"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run baton");
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

#[test]
fn graph_draws_a_definition_file_to_an_svg_file() {
    let dir = std::env::temp_dir().join(format!("baton-graph-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let definition = dir.join("machine.asl.json");
    let svg_path = dir.join("machine.svg");
    std::fs::write(
        &definition,
        r#"{
          "StartAt": "Fetch",
          "States": {
            "Fetch": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:1:function:fetch",
                      "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 2}],
                      "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Oops"}],
                      "Next": "Ready?"},
            "Ready?": {"Type": "Choice",
                       "Choices": [{"Variable": "$.ready", "BooleanEquals": true, "Next": "Done"}],
                       "Default": "Fetch"},
            "Oops": {"Type": "Fail", "Error": "Broken"},
            "Done": {"Type": "Succeed"}
          }
        }"#,
    )
    .unwrap();

    let out =
        baton(&["graph", definition.to_str().unwrap(), "-o", svg_path.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stdout.is_empty(), "the SVG goes to the file only");
    assert!(out.stderr.is_empty(), "a valid definition has no warnings");
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(svg.trim_end().ends_with("</svg>"));
    for state in ["Fetch", "Ready?", "Oops", "Done"] {
        assert!(svg.contains(&format!("data-state=\"{state}\"")), "{state} is drawn");
    }
    assert!(svg.contains("↻ 2"), "the retry badge");
    assert!(svg.contains("class=\"edge catch\""), "the catcher");
    assert!(svg.contains("class=\"edge default back\""), "the loop back to Fetch");

    // Without -o the SVG goes to standard output, the same bytes.
    let out = baton(&["graph", definition.to_str().unwrap()], None);
    assert_eq!(String::from_utf8(out.stdout).unwrap(), svg);

    // The layout as JSON, the definition from standard input.
    let text = std::fs::read_to_string(&definition).unwrap();
    let out = baton(&["graph", "-", "--format", "json"], Some(&text));
    assert_eq!(out.status.code(), Some(0));
    let layout: Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> =
        layout["nodes"].as_array().unwrap().iter().filter_map(|n| n["name"].as_str()).collect();
    assert_eq!(names, ["Start", "Fetch", "Ready?", "Oops", "Done", "End"]);

    // A transition to a missing state is drawn, with a warning; exit 0.
    let invalid = r#"{"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Gone"}}}"#;
    let out = baton(&["graph", "-"], Some(invalid));
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("data-state=\"Gone\""));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("warning: A.Next names a state that does not exist: \"Gone\""),
        "{stderr}"
    );

    // Not a state machine: exit 1. Not JSON, or no such file: exit 2.
    let out = baton(&["graph", "-"], Some(r#"{"StartAt": "A"}"#));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no \"States\" object"));
    assert_eq!(baton(&["graph", "-"], Some("{nope")).status.code(), Some(2));
    let missing = dir.join("missing.json");
    assert_eq!(baton(&["graph", missing.to_str().unwrap()], None).status.code(), Some(2));

    let _ = std::fs::remove_dir_all(&dir);
}
