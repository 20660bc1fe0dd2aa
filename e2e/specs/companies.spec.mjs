import { test } from "node:test";
import assert from "node:assert/strict";
import { newPage, step, login, users } from "../lib.mjs";

// A technician adds a company (a validation error first, then fixed), edits it, and
// finds it in the list, in a tab and in the global search.
test("companies: create with a validation error, fix, edit, list and search", async (t) => {
  const page = await newPage(t);
  await login(page, users.tech);
  const form = "form.stack";
  await step(page, "open the form from the list", async () => {
    await page.goto("/codex/companies");
    await Promise.all([page.waitForNavigation(), page.click("a.button[href='/codex/companies/new']")]);
    assert.equal(await page.locator("h1").innerText(), "Add company");
  });
  await step(page, "validation errors next to the fields", async () => {
    await page.fill("#f-account_number", "12 ab!");
    await page.fill("#f-name", "");
    const [resp] = await Promise.all([page.waitForNavigation(), page.click(`${form} button[type=submit]`)]);
    assert.equal(resp.status(), 422);
    assert.match(await page.locator("#f-account_number-error").innerText(), /letters, digits/);
    assert.match(await page.locator("#f-name-error").innerText(), /empty|required/);
    assert.equal(await page.locator("#f-name").getAttribute("aria-invalid"), "true");
    assert.equal(await page.inputValue("#f-account_number"), "12 ab!", "input kept");
  });
  await step(page, "fixed and created", async () => {
    await page.fill("#f-account_number", "770077");
    await page.fill("#f-name", "E2E Widgets");
    await page.fill("#f-domains", "widgets.example");
    await Promise.all([page.waitForNavigation(), page.click(`${form} button[type=submit]`)]);
    assert.equal(new URL(page.url()).pathname, "/codex/companies/770077");
    assert.match(await page.locator(".flash-success").innerText(), /E2E Widgets created/);
  });
  await step(page, "edit", async () => {
    await Promise.all([page.waitForNavigation(), page.click("a.button[href='/codex/companies/770077/edit']")]);
    await page.fill("#f-name", "E2E Widgets Ltd");
    await Promise.all([page.waitForNavigation(), page.click(`${form} button[type=submit]`)]);
    assert.match(await page.locator("h1").innerText(), /E2E Widgets Ltd/);
  });
  await step(page, "tabs load with htmx", async () => {
    await page.click(".tabs a:has-text('Locations')");
    await page.waitForSelector(".tabs a[aria-current='page']:has-text('Locations')");
    assert.match(page.url(), /tab=locations/);
    assert.match(await page.locator("#tab-panel").innerText(), /No locations/);
  });
  await step(page, "in the list", async () => {
    await page.goto("/codex/companies?search=widgets");
    assert.match(await page.locator("tbody").innerText(), /770077\s+E2E Widgets Ltd/);
  });
  await step(page, "global search dropdown and page", async () => {
    await page.fill("#global-search", "Widgets Ltd");
    await page.waitForSelector("#search-suggest a[href='/codex/companies/770077']");
    await Promise.all([page.waitForNavigation(), page.press("#global-search", "Enter")]);
    assert.equal(new URL(page.url()).pathname, "/search");
    assert.match(await page.locator(".search-results").innerText(), /E2E Widgets Ltd/);
  });
});
