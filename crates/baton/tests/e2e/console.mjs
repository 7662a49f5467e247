// The web console in a real headless Chromium, against a `baton up` running the example
// application (started by crates/baton/tests/console_e2e.rs, which passes BATON_URL,
// BATON_API_KEY, BATON_E2E_CHROMIUM and SCREENSHOT_DIR).
//
// It sets the scene over HTTP (an address, a student whose creation starts the onboarding
// workflow, courses to page through, a topic whose webhook receiver, a small server here,
// answers 500), then does everything else in the page as a user would.

import assert from "node:assert/strict";
import http from "node:http";
import path from "node:path";
import { chromium } from "playwright-core";

const BASE = process.env.BATON_URL;
const KEY = process.env.BATON_API_KEY;
const SHOTS = process.env.SCREENSHOT_DIR;
const CHROMIUM = process.env.BATON_E2E_CHROMIUM || "/usr/bin/chromium";
assert.ok(BASE && KEY && SHOTS, "BATON_URL, BATON_API_KEY and SCREENSHOT_DIR must be set");

const TIMEOUT = 30_000;

function step(text) {
  console.log(`- ${text}`);
}

// ----- the webhook receiver: 500 until told otherwise --------------------------------------

let receiverUp = false;
const hits = [];
const receiver = http.createServer((req, res) => {
  let body = "";
  req.on("data", (c) => (body += c));
  req.on("end", () => {
    const code = receiverUp ? 200 : 500;
    hits.push({ id: req.headers["webhook-id"], code, body });
    res.writeHead(code, { "content-type": "text/plain" });
    res.end(receiverUp ? "thanks" : "down for maintenance");
  });
});
await new Promise((resolve) => receiver.listen(0, "127.0.0.1", resolve));
const hookUrl = `http://127.0.0.1:${receiver.address().port}/hook`;

// ----- the scene, over HTTP ------------------------------------------------------------------

