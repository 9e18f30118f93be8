// Browser test of the web admin: Debian's Chromium driven by
// playwright-core, axe-core for accessibility. Started by
// tests/e2e/test_web.py with FACTEUR_WEB_URL and FACTEUR_WEB_SETUP_CODE;
// prints one JSON line (the pytest side asserts on it) and exits non-zero
// on the first failed expectation.
import { mkdirSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { AxeBuilder } from '@axe-core/playwright';

const url = process.env.FACTEUR_WEB_URL;
const setupCode = process.env.FACTEUR_WEB_SETUP_CODE;
const artifacts = process.env.FACTEUR_WEB_ARTIFACTS || new URL('./artifacts/', import.meta.url).pathname;
const PASSWORD = 'Cabinet du Parc, 2026 !';
mkdirSync(artifacts, { recursive: true });

const result = { steps: [], axe: {}, screenshots: [] };
const expect = (cond, message) => { if (!cond) throw new Error(message); };

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-dev-shm-usage'],
});
let exitCode = 0;
try {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, locale: 'fr-FR', viewport: { width: 1024, height: 768 } });
  const page = await context.newPage();
  const step = async (name) => {
    result.steps.push(name);
    const path = `${artifacts}/${String(result.steps.length).padStart(2, '0')}-${name}.png`;
    await page.screenshot({ path, fullPage: true });
    result.screenshots.push(path);
  };
  const axe = async (name) => {
    const report = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
    const serious = report.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    result.axe[name] = serious.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
    expect(serious.length === 0, `axe on ${name}: ${JSON.stringify(result.axe[name])}`);
  };

  // Unclaimed: / leads to the setup form.
  await page.goto(url + '/');
  expect(new URL(page.url()).pathname === '/setup', `expected /setup, got ${page.url()}`);
  await axe('setup');
  await step('setup');

  // A weak password is refused with its reason.
  await page.getByLabel('Code de mise en service').fill(setupCode);
  await page.getByLabel('Mot de passe d’administration').fill('motdepasse123');
  await page.getByLabel('Confirmez le mot de passe').fill('motdepasse123');
  await page.getByRole('button', { name: 'Mettre en service' }).click();
  await page.getByRole('alert').filter({ hasText: 'plus courants' }).waitFor();
  await step('setup-weak-password');

  // The right code and a strong password claim the box.
  await page.getByLabel('Code de mise en service').fill(setupCode);
  await page.getByLabel('Mot de passe d’administration').fill(PASSWORD);
  await page.getByLabel('Confirmez le mot de passe').fill(PASSWORD);
  await page.getByRole('button', { name: 'Mettre en service' }).click();
  await page.waitForURL('**/login?info=claimed');
  await page.getByText('Boîtier mis en service').waitFor();
  await axe('login');
  await step('login');

  // Log in with the keyboard only.
  await page.keyboard.press('Tab'); // skip link
  await page.getByLabel('Mot de passe d’administration').focus();
  await page.keyboard.type(PASSWORD);
  await page.keyboard.press('Enter');
  await page.waitForURL('**/dashboard');
  const cardLight = page.locator('[data-check="card-unlocked"]');
  expect((await cardLight.getAttribute('data-level')) === 'warn', 'card should be locked (warn)');
  expect((await cardLight.innerText()).includes('3 essais restants'), `3 tries: ${await cardLight.innerText()}`);

  // Dashboard weight and render time, cache off.
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
  let bytes = 0;
  const sizes = [];
  const onResponse = async (response) => {
    try {
      const body = await response.body();
      bytes += body.length;
      sizes.push(`${new URL(response.url()).pathname}=${body.length}`);
    } catch { /* redirects have no body */ }
  };
  page.on('response', onResponse);
  await page.goto(url + '/dashboard', { waitUntil: 'load' });
  await page.waitForTimeout(200);
  page.off('response', onResponse);
  const timing = await page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0];
    return { load: nav.loadEventEnd - nav.startTime, dcl: nav.domContentLoadedEventEnd - nav.startTime };
  });
  result.dashboard_bytes = bytes;
  result.dashboard_resources = sizes;
  result.render_ms = Math.round(timing.load);
  result.board_locked = await page.locator('[data-board-mode]').getAttribute('data-board-mode');
  await axe('dashboard');
  await step('dashboard-locked');

  // A forged POST without the CSRF token (same cookies) is refused.
  const forged = await page.request.post(url + '/card/unlock', { form: { pin: '1234' }, maxRedirects: 0 });
  result.forged_status = forged.status();
  expect(forged.status() === 403, `forged POST: ${forged.status()}`);

  // The card page: holder, profession, tries left.
  await page.getByRole('link', { name: 'Carte CPS' }).click();
  await page.waitForURL('**/card');
  expect((await page.locator('[data-field="holder"]').innerText()) === 'JEAN DUPONT', 'holder');
  expect((await page.locator('[data-field="profession"]').innerText()) === 'Medecin', 'profession');
  expect((await page.locator('[data-field="tries"]').innerText()) === '3 essais restants', 'tries');
  const pin = page.getByLabel('Code porteur (4 à 8 chiffres)');
  expect((await pin.getAttribute('inputmode')) === 'numeric', 'inputmode');
  await axe('card');
  await step('card');

  // Wrong PIN: tries left shown.
  await pin.fill('9999');
  await page.getByRole('button', { name: 'Déverrouiller la carte' }).click();
  await page.getByRole('alert').filter({ hasText: '2 essais restants' }).waitFor();
  expect(!(await page.content()).includes('9999'), 'PIN echoed back');
  await step('card-wrong-pin');

  // Right PIN: back to the dashboard, card green.
  await page.getByLabel('Code porteur (4 à 8 chiffres)').fill('1234');
  await page.getByRole('button', { name: 'Déverrouiller la carte' }).click();
  await page.waitForURL('**/dashboard');
  expect((await cardLight.getAttribute('data-level')) === 'ok', 'card should be unlocked (ok)');
  await step('dashboard-unlocked');

  // The box's LED mirrored: amber while the card was locked, green now;
  // « Identifier » makes it blink white.
  const boardState = page.locator('[data-board-mode]');
  let mode = '';
  for (let i = 0; i < 20; i++) {
    mode = await boardState.getAttribute('data-board-mode');
    if (mode === 'ready') break;
    await page.waitForTimeout(250);
    await page.goto(url + '/dashboard');
  }
  result.board_ready = mode;
  expect(mode === 'ready', `LED after unlock: ${mode}`);
  expect((await boardState.innerText()).includes('vert fixe'), `LED words: ${await boardState.innerText()}`);
  await page.getByRole('button', { name: 'Identifier le boîtier' }).click();
  await page.waitForURL('**/dashboard?info=identify');
  await page.getByRole('status').filter({ hasText: 'clignote en blanc' }).waitFor();
  result.board_identify = await boardState.getAttribute('data-board-mode');
  expect(result.board_identify === 'identify', `LED after Identifier: ${result.board_identify}`);
  await step('dashboard-identify');

  // Logout, then the dashboard leads to the login page.
  await page.getByRole('button', { name: 'Se déconnecter' }).click();
  await page.waitForURL('**/login?info=logout');
  await page.goto(url + '/dashboard');
  expect(new URL(page.url()).pathname === '/login', `after logout: ${page.url()}`);
  await step('logged-out');
  result.ok = true;
} catch (error) {
  result.ok = false;
  result.error = String(error && error.stack || error);
  exitCode = 1;
} finally {
  await browser.close();
}
console.log(`web: dashboard_bytes=${result.dashboard_bytes} render_ms=${result.render_ms}`);
console.log(JSON.stringify(result));
process.exit(exitCode);
