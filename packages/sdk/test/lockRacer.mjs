/**
 * One of the processes DataDir.test.ts races for an embedded store's lock, through the built SDK.
 * On `{ round }` it tries once, without waiting, and answers whether it won; a winner holds the
 * lock until `{ release }`.
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { Store } from "../dist/index.js"

const [dataDir] = process.argv.slice(2)
let held

process.on("message", async (message) => {
  if (message.release !== undefined) {
    if (held !== undefined) await Effect.runPromise(Scope.close(held, Exit.void))
    held = undefined
    process.send({ released: message.release })
    return
  }
  if (message.round === undefined) return
  const scope = await Effect.runPromise(Scope.make())
  const exit = await Effect.runPromiseExit(
    Scope.extend(Store.openDataDir(dataDir, { lockWait: 0, onNotice: () => {} }), scope)
  )
  if (Exit.isSuccess(exit)) held = scope
  else await Effect.runPromise(Scope.close(scope, Exit.void))
  process.send({
    round: message.round,
    won: Exit.isSuccess(exit),
    error: Exit.isFailure(exit) ? String(Cause.squash(exit.cause)?._tag) : undefined
  })
})
process.send({ ready: true })
