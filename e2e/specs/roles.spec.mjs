import { test } from "node:test";
import assert from "node:assert/strict";
import { newPage, step, login, users } from "../lib.mjs";

test("roles: a technician has no admin links and gets 403 on admin pages", async (t) => {
  const page = await newPage(t);
  await login(page, users.tech);
  await step(page, "no admin link", async () => {
    await page.goto("/codex");
    assert.equal(await page.locator(".sidebar a[href='/codex/audit']").count(), 0);
  });
  await step(page, "admin page refused", async () => {
    const resp = await page.goto("/codex/audit");
    assert.equal(resp.status(), 403);
    assert.match(await page.locator("h1").innerText(), /Forbidden/);
    const cid = await page.locator("#correlation-id").innerText();
    assert.equal(cid, resp.headers()["x-correlation-id"]);
  });
  await step(page, "user admin refused", async () => {
    assert.equal(await page.locator(".sidebar a[href='/admin/users']").count(), 0);
    const resp = await page.goto("/admin/users");
    assert.equal(resp.status(), 403);
  });
});

test("roles: an admin reaches the audit log from the sidebar", async (t) => {
  const page = await newPage(t);
  await login(page, users.admin);
  await step(page, "follow the link", async () => {
    await page.goto("/codex");
    await Promise.all([page.waitForNavigation(), page.click(".sidebar a[href='/codex/audit']")]);
    assert.equal(await page.locator("h1").innerText(), "Audit log");
    assert.equal(await page.locator(".sidebar a[href='/codex/audit']").getAttribute("aria-current"), "page");
  });
});
