/** The canonical JSON of the audit chain: the wire contract's (protocol/canonical-json.ts), since signed answers hash with it too. */
export { canonicalJson } from "../../protocol/canonical-json.js";
