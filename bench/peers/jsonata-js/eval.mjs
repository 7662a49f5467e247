// Evaluates expressions with jsonata-js for crates/jsonata/tests/differential.rs: reads
// {"input", "exprs": [...]} from the file named on the command line and prints one JSON line
// per expression: {"value": v}, {"undefined": true}, {"error": code}, or {"nonfinite": true}
// when the result is or holds NaN or an infinity (which JSON cannot carry).

import { readFileSync } from 'node:fs';
import jsonata from 'jsonata';

const { input, exprs } = JSON.parse(readFileSync(process.argv[2], 'utf8'));
for (const e of exprs) {
  let line;
  try {
    const v = await jsonata(e).evaluate(input);
    let nonfinite = false;
    const json =
      v === undefined
        ? undefined
        : JSON.stringify(v, (_, x) => {
            if (typeof x === 'number' && !Number.isFinite(x)) nonfinite = true;
            return x;
          });
    if (nonfinite) line = { nonfinite: true };
    else line = json === undefined ? { undefined: true } : { value: JSON.parse(json) };
  } catch (err) {
    line = { error: String(err.code ?? err.message) };
  }
  console.log(JSON.stringify(line));
}
