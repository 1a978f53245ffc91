// A server profile's samples by area of the request path (HTTP and platform, auth, rate limit,
// schema, the SDK's write, group commit, the relay, metrics/logging/tracing, Effect's runtime,
// GC), for issue 13's question "what stands between an HTTP adjustment and its target".
//
// Each busy sample goes to the area of the innermost frame on its stack that belongs to one: a
// socket write under pg counts as the SDK's write, a Schema frame run by Effect's run loop counts
// as schema. Frames of the bundled builds (the server's bin.js, the SDK's chunks) are told apart
// by their source maps. What has no area but Effect's own frames is "Effect runtime"; what has
// neither is "node / native (unattributed)".
//
//   node bench/profileAreas.mjs <file.cpuprofile>     (e.g. one kept by PROFILE_KEEP=1)
import { existsSync, readFileSync } from "node:fs"
import { SourceMap } from "node:module"
import { fileURLToPath } from "node:url"

/** Areas by the original source file of a frame (after source maps), first match wins. */
const AREAS = [
  ["GC", (f) => f.functionName === "(garbage collector)"],
  [
    "relay (claim, publish, mark) + amqplib",
    (_f, src) => /infra\/relay\.ts|infra\/rabbitmq\.ts|node_modules\/amqplib\//.test(src)
  ],
  ["group commit", (_f, src) => /internal\/groupCommit\.ts/.test(src)],
  ["auth (JWT, jose)", (_f, src) => /node_modules\/jose\/|http\/auth\.ts/.test(src)],
  [
    "rate limit, Redis (ioredis)",
    (_f, src) =>
      /rate-limiter-flexible|infra\/rateLimiter\.ts|node_modules\/(ioredis|redis-parser)\//.test(src)
  ],
  [
    "metrics, logging, tracing",
    (f, src) =>
      // The tracer's `context` wraps every step of every fiber (it is on every stack): not tracing.
      !(f.functionName === "context" && /internal\/tracer\.js/.test(src)) &&
      /effect\/dist\/(esm|cjs)\/internal\/(metric|logger|tracer)|infra\/(metrics|logging|tracing|inventoryMetrics)\.ts|@opentelemetry|\/Metric[A-Za-z]*\.js|\/Logger\.js|\/Tracer\.js/.test(
        src
      )
  ],
  [
    "schema decode/encode",
    (_f, src) => /effect\/dist\/(esm|cjs)\/(Schema|ParseResult|SchemaAST)\.js|strictRequest\.ts/.test(src)
  ],
  [
    "SDK write (statements, @effect/sql, pg)",
    (_f, src) =>
      /node_modules\/(pg|pg-protocol|pg-types|postgres-[a-z]+|@effect\/sql|@effect\/sql-pg)\/|packages\/sdk\/dist\//.test(
        src
      )
  ],
  [
    "HTTP parsing / platform",
    (f, src) =>
      /node_modules\/(@effect\/platform|@effect\/platform-node|find-my-way-ts|undici)\/|node:_http|node:http|packages\/server\/dist\/.*#.*src\/http\//.test(
        src
      ) ||
      f.functionName === "parserOnHeadersComplete" ||
      f.functionName === "parserOnBody"
  ]
]

const maps = new Map()
/** The original source of a frame of a bundle that has a source map next to it; else its URL. */
const sourceOf = (frame) => {
  const { url } = frame
  if (!/\/dist\/.*\.js$/.test(url) || /node_modules\//.test(url.replace(/^.*packages\//, ""))) return url
  let map = maps.get(url)
  if (map === undefined) {
    const file = url.startsWith("file:") ? fileURLToPath(url) : url
    map = existsSync(`${file}.map`) ? new SourceMap(JSON.parse(readFileSync(`${file}.map`, "utf8"))) : null
    maps.set(url, map)
  }
  if (map === null) return url
  const original = map.findEntry(frame.lineNumber, frame.columnNumber)?.originalSource
  return original === undefined ? url : `${url}#${original}`
}

const isEffect = (src) => /node_modules\/effect\//.test(src)
const RUN_LOOP = new Set([
  "runLoop",
  "evaluateEffect",
  "evaluateMessageWhileSuspended",
  "drainQueueOnCurrentThread",
  "starveInternal"
])

/** Shares of the busy samples between `fromUs` and `toUs` by area, largest first. */
export const areaShares = (profile, fromUs = -Infinity, toUs = Infinity) => {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const parent = new Map()
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id)
  const areaOfNode = new Map()
  const areaOf = (id) => {
    const known = areaOfNode.get(id)
    if (known !== undefined) return known
    let area
    for (let at = id; at !== undefined && area === undefined; at = parent.get(at)) {
      const frame = byId.get(at).callFrame
      const src = sourceOf(frame)
      area = AREAS.find(([, test]) => test(frame, src))?.[0]
      // Above a fiber's run loop is whatever resumed the fiber, not what the fiber was doing.
      if (area === undefined && isEffect(src) && RUN_LOOP.has(frame.functionName)) area = "Effect runtime"
    }
    area ??= "node / native (unattributed)"
    areaOfNode.set(id, area)
    return area
  }
  const counts = new Map()
  let total = 0
  let t = profile.startTime
  profile.samples.forEach((id, i) => {
    t += profile.timeDeltas[i]
    if (t < fromUs || t > toUs) return
    const name = byId.get(id).callFrame.functionName
    if (name === "(idle)" || name === "(program)") return
    total++
    const area = areaOf(id)
    counts.set(area, (counts.get(area) ?? 0) + 1)
  })
  return {
    samples: total,
    areas: [...counts.entries()].sort((a, b) => b[1] - a[1]).map(([area, n]) => [area, n / (total || 1)])
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const file = process.argv[2]
  if (file === undefined) {
    console.error("usage: node bench/profileAreas.mjs <file.cpuprofile>")
    process.exit(2)
  }
  const { samples, areas } = areaShares(JSON.parse(readFileSync(file, "utf8")))
  console.log(`${samples} busy samples`)
  for (const [area, share] of areas) console.log(`  ${(share * 100).toFixed(1).padStart(5)}%  ${area}`)
}
