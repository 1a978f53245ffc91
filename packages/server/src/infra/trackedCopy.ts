/**
 * A copy in this process of the shared cache's entries (infra/redisCache.ts), so a hit costs no
 * Redis command of its own. Redis keeps it coherent: its client-side caching, in broadcast mode,
 * sends this process a message naming every epoch or generation key of the deployment that changes.
 * A message drops the copies that key covers: a SKU's generation its entries, the global generation
 * the aggregate answers, the epoch (or a flush of the database) everything.
 *
 * Read-your-own-writes, on every instance. A write is answered only after Redis bumped its
 * generation (or, when Redis could not be reached, every entry is retired once it answers again:
 * infra/redisCache.ts), and Redis queues the message about a bump to this process at the end of the
 * event-loop turn that ran it, before it reads any later command. A copy is served only once a PING
 * sent on the tracking connection after the read began has come back: that PING reached Redis after
 * every write answered before the read began, so Redis answers it after their messages, and their
 * copies are dropped by then. One PING covers every read that began in the same
 * turn of the event loop, where the shared cache spent an MGET on each.
 *
 * The stale-fill race. A copy is taken from what Redis answered (an entry, or what this process
 * loaded and stored): it is kept only if no message about its generation or the epoch arrived since
 * that command was sent. A message that arrives later drops it.
 *
 * Outages. While the tracking connection is down (or until tracking is on) nothing is copied or
 * served from the copy, and the copy is emptied when the connection drops: the messages it missed
 * meanwhile are lost with it. A PING that does not come back in time fails the read over to the
 * database, as a shared cache that does not answer does, and stops the copy until the connection
 * is made again: a connection that stalls without closing would otherwise hold every read up. A
 * Redis that refuses tracking (before 6.0: an unknown command; a user without the right to CLIENT or
 * SUBSCRIBE: NOPERM) leaves the copy off: every read asks Redis. Any other error is retried.
 */
import { Redis, ReplyError } from "ioredis"
import { failingFast } from "./redis.js"

/** Taken before a command to Redis; a copy of what it answered is kept only if nothing changed since. */
export type Mark = number

export interface TrackedCopy {
  /**
   * The copy of the entry, confirmed current once this read's PING came back; `undefined` right
   * away when there is none (ask Redis). The promise never rejects: it gives `undefined` when the
   * copy was dropped meanwhile (ask Redis), `null` when the PING did not come back (Redis is slow
   * or away: answer from the database).
   */
  readonly lookup: (generationKey: string, entryKey: string) => Promise<string | undefined | null> | undefined
  readonly mark: () => Mark
  /** Keeps a copy of an entry Redis answered or stored, unless its generation changed since `mark`. */
  readonly remember: (
    mark: Mark,
    generationKey: string,
    entryKey: string,
    text: string,
    expiresAt: number
  ) => void
  readonly close: () => void
}

interface Copy {
  readonly text: string
  readonly expiresAt: number
}

/**
 * Copies kept at most, and their characters at most; beyond either, the copies of the generation
 * (a SKU, or the aggregate answers) first copied go first.
 */
const MAX_COPIES = 10_000
const MAX_CHARACTERS = 16 * 1024 * 1024
/** Generations remembered as changed, for the stale-fill check, before they are forgotten at once. */
const MAX_CHANGED = 10_000
/** Redis's answers that mean it will not track keys for this client, whatever the retries. */
const REFUSED = /^NOPERM|unknown (sub)?command|syntax error/i

/** No copy: for a cache that was closed (every read asks Redis). */
export const none: TrackedCopy = {
  lookup: () => undefined,
  mark: () => 0,
  remember: () => undefined,
  close: () => undefined
}

