import { reservationSuite } from "./reservationSuite.js"
import { embeddedStore } from "./utils.js"

// Reservations on PGlite, the embedded store.
reservationSuite(embeddedStore)
