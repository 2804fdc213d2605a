// Drives the process-map page in headless Chromium: log in, define the log in the form, open
// the map, move the activity and path sliders, switch to performance, click an activity,
// save screenshots. Prints one JSON object with what it saw.
//
//   node process_map_page.mjs '{"base": "http://127.0.0.1:8000", "username": "admin",
//                               "password": "...", "screenshots": ["/tmp/a.png"]}'
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
const result = { consoleErrors: [], steps: {} };
try {
  const page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
  page.on('console', (message) => {
    if (message.type() === 'error') result.consoleErrors.push(message.text());
  });
  page.on('pageerror', (error) => result.consoleErrors.push(String(error)));
  page.setDefaultTimeout(30000);

  await page.goto(`${options.base}/login/`);
  await page.fill('input[name="username"]', options.username);
  await page.fill('input[name="password"]', options.password);
  await Promise.all([page.waitForURL((url) => !url.pathname.startsWith('/login')), page.click('button[type="submit"]')]);

  // The new-analysis form, reached from the navigation.
  await Promise.all([page.waitForURL(/\/journeys\/$/), page.click('nav.mainnav a:text-is("Journeys")')]);
  await page.check('input[name="sources"]');
  await page.selectOption('select[name="case"]', 'person');
  await Promise.all([page.waitForURL(/\/journeys\/map\//), page.click('button[name="action"][value="live"]')]);

  const canvas = page.locator('#map-canvas');
  let drawn = 0;
  // The map as drawn: node and edge counts, the edge labels, after the n-th drawing.
  async function waitDrawn() {
    await page.waitForFunction(
      (previous) => {
        const box = document.getElementById('map-canvas');
        return box && box.dataset.drawn && Number(box.dataset.drawn) > previous && !box.hasAttribute('aria-busy');
      },
      drawn,
    );
    const seen = await canvas.evaluate((box) => ({
      drawn: Number(box.dataset.drawn),
      nodes: box.querySelectorAll('svg g.node').length,
      edges: box.querySelectorAll('svg g.edge').length,
      measure: box.dataset.measure,
      labels: [...box.querySelectorAll('svg g.edge text')].map((t) => t.textContent.trim()),
      summary: document.querySelector('[data-testid="map-summary"]').textContent.replace(/\s+/g, ' ').trim(),
    }));
    drawn = seen.drawn;
    return seen;
  }
  async function slide(name, value) {
    await page.locator(`input[name="${name}"]`).fill(String(value));
    return waitDrawn();
  }

  result.steps.full = await waitDrawn();
  result.steps.activities30 = await slide('activities', 30);
  result.steps.paths10 = await slide('paths', 10);
  result.steps.activities100paths10 = await slide('activities', 100);
  result.steps.back = await slide('paths', 100);

  await page.click('label.segment:has-text("Mean duration")');
  result.steps.mean = await waitDrawn();
  await page.click('label.segment:has-text("Case frequency")');
  result.steps.cases = await waitDrawn();
  result.steps.paths40 = await slide('paths', 40);
  result.steps.activities60paths40 = await slide('activities', 60);

  // Click the busiest activity (the first node after start and end): the case panel fills.
  const target = page.locator('#map-canvas g.node.clickable').first();
  result.clicked = (await target.locator('text').first().textContent()).trim();
  await target.click();
  await page.waitForSelector('#case-panel [data-testid="case-count"]');
  result.panel = await page.locator('#case-panel').evaluate((panel) => ({
    what: panel.querySelector('.case-panel-what').textContent.trim(),
    count: panel.querySelector('[data-testid="case-count"]').textContent.trim(),
    listed: panel.querySelectorAll('.case-item').length,
    profileLinks: [...panel.querySelectorAll('a.case-id')].map((a) => a.getAttribute('href')),
  }));
  result.selected = await page.locator('#map-canvas g.selected').count();

  // Variants and statistics below the map have loaded too.
  await page.waitForSelector('#variants .variant-row');
  result.variantRows = await page.locator('#variants .variant-row').count();
  await page.waitForSelector('[data-journey-chart="durations"][data-drawn="1"] canvas');
  result.charts = await page.locator('[data-journey-chart][data-drawn="1"]').count();

  await page.locator('#map').scrollIntoViewIfNeeded();
  await page.evaluate(() => window.scrollTo(0, document.getElementById('map').offsetTop - 72));
  for (const file of options.screenshots) await page.screenshot({ path: file });

  // A profile link opens the customer's profile.
  const first = result.panel.profileLinks[0];
  if (first) {
    const response = await page.goto(`${options.base}${first}`);
    result.profileStatus = response.status();
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
