/**
 * Each test file's own store, copied from the one the global setup prepared. The vitest project
 * decides the target: `embedded` runs `inv --data-dir <copy>`; `server` starts `inv-server all`
 * on the copy and runs `inv --server <url> --token <admin token>` — the same scenarios, to show
 * the same output and exit codes both ways.
 */
import { cpSync, mkdtempSync } from "node:fs"
import { join } from "node:path"
import { connect } from "@invkit/sdk"
import { inject } from "vitest"
import { type Run, runInv } from "./inv.js"
import { startServer, type TestServer } from "./server.js"

export type Target = "embedded" | "server"

/** Where this run's `inv` commands work: set by the vitest project (vitest.config.ts). */
export const target: Target = inject("target") ?? "embedded"

/** The subject of the server target's admin token: the server records it as every change's actor. */
export const serverSubject = "cli-test"

export interface Store {
  readonly target: Target
  /** The store's directory: the CLI's own, or the server's INV_HOME (never to be opened then). */
  readonly dataDir: string
  /** The running server on the server target. */
  readonly server: TestServer | undefined
  /** `inv --data-dir <this store> …args`, or `inv --server <url> --token <token> …args` */
  readonly inv: (...args: ReadonlyArray<string>) => Promise<Run>
  /** `inv` as above, with `variables` added to its environment. */
  readonly invWith: (variables: Record<string, string>, ...args: ReadonlyArray<string>) => Promise<Run>
  /** `inv --json …args`, failing the test unless it exits 0, with stdout parsed. */
  readonly json: <T = any>(...args: ReadonlyArray<string>) => Promise<T>
  /**
   * A supplier's catalog synced, for steps that build on it: `inv supplier sync` on a local
   * store; a server syncs only in its workers, so there the sync is queued through its API
   * (`POST /v1/suppliers/{id}/sync`) and its run waited for.
   */
  readonly syncSupplier: (id: string) => Promise<any>
  /** Stops the server, if any. */
  readonly close: () => Promise<void>
}

/** The actor a change is recorded with: `--actor` locally; the token's subject on a server. */
export const expectedActor = (actor: string): string => (target === "server" ? serverSubject : actor)

/** `inv supplier sync` against a server queues the sync; this waits for the workers' run. */
const queueSyncAndWait = async (
  server: TestServer,
  id: string,
  json: (...args: ReadonlyArray<string>) => Promise<any>
) => {
  const inventory = connect({ url: server.url, token: server.token })
  try {
    const before = (await inventory.suppliers.runs(id, { limit: 1 })).items[0]?.id ?? 0
    const queued = await json("supplier", "sync", id)
    if (queued.queued !== true || typeof queued.jobId !== "string") {
      throw new Error(`inv supplier sync ${id} against a server did not queue: ${JSON.stringify(queued)}`)
    }
    const deadline = Date.now() + 20_000
    while (Date.now() < deadline) {
      const [latest] = (await inventory.suppliers.runs(id, { limit: 1 })).items
      if (latest !== undefined && latest.id > before && latest.finishedAt !== null) return latest
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    throw new Error(`the queued sync of ${id} did not finish within 20 s`)
  } finally {
    await inventory.close()
  }
}

/** A copy of the store prepared once by the global setup: a fresh store costs seconds to create. */
export const copyOfTemplateStore = async (): Promise<Store> => {
  const dataDir = join(mkdtempSync(join(inject("scratchDir"), "store-")), "data")
  cpSync(inject("templateDataDir"), dataDir, { recursive: true })
  const server = target === "server" ? await startServer(dataDir) : undefined
  const where =
    server === undefined ? ["--data-dir", dataDir] : ["--server", server.url, "--token", server.token]
  const invWith = (variables: Record<string, string>, ...args: ReadonlyArray<string>) =>
    runInv([...where, ...args], variables)
  const inv = (...args: ReadonlyArray<string>) => invWith({}, ...args)
  const json = async (...args: ReadonlyArray<string>) => {
    const run = await inv("--json", ...args)
    if (run.code !== 0) throw new Error(`inv ${args.join(" ")} exited ${run.code}: ${run.stderr}`)
    return JSON.parse(run.stdout)
  }
  const syncSupplier = (id: string) =>
    server === undefined ? json("supplier", "sync", id) : queueSyncAndWait(server, id, json)
  return {
    target,
    dataDir,
    server,
    inv,
    invWith,
    json,
    syncSupplier,
    close: async () => server?.stop()
  }
}

declare module "vitest" {
  export interface ProvidedContext {
    templateDataDir: string
    /** Removed after the run, with every store copied into it. */
    scratchDir: string
    /** Set by each vitest project in vitest.config.ts. */
    target: Target
  }
}
