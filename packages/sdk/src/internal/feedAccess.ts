/**
 * What a supplier connector may reach. On the operator's own machine, anything the operator can;
 * on a server, where whoever may edit a supplier is not the server's operator, only files under
 * one directory and (unless allowed) only public addresses: otherwise a connector could read the
 * server's files or its internal services and show them in the run.
 */
import { lookup } from "node:dns/promises"
import { readFile, realpath } from "node:fs/promises"
import { BlockList, isIP, type Socket } from "node:net"
import { isAbsolute, relative, resolve } from "node:path"
import * as Effect from "effect/Effect"

export interface FeedRules {
  /** Where CSV feed files may be read: anywhere, only under one directory, or nowhere. */
  readonly files: "anywhere" | "nowhere" | { readonly under: string }
  /** Whether HTTP feeds may reach loopback, link-local and private addresses. */
  readonly privateAddresses: boolean
}

export const unrestricted: FeedRules = { files: "anywhere", privateAddresses: true }

const privateRanges = new BlockList()
for (const [network, prefix] of [
  ["0.0.0.0", 8],
  ["10.0.0.0", 8],
  ["100.64.0.0", 10],
  ["127.0.0.0", 8],
  ["169.254.0.0", 16],
  ["172.16.0.0", 12],
  ["192.0.0.0", 24],
  ["192.168.0.0", 16],
  ["198.18.0.0", 15],
  ["224.0.0.0", 3]
] as const) {
  privateRanges.addSubnet(network, prefix, "ipv4")
}
for (const [network, prefix] of [
  ["::", 128],
  ["::1", 128],
  ["64:ff9b::", 96],
  ["fc00::", 7],
  ["fe80::", 10],
  ["ff00::", 8]
] as const) {
  privateRanges.addSubnet(network, prefix, "ipv6")
}

/** Loopback, link-local, private, shared, multicast or reserved; an IPv4-mapped IPv6 address as its IPv4 one. */
export const isPrivateAddress = (address: string): boolean => {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1]
  const plain = mapped ?? address
  const family = isIP(plain)
  return family === 0 || privateRanges.check(plain, family === 4 ? "ipv4" : "ipv6")
}

export class FeedRefused extends Error {}

const refusedAddress = (host: string, address: string) =>
  new FeedRefused(
    `${host} is ${host === address ? "" : `at ${address}, `}a loopback, link-local or private address, which this server does not fetch feeds from (INV_FEED_ALLOW_PRIVATE=true allows it)`
  )

/** Refuses a host that resolves to a private address, before anything is sent. */
export const checkHost = (url: string, rules: FeedRules): Effect.Effect<void, FeedRefused> =>
  rules.privateAddresses
    ? Effect.void
    : Effect.gen(function* () {
        const host = new URL(url).hostname.replace(/^\[(.*)\]$/, "$1")
        // A name that does not resolve now fails as the fetch itself, which may be retried.
        const addresses = yield* Effect.promise(() =>
          lookup(host, { all: true, verbatim: true }).catch(() => [] as Array<{ address: string }>)
        )
        const refused = addresses.find(({ address }) => isPrivateAddress(address))
        if (refused) return yield* Effect.fail(refusedAddress(host, refused.address))
      })

/**
 * An HTTP agent that checks the address each connection actually reached, so a name that
 * resolves to a public address when checked and a private one when connecting gets nothing.
 */
export const publicOnlyAgent = async () => {
  // undici is loaded here, on a sync's first fetch: an embedded open loads none of it.
  const { Agent, buildConnector } = await import("undici")
  const connect = buildConnector({})
  return new Agent({
    connect: (options, callback) =>
      connect(options, (error, socket) => {
        if (error !== null) return callback(error, null)
        const address = (socket as Socket).remoteAddress ?? ""
        if (!isPrivateAddress(address)) return callback(null, socket)
        socket.destroy()
        callback(refusedAddress(options.hostname, address), null)
      })
  })
}

/** The file's text, if the rules let this process read it. */
export const readFeedFile = (source: string, rules: FeedRules): Effect.Effect<string, FeedRefused> =>
  Effect.tryPromise({
    try: async () => {
      if (rules.files === "anywhere") return readFile(source, "utf8")
      if (rules.files === "nowhere") {
        throw new FeedRefused(
          "this server reads no feed files: set INV_FEED_DIR to the directory they may be read from, or use an HTTP source"
        )
      }
      const root = await realpath(rules.files.under)
      const outside = (path: string) => {
        const inside = relative(root, path)
        return inside === "" || inside.startsWith("..") || isAbsolute(inside)
      }
      const refused = new FeedRefused(
        `${source} is outside the feed directory (INV_FEED_DIR): put the file there and give its path in it`
      )
      // Named outside: refused before the file system is asked, so nothing is learnt about it.
      const named = resolve(root, source)
      if (outside(named)) throw refused
      let real: string
      try {
        real = await realpath(named)
      } catch {
        throw new FeedRefused(`cannot read ${source}: no such file in the feed directory`)
      }
      // A symbolic link may lead out of the directory; what counts is where it leads.
      if (outside(real)) throw refused
      return readFile(real, "utf8")
    },
    catch: (error) =>
      error instanceof FeedRefused
        ? error
        : new FeedRefused(`cannot read ${source}: ${(error as Error).message}`)
  })
