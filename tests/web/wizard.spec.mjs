// The first run in a real browser: a box fresh from the factory (no
// mailbox yet; the installer's card settings), claimed, then the wizard's
// steps: operator and mailbox, the CPS card (a wrong PIN, then the right
// one), the connection test against the test operator, a local account
// and the settings the practice's machines need. Then a PDF dropped in the
// folder the wizard shows reaches « Remis » in tracking from the operator's
// own delivery report. Started by tests/e2e/test_web.py, which answers
// "need: …" lines on stdin; prints one JSON line and exits non-zero on the
// first failed expectation.
import { createInterface } from 'node:readline';
import { mkdirSync, readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { AxeBuilder } from '@axe-core/playwright';

const url = process.env.FACTEUR_WEB_URL;
const setupCode = process.env.FACTEUR_WEB_SETUP_CODE;
const mailbox = process.env.FACTEUR_MAILBOX;
const artifacts = process.env.FACTEUR_WEB_ARTIFACTS || new URL('./artifacts/', import.meta.url).pathname;
const PASSWORD = 'Cabinet des Lilas, 2026 !';
const ACCOUNT_PASSWORD = 'Poste secretariat 2026';
mkdirSync(artifacts, { recursive: true });

const result = { steps: [], axe: {}, screenshots: [] };
const expect = (cond, message) => { if (!cond) throw new Error(message); };
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const need = async (what) => {
  console.log(`need: ${what}`);
  const { value } = await lines.next();
  expect(value && value.startsWith('ok'), `${what}: ${value}`);
  return value.slice(3);
};

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-dev-shm-usage'],
});
let exitCode = 0;
try {
  const context = await browser.newContext({ acceptDownloads: true, ignoreHTTPSErrors: true, locale: 'fr-FR', viewport: { width: 1024, height: 900 } });
  const page = await context.newPage();
  const step = async (name) => {
    result.steps.push(name);
    const path = `${artifacts}/wizard-${String(result.steps.length).padStart(2, '0')}-${name}.png`;
    // Chromium under load sometimes fails one capture; a second try is
    // enough (the page itself was already checked).
    try {
      await page.screenshot({ path, fullPage: true });
    } catch {
      await page.waitForTimeout(1000);
      await page.screenshot({ path, fullPage: true });
    }
    result.screenshots.push(path);
  };
  const axe = async (name) => {
    const report = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
    const serious = report.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    result.axe[name] = serious.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
    expect(serious.length === 0, `axe on ${name}: ${JSON.stringify(result.axe[name])}`);
  };

  // Step 1: claim with the setup code, then log in.
  await page.goto(url + '/');
  await page.getByLabel('Code de mise en service').fill(setupCode);
  await page.getByLabel('Mot de passe d’administration').fill(PASSWORD);
  await page.getByLabel('Confirmez le mot de passe').fill(PASSWORD);
  await step('1-claim');
  await page.getByRole('button', { name: 'Mettre en service' }).click();
  await page.waitForURL('**/login?info=claimed');
  await page.getByLabel('Mot de passe d’administration').fill(PASSWORD);
  await page.getByRole('button', { name: 'Se connecter' }).click();

  // Step 2: a box not set up goes straight to the wizard.
  await page.waitForURL('**/wizard/mailbox');
  expect(await page.locator('[aria-current="step"]').innerText() === 'Messagerie', 'step 2 marked current');
  await axe('mailbox');
  await page.getByLabel('Opérateur de test').check();
  await page.getByLabel('Adresse de votre messagerie MSSanté').fill(mailbox);
  await page.getByLabel('Personnelle, avec ma carte CPS').check();
  await step('2-mailbox');
  await page.getByRole('button', { name: 'Enregistrer et continuer' }).click();
  // The daemon restarts; the waiting page reloads itself until it is back.
  await page.waitForURL('**/wizard/restarting**');
  await step('2-restarting');
  await page.waitForURL('**/wizard/card', { timeout: 60000 });

  // Step 3: the card: holder, tries, a wrong PIN, then the right one.
  await page.locator('[data-field="holder"]').waitFor();
  expect(await page.locator('[data-field="holder"]').innerText() === 'JEAN DUPONT', 'holder on the card step');
  await axe('card');
  await step('3-card');
  await page.getByLabel('Code porteur (4 à 8 chiffres)').fill('9999');
  await page.getByRole('button', { name: 'Déverrouiller la carte' }).click();
  await page.getByRole('alert').filter({ hasText: '2 essais restants' }).waitFor();
  expect(new URL(page.url()).pathname === '/card/unlock', `still in the wizard: ${page.url()}`);
  expect(await page.locator('[aria-current="step"]').innerText() === 'Carte CPS', 'still step 3');
  await step('3-card-wrong-pin');
  await page.getByLabel('Code porteur (4 à 8 chiffres)').fill('1234');
  await page.getByRole('button', { name: 'Déverrouiller la carte' }).click();

  // Step 4: a real connection test at the operator.
  await page.waitForURL('**/wizard/test');
  await axe('test');
  await page.getByRole('button', { name: 'Tester la connexion' }).click();
  await page.getByText('Connexion réussie').waitFor({ timeout: 90000 });
  for (const s of ['credential', 'smtp', 'imap']) {
    expect(await page.locator(`[data-step="${s}"]`).innerText().then((t) => t.includes('Réussi')), `${s} ok`);
  }
  await step('4-test');
  await page.getByRole('link', { name: 'Continuer' }).click();

  // Step 5: a local account and what to type on the practice's machines.
  await page.waitForURL('**/wizard/accounts');
  await axe('accounts');
  await page.getByLabel('Nom du compte').fill('secretariat');
  await page.getByLabel('Mot de passe du compte').fill(ACCOUNT_PASSWORD);
  await page.getByLabel('Confirmez le mot de passe').fill(ACCOUNT_PASSWORD);
  await page.getByRole('button', { name: 'Créer le compte' }).click();
  await page.getByText('Compte créé.').waitFor();
  const smtp = await page.locator('[data-field="smtp"]').innerText();
  const folder = await page.locator('[data-field="outbox"]').innerText();
  result.client_settings = { smtp, folder };
  await step('5-accounts');
  await need(`smtp-login secretariat ${ACCOUNT_PASSWORD} ${smtp.split(' ')[0]}`);
  await page.getByRole('link', { name: 'Terminer et aller au tableau de bord' }).click();
  await page.waitForURL('**/dashboard');
  await step('dashboard');

  // A document dropped in the folder shown, followed to « Remis ».
  const patient = await need(`drop-pdf ${folder}`);
  const deadline = Date.now() + 120000;
  let state = '';
  while (Date.now() < deadline) {
    await page.goto(`${url}/tracking?q=${encodeURIComponent(patient)}`);
    state = await page.locator('table.data tbody').innerText().catch(() => '');
    if (state.includes('Remis')) break;
    await page.waitForTimeout(1500);
  }
  expect(state.includes('Remis'), `tracking never showed « Remis »: ${state}`);
  await step('tracking-delivered');
  await page.locator('table.data tbody a').first().click();
  await page.getByText('Remis').first().waitFor();
  await step('timeline-delivered');
  // The document sent, downloaded from its timeline under its own name.
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('link', { name: /Télécharger \(PDF\)/ }).click(),
  ]);
  result.downloaded = download.suggestedFilename();
  expect(result.downloaded === 'cr-wizard.pdf', `downloaded as ${result.downloaded}`);
  expect(readFileSync(await download.path()).subarray(0, 5).toString() === '%PDF-', 'a PDF');
  result.ok = true;
} catch (error) {
  result.ok = false;
  result.error = String(error && error.stack || error);
  exitCode = 1;
} finally {
  await browser.close();
  console.log(JSON.stringify(result));
  process.exit(exitCode);
}
