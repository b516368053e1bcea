import t from 'tap'
import { execFile } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { BIN, cliEnv } from '../cli-helpers.js'
import { NO_CHILD_COVERAGE, tempDir } from '../helpers.js'

const run = promisify(execFile)

/** Runs the real `1mcp` executable script; resolves with its exit code and output. */
async function bin (args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number, stdout: string, stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH, ...env, ...NO_CHILD_COVERAGE }, timeout: 60_000 })
    return { code: 0, stdout, stderr }
  } catch (err) {
    const e = err as { code: number, stdout: string, stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

t.setTimeout(180_000)

t.test('the 1mcp executable: help, exit codes, errors with a next step', async (t) => {
  const home = await tempDir(t)
  const env = cliEnv(home)
  const help = await bin(['--help'], env)
  t.equal(help.code, 0)
  t.match(help.stdout, /Commands:\n {2}serve[\s\S]*proxy/)
  const unknown = await bin(['frob'], env)
  t.equal(unknown.code, 2)
  t.match(unknown.stderr, /1mcp: unknown command 'frob'\n {2}→ run `1mcp --help`/)
  await writeFile(join(home, 'gateway.json'), '{ "mcpServers": { "a": { "command": "x" } } }')
  const list = await bin(['mcp', 'list'], env)
  t.equal(list.code, 0, list.stderr)
  t.match(list.stdout, /^a\s+stdio\s+yes/m)
  const serveHelp = await bin(['serve', '--help'], env)
  t.match(serveHelp.stdout, /--config FILE[\s\S]*ONEMCP_CONFIG/)
  const badServe = await bin(['serve', '--prot', '1'], env)
  t.equal(badServe.code, 2)
  t.match(badServe.stderr, /Unknown option '--prot'[\s\S]*`1mcp serve --help`/)
})
