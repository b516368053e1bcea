// moved to mcp/resource-uris.ts; routes/dispatch.ts still imports these from here
export { wrapUri, type UriTarget } from '../mcp/resource-uris.js'
