// Browser test of the queue, tracking and audit pages: Debian's Chromium
// driven by playwright-core, axe-core for accessibility. Started by
// tests/e2e/test_web.py once the box is claimed and the card unlocked,
// with FACTEUR_WEB_URL. The mail side (sending through the daemon,
// stopping the operator's SMTP, the operator's delivery reports) is done
// by pytest: this script prints `need: <what>` and reads one line back
// (`ok <value>` or `fail <why>`) on stdin. The last line printed is one
// JSON object; the exit code is non-zero on the first failed expectation.
import { createInterface } from 'node:readline';
import { mkdirSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { AxeBuilder } from '@axe-core/playwright';

const url = process.env.FACTEUR_WEB_URL;
const artifacts = process.env.FACTEUR_WEB_ARTIFACTS || new URL('./artifacts/', import.meta.url).pathname;
const PASSWORD = process.env.FACTEUR_WEB_PASSWORD || 'Cabinet du Parc, 2026 !';
mkdirSync(artifacts, { recursive: true });

const result = { steps: [], axe: {}, screenshots: [] };
const expect = (cond, message) => { if (!cond) throw new Error(message); };

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
/** Asks pytest to do something on the mail side; returns its answer. */
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
  const context = await browser.newContext({ ignoreHTTPSErrors: true, locale: 'fr-FR', viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const step = async (name) => {
    result.steps.push(name);
    const path = `${artifacts}/t${String(result.steps.length).padStart(2, '0')}-${name}.png`;
    await page.screenshot({ path, fullPage: true });
    result.screenshots.push(path);
  };
  const axe = async (name) => {
    const report = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
    const serious = report.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    result.axe[name] = serious.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
    expect(serious.length === 0, `axe on ${name}: ${JSON.stringify(result.axe[name])}`);
  };
  const flash = async (text) => {
    await page.getByRole('status').filter({ hasText: text }).first().waitFor({ timeout: 10000 });
  };

  // Claim the box when asked to (FACTEUR_WEB_SETUP_CODE), then log in.
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

  // A message sent through the daemon reaches « Remis » in tracking.
  const messageId = await need('send-delivered');
  await page.getByRole('link', { name: 'Suivi des messages', exact: true }).click();
  await page.waitForURL('**/tracking');
  await page.getByLabel('Correspondant, patient ou identifiant').fill(messageId.replace(/[<>]/g, ''));
  await page.getByLabel('État', { exact: true }).selectOption('delivered');
  await page.getByRole('button', { name: 'Rechercher' }).click();
  await page.waitForURL('**/tracking?**');
  const hit = page.locator(`tr[data-message-id="${messageId}"]`);
  expect(await hit.count() === 1, `one hit for ${messageId}: ${await hit.count()}`);
  expect((await hit.innerText()).includes('Remis'), `hit state: ${await hit.innerText()}`);
  await axe('tracking');
  await step('tracking-search');
  await hit.getByRole('link', { name: /Voir le parcours/ }).click();
  await page.waitForURL('**/tracking/**');
  const steps = await page.locator('table.timeline tbody tr').allInnerTexts();
  result.timeline_delivered = steps;
  expect(steps.some((s) => s.includes('Accepté')), `accepted: ${steps}`);
  expect(steps.some((s) => s.includes('Envoyé')), `sent: ${steps}`);
  expect(steps.some((s) => s.includes('Remis')), `delivered: ${steps}`);
  expect(steps.every((s) => /\d\d\/\d\d\/\d{4} \d\d:\d\d:\d\d/.test(s)), `French times: ${steps}`);
  await axe('timeline');
  await step('timeline-delivered');

  // The operator's SMTP is down: two messages wait. One is held, the
  // other deleted after its confirmation page.
  const [heldId, deletedId] = (await need('smtp-down-send-two')).split(' ');
  await page.getByRole('link', { name: 'File d’attente', exact: true }).click();
  await page.waitForURL('**/queue');
  const heldRow = page.locator(`tr[data-queue-id="${heldId}"]`);
  expect((await heldRow.innerText()).includes('En attente d’envoi'), `pending: ${await heldRow.innerText()}`);
  await axe('queue');
  await heldRow.getByRole('button', { name: /^Suspendre/ }).click();
  await flash('Suspendu');
  expect((await page.locator(`tr[data-queue-id="${heldId}"] [data-state]`).innerText()) === 'Suspendu', 'held in the table');
  await step('queue-held');

  const deletedRow = page.locator(`tr[data-queue-id="${deletedId}"]`);
  await deletedRow.getByRole('link', { name: /^Supprimer/ }).click();
  await page.waitForURL(`**/queue/${deletedId}/delete?**`);
  expect((await page.locator('main').innerText()).includes('définitive'), 'delete warning');
  await axe('delete');
  await step('delete-confirmation');
  await page.getByLabel('Je confirme la suppression définitive de ce message.').check();
  await page.getByRole('button', { name: 'Supprimer définitivement' }).click();
  await page.waitForURL('**/queue');
  await flash('Supprimé');
  expect(await page.locator(`tr[data-queue-id="${deletedId}"]`).count() === 0, 'deleted row gone');

  // SMTP back: the held message stays held until released.
  await need('smtp-up-still-held');
  await page.reload();
  expect((await page.locator(`tr[data-queue-id="${heldId}"] [data-state]`).innerText()) === 'Suspendu', 'still held');
  await page.locator(`tr[data-queue-id="${heldId}"]`).getByRole('button', { name: /^Reprendre/ }).click();
  await flash('Repris');
  await step('queue-released');
  await need('held-delivered');
  await page.goto(`${url}/tracking/${heldId}`);
  const heldSteps = await page.locator('table.timeline tbody tr').allInnerTexts();
  result.timeline_held = heldSteps;
  for (const word of ['Accepté', 'Suspendu', 'Repris', 'Envoyé', 'Remis']) {
    expect(heldSteps.some((s) => s.includes(word)), `${word} in ${heldSteps}`);
  }
  await step('timeline-held-released');
  await page.goto(`${url}/tracking/${deletedId}`);
  expect((await page.locator('main').innerText()).includes('Supprimé'), 'deleted in its timeline');

  // The dashboard lists the latest messages.
  await page.goto(url + '/dashboard');
  const latest = page.locator('section[aria-labelledby="latest"] tbody tr');
  result.latest = await latest.count();
  expect(result.latest >= 1 && result.latest <= 5, `latest messages: ${result.latest}`);
  await axe('dashboard-latest');
  await step('dashboard-latest');

  // The audit log: verified, the admin's actions in French, exportable.
  await page.getByRole('link', { name: 'Journal', exact: true }).click();
  await page.waitForURL('**/audit');
  const verdict = await page.locator('[data-verify]').innerText();
  result.audit_verdict = verdict;
  expect(/^Journal intègre : \d+ entrées\.$/.test(verdict), `verification: ${verdict}`);
  const actions = await page.locator('tbody tr').allInnerTexts();
  expect(actions.some((a) => a.includes('Message suspendu') && a.includes('web:admin')), 'hold in the log');
  expect(actions.some((a) => a.includes('Message supprimé') && a.includes('web:admin')), 'delete in the log');
  await axe('audit');
  await step('audit');
  const exported = await page.request.get(url + '/audit/export');
  expect(exported.status() === 200, `export: ${exported.status()}`);
  result.export_disposition = exported.headers()['content-disposition'];
  expect(result.export_disposition.startsWith('attachment;'), `disposition: ${result.export_disposition}`);
  const exportLines = (await exported.text()).trim().split('\n').map((l) => JSON.parse(l));
  result.export_lines = exportLines.length;
  expect(exportLines[0].seq === 1 && exportLines.every((e, i) => e.seq === i + 1), 'export: every entry in order');
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
