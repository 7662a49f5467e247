// Evaluates expressions with jsonata-js for crates/jsonata/tests/differential.rs: reads
// {"input", "exprs": [...]} from the file named on the command line and prints one JSON line
// per expression: {"value": v}, {"undefined": true} or {"error": code}.

import { readFileSync } from 'node:fs';
import jsonata from 'jsonata';

const { input, exprs } = JSON.parse(readFileSync(process.argv[2], 'utf8'));
for (const e of exprs) {
  let line;
  try {
    const v = await jsonata(e).evaluate(input);
    const json = v === undefined ? undefined : JSON.stringify(v);
    line = json === undefined ? { undefined: true } : { value: JSON.parse(json) };
  } catch (err) {
    line = { error: String(err.code ?? err.message) };
  }
  console.log(JSON.stringify(line));
}
