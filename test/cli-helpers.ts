import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { run } from '../cli/index.js'

export const BIN = fileURLToPath(new URL('../bin/1mcp.mjs', import.meta.url))

export interface CliResult { code: number, out: string, err: string }

/** Runs one `1mcp` command line in-process with its own environment (nothing from the real one). */
export async function cli (argv: string[], env: NodeJS.ProcessEnv, cwd = env.ONEMCP_HOME ?? process.cwd()): Promise<CliResult> {
  let out = ''
  let err = ''
  const code = await run(argv, { out: (s) => { out += s }, err: (s) => { err += s }, env, cwd })
  return { code, out, err }
}

/** The environment a CLI test runs in: the temp home and nothing of the real user's. */
export function cliEnv (home: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { ONEMCP_HOME: home, ONEMCP_CONFIG: join(home, 'gateway.json'), ...extra }
}
