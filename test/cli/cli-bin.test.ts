import t from 'tap'
import { execFile } from 'node:child_process'
import { copyFile, mkdir, readFile, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { BIN, cliEnv } from '../cli-helpers.js'
import { NO_CHILD_COVERAGE, tempDir } from '../helpers.js'

const run = promisify(execFile)
const ROOT = fileURLToPath(new URL('../..', import.meta.url))

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

t.test('npm start runs the compiled CLI (bin/1mcp.mjs --dist), npm run dev the sources; no build is a clear error', async (t) => {
  const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
  t.equal(pkg.scripts.start, 'node bin/1mcp.mjs --dist serve', 'npm start asks for dist/')
  t.equal(pkg.scripts.dev, 'node bin/1mcp.mjs serve', 'npm run dev runs the sources through tsx')
  t.equal(pkg.scripts.prepare, 'npm run build', 'npm install / npm ci build dist/ through prepare')
  // a checkout of stubs beside a copy of the real bin/1mcp.mjs: each entry says which one ran
  const dir = await tempDir(t)
  await mkdir(join(dir, 'bin'))
  await mkdir(join(dir, 'cli'))
  await copyFile(BIN, join(dir, 'bin', '1mcp.mjs'))
  await symlink(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'junction')
  await writeFile(join(dir, 'package.json'), '{ "type": "module" }')
  await writeFile(join(dir, 'cli', 'index.ts'), "export async function main (argv: string[]): Promise<void> { process.stdout.write('source ' + argv.join(' ')) }\n")
  const stub = join(dir, 'bin', '1mcp.mjs')
  const exec = async (args: string[]) => {
    try {
      return { code: 0, ...(await run(process.execPath, [stub, ...args], { env: { PATH: process.env.PATH, ...NO_CHILD_COVERAGE }, timeout: 60_000 })) }
    } catch (err) {
      return err as { code: number, stdout: string, stderr: string }
    }
  }
  const missing = await exec(['--dist', 'serve'])
  t.equal(missing.code, 1, 'no dist/: exit 1')
  t.match(missing.stderr, /1mcp: there is no build in dist\/ to run\n {2}→ run `npm run build`/)
  await mkdir(join(dir, 'dist', 'cli'), { recursive: true })
  await writeFile(join(dir, 'dist', 'cli', 'index.js'), "export async function main (argv) { process.stdout.write('compiled ' + argv.join(' ')) }\n")
  t.equal((await exec(['--dist', 'serve', '--port', '1'])).stdout, 'compiled serve --port 1', '--dist runs dist/ and is not passed on')
  const dev = await exec(['serve'])
  t.equal(dev.stdout, 'source serve', `without it, a checkout runs its sources ${dev.stderr}`)
})
