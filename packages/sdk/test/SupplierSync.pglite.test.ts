import { supplierSyncSuite } from "./supplierSyncSuite.js"
import { embeddedStore } from "./utils.js"

// Suppliers and catalog syncs on PGlite, the embedded store.
supplierSyncSuite(embeddedStore)
