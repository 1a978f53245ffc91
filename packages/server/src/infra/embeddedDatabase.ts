/**
 * The embedded store for a long-running process: PGlite in a worker thread behind a loopback
 * PostgreSQL socket (see embeddedDatabaseWorker.ts), so a long statement never blocks the thread
 * answering HTTP. The main thread uses it as an ordinary PostgreSQL server (`Store.postgres`).
 */
import { existsSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { isMainThread, Worker } from "node:worker_threads"
import { Store, StoreError } from "@invkit/sdk"
import * as Effect from "effect/Effect"
import * as Runtime from "effect/Runtime"
import type { EmbeddedDatabaseWorkerData } from "./embeddedDatabaseWorker.js"

type WorkerMessage =
  | { readonly type: "listening"; readonly port: number }
  | { readonly type: "failed"; readonly reason: string }
  | { readonly type: "stopped" }

/**
 * The worker's script: next to this module once built; when this module runs from its sources
 * (tests), the build's copy, since a worker thread cannot load TypeScript.
 */
const workerScript = () => {
  const built = new URL("./embeddedDatabaseWorker.js", import.meta.url)
  if (existsSync(fileURLToPath(built))) return built
  return new URL("../../dist/embeddedDatabaseWorker.js", import.meta.url)
}

/** A fresh data directory runs initdb (seconds, on a small machine); reopening takes well under that. */
const STARTUP_TIMEOUT = "120 seconds"
const STOP_TIMEOUT = "10 seconds"

const waitFor = (worker: Worker, type: WorkerMessage["type"]) =>
  Effect.async<WorkerMessage, StoreError>((resume) => {
    const onMessage = (message: WorkerMessage) => {
      if (message.type === type) resume(Effect.succeed(message))
      else if (message.type === "failed") resume(Effect.fail(new StoreError({ reason: message.reason })))
    }
    const onError = (error: Error) => resume(Effect.fail(new StoreError({ reason: error.message })))
    const onExit = (code: number) =>
      resume(Effect.fail(new StoreError({ reason: `the embedded database thread exited (code ${code})` })))
    worker.on("message", onMessage)
    worker.on("error", onError)
    worker.on("exit", onExit)
    return Effect.sync(() => {
      worker.off("message", onMessage)
      worker.off("error", onError)
      worker.off("exit", onExit)
    })
  })

/**
 * Opens the embedded data directory in a worker thread for the scope's life; answers the store
 * options to connect to it. Closing the scope closes the database cleanly, then ends the thread.
 */
export const start = (dataDir: string, description: string) =>
  Effect.gen(function* () {
    const runtime = yield* Effect.runtime<never>()
    // The SDK's checks and lock, as for the CLI: a long-lived holder, so an inv command fails at
    // once naming this server instead of waiting for it.
    const directory = yield* Store.openDataDir(dataDir, {
      holder: { description, longLived: true },
      onNotice: (message) => Runtime.runSync(runtime)(Effect.logWarning(message))
    })
    if (isMainThread) {
      // PostgreSQL creates files all the time it runs, in a thread that cannot set the umask itself.
      const previous = process.umask(0o077)
      yield* Effect.addFinalizer(() => Effect.sync(() => process.umask(previous)))
    }
    const worker = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const workerData: EmbeddedDatabaseWorkerData = {
          dataDir: directory.path,
          unmarked: directory.unmarked
            ? { inventoryCheck: Store.inventoryCheck, refusal: Store.notAnInventory(`${dataDir} (INV_HOME)`) }
            : undefined
        }
        return new Worker(workerScript(), { workerData })
      }),
      (worker) =>
        Effect.sync(() => worker.postMessage({ type: "stop" })).pipe(
          Effect.zipRight(waitFor(worker, "stopped")),
          Effect.timeout(STOP_TIMEOUT),
          Effect.ignore,
          Effect.zipRight(Effect.promise(() => worker.terminate()))
        )
    )
    const listening = yield* waitFor(worker, "listening").pipe(
      Effect.timeoutFail({
        duration: STARTUP_TIMEOUT,
        onTimeout: () =>
          new StoreError({ reason: `the embedded database in ${dataDir} did not open in time` })
      }),
      Effect.mapError(
        (error) => new StoreError({ reason: `cannot open the embedded store in ${dataDir}: ${error.reason}` })
      )
    )
    // PGlite writes a new directory's first files world-readable whatever the umask.
    yield* directory.tighten
    if (directory.unmarked) yield* directory.mark
    const port = (listening as { readonly port: number }).port
    // PGlite is one session, which every connection of the pool shares: a statement one connection
    // prepared, another would prepare again, and be refused (it already exists). Sent unnamed.
    return Store.postgres(`postgres://postgres@127.0.0.1:${port}/postgres`, { prepare: false })
  })
