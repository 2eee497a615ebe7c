// Drives the upkafka console (/ui) in the system's headless Chromium through playwright-core.
// Started by tests/console.rs with a running server:
//   UPKAFKA_URL, UPKAFKA_USER, UPKAFKA_PASS  the server and its Basic credentials
//   SCREENSHOT_DIR                           where overview/groups/browse/produce .png go
//   CHROMIUM                                 browser binary (default /usr/bin/chromium)
// Flows: the overview lists topics and a count rises after a produce (made with the produce
// form); the groups page shows an instance and its lag; the browser shows a message with its
// key, headers, pretty JSON and the sensor's OK/ERROR; following a partition shows new readings
// as they are stored.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const url = process.env.UPKAFKA_URL;
const user = process.env.UPKAFKA_USER;
const pass = process.env.UPKAFKA_PASS;
const shots = process.env.SCREENSHOT_DIR;
if (!url || !user || !pass || !shots) throw new Error('set UPKAFKA_URL, UPKAFKA_USER, UPKAFKA_PASS, SCREENSHOT_DIR');
mkdirSync(shots, { recursive: true });
const auth = 'Basic ' + Buffer.from(`${user}:${pass}`).toString('base64');

async function call(method, path, body, headers = {}) {
  const resp = await fetch(url + path, {
    method,
    headers: { Authorization: auth, 'Content-Type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await resp.text();
  if (!resp.ok) throw new Error(`${method} ${path}: ${resp.status} ${text}`);
  return JSON.parse(text);
}

function check(cond, what) {
  if (!cond) throw new Error(`assertion failed: ${what}`);
}

// ---- a known workload: the tutorial's readings, greetings, a group with lag ----
const readings = [
  [3, 'pressure', 41], [54, 'temperature', 64], [85, 'temperature', 13], [7, 'pressure', 72],
  [12, 'pressure', 10], [40, 'temperature', 80], [41, 'pressure', 9], [9, 'temperature', 95],
  [22, 'pressure', 33], [31, 'temperature', 21],
];
await call('POST', '/produce', readings.map(([device, measure, value]) => ({
  topic: 'sensor', partition: measure === 'pressure' ? 1 : 2, key: `device-${device}`,
  headers: [{ key: 'source', value: 'sensor-sim' }],
  value: JSON.stringify({ device, measure, value }),
})));
await call('POST', '/produce', ['hello', 'world', 'again'].map((value) => ({ topic: 'greetings', partition: 0, value })));
const consumerHeaders = { 'Kafka-Enable-Auto-Commit': 'false', 'Kafka-Auto-Offset-Reset': 'earliest' };
let consumed = 0;
for (let i = 0; i < 20 && consumed === 0; i++) {
  consumed = (await call('POST', '/consume/monitor/monitor-1?timeout=300', { topic: 'sensor' }, consumerHeaders)).length;
}
check(consumed > 0, 'the monitor consumed something');
await call('POST', '/commit/monitor/monitor-1', [
  { topic: 'sensor', partition: 1, offset: 2 }, { topic: 'sensor', partition: 2, offset: 1 },
]);

// ---- the browser ----
// launch() runs Chromium on a fresh temporary profile (--user-data-dir) and removes it after.
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const errors = [];
try {
  // The browser answers the server's Basic challenge with these, as a user would.
  const context = await browser.newContext({
    httpCredentials: { username: user, password: pass },
    viewport: { width: 1200, height: 760 },
  });
  const page = await context.newPage();
  page.setDefaultTimeout(8000);
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console error: ${m.text()}`); });

  const cell = (topic, partition, cls) => page.locator(`#topics-table tr[data-topic="${topic}"][data-partition="${partition}"] td.${cls}`);

  // Overview: topics with their partitions and counts.
  await page.goto(`${url}/ui#overview`);
  await page.locator('#topics-table tr[data-topic="sensor"][data-partition="2"]').waitFor();
  await page.waitForFunction(() => document.querySelector('#topics-table tr[data-topic="greetings"] td.count')?.textContent === '3');
  check(await cell('sensor', 1, 'count').textContent() === '5', 'sensor partition 1 holds 5 readings');

  // Produce form: one message with key, header and JSON value.
  await page.goto(`${url}/ui#produce`);
  await page.locator('#produce-topic option[value="greetings"]').waitFor({ state: 'attached' });
  await page.selectOption('#produce-topic', 'greetings');
  await page.fill('#produce-form [name=partition]', '0');
  await page.fill('#produce-form [name=key]', 'from-console');
  await page.fill('#produce-form [name=headers]', 'source=console\ntrace=abc-123');
  await page.fill('#produce-form [name=value]', '{"hello":"console","n":4}');
  await page.click('#produce-form button[type=submit]');
  await page.waitForFunction(() => document.querySelector('#produce-result')?.textContent.includes('offset 3'));
  await page.screenshot({ path: join(shots, 'produce.png') });

  // Overview again: the count rose (the page refreshes itself).
  await page.goto(`${url}/ui#overview`);
  await page.waitForFunction(() => document.querySelector('#topics-table tr[data-topic="greetings"] td.count')?.textContent === '4');
  await page.waitForTimeout(300);
  await page.screenshot({ path: join(shots, 'overview.png') });

  // Groups: the instance, its partitions, committed offsets and lag.
  await page.goto(`${url}/ui#groups`);
  const row = page.locator('#groups-table tr[data-group="monitor"][data-instance="monitor-1"][data-topic="sensor"][data-partition="1"]');
  await row.waitFor();
  check(await row.locator('td.committed').textContent() === '2', 'committed offset 2 on partition 1');
  check(await row.locator('td.lag').textContent() === '3', 'lag 3 on partition 1 (latest 5 − committed 2)');
  // More readings arrive; the page updates the lag by itself.
  await call('POST', '/produce', [{ topic: 'sensor', partition: 1, value: JSON.stringify({ device: 5, measure: 'pressure', value: 20 }) }]);
  await page.waitForFunction(() => document.querySelector('#groups-table tr[data-instance="monitor-1"][data-partition="1"] td.lag')?.textContent === '4');
  await page.screenshot({ path: join(shots, 'groups.png') });

  // Message browser: the console's own message, then the latest sensor readings.
  await page.goto(`${url}/ui#browse`);
  await page.locator('#browse-topic option[value="greetings"]').waitFor({ state: 'attached' });
  await page.selectOption('#browse-topic', 'greetings');
  await page.selectOption('#browse-partition', '0');
  await page.click('#browse-form button[type=submit]');
  const mine = page.locator('#messages-table tr[data-offset="3"]');
  await mine.waitFor();
  check(await mine.locator('td.key').textContent() === 'from-console', 'key shown');
  check((await mine.textContent()).includes('trace: abc-123'), 'headers shown');
  check((await mine.locator('td.value pre').textContent()).includes('\n  "hello": "console"'), 'JSON value pretty-printed');

  await page.selectOption('#browse-topic', 'sensor');
  await page.selectOption('#browse-partition', '2');
  await page.click('#browse-form button[type=submit]');
  await page.locator('#messages-table tr[data-offset="4"]').waitFor();
  const badges = await page.locator('#messages-table .badge').allTextContents();
  // Partition 2: temperature 64, 13, 80, 95, 21 → OK, ERROR, OK, ERROR, OK.
  check(badges.join(',') === 'OK,ERROR,OK,ERROR,OK', `OK/ERROR per reading, newest first: ${badges}`);
  await page.screenshot({ path: join(shots, 'browse.png') });

  // Follow: the view stays open and new readings appear at the top as they are stored, with
  // their verdict, without another click (a server-sent event stream of the partition).
  await page.check('#browse-follow');
  await page.click('#browse-form button[type=submit]');
  await page.waitForFunction(() => document.querySelector('#browse-info')?.textContent.includes('following'));
  await call('POST', '/produce', [
    { topic: 'sensor', partition: 2, value: JSON.stringify({ device: 8, measure: 'temperature', value: 99 }) },
    { topic: 'sensor', partition: 2, value: JSON.stringify({ device: 8, measure: 'temperature', value: 30 }) },
  ]);
  const followed = page.locator('#messages-table tr[data-offset="6"]');
  await followed.waitFor();
  check(await followed.locator('.badge').textContent() === 'OK', 'the followed reading 30 is OK');
  check(await page.locator('#messages-table tr[data-offset="5"] .badge').textContent() === 'ERROR', 'the followed reading 99 is ERROR');
  const order = await page.locator('#messages-table tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.offset));
  check(order.slice(0, 3).join(',') === '6,5,4', `newest first while following: ${order}`);
  // Unchecking stops the stream: a later reading does not appear.
  await page.uncheck('#browse-follow');
  await call('POST', '/produce', [{ topic: 'sensor', partition: 2, value: JSON.stringify({ device: 8, measure: 'temperature', value: 31 }) }]);
  await page.waitForTimeout(500);
  check(await page.locator('#messages-table tr[data-offset="7"]').count() === 0, 'no update after unfollowing');
} finally {
  await browser.close();
}
if (errors.length) throw new Error(errors.join('\n'));
console.log('console flows ok; screenshots in', shots);
