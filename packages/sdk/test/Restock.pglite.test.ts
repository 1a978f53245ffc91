import { restockSuite } from "./restockSuite.js"
import { embeddedStore } from "./utils.js"

// The reorder rule and restock orders on PGlite, the embedded store.
restockSuite(embeddedStore)