export const make = (
  url: string,
  options: {
    readonly commandTimeoutMs: number
    /** The epoch's key; every generation key starts with `generationPrefix`. */
    readonly epochKey: string
    readonly generationPrefix: string
    /** Told why, when Redis refuses tracking: the copy stays off, each read asks Redis. */
    readonly onRefused: (reason: string) => void
  }
): TrackedCopy => {
  const copies = new Map<string, Map<string, Copy>>()
  let copied = 0
  let characters = 0
  // Every message (and every loss of tracking) counts; a mark is the count when it was taken.
  let changes = 0
  const changedAt = new Map<string, number>()
  // Copies taken from commands sent before this count are refused (everything changed, or forgotten).
  let refusedBefore = 0
  let tracking = false

  const dropAll = () => {
    changes += 1
    refusedBefore = changes
    copies.clear()
    changedAt.clear()
    copied = 0
    characters = 0
  }
  const forget = (generationKey: string, group: Map<string, Copy>) => {
    copied -= group.size
    for (const copy of group.values()) characters -= copy.text.length
    copies.delete(generationKey)
  }
  const drop = (generationKey: string) => {
    changes += 1
    if (changedAt.size >= MAX_CHANGED) {
      refusedBefore = changes
      changedAt.clear()
    }
    changedAt.set(generationKey, changes)
    const group = copies.get(generationKey)
    if (group !== undefined) forget(generationKey, group)
  }

  const tracker = new Redis(url, {
    ...failingFast(options.commandTimeoutMs),
    // Tracking is turned on again before subscribing, on each connection (below).
    autoResubscribe: false,
    // Named for `CLIENT LIST`: whose copy this connection keeps coherent.
    connectionName: `invkit-copy:${options.epochKey.replace(/[^!-~]/g, "_")}`
  })
  tracker.on("error", () => undefined)
  tracker.on("close", () => {
    tracking = false
    dropAll()
  })
  tracker.on("ready", () => {
    ;(async () => {
      const id = await tracker.client("ID")
      await tracker.client(
        "TRACKING",
        "on",
        "REDIRECT",
        String(id),
        "BCAST",
        "PREFIX",
        options.epochKey,
        "PREFIX",
        options.generationPrefix
      )
      await tracker.subscribe("__redis__:invalidate")
      dropAll()
      tracking = true
    })().catch((error) => {
      // Redis said no (before 6.0, or a user not allowed CLIENT or SUBSCRIBE): no copy, as before.
      if (error instanceof ReplyError && REFUSED.test(error.message)) {
        tracker.disconnect()
        options.onRefused(error.message)
      } else {
        tracker.disconnect(true)
      }
    })
  })
  // A message names its keys (an array), or is null when the database was flushed.
  tracker.on("messageBuffer", (_channel: Buffer, keys: ReadonlyArray<Buffer> | null) => {
    if (keys === null) return dropAll()
    for (const buffer of keys) {
      const key = buffer.toString()
      if (key === options.epochKey) return dropAll()
      if (key.startsWith(options.generationPrefix)) drop(key)
    }
  })

  /** Stops the copy and makes the connection again: a PING did not come back in time. */
  const restart = () => {
    if (!tracking) return
    tracking = false
    dropAll()
    tracker.disconnect(true)
  }
  let nextPing: Promise<boolean> | undefined
  /** Whether a PING sent after every read that asks for it now began came back: the next turn's. */
  const barrier = () => {
    if (nextPing === undefined) {
      nextPing = new Promise((resolve) =>
        setImmediate(() => {
          nextPing = undefined
          tracker.ping().then(
            () => resolve(true),
            () => {
              restart()
              resolve(false)
            }
          )
        })
      )
    }
    return nextPing
  }

  const current = (generationKey: string, entryKey: string) => {
    const copy = copies.get(generationKey)?.get(entryKey)
    return copy !== undefined && copy.expiresAt > Date.now() ? copy : undefined
  }

  return {
    lookup: (generationKey, entryKey) => {
      if (!tracking) return undefined
      const before = current(generationKey, entryKey)
      if (before === undefined) return undefined
      return barrier().then((confirmed) =>
        !confirmed ? null : tracking && current(generationKey, entryKey) === before ? before.text : undefined
      )
    },
    mark: () => changes,
    remember: (mark, generationKey, entryKey, text, expiresAt) => {
      if (!tracking || mark < refusedBefore || (changedAt.get(generationKey) ?? 0) > mark) return
      // Not `<=`: an expiry that is not a number (a malformed entry) is no copy either.
      if (!(expiresAt > Date.now()) || text.length > MAX_CHARACTERS) return
      const replaced = copies.get(generationKey)?.get(entryKey)
      if (replaced !== undefined) {
        copies.get(generationKey)!.delete(entryKey)
        copied -= 1
        characters -= replaced.text.length
      }
      while (copied >= MAX_COPIES || characters + text.length > MAX_CHARACTERS) {
        const [oldest, group] = copies.entries().next().value as [string, Map<string, Copy>]
        forget(oldest, group)
      }
      let group = copies.get(generationKey)
      if (group === undefined) {
        group = new Map()
        copies.set(generationKey, group)
      }
      group.set(entryKey, { text, expiresAt })
      copied += 1
      characters += text.length
    },
    close: () => tracker.disconnect()
  }
}
