import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../src/app.js';
import { eventually, seedCatalogue, startApp, testConfig } from './helpers.js';

/** Debian's chromium (`.ci/run` installs it); the test is skipped, and says so, where it is missing. */
const CHROMIUM = '/usr/bin/chromium';

describe.skipIf(!existsSync(CHROMIUM))('the live feed demo page (headless Chromium)', () => {
  let app: App;
  let browser: Browser;

  beforeAll(async () => {
    app = await startApp(testConfig('demo'));
    await seedCatalogue(app);
    await eventually(async () => (await app.services.ranking.trending.get(null, 20)).length >= 10);
    browser = await chromium.launch({ executablePath: CHROMIUM });
  });
  afterAll(async () => {
    await browser?.close();
    await app?.stop();
  });

  it('shows a refreshed feed led by the category the user liked, without a reload', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    let loads = 0;
    page.on('load', () => loads++);
    // A token in the URL is ignored: tokens are typed into the form and kept in sessionStorage only.
    await page.goto(app.url.replace(/\/graphql$/, '/demo?user=u-demo&token=from-the-url'));
    await page.locator('#feed li').first().waitFor();
    expect(await page.locator('#token').inputValue()).toBe('');
    expect(await page.locator('#status').textContent()).toBe('live');
    const pageId = await page.locator('body').getAttribute('data-page-id');
    const reasons = await page.locator('#feed li .reasons').first().textContent();
    expect(reasons?.length).toBeGreaterThan(0);

    // Pick a category on screen that does not lead the feed, and like its items as they appear, as
    // a person would, until it leads.
    const leader = () => page.locator('#feed li').first().getAttribute('data-category');
    const shown = await page
      .locator('#feed li')
      .evaluateAll((lis) => lis.map((li) => (li as HTMLElement).dataset.category ?? ''));
    const first = await leader();
    const target = shown.reverse().find((c) => c && c !== first);
    expect(target).toBeDefined();
    const liked = new Set<string>();
    await eventually(
      async () => {
        if ((await leader()) === target) return true;
        const candidates = await page
          .locator(`#feed li[data-category="${target}"]`)
          .evaluateAll((lis) => lis.map((li) => (li as HTMLElement).dataset.itemId ?? ''));
        const next = candidates.find((id) => !liked.has(id));
        if (next) {
          liked.add(next);
          await page.locator(`#feed li[data-item-id="${next}"] button[data-action="LIKE"]`).click();
        }
        return false;
      },
      { timeoutMs: 30_000, intervalMs: 300 },
    );
    expect(await leader()).toBe(target);
    expect(await page.locator('#feed li').first().locator('.reasons').textContent()).toContain(target);
    expect(await page.locator('#latency').textContent()).toMatch(/refreshed \d+ ms after your last action/);
    expect(Number(await page.locator('body').getAttribute('data-pushes'))).toBeGreaterThan(1);
    expect(await page.locator('body').getAttribute('data-page-id')).toBe(pageId);
    expect(loads).toBe(1);
    expect(errors).toEqual([]);
    await page.close();
  });
});
