// Drives the customer pages in headless Chromium: log in, search in the top bar, open the
// profile, read what it shows, filter the timeline, save a screenshot. Prints one JSON object.
//
//   node profile_page.mjs '{"base": "http://127.0.0.1:8000", "username": "admin",
//                           "password": "...", "query": "anna", "screenshot": "/tmp/p.png"}'
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// playwright-core lives in the front-end packages (frontend/node_modules).
const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '..', '..', 'frontend', 'package.json'));
const { chromium } = require('playwright-core');

const options = JSON.parse(process.argv[2]);
const browser = await chromium.launch({
  executablePath: options.chromium || '/usr/bin/chromium',
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--no-first-run',
  ],
});
const result = { consoleErrors: [] };
try {
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  page.on('console', (message) => {
    if (message.type() === 'error') result.consoleErrors.push(message.text());
  });
  page.on('pageerror', (error) => result.consoleErrors.push(String(error)));
  page.setDefaultTimeout(15000);

  await page.goto(`${options.base}/login/`);
  await page.fill('input[name="username"]', options.username);
  await page.fill('input[name="password"]', options.password);
  await Promise.all([page.waitForURL((url) => !url.pathname.startsWith('/login')), page.click('button[type="submit"]')]);

  // The search box in the top bar: type as a person would, wait for the suggestions.
  const search = page.locator('.topsearch input[name="q"]');
  await search.click();
  await search.pressSequentially(options.query, { delay: 40 });
  await page.waitForSelector('#topsearch-results .hit');
  result.suggestions = await page.locator('#topsearch-results .hit').evaluateAll((hits) =>
    hits.map((hit) => ({
      person_id: hit.dataset.personId,
      name: hit.querySelector('.hit-name').textContent.trim(),
      meta: hit.querySelector('.hit-meta').textContent.trim(),
      side: hit.querySelector('.hit-side').textContent.replace(/\s+/g, ' ').trim(),
    })),
  );

  await Promise.all([page.waitForURL(/\/customers\/p_/), page.locator('#topsearch-results .hit').first().click()]);
  await page.waitForSelector('[data-testid="profile-name"]');
  result.url = page.url();
  result.name = (await page.textContent('[data-testid="profile-name"]')).trim();
  result.sections = await page.locator('[data-section]').evaluateAll((sections) =>
    sections.map((section) => section.dataset.section),
  );
  const text = (selector) => page.locator(selector).evaluateAll((nodes) => nodes.map((n) => n.textContent.replace(/\s+/g, ' ').trim()));
  result.details = (await text('[data-section="who"] .facts'))[0];
  result.errors = await text('.error-item .error-message');
  result.totalSpent = (await page.textContent('[data-testid="total-spent"]')).trim();
  result.favourites = await text('.ranking-name');
  result.latest = await text('.activity-item');
  result.timelineActivities = await page.locator('.timeline-entry').evaluateAll((entries) =>
    entries.map((entry) => entry.dataset.activity),
  );
  result.timelineSources = await page.locator('.timeline-entry').evaluateAll((entries) =>
    [...new Set(entries.map((entry) => entry.dataset.source))],
  );
  result.identifiers = await text('.identifier-value');
  result.links = await text('.links li');
  // Where the parts sit on a laptop screen: details left of errors, timeline below purchases.
  const box = async (name) => page.locator(`[data-section="${name}"]`).boundingBox();
  const [who, errors, purchases, timeline] = await Promise.all(['who', 'errors', 'purchases', 'timeline'].map(box));
  result.layout = {
    detailsLeftOfErrors: who.x < errors.x && Math.abs(who.y - errors.y) < 5,
    purchasesBelowDetails: purchases.y > who.y + who.height - 1,
    timelineBelowPurchases: timeline.y > purchases.y + purchases.height - 1,
  };
  result.searchVisibleOnProfile = await page.locator('.topsearch input[name="q"]').isVisible();

  await page.screenshot({ path: options.screenshot, fullPage: true });

  if (options.live) {
    // Live: an event sent to the tracking API shows in the open page, with no reload.
    await page.evaluate(() => { window.c360NotReloaded = true; });
    const sent = Date.now();
    const answer = await fetch(`${options.base}/v1/track`, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        Authorization: `Basic ${Buffer.from(`${options.live.writeKey}:`).toString('base64')}`,
      },
      body: JSON.stringify({
        anonymousId: options.live.anonymousId,
        event: options.live.event,
        messageId: `live-${sent}`,
        context: { page: { url: 'https://shop.example.nl/help' } },
      }),
    });
    result.liveAnswer = answer.status;
    await page.waitForFunction(
      (event) => [...document.querySelectorAll('.timeline-entry')].some((entry) => entry.dataset.activity === event),
      options.live.event,
      { timeout: 15000 },
    );
    result.liveSeconds = (Date.now() - sent) / 1000;
    result.liveNotReloaded = await page.evaluate(() => window.c360NotReloaded === true);
    result.liveFirst = await page.locator('.timeline-entry').first().getAttribute('data-activity');
    result.liveUpdated = (await page.textContent('[data-live-timeline] [data-updated]')).trim();
  }

  // Filter the timeline by channel: htmx swaps in the filtered page.
  await page.selectOption('.timeline-filters select[name="channel"]', 'email');
  await page.waitForFunction(() =>
    [...document.querySelectorAll('.timeline-entry')].every((entry) => entry.dataset.activity.startsWith('email')),
  );
  result.emailTimeline = await page.locator('.timeline-entry').evaluateAll((entries) =>
    entries.map((entry) => entry.dataset.activity),
  );
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
