// Browser test of « Pro Santé Connect » with the e-CPS app: the dashboard's
// alert, the login asked from the page, the request's words shown, then
// its approval (and later a refusal) on the "phone" appearing without
// anyone reloading the page; the logout after its confirmation; an
// identifier the provider does not know and the provider down, said in
// French; the mode of connection switched to the card and back to e-CPS,
// each time through the service's restart. Started by tests/e2e/test_psc_web.py with FACTEUR_WEB_URL; the
// phone and the provider are played by pytest: this script prints
// `need: <what>` and reads one line back (`ok <value>` or `fail <why>`) on
// stdin. The last line printed is one JSON object; the exit code is
// non-zero on the first failed expectation.
import { createInterface } from 'node:readline';
import { mkdirSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { AxeBuilder } from '@axe-core/playwright';

const url = process.env.FACTEUR_WEB_URL;
const artifacts = process.env.FACTEUR_WEB_ARTIFACTS || new URL('./artifacts/', import.meta.url).pathname;
const PASSWORD = 'Cabinet du Parc, 2026 !';
const PRACTITIONER = process.env.FACTEUR_PRACTITIONER || '899700000001';
mkdirSync(artifacts, { recursive: true });

const result = { steps: [], axe: {}, screenshots: [] };
const expect = (cond, message) => { if (!cond) throw new Error(message); };

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
/** Asks pytest to act on the phone or the provider; returns its answer. */
const need = async (what) => {
  console.log(`need: ${what}`);
  const { value, done } = await lines.next();
  expect(!done, `no answer to ${what}`);
  const [status, ...rest] = value.trim().split(' ');
  expect(status === 'ok', `${what}: ${rest.join(' ')}`);
  return rest.join(' ');
};

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
    const path = `${artifacts}/p${String(result.steps.length).padStart(2, '0')}-${name}.png`;
    await page.screenshot({ path, fullPage: true });
    result.screenshots.push(path);
  };
  const axe = async (name) => {
    const report = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
    const serious = report.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    result.axe[name] = serious.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
    expect(serious.length === 0, `axe on ${name}: ${JSON.stringify(result.axe[name])}`);
  };
  const alertText = async () => (await page.getByRole('alert').first().innerText()).trim();
  const connect = async () => {
    await page.getByRole('button', { name: 'Se connecter', exact: true }).click();
    await page.waitForLoadState('load');
  };
  /** The words of the request waiting on the phone (after a login). */
  const request = async () => {
    const ask = page.locator('[data-psc="approval"]');
    await ask.waitFor({ timeout: 10000 });
    const text = await ask.innerText();
    const binding = (text.match(/FACTEUR-[A-Z0-9]+/) || [])[0];
    expect(binding, `no request words: ${text}`);
    expect(text.includes(`Ouvrez l’application e-CPS sur votre téléphone et validez la demande « ${binding} »`),
      `what to do on the phone: ${text}`);
    expect(/encore \d+ (min|s)/.test(text), `time left to approve: ${text}`);
    return binding;
  };
  /** Marks the page: a reload would lose the mark. */
  const mark = () => page.evaluate(() => { window.facteurSamePage = true; });
  /** The outcome the page shows by itself, on the page marked. */
  const settled = async () => {
    await page.waitForFunction(() => (document.getElementById('psc-outcome')?.textContent || '').length > 0,
      null, { timeout: 30000 });
    expect(await page.evaluate(() => window.facteurSamePage === true), 'the page was reloaded');
    return (await page.locator('#psc-outcome').innerText()).trim();
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

  // The dashboard says first that the practitioner is needed.
  result.alert = await alertText();
  expect(result.alert.includes('Reconnexion Pro Santé Connect nécessaire'), `dashboard alert: ${result.alert}`);
  result.dashboard = (await page.locator('[data-check="psc"]').innerText()).replace(/\s+/g, ' ');
  expect(result.dashboard.startsWith('Pro Santé Connect'), `dashboard line: ${result.dashboard}`);
  expect(await page.getByRole('navigation').getByRole('link', { name: 'Pro Santé Connect' }).count() === 1,
    'no « Pro Santé Connect » in the nav');
  await axe('dashboard');
  await step('dashboard');

  await page.getByRole('link', { name: 'Se reconnecter à Pro Santé Connect' }).click();
  await page.waitForURL('**/psc');
  const facts = await page.locator('dl.facts').innerText();
  expect(facts.includes('avec l’application e-CPS') && facts.includes(PRACTITIONER), `facts: ${facts}`);
  // The login's field (the mode's own has a longer label).
  const field = page.getByLabel('Identifiant national du praticien', { exact: true });
  expect(await field.inputValue() === PRACTITIONER, 'identifier not prefilled');
  await axe('psc');
  await step('psc');

  // Approved on the phone: the page follows by itself.
  await connect();
  const binding = await request();
  result.binding = binding;
  await axe('psc-waiting');
  await step('psc-waiting');
  await mark();
  await need(`approve ${binding}`);
  let said = await settled();
  result.approved = said;
  expect(said.toLowerCase().includes('connecté à pro santé connect'), `outcome: ${said}`);
  const connected = await page.locator('dl.facts').innerText();
  expect(connected.includes('Connecté à Pro Santé Connect') && connected.includes('Connecté depuis'),
    `facts once connected: ${connected}`);
  expect(/Fin de la session[\s\S]*encore \d+ (h|min)/.test(connected), `session end: ${connected}`);
  await axe('psc-connected');
  await step('psc-connected');

  await page.goto(url + '/dashboard');
  expect(await page.locator('[data-alert="psc"]').count() === 0, 'alert still on the dashboard');
  expect(await page.locator('[data-check="psc"]').getAttribute('data-level') === 'ok', 'psc line not OK');

  // The logout, after its confirmation.
  await page.getByRole('navigation').getByRole('link', { name: 'Pro Santé Connect' }).click();
  await page.waitForURL('**/psc');
  await page.getByRole('link', { name: 'Se déconnecter de Pro Santé Connect' }).click();
  await page.waitForURL('**/psc/logout');
  await axe('psc-logout');
  await page.getByLabel('Je confirme la déconnexion de Pro Santé Connect.').check();
  await page.getByRole('button', { name: 'Se déconnecter de Pro Santé Connect' }).click();
  await page.waitForURL('**/psc');
  await page.getByRole('status').filter({ hasText: 'Déconnecté de Pro Santé Connect' }).first().waitFor({ timeout: 10000 });

  // Refused on the phone.
  await connect();
  const second = await request();
  expect(second !== binding, 'the same words for a new request');
  await mark();
  await need(`deny ${second}`);
  said = await settled();
  result.denied = said;
  expect(said.includes('refusée'), `outcome: ${said}`);
  await axe('psc-refused');
  await step('psc-refused');

  // An identifier Pro Santé Connect does not know.
  await field.fill('899700000009');
  await connect();
  result.unknown = await alertText();
  expect(result.unknown.includes('Pro Santé Connect a refusé la connexion'), `unknown id: ${result.unknown}`);
  const why = await page.locator('dl.facts').innerText();
  expect(why.includes('899700000009'), `the reason: ${why}`);
  await axe('psc-unknown');
  await step('psc-unknown');

  // Pro Santé Connect down.
  await need('provider-down');
  await field.fill(PRACTITIONER);
  await connect();
  result.down = await alertText();
  expect(result.down.includes('Pro Santé Connect ne répond pas'), `provider down: ${result.down}`);
  await axe('psc-down');
  await step('psc-down');
  await need('provider-up');

  // The mode of connection: to the card, then back to e-CPS. Each change
  // restarts the service; the waiting page leads back here.
  const cardMode = page.getByLabel('Avec la carte CPS du lecteur (le boîtier se connecte seul)');
  const ecpsMode = page.getByLabel('Avec l’application e-CPS sur le téléphone (à valider à chaque connexion)');
  const kept = page.getByLabel('Identifiant national du praticien, pour l’application e-CPS');
  /** Saves the mode chosen; returns what the page says once back. */
  const saveMode = async () => {
    const started = Date.now();
    await page.getByRole('button', { name: 'Enregistrer', exact: true }).click();
    await page.waitForURL('**/wizard/restarting**');
    await page.waitForURL((u) => u.pathname === '/psc', { timeout: 60000 });
    result.restart_ms = [...(result.restart_ms || []), Date.now() - started];
    return (await page.getByRole('status').filter({ hasText: 'Mode de connexion' }).first().innerText()).trim();
  };
  await page.goto(url + '/psc');
  expect(await ecpsMode.isChecked() && !(await cardMode.isChecked()), 'e-CPS not the mode checked');
  expect(await kept.inputValue() === PRACTITIONER, 'identifier to keep not prefilled');
  await cardMode.check();
  // Only e-CPS uses the identifier: hidden while the card is chosen.
  await kept.waitFor({ state: 'hidden' });
  await axe('psc-mode');
  await step('psc-mode');
  result.card_mode = await saveMode();
  expect(result.card_mode.includes('Mode de connexion enregistré : avec la carte CPS du lecteur'),
    `card mode: ${result.card_mode}`);
  expect(await cardMode.isChecked(), 'card not the mode checked after the restart');
  let method = await page.locator('[data-field="method"]').innerText();
  expect(method.includes('avec la carte CPS du lecteur'), `method after the restart: ${method}`);
  await axe('psc-card');
  await step('psc-card');

  await ecpsMode.check();
  await kept.waitFor({ state: 'visible' });
  expect(await kept.inputValue() === PRACTITIONER, 'identifier not kept with the card');
  result.ecps_mode = await saveMode();
  expect(result.ecps_mode.includes('Mode de connexion enregistré : avec l’application e-CPS'),
    `e-CPS mode: ${result.ecps_mode}`);
  expect(await ecpsMode.isChecked(), 'e-CPS not the mode checked after the restart');
  method = await page.locator('[data-field="method"]').innerText();
  expect(method.includes('avec l’application e-CPS'), `method after the restart: ${method}`);
  expect(await field.inputValue() === PRACTITIONER, 'login identifier not prefilled after the restart');
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
