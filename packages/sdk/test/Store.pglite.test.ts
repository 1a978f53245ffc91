import { storeSuite } from "./storeSuite.js"
import { embeddedStore } from "./utils.js"

// The store suite on PGlite, the embedded store: each block on its own copy of the template.
storeSuite(embeddedStore)
