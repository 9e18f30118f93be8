// Browser test of « Mise à jour »: the running version and state, a
// refused file (bad signature) and an accepted one uploaded by hand.
// Started by tests/e2e/test_update.py with FACTEUR_WEB_URL; the paths of
// the two bundles come from FACTEUR_BAD_BUNDLE and FACTEUR_GOOD_BUNDLE.
// The last line printed is one JSON object; the exit code is non-zero on
// the first failed expectation.
import { mkdirSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { AxeBuilder } from '@axe-core/playwright';

const url = process.env.FACTEUR_WEB_URL;
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
  const context = await browser.newContext({
    ignoreHTTPSErrors: true, locale: 'fr-FR', viewport: { width: 1280, height: 900 },
  });
  const page = await context.newPage();
  const step = async (name) => {
    result.steps.push(name);
    const path = `${artifacts}/u${String(result.steps.length).padStart(2, '0')}-${name}.png`;
    await page.screenshot({ path, fullPage: true });
    result.screenshots.push(path);
  };
  const axe = async (name) => {
    const report = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
    const serious = report.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    result.axe[name] = serious.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
    expect(serious.length === 0, `axe on ${name}: ${JSON.stringify(result.axe[name])}`);
  };

  await page.goto(url + '/setup');
  await page.getByLabel('Code de mise en service').fill(process.env.FACTEUR_WEB_SETUP_CODE);
  await page.getByLabel('Mot de passe d’administration').fill(PASSWORD);
  await page.getByLabel('Confirmez le mot de passe').fill(PASSWORD);
  await page.getByRole('button', { name: 'Mettre en service' }).click();
  await page.waitForURL('**/login?info=claimed');
  await page.getByLabel('Mot de passe d’administration').fill(PASSWORD);
  await page.getByRole('button', { name: 'Se connecter' }).click();
  await page.waitForURL('**/dashboard');

  // The dashboard's update line leads to the page.
  const line = await page.locator('[data-check="update"]').innerText();
  result.dashboard = line;
  expect(line.includes('0.1.0'), `dashboard update line: ${line}`);
  await page.getByRole('link', { name: 'Mise à jour', exact: true }).first().click();
  await page.waitForURL('**/update');
  const facts = await page.locator('dl.facts').innerText();
  expect(facts.includes('0.1.0') && facts.includes('À jour'), `facts: ${facts}`);
  await axe('update');
  await step('update');

  // A file with a bad signature: refused, said plainly.
  await page.getByLabel('Fichier de mise à jour').setInputFiles(process.env.FACTEUR_BAD_BUNDLE);
  await page.getByRole('button', { name: 'Installer ce fichier' }).click();
  await page.waitForLoadState('load');
  const refusal = await page.getByRole('alert').first().innerText();
  result.refusal = refusal;
  expect(refusal.includes('refusé') && refusal.includes('signature'), `refusal: ${refusal}`);
  await axe('update-refused');
  await step('update-refused');

  // The right file: installed, the restart announced.
  await page.getByLabel('Fichier de mise à jour').setInputFiles(process.env.FACTEUR_GOOD_BUNDLE);
  await page.getByRole('button', { name: 'Installer ce fichier' }).click();
  await page.waitForLoadState('load');
  const done = await page.getByRole('status').first().innerText();
  result.installed = done;
  expect(done.includes('Version 0.2.0 installée'), `installed: ${done}`);
  const after = await page.locator('dl.facts').innerText();
  expect(after.includes('redémarrera') || after.includes('Redémarrage'), `state after: ${after}`);
  await step('update-installed');
  result.ok = true;
} catch (error) {
  result.ok = false;
  result.error = String(error && error.stack || error);
  exitCode = 1;
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
process.exit(exitCode);
