// Preloaded with `node --import` into a tool whose code we do not control (the MCP Inspector
// CLI): records each exchange of its global fetch in the transcript of INTEROP_SCENARIO, shown
// on stderr since the tool's stdout is its result.
import { Transcript, recordingFetch } from '../lib/scenario.mjs';

const original = globalThis.fetch;
const recorded = recordingFetch(new Transcript(process.env.INTEROP_SCENARIO ?? 'fetch', process.stderr), original);
globalThis.fetch = (input, init) => recorded(input, init);
