// Opens two pages in the system's headless Chromium (playwright-core) and runs the script
// each page carries, `window.runCors()`: it calls the upkafka API of another origin with
// `fetch`. Started by tests/cors_browser.rs, which serves the pages and judges the results:
//   ALLOWED_PAGE  a page whose origin the server lists in --cors-origin
//   DENIED_PAGE   a page whose origin it does not list
//   CHROMIUM      browser binary (default /usr/bin/chromium)
// Prints one JSON line: { allowed: <result>, denied: <result>, console: [messages] }.
import { chromium } from 'playwright-core';

const pages = { allowed: process.env.ALLOWED_PAGE, denied: process.env.DENIED_PAGE };
if (!pages.allowed || !pages.denied) throw new Error('set ALLOWED_PAGE and DENIED_PAGE');

// launch() runs Chromium on a fresh temporary profile (--user-data-dir) and removes it after.
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const out = { console: [] };
try {
  for (const [name, url] of Object.entries(pages)) {
    const page = await browser.newPage();
    page.setDefaultTimeout(8000);
    page.on('console', (m) => out.console.push(`${name}: ${m.text()}`));
    page.on('pageerror', (e) => out.console.push(`${name}: page error: ${e.message}`));
    await page.goto(url);
    out[name] = await page.evaluate(() => window.runCors());
    await page.close();
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
