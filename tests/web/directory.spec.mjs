// Browser test of the address book, health directory and paper pages:
// Debian's Chromium driven by playwright-core, axe-core for accessibility.
// Started by tests/e2e/test_web_directory.py with FACTEUR_WEB_URL once
// the daemon has a directory imported and letters sent on paper. What
// must be checked on disk is asked of pytest: this script prints
// `need: <what>` and reads one line back (`ok <value>` or `fail <why>`).
// The last line printed is one JSON object; the exit code is non-zero on
// the first failed expectation.
import { createInterface } from 'node:readline';
import { mkdirSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { AxeBuilder } from '@axe-core/playwright';

const url = process.env.FACTEUR_WEB_URL;
const artifacts = process.env.FACTEUR_WEB_ARTIFACTS || new URL('./artifacts/', import.meta.url).pathname;
const PASSWORD = process.env.FACTEUR_WEB_PASSWORD || 'Cabinet du Parc, 2026 !';
const PATIENT = process.env.FACTEUR_PATIENT || 'TEST Éloïse 25/03/1979';
const PATIENT_QUERY = process.env.FACTEUR_PATIENT_QUERY || 'Éloïse Test';
mkdirSync(artifacts, { recursive: true });

const result = { steps: [], axe: {}, screenshots: [] };
const expect = (cond, message) => { if (!cond) throw new Error(message); };

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
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
    ignoreHTTPSErrors: true, acceptDownloads: true, locale: 'fr-FR', viewport: { width: 1280, height: 900 },
  });
  const page = await context.newPage();
  const step = async (name) => {
    result.steps.push(name);
    const path = `${artifacts}/d${String(result.steps.length).padStart(2, '0')}-${name}.png`;
    await page.screenshot({ path, fullPage: true });
    result.screenshots.push(path);
  };
  const axe = async (name) => {
    const report = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
    const serious = report.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    result.axe[name] = serious.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
    expect(serious.length === 0, `axe on ${name}: ${JSON.stringify(result.axe[name])}`);
  };

  if (process.env.FACTEUR_WEB_SETUP_CODE) {
    await page.goto(url + '/setup');
    await page.getByLabel('Code de mise en service').fill(process.env.FACTEUR_WEB_SETUP_CODE);
    await page.getByLabel('Mot de passe d’administration').fill(PASSWORD);
    await page.getByLabel('Confirmez le mot de passe').fill(PASSWORD);
    await page.getByRole('button', { name: 'Mettre en service' }).click();
    await page.waitForURL('**/login?info=claimed');
  }
  await page.goto(url + '/login');
  await page.getByLabel('Mot de passe d’administration').fill(PASSWORD);
  await page.getByRole('button', { name: 'Se connecter' }).click();
  await page.waitForURL('**/dashboard');

  // The health directory: its state, a search, « Ajouter au carnet ».
  await page.getByRole('link', { name: 'Annuaire santé', exact: true }).click();
  await page.waitForURL('**/directory');
  const state = await page.locator('[data-directory-entries]').innerText();
  expect(state.includes('Annuaire importé le') && state.includes('1 boîte aux lettres'), `directory state: ${state}`);
  await page.getByLabel('Nom, profession, ville ou n° RPPS').fill('martin niort');
  await page.getByRole('button', { name: 'Rechercher' }).click();
  await page.waitForURL('**/directory?q=**');
  const row = page.locator('tr[data-mailbox]');
  expect(await row.count() === 1, `one result: ${await row.count()}`);
  const text = await row.innerText();
  for (const word of ['Dr MARTIN Paul', 'Médecin', 'Cardiologie', 'NIORT', '@medecin.test.mssante.fr']) {
    expect(text.includes(word), `${word} in ${text}`);
  }
  await axe('directory');
  await step('directory-search');
  await row.getByRole('button', { name: /^Ajouter au carnet : Dr MARTIN Paul/ }).click();
  await page.waitForURL('**/contacts');
  const flash = await page.getByRole('status').first().innerText();
  const folder = (flash.match(/« (.+) »/) || [])[1];
  expect(folder && folder.startsWith('Dr MARTIN Paul ('), `flash: ${flash}`);
  result.folder = folder;
  const listed = await page.locator('td[data-folder]').allInnerTexts();
  expect(listed.includes(folder), `folder in the list: ${listed}`);
  await axe('contacts');
  await step('contacts-added');
  await need(`folder ${folder}`);

  // Back in the directory: already in the book.
  await page.goto(url + '/directory?q=martin');
  expect((await page.locator('tr[data-mailbox]').innerText()).includes('Déjà dans le carnet'), 'already in the book');

  // Paper: this month's correspondents, the invitation letter downloaded.
  await page.getByRole('link', { name: 'Courrier papier', exact: true }).click();
  await page.waitForURL('**/paper');
  const paperRow = page.locator('tr[data-key]').first();
  const paperText = await paperRow.innerText();
  expect(paperText.includes('Dr Luc DURAND'), `paper row: ${paperText}`);
  await axe('paper');
  await step('paper');
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    paperRow.getByRole('link', { name: /invitation de Dr Luc DURAND/ }).click(),
  ]);
  result.download_name = download.suggestedFilename();
  const saved = `${artifacts}/invitation-mssante.pdf`;
  await download.saveAs(saved);
  await need(`invitation ${saved}`);

  // Tracking finds the document by its patient.
  await page.getByRole('link', { name: 'Suivi des messages', exact: true }).click();
  await page.getByLabel('Correspondant, patient ou identifiant').fill(PATIENT_QUERY);
  await page.getByRole('button', { name: 'Rechercher' }).click();
  await page.waitForURL('**/tracking?**');
  const patients = await page.locator('td[data-patient]').allInnerTexts();
  result.patients = patients;
  expect(patients.length >= 1 && patients.every((p) => p.includes(PATIENT)), `patients: ${patients}`);
  await axe('tracking-patient');
  await step('tracking-patient');

  // Removing the correspondent, after its confirmation page.
  await page.goto(url + '/contacts');
  await page.getByRole('link', { name: 'Retirer Dr MARTIN Paul' }).click();
  await page.waitForURL('**/contacts/*/delete');
  await axe('contact-remove');
  await page.getByLabel('Je confirme vouloir retirer ce correspondant du carnet').check();
  await page.getByRole('button', { name: 'Retirer du carnet' }).click();
  await page.waitForURL('**/contacts');
  expect((await page.getByRole('status').first().innerText()).includes('a été retiré'), 'removed');
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
