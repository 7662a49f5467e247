// The Baton console: a single page on Baton's own APIs (the Step Functions API, /topics,
// the Lambda API, the collections and /console/api). Plain modern JavaScript, no build step.
//
// Every call sends the credentials entered in the Credentials dialog (kept in this tab's
// sessionStorage): an API key in the header Baton's security rules read, or a bearer token.
// Cookies go along too (same origin), for a browser login. The open view refreshes every
// two seconds while the tab is visible.

const POLL_MS = 2000;
const meta = document.querySelector('meta[name="baton-api-key-header"]');
const KEY_HEADER = meta && !meta.content.includes("{{") ? meta.content : "x-api-key";
const STORE_KEY = "baton.console.apiKey";
const STORE_BEARER = "baton.console.bearer";

// ----- small DOM helpers --------------------------------------------------------------------

/** An element: `h("a", {href: "#/"}, "text", child)`; strings become text nodes. */
function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "value") el.value = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function fill(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

function status(s) {
  return h("span", { class: `status ${s || ""}` }, s || "?");
}

function pretty(value) {
  if (value === undefined) return "";
  if (typeof value === "string") {
    try {
      return JSON.stringify(JSON.parse(value), null, 2);
    } catch {
      return value;
    }
  }
  return JSON.stringify(value, null, 2);
}

function when(value, unit = "s") {
  if (value === undefined || value === null) return "";
  const ms = unit === "s" ? value * 1000 : value;
  return new Date(ms).toLocaleString();
}

const enc = encodeURIComponent;

// ----- calling Baton ------------------------------------------------------------------------

class HttpError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

function credentialHeaders() {
  const headers = {};
  const key = sessionStorage.getItem(STORE_KEY);
  const bearer = sessionStorage.getItem(STORE_BEARER);
  if (key) headers[KEY_HEADER] = key;
  if (bearer) headers["Authorization"] = `Bearer ${bearer}`;
  return headers;
}

/** One call: the parsed JSON (or text for `as: "text"`); a non-2xx throws an HttpError. */
async function call(method, path, { body, headers = {}, as = "json" } = {}) {
  const init = {
    method,
    credentials: "same-origin",
    headers: { ...credentialHeaders(), ...headers },
  };
  if (body !== undefined) {
    init.body = typeof body === "string" ? body : JSON.stringify(body);
    if (!init.headers["Content-Type"]) init.headers["Content-Type"] = "application/json";
  }
  const response = await fetch(path, init);
  const text = await response.text();
  if (!response.ok) {
    let data = null;
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
    const message = (data && (data.message || data.Message || data.__type)) || text || response.statusText;
    if (response.status === 401) askForCredentials(`Baton answered 401: ${message}`);
    throw new HttpError(response.status, `${method} ${path}: ${response.status} ${message}`, data);
  }
  if (as === "text") return text;
  return text ? JSON.parse(text) : null;
}

/** A Step Functions action over AWS's JSON 1.0 protocol. */
function sfn(action, body = {}) {
  return call("POST", "/", {
    body: JSON.stringify(body),
    headers: {
      "Content-Type": "application/x-amz-json-1.0",
      "X-Amz-Target": `AWSStepFunctions.${action}`,
    },
  });
}

/** Every page of a Step Functions listing. */
async function sfnAll(action, body, field, limit = 1000) {
  const out = [];
  let nextToken;
  do {
    const page = await sfn(action, { ...body, maxResults: 100, ...(nextToken ? { nextToken } : {}) });
    out.push(...(page[field] || []));
    nextToken = page.nextToken;
  } while (nextToken && out.length < limit);
  return out;
}

/** An SVG document from Baton, as a node to put in the page. */
function parseSvg(text) {
  const doc = new DOMParser().parseFromString(text, "image/svg+xml");
  const svg = doc.documentElement;
  if (svg.nodeName !== "svg") throw new Error("the diagram is not an SVG document");
  return document.importNode(svg, true);
}

// ----- notices and credentials --------------------------------------------------------------

const notice = document.getElementById("notice");

function say(message, kind = "error") {
  if (!message) {
    notice.hidden = true;
    return;
  }
  notice.className = `notice ${kind}`;
  notice.textContent = message;
  notice.hidden = false;
}

const dialog = document.getElementById("credentials");

function askForCredentials(reason) {
  document.getElementById("credentials-reason").textContent = reason;
  document.getElementById("api-key").value = sessionStorage.getItem(STORE_KEY) || "";
  document.getElementById("bearer-token").value = sessionStorage.getItem(STORE_BEARER) || "";
  if (!dialog.open) dialog.showModal();
}

function setupCredentials() {
  document.getElementById("key-header-name").textContent = KEY_HEADER;
  document.getElementById("credentials-button").addEventListener("click", () =>
    askForCredentials("Sent with every call the console makes, kept in this tab only."),
  );
  document.getElementById("credentials-form").addEventListener("submit", () => {
    const key = document.getElementById("api-key").value.trim();
    const bearer = document.getElementById("bearer-token").value.trim();
    if (key) sessionStorage.setItem(STORE_KEY, key);
    else sessionStorage.removeItem(STORE_KEY);
    if (bearer) sessionStorage.setItem(STORE_BEARER, bearer.replace(/^Bearer\s+/i, ""));
    else sessionStorage.removeItem(STORE_BEARER);
    say(null);
    router.refreshNow();
  });
  document.getElementById("credentials-clear").addEventListener("click", () => {
    sessionStorage.removeItem(STORE_KEY);
    sessionStorage.removeItem(STORE_BEARER);
    document.getElementById("api-key").value = "";
    document.getElementById("bearer-token").value = "";
  });
}

// ----- views --------------------------------------------------------------------------------
// A view builds its skeleton once and returns `{refresh}`, which fills in the data; the
// router calls `refresh` when the view opens and every POLL_MS after.

async function homeView(root) {
  const cards = h("div", { class: "cards" });
  const lists = h("div");
  fill(root, h("h1", {}, "Overview"), cards, lists);
  return {
    async refresh() {
      const o = await call("GET", "/console/api/overview");
      const card = (label, count, href) =>
        h("a", { class: "card", href }, h("div", { class: "count" }, count), h("div", { class: "muted" }, label));
      fill(
        cards,
        card("state machines", o.state_machines.length, "#/machines"),
        card("topics", o.topics.length, "#/topics"),
        card("functions", o.functions.length, "#/functions"),
        card("collections", o.collections.length, "#/resources"),
      );
      fill(
        lists,
        h("h2", {}, "State machines"),
        machineTable(o.state_machines.map((m) => ({ arn: m.arn, name: m.name, type: m.type, created: m.created_ms / 1000 }))),
      );
    },
  };
}

function machineTable(machines) {
  if (!machines.length) return h("p", { class: "muted" }, "No state machines yet.");
  return h(
    "table",
    { id: "machine-list" },
    h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", {}, "Type"), h("th", {}, "Created"))),
    h(
      "tbody",
      {},
      machines.map((m) =>
        h(
          "tr",
          {},
          h("td", {}, h("a", { href: `#/machines/${enc(m.arn)}`, class: "machine-link" }, m.name)),
          h("td", {}, m.type),
          h("td", {}, when(m.created)),
        ),
      ),
    ),
  );
}

async function machinesView(root) {
  const body = h("div");
  fill(root, h("h1", {}, "State machines"), body);
  return {
    async refresh() {
      const list = await sfnAll("ListStateMachines", {}, "stateMachines");
      fill(body, machineTable(list.map((m) => ({ arn: m.stateMachineArn, name: m.name, type: m.type, created: m.creationDate }))));
    },
  };
}

/** Puts a diagram into `box` when its text changed; returns whether it did. */
function showDiagram(box, text) {
  if (box.dataset.svg === text) return false;
  fill(box, parseSvg(text));
  box.dataset.svg = text;
  return true;
}

async function machineView(root, arn) {
  const title = h("h1", {}, arn.split(":").pop());
  const info = h("dl", { class: "kv" });
  const diagram = h("div", { class: "diagram", id: "machine-diagram" });
  const definition = h("pre", { id: "definition" });
  const statusFilter = h(
    "select",
    { id: "status-filter" },
    h("option", { value: "" }, "All statuses"),
    ["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"].map((s) => h("option", { value: s }, s)),
  );
  const search = h("input", { id: "name-search", type: "search", placeholder: "Search by name" });
  const executions = h("div", { id: "executions" });
  const input = h("input", { id: "start-input", class: "mono", value: "{}", size: 40 });
  const start = h("button", { class: "primary", type: "button" }, "Start execution");
  let rows = [];
  const render = () => {
    const q = search.value.trim().toLowerCase();
    const shown = rows.filter((e) => !q || e.name.toLowerCase().includes(q));
    if (!shown.length) {
      fill(executions, h("p", { class: "muted" }, rows.length ? "No execution matches." : "No executions."));
      return;
    }
    fill(
      executions,
      h(
        "table",
        {},
        h("thead", {}, h("tr", {}, ["Name", "Status", "Started", "Stopped"].map((c) => h("th", {}, c)))),
        h(
          "tbody",
          {},
          shown.map((e) =>
            h(
              "tr",
              { class: "clickable", onclick: () => (location.hash = `#/executions/${enc(e.executionArn)}`) },
              h("td", {}, h("a", { href: `#/executions/${enc(e.executionArn)}`, class: "execution-link" }, e.name)),
              h("td", {}, status(e.status)),
              h("td", {}, when(e.startDate)),
              h("td", {}, when(e.stopDate)),
            ),
          ),
        ),
      ),
    );
  };
  let refresh;
  statusFilter.addEventListener("change", () => refresh());
  search.addEventListener("input", render);
  start.addEventListener("click", async () => {
    try {
      const r = await sfn("StartExecution", { stateMachineArn: arn, input: input.value });
      location.hash = `#/executions/${enc(r.executionArn)}`;
    } catch (e) {
      say(e.message);
    }
  });
  fill(
    root,
    title,
    info,
    h(
      "div",
      { class: "split" },
      h("section", {}, h("h2", {}, "Diagram"), diagram),
      h("section", {}, h("h2", {}, "Definition"), definition),
    ),
    h("h2", {}, "Executions"),
    h("div", { class: "toolbar" }, statusFilter, search, h("span", { class: "spacer" }), input, start),
    executions,
  );
  refresh = async () => {
    const m = await sfn("DescribeStateMachine", { stateMachineArn: arn });
    fill(
      info,
      h("dt", {}, "ARN"), h("dd", { class: "mono" }, m.stateMachineArn),
      h("dt", {}, "Type"), h("dd", {}, m.type),
      h("dt", {}, "Created"), h("dd", {}, when(m.creationDate)),
      h("dt", {}, "Revision"), h("dd", { class: "mono" }, m.revisionId || ""),
    );
    const text = pretty(m.definition);
    if (definition.textContent !== text) definition.textContent = text;
    showDiagram(diagram, await call("GET", `/console/api/state-machines/${enc(arn)}/diagram.svg`, { as: "text" }));
    if (m.type === "EXPRESS") {
      rows = [];
      fill(executions, h("p", { class: "muted" }, "Express executions are not recorded: they run in memory."));
      return;
    }
    const filter = statusFilter.value ? { statusFilter: statusFilter.value } : {};
    rows = await sfnAll("ListExecutions", { stateMachineArn: arn, ...filter }, "executions", 500);
    render();
  };
  return { refresh: () => refresh() };
}

const FAILURE = /(Failed|TimedOut|Aborted)$/;

function eventName(e) {
  for (const [k, v] of Object.entries(e)) {
    if (k.endsWith("EventDetails") && v && v.name) return v.name;
  }
  return "";
}

function eventNote(e) {
  for (const [k, v] of Object.entries(e)) {
    if (k.endsWith("EventDetails") && v && (v.error || v.cause)) return [v.error, v.cause].filter(Boolean).join(": ");
  }
  return "";
}

async function executionView(root, arn) {
  const title = h("h1", {}, arn.split(":").pop());
  const info = h("dl", { class: "kv", id: "execution-info" });
  const stop = h("button", { class: "danger", id: "stop", type: "button", hidden: true }, "Stop");
  const redrive = h("button", { id: "redrive", type: "button", hidden: true }, "Redrive");
  const diagram = h("div", { class: "diagram", id: "execution-diagram" });
  const stateList = h("ul", { class: "state-list", id: "state-list" });
  const inspector = h("div", { class: "panel", id: "inspector" }, h("p", { class: "muted" }, "Click a state to see its input and output."));
  const timeline = h("div", { class: "timeline", id: "timeline" });
  // Outside what each refresh rewrites, so that they stay open or closed.
  const inputPre = h("pre", { id: "execution-input" });
  const outputPre = h("pre", { id: "execution-output" });
  let selected = null;
  let states = [];

  const select = (name) => {
    selected = name;
    for (const g of diagram.querySelectorAll("[data-state]")) g.classList.toggle("selected", g.dataset.state === name);
    for (const li of stateList.children) li.classList.toggle("selected", li.dataset.state === name);
    const s = states.find((x) => x.name === name);
    if (!s) {
      fill(inspector, h("h3", {}, name), h("p", { class: "muted" }, "This execution has not entered this state."));
      return;
    }
    fill(
      inspector,
      h("h3", {}, s.name, " ", status(s.status)),
      h(
        "dl",
        { class: "kv" },
        h("dt", {}, "Type"), h("dd", {}, s.type),
        h("dt", {}, "Entered"), h("dd", {}, `${when(s.entered_ms, "ms")}${s.entries > 1 ? ` (${s.entries} times; the latest shown)` : ""}`),
        s.exited_ms ? [h("dt", {}, "Left"), h("dd", {}, when(s.exited_ms, "ms"))] : null,
        s.error ? [h("dt", {}, "Error"), h("dd", {}, s.error)] : null,
        s.cause ? [h("dt", {}, "Cause"), h("dd", {}, s.cause)] : null,
      ),
      h("h3", {}, "Input"),
      h("pre", { class: "state-input" }, pretty(s.input)),
      h("h3", {}, "Output"),
      s.output === null || s.output === undefined
        ? h("p", { class: "muted state-output" }, "No output yet.")
        : h("pre", { class: "state-output" }, pretty(s.output)),
    );
  };

  diagram.addEventListener("click", (ev) => {
    const g = ev.target.closest("[data-state]");
    if (g) select(g.dataset.state);
  });
  const act = (action) => async () => {
    try {
      await sfn(action, { executionArn: arn });
      say(`${action} sent.`, "info");
      await router.refreshNow();
    } catch (e) {
      say(e.message);
    }
  };
  stop.addEventListener("click", act("StopExecution"));
  redrive.addEventListener("click", act("RedriveExecution"));

  fill(
    root,
    title,
    info,
    h(
      "div",
      { class: "io" },
      h("details", {}, h("summary", {}, "Execution input"), inputPre),
      h("details", {}, h("summary", {}, "Execution output"), outputPre),
    ),
    h("div", { class: "toolbar" }, stop, redrive),
    h(
      "div",
      { class: "split" },
      h("section", {}, h("h2", {}, "Path"), diagram),
      h("section", {}, h("h2", {}, "States"), stateList, inspector),
    ),
    h("h2", {}, "Events"),
    timeline,
  );

  return {
    async refresh() {
      const e = await sfn("DescribeExecution", { executionArn: arn });
      fill(
        info,
        h("dt", {}, "Status"), h("dd", { id: "execution-status" }, status(e.status)),
        h("dt", {}, "State machine"),
        h("dd", {}, h("a", { href: `#/machines/${enc(e.stateMachineArn)}` }, e.stateMachineArn.split(":").pop())),
        h("dt", {}, "Started"), h("dd", {}, when(e.startDate)),
        e.stopDate ? [h("dt", {}, "Stopped"), h("dd", {}, when(e.stopDate))] : null,
        e.error ? [h("dt", {}, "Error"), h("dd", {}, e.error)] : null,
        e.cause ? [h("dt", {}, "Cause"), h("dd", {}, e.cause)] : null,
        e.redriveCount ? [h("dt", {}, "Redriven"), h("dd", {}, `${e.redriveCount} time(s)`)] : null,
      );
      const input = pretty(e.input);
      if (inputPre.textContent !== input) inputPre.textContent = input;
      const output = e.output === undefined ? "(none yet)" : pretty(e.output);
      if (outputPre.textContent !== output) outputPre.textContent = output;
      stop.hidden = e.status !== "RUNNING";
      redrive.hidden = e.redriveStatus !== "REDRIVABLE";

      const [svg, runs, events] = await Promise.all([
        call("GET", `/console/api/executions/${enc(arn)}/diagram.svg`, { as: "text" }),
        call("GET", `/console/api/executions/${enc(arn)}/states`),
        sfnAll("GetExecutionHistory", { executionArn: arn }, "events", 25000),
      ]);
      showDiagram(diagram, svg);
      states = runs.states;
      fill(
        stateList,
        states.map((s) =>
          h("li", { dataset: { state: s.name }, onclick: () => select(s.name) }, h("span", {}, s.name), status(s.status)),
        ),
      );
      if (selected) select(selected);

      const start = events.length ? events[0].timestamp : 0;
      fill(
        timeline,
        h(
          "table",
          {},
          h("thead", {}, h("tr", {}, ["#", "+ms", "Type", "State", "Detail"].map((c) => h("th", {}, c)))),
          h(
            "tbody",
            {},
            events.map((ev) =>
              h(
                "tr",
                { class: FAILURE.test(ev.type) ? "failure" : "", dataset: { event: ev.id } },
                h("td", {}, ev.id),
                h("td", {}, Math.round((ev.timestamp - start) * 1000)),
                h("td", { class: "type" }, ev.type),
                h("td", {}, eventName(ev)),
                h("td", {}, eventNote(ev)),
              ),
            ),
          ),
        ),
      );
    },
  };
}

async function topicsView(root) {
  const body = h("div");
  fill(root, h("h1", {}, "Topics"), body);
  return {
    async refresh() {
      const { topics } = await call("GET", "/topics");
      if (!topics.length) {
        fill(body, h("p", { class: "muted" }, "No topics yet."));
        return;
      }
      fill(
        body,
        h(
          "table",
          { id: "topic-list" },
          h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", {}, "ARN"), h("th", {}, "Created"))),
          h(
            "tbody",
            {},
            topics.map((t) =>
              h(
                "tr",
                {},
                h("td", {}, h("a", { href: `#/topics/${enc(t.name)}`, class: "topic-link" }, t.name)),
                h("td", { class: "mono" }, t.arn),
                h("td", {}, when(t.created_ms, "ms")),
              ),
            ),
          ),
        ),
      );
    },
  };
}

function attemptsTable(attempts) {
  if (!attempts.length) return h("p", { class: "muted" }, "No delivery attempts yet.");
  return h(
    "table",
    { class: "attempts" },
    h("thead", {}, h("tr", {}, ["Delivery", "Attempt", "At", "Status", "Error", "Latency"].map((c) => h("th", {}, c)))),
    h(
      "tbody",
      {},
      attempts.map((a) =>
        h(
          "tr",
          { dataset: { delivery: a.delivery_id, code: a.status_code ?? "" } },
          h("td", {}, a.delivery_id),
          h("td", {}, a.attempt),
          h("td", {}, when(a.at_ms, "ms")),
          h("td", { class: "code" }, a.status_code ?? ""),
          h("td", {}, a.error || ""),
          h("td", {}, a.latency_ms === null || a.latency_ms === undefined ? "" : `${a.latency_ms} ms`),
        ),
      ),
    ),
  );
}

async function topicView(root, name) {
  const subs = h("div", { id: "subscriptions" });
  const dead = h("div", { id: "dead-letters" });
  const message = h("input", { id: "publish-message", class: "mono", value: '{"hello": "world"}', size: 40 });
  const publish = h("button", { type: "button" }, "Publish");
  publish.addEventListener("click", async () => {
    try {
      const r = await call("POST", `/topics/${enc(name)}/messages`, { body: { message: message.value } });
      say(`Published ${r.message_id}.`, "info");
      await router.refreshNow();
    } catch (e) {
      say(e.message);
    }
  });
  fill(
    root,
    h("h1", {}, name),
    h("div", { class: "toolbar" }, message, publish),
    h("h2", {}, "Subscriptions"),
    subs,
    h("h2", {}, "Dead letters"),
    dead,
  );
  const replay = (id) => async () => {
    try {
      await call("POST", `/topics/${enc(name)}/dead-letters/${enc(id)}/replay`);
      say(`Delivery ${id} replayed.`, "info");
      await router.refreshNow();
    } catch (e) {
      say(e.message);
    }
  };
  return {
    async refresh() {
      const [{ subscriptions }, { dead_letters }] = await Promise.all([
        call("GET", `/topics/${enc(name)}/subscriptions`),
        call("GET", `/topics/${enc(name)}/dead-letters?limit=100`),
      ]);
      const attempts = await Promise.all(
        subscriptions.map((s) => call("GET", `/topics/${enc(name)}/subscriptions/${enc(s.id)}/attempts?limit=20`)),
      );
      fill(
        subs,
        subscriptions.length
          ? subscriptions.map((s, i) =>
              h(
                "div",
                { class: "panel subscription", dataset: { subscription: s.id } },
                h("h3", {}, h("span", { class: "mono" }, s.endpoint), " ", status(s.status)),
                h(
                  "dl",
                  { class: "kv" },
                  h("dt", {}, "Id"), h("dd", { class: "mono" }, s.id),
                  s.filter_policy ? [h("dt", {}, "Filter"), h("dd", { class: "mono" }, JSON.stringify(s.filter_policy))] : null,
                  s.retry_schedule ? [h("dt", {}, "Retries"), h("dd", {}, s.retry_schedule.join(", "))] : null,
                ),
                h("h3", {}, "Recent attempts"),
                attemptsTable(attempts[i].attempts),
              ),
            )
          : h("p", { class: "muted" }, "No subscriptions."),
      );
      fill(
        dead,
        dead_letters.length
          ? h(
              "table",
              { id: "dead-letter-list" },
              h("thead", {}, h("tr", {}, ["Delivery", "Message", "Subscription", "Attempts", "Last error", "Since", ""].map((c) => h("th", {}, c)))),
              h(
                "tbody",
                {},
                dead_letters.map((d) =>
                  h(
                    "tr",
                    { dataset: { delivery: d.id } },
                    h("td", {}, d.id),
                    h("td", { class: "mono" }, d.message_id),
                    h("td", { class: "mono" }, d.subscription_id),
                    h("td", {}, d.attempts),
                    h("td", {}, d.last_error || ""),
                    h("td", {}, when(d.updated_ms, "ms")),
                    h("td", {}, h("button", { type: "button", class: "replay", onclick: replay(d.id) }, "Replay")),
                  ),
                ),
              ),
            )
          : h("p", { class: "muted" }, "No dead letters."),
      );
    },
  };
}

async function functionsView(root) {
  const body = h("div");
  fill(root, h("h1", {}, "Functions"), body);
  return {
    async refresh() {
      const { Functions } = await call("GET", "/2015-03-31/functions");
      if (!Functions.length) {
        fill(body, h("p", { class: "muted" }, "No functions are declared ([functions.NAME] in baton.toml)."));
        return;
      }
      fill(
        body,
        h(
          "table",
          { id: "function-list" },
          h("thead", {}, h("tr", {}, ["Name", "Timeout", "Memory", "ARN"].map((c) => h("th", {}, c)))),
          h(
            "tbody",
            {},
            Functions.map((f) =>
              h(
                "tr",
                {},
                h("td", {}, h("a", { href: `#/functions/${enc(f.FunctionName)}`, class: "function-link" }, f.FunctionName)),
                h("td", {}, `${f.Timeout} s`),
                h("td", {}, `${f.MemorySize} MB`),
                h("td", { class: "mono" }, f.FunctionArn),
              ),
            ),
          ),
        ),
      );
    },
  };
}

const MAX_LOG_LINES = 500;

async function functionView(root, name) {
  const logs = h("pre", { class: "logs", id: "logs" });
  const failed = h("div", { id: "failed-events" });
  fill(root, h("h1", {}, name), h("h2", {}, "Recent logs"), logs, h("h2", {}, "Failed events"), failed);
  let after = 0;
  let lines = [];
  return {
    async refresh() {
      const [page, { events }] = await Promise.all([
        call("GET", `/functions/${enc(name)}/logs?after=${after}`),
        call("GET", `/functions/${enc(name)}/failed-events`),
      ]);
      if (page.lines.length) {
        const stick = logs.scrollTop + logs.clientHeight >= logs.scrollHeight - 4;
        lines = lines.concat(page.lines).slice(-MAX_LOG_LINES);
        after = page.next;
        fill(
          logs,
          lines.map((l) =>
            h("div", { class: l.stream }, `${new Date(l.time_ms).toLocaleTimeString()} ${l.request_id ? `[${l.request_id.slice(0, 8)}] ` : ""}${l.text}`),
          ),
        );
        if (stick) logs.scrollTop = logs.scrollHeight;
      } else if (!lines.length) {
        fill(logs, h("span", { class: "muted" }, "No log lines yet."));
      }
      fill(
        failed,
        events.length
          ? h(
              "table",
              {},
              h("thead", {}, h("tr", {}, ["Request", "Attempts", "Last error", "Payload", "Updated"].map((c) => h("th", {}, c)))),
              h(
                "tbody",
                {},
                events.map((e) =>
                  h(
                    "tr",
                    {},
                    h("td", { class: "mono" }, e.request_id),
                    h("td", {}, e.attempts),
                    h("td", {}, e.last_error || ""),
                    h("td", {}, h("pre", {}, pretty(e.payload))),
                    h("td", {}, when(e.updated_ms, "ms")),
                  ),
                ),
              ),
            )
          : h("p", { class: "muted" }, "No failed events."),
      );
    },
  };
}

async function resourcesView(root) {
  const body = h("div");
  fill(root, h("h1", {}, "Resources"), body);
  return {
    async refresh() {
      const { collections } = await call("GET", "/console/api/overview");
      if (!collections.length) {
        fill(body, h("p", { class: "muted" }, "No collections are declared ([collections.NAME] in baton.toml)."));
        return;
      }
      fill(
        body,
        h(
          "table",
          { id: "collection-list" },
          h("thead", {}, h("tr", {}, h("th", {}, "Collection"), h("th", {}, "Key member"), h("th", {}, "Path"))),
          h(
            "tbody",
            {},
            collections.map((c) =>
              h(
                "tr",
                {},
                h("td", {}, h("a", { href: `#/resources/${enc(c.name)}`, class: "collection-link" }, c.name)),
                h("td", { class: "mono" }, c.key),
                h("td", { class: "mono" }, `/${c.name}`),
              ),
            ),
          ),
        ),
      );
    },
  };
}

const PAGE_SIZE = 20;

async function collectionView(root, name) {
  const list = h("div", { id: "documents" });
  const viewer = h("div", { class: "panel", id: "document" }, h("p", { class: "muted" }, "Click a document to see it."));
  const first = h("button", { type: "button", id: "first-page" }, "First page");
  const next = h("button", { type: "button", id: "next-page", disabled: true }, "Next page");
  const where = h("span", { class: "muted" });
  fill(
    root,
    h("h1", {}, name),
    h("div", { class: "toolbar" }, first, next, where),
    h("div", { class: "split" }, list, viewer),
  );
  let key = "id";
  let cursors = [null];
  let nextCursor = null;
  let selected = null;
  const cursor = () => cursors[cursors.length - 1];
  const show = (doc) => {
    selected = doc[key];
    fill(viewer, h("h3", {}, String(doc[key])), h("pre", { class: "document-json" }, pretty(doc)));
  };
  first.addEventListener("click", () => {
    cursors = [null];
    router.refreshNow();
  });
  next.addEventListener("click", () => {
    if (nextCursor) cursors.push(nextCursor);
    router.refreshNow();
  });
  return {
    async refresh() {
      const o = await call("GET", "/console/api/overview");
      const c = o.collections.find((x) => x.name === name);
      if (c) key = c.key;
      const q = new URLSearchParams({ limit: String(PAGE_SIZE) });
      if (cursor()) q.set("cursor", cursor());
      const page = await call("GET", `/${enc(name)}?${q}`);
      nextCursor = page.next_cursor;
      next.disabled = !nextCursor;
      where.textContent = `page ${cursors.length}`;
      if (!page.items.length) {
        fill(list, h("p", { class: "muted" }, "No documents."));
        return;
      }
      fill(
        list,
        h(
          "table",
          {},
          h("thead", {}, h("tr", {}, h("th", {}, key), h("th", {}, "Document"))),
          h(
            "tbody",
            {},
            page.items.map((d) => {
              const preview = JSON.stringify(d);
              return h(
                "tr",
                { class: `clickable${d[key] === selected ? " selected" : ""}`, dataset: { id: d[key] }, onclick: () => show(d) },
                h("td", { class: "mono" }, String(d[key])),
                h("td", { class: "mono muted" }, preview.length > 120 ? `${preview.slice(0, 117)}…` : preview),
              );
            }),
          ),
        ),
      );
      const current = page.items.find((d) => d[key] === selected);
      if (current) show(current);
    },
  };
}

// ----- the router ---------------------------------------------------------------------------

const ROUTES = [
  [/^#?\/?$/, "home", homeView],
  [/^#\/machines$/, "machines", machinesView],
  [/^#\/machines\/(.+)$/, "machines", machineView],
  [/^#\/executions\/(.+)$/, "machines", executionView],
  [/^#\/topics$/, "topics", topicsView],
  [/^#\/topics\/(.+)$/, "topics", topicView],
  [/^#\/functions$/, "functions", functionsView],
  [/^#\/functions\/(.+)$/, "functions", functionView],
  [/^#\/resources$/, "resources", resourcesView],
  [/^#\/resources\/(.+)$/, "resources", collectionView],
];

const router = {
  view: null,
  generation: 0,
  busy: false,
  again: false,

  async open() {
    const generation = ++this.generation;
    const root = document.getElementById("view");
    const hash = location.hash || "#/";
    const match = ROUTES.map(([re, section, make]) => [hash.match(re), section, make]).find(([m]) => m);
    say(null);
    if (!match) {
      this.view = null;
      fill(root, h("h1", {}, "Not found"), h("p", {}, "No such page. ", h("a", { href: "#/" }, "Overview")));
      return;
    }
    const [m, section, make] = match;
    for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.dataset.section === section);
    const params = m.slice(1).map((p) => decodeURIComponent(p));
    const view = await make(root, ...params);
    if (generation !== this.generation) return;
    this.view = view;
    await this.refreshNow();
  },

  /** Refreshes the open view; a call while one runs makes one more run after it. */
  async refreshNow() {
    if (this.busy) {
      this.again = true;
      return;
    }
    const view = this.view;
    if (!view) return;
    this.busy = true;
    this.again = false;
    const live = document.getElementById("live");
    try {
      await view.refresh();
      live.className = "live";
      live.textContent = "live";
      if (notice.classList.contains("error")) say(null);
    } catch (e) {
      live.className = "live error";
      live.textContent = "error";
      if (!(e instanceof HttpError && e.status === 401)) say(e.message);
      else say("Baton asks for credentials: enter an API key or a bearer token.");
    } finally {
      this.busy = false;
    }
    if (this.again) await this.refreshNow();
  },

  tick() {
    const live = document.getElementById("live");
    if (document.hidden || dialog.open) {
      live.className = "live paused";
      live.textContent = "paused";
      return;
    }
    this.refreshNow();
  },
};

setupCredentials();
window.addEventListener("hashchange", () => router.open());
setInterval(() => router.tick(), POLL_MS);
router.open();
