// Validate one .glb or .gltf file with the Khronos glTF validator; print its report as JSON on stdout.
// Usage: node tools/gltf-validator/validate.mjs FILE
import { readFileSync } from "node:fs";
import validator from "gltf-validator";

const file = process.argv[2];
const report = await validator.validateBytes(new Uint8Array(readFileSync(file)), {
  uri: file,
  maxIssues: 0, // report every issue, not the first hundred
});
process.stdout.write(JSON.stringify(report) + "\n");