async function api(method, p, body) {
  const r = await fetch(BASE + p, {
    method,
    headers: { "x-api-key": KEY, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: r.status, json };
}

async function expectStatus(method, p, body, statuses) {
  const r = await api(method, p, body);
  assert.ok(statuses.includes(r.status), `${method} ${p}: ${r.status} ${JSON.stringify(r.json)}`);
  return r.json;
}

step("setting the scene: an address, a student, 24 courses, a topic with a failing webhook");
const address = await expectStatus("POST", "/api/addresses", { line: "520 w 120th st NYC" }, [200, 201]);
await expectStatus(
  "POST",
  "/api/students",
  { id: "ab1234", first_name: "Ada", last_name: "Lovelace", email: "ada@example.edu", address_id: address.id },
  [201],
);
for (let i = 0; i < 24; i++) {
  const id = `COMS${String(4100 + i)}`;
  await expectStatus("POST", "/api/courses", { id, title: `Course number ${i}`, credits: 3 }, [201]);
}
// A machine that waits long enough to be stopped from the page.
await fetch(BASE + "/", {
  method: "POST",
  headers: {
    "x-api-key": KEY,
    "content-type": "application/x-amz-json-1.0",
    "x-amz-target": "AWSStepFunctions.CreateStateMachine",
  },
  body: JSON.stringify({
    name: "Napper",
    roleArn: "arn:aws:iam::123456789012:role/console-e2e",
    definition: JSON.stringify({
      StartAt: "Prepare",
      States: {
        Prepare: { Type: "Pass", Next: "Nap" },
        Nap: { Type: "Wait", Seconds: 600, Next: "Woken" },
        Woken: { Type: "Succeed" },
      },
    }),
  }),
}).then((r) => assert.equal(r.status, 200, "CreateStateMachine Napper"));
await expectStatus("POST", "/topics", { name: "console-e2e" }, [201]);
await expectStatus("POST", "/topics/console-e2e/subscriptions", { endpoint: hookUrl, retry_schedule: ["0s"] }, [201]);

// ----- the browser ---------------------------------------------------------------------------

const browser = await chromium.launch({ executablePath: CHROMIUM });
const page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
page.setDefaultTimeout(TIMEOUT);
const pageErrors = [];
page.on("pageerror", (e) => pageErrors.push(String(e)));
page.on("console", (m) => {
  if (m.type() === "error" && !m.text().includes("401")) pageErrors.push(m.text());
});

let shotNumber = 0;
async function shot(name) {
  shotNumber += 1;
  const file = path.join(SHOTS, `${String(shotNumber).padStart(2, "0")}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  console.log(`  screenshot: ${file}`);
}

/** Waits until `fn` (run in the page) is truthy. */
function until(fn, arg) {
  return page.waitForFunction(fn, arg, { timeout: TIMEOUT, polling: 100 });
}

try {
  step("the console asks for credentials, and takes the API key");
  await page.goto(`${BASE}/console`);
  await page.waitForSelector("#credentials[open]");
  assert.equal(await page.textContent("#key-header-name"), "x-api-key");
  await page.fill("#api-key", KEY);
  await page.click("#credentials-save");
  await page.waitForSelector("#machine-list a.machine-link");
  const machines = await page.$$eval("#machine-list a.machine-link", (as) => as.map((a) => a.textContent));
  for (const name of ["OnboardStudent", "StudentFullInfo", "StudentFullInfoSequential"]) {
    assert.ok(machines.includes(name), `${name} in ${machines}`);
  }
  assert.equal(await page.evaluate(() => sessionStorage.getItem("baton.console.apiKey")), KEY);
  await shot("overview");

  step("a state machine: its diagram, definition and executions");
  await page.click('#machine-list a.machine-link:text-is("OnboardStudent")');
  await page.waitForSelector('#machine-diagram svg g.state[data-state="HasEmail"]');
  const boxes = await page.$$eval("#machine-diagram svg g.state", (gs) => gs.map((g) => g.dataset.state));
  for (const s of ["Student", "Settle", "HasEmail", "Welcome", "Onboarded", "NothingToSay", "WelcomeFailed"]) {
    assert.ok(boxes.includes(s), `${s} drawn: ${boxes}`);
  }
  assert.match(await page.textContent("#definition"), /"StartAt": "Student"/);
  // The onboarding the student started finishes (a Wait of 1 s, then the chat bot).
  await until(() => {
    const rows = [...document.querySelectorAll("#executions tbody tr")];
    return rows.length === 1 && rows[0].textContent.includes("SUCCEEDED");
  });
  await page.selectOption("#status-filter", "FAILED");
  await until(() => document.querySelector("#executions")?.textContent?.includes("No executions."));
  await page.selectOption("#status-filter", "SUCCEEDED");
  await page.waitForSelector("#executions a.execution-link");
  const executionName = await page.textContent("#executions a.execution-link");
  await page.fill("#name-search", "no-such-name");
  await until(() => document.querySelector("#executions")?.textContent?.includes("No execution matches."));
  await page.fill("#name-search", executionName.slice(0, 6));
  await page.waitForSelector("#executions a.execution-link");
  await shot("state-machine");

  step("an execution: the path coloured, the timeline, a state's input on click");
  await page.click("#executions a.execution-link");
  await page.waitForSelector('#execution-diagram svg g.state.succeeded[data-state="Onboarded"]');
  const classes = await page.$$eval("#execution-diagram svg g.state", (gs) =>
    Object.fromEntries(gs.map((g) => [g.dataset.state, g.getAttribute("class")])),
  );
  for (const s of ["Student", "Settle", "HasEmail", "Welcome", "Onboarded"]) {
    assert.match(classes[s], /\bsucceeded\b/, `${s}: ${classes[s]}`);
  }
  for (const s of ["NothingToSay", "WelcomeFailed"]) {
    assert.doesNotMatch(classes[s], /succeeded|failed|caught|running/, `${s} was not taken: ${classes[s]}`);
  }
  assert.match(await page.textContent("#execution-status"), /SUCCEEDED/);
  assert.ok(await page.isHidden("#stop"), "no Stop for a finished execution");
  assert.ok(await page.isHidden("#redrive"), "no Redrive for a succeeded one");
  const timeline = await page.textContent("#timeline");
  for (const t of ["ExecutionStarted", "WaitStateEntered", "ChoiceStateEntered", "TaskSucceeded", "ExecutionSucceeded"]) {
    assert.ok(timeline.includes(t), `${t} in the timeline`);
  }
  await page.click('#execution-diagram svg g.state[data-state="HasEmail"]');
  await page.waitForSelector("#inspector .state-input");
  const input = JSON.parse(await page.textContent("#inspector .state-input"));
  assert.equal(input.student.email, "ada@example.edu", JSON.stringify(input));
  assert.equal(input.student.last_name, "Lovelace");
  assert.ok(await page.$('#execution-diagram svg g.state.selected[data-state="HasEmail"]'), "the clicked box is marked");
  await page.click('#state-list li[data-state="Welcome"]');
  await until(() => document.querySelector("#inspector h3")?.textContent?.startsWith("Welcome"));
  const output = JSON.parse(await page.textContent("#inspector .state-output"));
  assert.match(String(output.welcome.posted), /^chat_/, JSON.stringify(output));
  await shot("execution");

  step("an execution started from the page, stopped, then redriven");
  await page.click('nav a[data-section="machines"]');
  await page.click('#machine-list a.machine-link:text-is("Napper")');
  await page.fill("#start-input", '{"from": "the console"}');
  await page.click('button:text-is("Start execution")');
  await page.waitForSelector('#execution-diagram svg g.state.running[data-state="Nap"]');
  assert.match(await page.textContent("#execution-input"), /the console/);
  assert.ok(await page.isHidden("#redrive"), "no Redrive while running");
  await page.click("#stop");
  await page.waitForSelector('#execution-diagram svg g.state.aborted[data-state="Nap"]');
  assert.match(await page.textContent("#execution-status"), /ABORTED/);
  await page.waitForSelector("#redrive:visible");
  assert.ok(await page.isHidden("#stop"), "no Stop once stopped");
  await shot("stopped");
  await page.click("#redrive");
  await page.waitForSelector('#execution-diagram svg g.state.running[data-state="Nap"]');
  assert.match(await page.textContent("#execution-status"), /RUNNING/);
  assert.match(await page.textContent("#timeline"), /ExecutionRedriven/);
  await page.click("#stop");
  await page.waitForSelector('#execution-diagram svg g.state.aborted[data-state="Nap"]');

  step("the composite service's Express machine: a Parallel drawn with its branches");
  await page.click('nav a[data-section="machines"]');
  await page.click('#machine-list a.machine-link:text-is("StudentFullInfo")');
  await page.waitForSelector("#machine-diagram svg g.state.parallel");
  assert.ok((await page.$$("#machine-diagram svg g.state.parallel g.state")).length >= 2, "branch states inside");
  await until(() => document.querySelector("#executions")?.textContent?.includes("not recorded"));
  await shot("express-machine");

  step("topics: a message published from the page dead-letters, then Replay delivers it");
  await page.click('nav a[data-section="topics"]');
  await page.click('#topic-list a.topic-link:text-is("console-e2e")');
  await page.waitForSelector(".subscription");
  await page.fill("#publish-message", '{"event": "console-e2e"}');
  await page.click('button:text-is("Publish")');
  await page.waitForSelector("#dead-letter-list tr[data-delivery] button.replay");
  await page.waitForSelector('.attempts tr[data-code="500"]');
  assert.equal(hits.length, 1, "one attempt, then the dead letter");
  const lastError = await page.textContent("#dead-letter-list tbody tr");
  assert.match(lastError, /HTTP 500/);
  await shot("dead-letter");
  receiverUp = true;
  await page.click("#dead-letter-list button.replay");
  await page.waitForSelector('.attempts tr[data-code="200"]');
  await until(() => document.querySelector("#dead-letters")?.textContent?.includes("No dead letters."));
  assert.equal(hits.length, 2);
  assert.equal(hits[1].code, 200);
  assert.equal(hits[1].id, hits[0].id, "the replay is the same message");
  assert.match(hits[1].body, /console-e2e/);
  await shot("replayed");

  step("functions: the chat bot's logs");
  await page.click('nav a[data-section="functions"]');
  await page.click('#function-list a.function-link:text-is("chat-bot")');
  await until(() => /START|REPORT/.test(document.querySelector("#logs")?.textContent ?? ""));
  assert.match(await page.textContent("#failed-events"), /No failed events/);
  await shot("function");

  step("resources: a collection paged with its cursor, a document opened");
  await page.click('nav a[data-section="resources"]');
  await page.click('#collection-list a.collection-link:text-is("courses")');
  await until(() => document.querySelectorAll("#documents tbody tr").length === 20);
  await page.click("#next-page");
  await until(() => document.querySelectorAll("#documents tbody tr").length === 4);
  assert.ok(await page.isDisabled("#next-page"), "the last page");
  await page.click('#documents tr[data-id="COMS4123"]');
  const doc = JSON.parse(await page.textContent("#document .document-json"));
  assert.equal(doc.title, "Course number 23");
  await shot("collection");
  await page.click('nav a[data-section="resources"]');
  await page.click('#collection-list a.collection-link:text-is("students")');
  await page.click('#documents tr[data-id="ab1234"]');
  assert.match(await page.textContent("#document .document-json"), /Lovelace/);

  assert.deepEqual(pageErrors, [], "no errors in the page");
  console.log("console e2e: all steps passed");
} catch (e) {
  await shot("failure").catch(() => {});
  throw e;
} finally {
  await browser.close();
  receiver.close();
}
