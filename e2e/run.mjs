// The e2e launcher: a fresh SQLite data dir, known users, `hivematrix serve` on a free
// port, then every spec in specs/ under node's test runner against it. Screenshots of
// failing steps land in $E2E_OUT (default ../ci-artifacts/e2e).
//
//   HIVEMATRIX_BIN  the binary (default $CARGO_TARGET_DIR/debug/hivematrix or ../target/…)
//   CHROMIUM        the browser (default /usr/bin/chromium)
//   E2E_OUT         screenshots and the server log
//   node run.mjs [spec files…]   (default: every specs/*.spec.mjs)
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, mkdirSync, readdirSync, rmSync, createWriteStream } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "..");
const bin =
  process.env.HIVEMATRIX_BIN ||
  path.join(process.env.CARGO_TARGET_DIR || path.join(repo, "target"), "debug", "hivematrix");
const out = path.resolve(process.env.E2E_OUT || path.join(repo, "ci-artifacts", "e2e"));
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const dataDir = mkdtempSync(path.join(tmpdir(), "hm-e2e-"));
const password = "e2e correct horse battery";
const users = {
  E2E_ADMIN_EMAIL: ["admin@e2e.test", "E2E Admin", "admin"],
  E2E_TECH_EMAIL: ["tech@e2e.test", "E2E Technician", "technician"],
  E2E_BILLING_EMAIL: ["billing@e2e.test", "E2E Billing", "billing"],
};

function hm(args, input) {
  const r = spawnSync(bin, ["--data-dir", dataDir, ...args], { input, encoding: "utf8" });
  if (r.status !== 0) {
    throw new Error(`hivematrix ${args.join(" ")} failed (${r.status}): ${r.stderr || r.error}`);
  }
  return r.stdout;
}

for (const [email, name, role] of Object.values(users)) {
  hm(["user", "add", "--email", email, "--name", name, "--role", role, "--password-stdin"], password + "\n");
}

const log = createWriteStream(path.join(out, "server.log"));
const server = spawn(bin, ["--data-dir", dataDir, "serve", "--listen", "127.0.0.1:0"], {
  stdio: ["ignore", "pipe", "pipe"],
  env: { ...process.env, HIVEMATRIX_RATE_LIMIT_PER_MINUTE: "0" },
});
server.stderr.pipe(log);
const baseUrl = await new Promise((resolve, reject) => {
  let buf = "";
  const timer = setTimeout(() => reject(new Error("hivematrix serve did not start in 30 s")), 30000);
  server.stdout.on("data", (d) => {
    log.write(d);
    buf += d;
    const m = buf.match(/listening on (http:\/\/\S+)/);
    if (m) { clearTimeout(timer); resolve(m[1]); }
  });
  server.on("exit", (code) => reject(new Error(`hivematrix serve exited (${code}); see ${out}/server.log`)));
});
server.stdout.on("data", (d) => log.write(d));

const specs = process.argv.slice(2).length
  ? process.argv.slice(2).map((s) => path.resolve(s))
  : readdirSync(path.join(here, "specs")).filter((f) => f.endsWith(".spec.mjs")).sort()
      .map((f) => path.join(here, "specs", f));

const env = { ...process.env, E2E_BASE_URL: baseUrl, E2E_PASSWORD: password, E2E_OUT: out, E2E_DATA_DIR: dataDir, HIVEMATRIX_BIN: bin };
for (const [k, [email]] of Object.entries(users)) env[k] = email;
const code = await new Promise((resolve) => {
  const t = spawn(process.execPath, ["--test", "--test-concurrency=1", "--test-reporter=spec", ...specs], { stdio: "inherit", env, cwd: here });
  t.on("exit", (c) => resolve(c ?? 1));
});
server.kill("SIGTERM");
rmSync(dataDir, { recursive: true, force: true });
console.log(`\ne2e: ${specs.length} spec files, ${code === 0 ? "all passed" : "FAILED"}; artefacts in ${out}`);
process.exit(code);
