export interface TokenRow { name: string, state: string, tools: number, tokens: number | null, tags: string[] }

export async function measureToolTokens (_path: string, _timeoutMs: number): Promise<TokenRow[]> {
  return []
}
