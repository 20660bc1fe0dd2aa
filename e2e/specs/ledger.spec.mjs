// Ledger in a real browser: plan, company and asset through the JSON API (with the
// session and its CSRF token), then the screens: the dashboard lists the company, its
// bill opens, a custom line item is added with the form, the bill is accepted, and the
// invoice is found in the archive and opened.
import { test } from "node:test";
import assert from "node:assert/strict";
import { newPage, login, step, users } from "../lib.mjs";

const ACCT = "879901";

test("ledger: dashboard, bill, custom line item, accept, archive", async (t) => {
  const page = await newPage(t);
  await login(page, users.admin);
  const csrf = await page.locator('meta[name="csrf-token"]').getAttribute("content");
  const api = async (path, body) => {
    const r = await page.request.post(path, { data: body, headers: { "x-csrf-token": csrf } });
    assert.ok(r.ok(), `${path}: ${r.status()} ${await r.text()}`);
    return r.json();
  };
  await step(page, "data", async () => {
    await api("/codex/api/billing-plans", {
      plan_name: "E2E Ledger Plan", term_length: "1 Year", per_user_cost: "10.00", per_workstation_cost: "5.00",
    });
    await api("/codex/api/companies", {
      account_number: ACCT, name: "E2E Ledger Co", billing_plan: "E2E Ledger Plan", contract_term_length: "1-Year",
    });
    await api("/codex/api/assets", { company_account_number: ACCT, hostname: "E2E-WS", hardware_type: "Desktop" });
  });
  await step(page, "dashboard", async () => {
    await page.goto("/ledger");
    await page.locator("svg.chart").waitFor();
    await Promise.all([page.waitForURL(new RegExp(`/ledger/client/${ACCT}`)), page.click("text=E2E Ledger Co")]);
    await page.locator("text=E2E-WS").first().waitFor();
  });
  await step(page, "line item", async () => {
    const form = page.locator('form[action$="/line-items"]');
    await form.locator('[name="name"]').fill("E2E Support");
    await form.locator('[name="fee"]').fill("12.34");
    await Promise.all([page.waitForNavigation(), form.locator("button[type=submit]").click()]);
    await page.locator("text=Line item E2E Support added.").waitFor();
    await page.locator("td", { hasText: "12.34" }).first().waitFor();
  });
  await step(page, "accept", async () => {
    const form = page.locator('form[action$="/accept"]');
    await form.locator('[name="notes"]').fill("accepted by e2e");
    await Promise.all([page.waitForNavigation(), form.locator("button[type=submit]").click()]);
    await page.locator("text=Bill accepted and archived").waitFor();
  });
  await step(page, "archive", async () => {
    await page.goto(`/ledger/archive?company=${encodeURIComponent("E2E Ledger")}`);
    const link = page.locator('a[href^="/ledger/archive/"]').first();
    await Promise.all([page.waitForNavigation(), link.click()]);
    await page.locator("text=accepted by e2e").waitFor();
    await page.locator("text=Download stored CSV").waitFor();
  });
});
