// Parse and validate an AsyncAPI document with the reference parser; exit 1 on any error.
// Usage: node scripts/parse-asyncapi.mjs docs/asyncapi.yaml
import { readFileSync } from "node:fs";
import { Parser } from "@asyncapi/parser";

const path = process.argv[2] ?? "docs/asyncapi.yaml";
const { document, diagnostics } = await new Parser().parse(readFileSync(path, "utf8"), {
  source: path,
});
const errors = diagnostics.filter((diagnostic) => diagnostic.severity === 0);
for (const diagnostic of diagnostics) {
  const level = ["error", "warning", "info", "hint"][diagnostic.severity];
  console.log(`${path}: ${level} ${diagnostic.code}: ${diagnostic.message} (${diagnostic.path.join(".")})`);
}
if (document === undefined || errors.length > 0) {
  console.error(`${path}: ${errors.length} error(s)`);
  process.exit(1);
}
console.log(`${path}: AsyncAPI ${document.version()}, ${document.allMessages().length} messages, no errors`);
