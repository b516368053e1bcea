import t from 'tap'
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { uncoveredChildEnv } from '../helpers.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
/** the most files of ours one tools/call may cross each way (issue 19) */
const MAX_FILES = 6

interface Step { file: string, functions: string[] }
interface Measured { request: Step[], answer: Step[], ran: string[] }

const render = (chain: Step[]) => chain.map((s) => `${s.file} (${s.functions.join(' → ')})`).join('\n')

t.test('one tools/call crosses at most six files of ours from the route to the stdio child, and six back', async (t) => {
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'scripts/call-path.ts', '--json'], {
    cwd: ROOT, env: uncoveredChildEnv(), timeout: 60_000
  })
  const measured = JSON.parse(stdout.trim().split('\n').at(-1)!) as Measured
  // the chains are whole: the request from the route to the transport, the answer from the transport to the route
  t.match(measured.request[0]?.file, /^routes\//, 'the request starts at the route')
  t.equal(measured.request.at(-1)?.file, 'backends/stdio-transport.ts', 'the request ends at the child\'s stdin')
  t.equal(measured.answer[0]?.file, 'backends/stdio-transport.ts', 'the answer starts at the child\'s stdout')
  t.match(measured.answer.at(-1)?.file, /^routes\//, 'the answer ends at the route')
  t.ok(measured.request.length <= MAX_FILES, `the request crosses ${measured.request.length} files of ours:\n${render(measured.request)}`)
  t.ok(measured.answer.length <= MAX_FILES, `the answer crosses ${measured.answer.length} files of ours:\n${render(measured.answer)}`)
  // the coverage count is wider (hooks, helpers): the chains are a subset of what ran
  t.same([...measured.request, ...measured.answer].map((s) => s.file).filter((file) => !measured.ran.includes(file)), [], 'every file on the chains ran code for the call')
})
