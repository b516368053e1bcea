import { resolve } from 'node:path'
import t from 'tap'
import puppeteer, { type Page } from 'puppeteer-core'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { alive, echoFixture, startGateway, tempDir } from '../helpers.js'
import { forgeToken, PASSPHRASE } from '../auth-helpers.js'

// A real browser at the status page: headless Chromium (the Debian package; .ci/run installs it),
// the owner's login through the form, the live update over the event stream after a backend's child
// is killed. STATUS_SCREENSHOT=<file> also saves a screenshot (npm run screenshot:status).

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const SCREENSHOT = process.env.STATUS_SCREENSHOT

/** The text of one cell of a backend's row. */
function cell (page: Page, backend: string, selector: string): Promise<string | undefined> {
  return page.evaluate((b, s) => document.querySelector(`tr[data-backend="${b}"] ${s}`)?.textContent ?? undefined, backend, selector)
}

t.test('the owner logs in, opens /status and sees a killed backend restart, live', async (t) => {
  // a 2 s pause before the restart: the page has time to show the backend down
  const gw = await startGateway(t, {
    auth: true,
    config: {
      mcpServers: {
        files: echoFixture('files', {}, { restart: { initialDelayMs: 2000, maxDelayMs: 2000 } }),
        search: echoFixture('search', {}, { tags: ['web'] })
      }
    }
  })
  const userDataDir = await tempDir(t, '1mcp-chromium-')
  const browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, userDataDir, args: ['--no-sandbox', '--headless=new', '--disable-gpu', '--disable-dev-shm-usage'] })
  t.teardown(() => browser.close())
  const page = await browser.newPage()
  await page.setViewport({ width: 1100, height: 760 })
  const blocked: string[] = []
  page.on('console', (m) => { if (/Content Security Policy/.test(m.text())) blocked.push(m.text()) })

  // not logged in: the login form
  await page.goto(`${gw.base}/status`)
  t.equal(new URL(page.url()).pathname, '/status/login', 'sent to the login form')
  await page.type('#passphrase', PASSPHRASE)
  await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')])
  t.equal(new URL(page.url()).pathname, '/status', 'back at the status page, logged in')

  await page.waitForFunction(() => document.getElementById('live')?.textContent === '(live)', { timeout: 10_000 })
  const pid = Number(await page.$eval('tr[data-backend="files"]', (row) => row.getAttribute('data-pid')))
  t.ok(pid > 0 && alive(pid), 'the page names the stdio child\'s pid')
  t.equal(pid, gw.app.backends.get('files')?.pid, 'the one the gateway runs')
  t.equal(await cell(page, 'files', '.state'), 'ready', 'before: ready')
  t.equal(await cell(page, 'files', '.restarts'), '0')
  t.equal(await cell(page, 'files', '.last-error'), undefined, 'no last error')

  process.kill(pid, 'SIGKILL')
  // polled on every change of the DOM: the live update swaps the page's <main>
  await page.waitForFunction(() => document.querySelector('tr[data-backend="files"] .state')?.textContent !== 'ready', { polling: 'mutation', timeout: 10_000 })
  t.match(await cell(page, 'files', '.state'), /^(restarting|starting)$/, 'after the kill: down, without a reload of the page')
  t.match(await cell(page, 'files', '.last-error'), /SIGKILL/, 'the last error says why')
  t.equal(await cell(page, 'search', '.state'), 'ready', 'the other backend is untouched')

  await page.waitForFunction(() => document.querySelector('tr[data-backend="files"] .state')?.textContent === 'ready', { polling: 'mutation', timeout: 15_000 })
  t.equal(await cell(page, 'files', '.restarts'), '1', 'ready again, one restart counted')
  const newPid = Number(await page.$eval('tr[data-backend="files"]', (row) => row.getAttribute('data-pid')))
  t.not(newPid, pid, 'a new child')
  t.equal(await page.$$eval('script', (s) => s.length), 1, 'one script on the page')
  t.same(blocked, [], 'the Content Security Policy blocked nothing the page needs')

  if (SCREENSHOT) {
    // real calls (echo, and slow ones of 5 to 60 ms, a few failing), so the charts have something to show
    const token = await forgeToken(gw.dataDir, { iss: gw.base, aud: `${gw.base}/mcp`, sub: 'owner', client_id: 'screenshot', scope: 'mcp' })
    const client = new Client({ name: 'screenshot', version: '1.0.0' })
    await client.connect(new StreamableHTTPClientTransport(gw.url, { requestInit: { headers: { authorization: `Bearer ${token}` } } }))
    t.teardown(() => client.close())
    for (let i = 0; i < 60; i++) {
      const name = i % 9 === 0 ? 'files_1mcp_fail' : i % 2 ? 'files_1mcp_slow' : 'search_1mcp_echo'
      await client.callTool({ name, arguments: name.endsWith('slow') ? { ms: 5 + (i % 12) * 5, steps: 1 } : { text: String(i) } }).catch(() => {})
      if (i % 6 === 5) await new Promise((resolve) => setTimeout(resolve, 1500)) // over several of the charts' 5 s slots
    }
    await page.waitForFunction(() => /[1-9]\d* calls/.test(document.querySelector('tr[data-backend="files"]')?.textContent ?? ''), { polling: 'mutation', timeout: 10_000 })
    await page.screenshot({ path: resolve(SCREENSHOT), fullPage: true })
  }
})
