/**
 * The embedded database's thread: PGlite (PostgreSQL compiled to WASM) runs here, behind a
 * PostgreSQL wire-protocol socket on loopback, so a long statement never freezes the thread
 * that answers HTTP. The main thread connects with an ordinary PostgreSQL client.
 *
 * PGlite is one session. pglite-socket's own server multiplexes clients message by message,
 * which lets one client's Parse/Bind/Execute land between another's (the unnamed statement is
 * shared), so this file gives the session to one client for a whole unit of work instead: up to
 * its Sync or simple Query, and on until its transaction block ends.
 */
import { createServer, type Socket } from "node:net"
import { parentPort, workerData } from "node:worker_threads"
import { PGlite } from "@electric-sql/pglite"
import { PGLiteSocketHandler } from "@electric-sql/pglite-socket"

export interface EmbeddedDatabaseWorkerData {
  readonly dataDir: string
  /** For a directory without the store's marker: a query answering `found` if it holds an inventory, and the refusal if not. */
  readonly unmarked: { readonly inventoryCheck: string; readonly refusal: string } | undefined
}

interface PendingMessage {
  readonly handlerId: number
  readonly message: Uint8Array
  readonly onData: (data: Uint8Array) => void
  readonly resolve: (bytes: number) => void
  readonly reject: (error: Error) => void
}

const SYNC = 0x53 // 'S'
const SIMPLE_QUERY = 0x51 // 'Q'
const TERMINATE = 0x58 // 'X'

/** Messages after which a client may hand the session over (a startup message has no type byte). */
const endsUnitOfWork = (message: Uint8Array) =>
  message[0] === SYNC || message[0] === SIMPLE_QUERY || message[0] === TERMINATE || message[0] === 0

/** The queue pglite-socket's handlers feed: one client owns the session per unit of work. */
class SessionByUnitOfWork {
  private owner: number | null = null
  private pending: Array<PendingMessage> = []
  private running = false

  constructor(private readonly db: PGlite) {}

  enqueue(handlerId: number, message: Uint8Array, onData: (data: Uint8Array) => void): Promise<number> {
    return new Promise((resolve, reject) => {
      this.pending.push({ handlerId, message, onData, resolve, reject })
      void this.run()
    })
  }

  private next(): PendingMessage | undefined {
    const index = this.owner === null ? 0 : this.pending.findIndex((m) => m.handlerId === this.owner)
    return index === -1 ? undefined : this.pending.splice(index, 1)[0]
  }

  private async run(): Promise<void> {
    if (this.running) return
    this.running = true
    try {
      for (let item = this.next(); item !== undefined; item = this.next()) {
        const current = item
        let bytes = 0
        try {
          await this.db.runExclusive(() =>
            this.db.execProtocolRawStream(current.message, {
              onRawData: (data) => {
                bytes += data.length
                current.onData(data)
              }
            })
          )
          this.owner =
            endsUnitOfWork(current.message) && !this.db.isInTransaction() ? null : current.handlerId
          current.resolve(bytes)
        } catch (error) {
          this.owner = null
          current.reject(error as Error)
        }
      }
    } finally {
      this.running = false
    }
  }

  clearQueueForHandler(handlerId: number): void {
    this.pending = this.pending.filter((m) => {
      if (m.handlerId !== handlerId) return true
      m.reject(new Error("client disconnected"))
      return false
    })
  }

  /** A client that left in the middle of its unit of work must not keep the session. */
  async clearTransactionIfNeeded(handlerId: number): Promise<void> {
    if (this.owner !== handlerId) return
    if (this.db.isInTransaction()) await this.db.runExclusive(() => this.db.exec("ROLLBACK"))
    this.owner = null
    void this.run()
  }
}

const start = async () => {
  const { dataDir, unmarked } = workerData as EmbeddedDatabaseWorkerData
  const db = await PGlite.create({ dataDir })
  if (unmarked !== undefined) {
    const { rows } = await db.query<{ found: boolean }>(unmarked.inventoryCheck)
    if (!rows[0]?.found) {
      await db.close()
      throw new Error(unmarked.refusal)
    }
  }
  const session = new SessionByUnitOfWork(db)
  const handlers = new Set<PGLiteSocketHandler>()
  const server = createServer((socket: Socket) => {
    const handler = new PGLiteSocketHandler({ queryQueue: session as never, closeOnDetach: true })
    handlers.add(handler)
    const forget = () => handlers.delete(handler)
    handler.addEventListener("close", forget)
    handler.addEventListener("error", forget)
    void handler.attach(socket)
  })
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject)
    server.listen(0, "127.0.0.1", resolve)
  })
  const address = server.address()
  parentPort!.postMessage({
    type: "listening",
    port: typeof address === "object" && address ? address.port : 0
  })

  parentPort!.on("message", async (message: { type: string }) => {
    if (message.type !== "stop") return
    server.close()
    await Promise.all([...handlers].map((handler) => handler.detach(true)))
    await db.close()
    parentPort!.postMessage({ type: "stopped" })
  })
}

start().catch((error: unknown) => {
  parentPort!.postMessage({ type: "failed", reason: error instanceof Error ? error.message : String(error) })
})
