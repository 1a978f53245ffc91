// A process's own peak resident memory, in KB. On Linux from VmHWM (/proc/self/status), the peak
// of this process's own memory: `process.resourceUsage().maxRSS` keeps, across exec, the peak of
// the process it was forked from, so a child of a benchmark process that had grown larger reported
// the benchmark's peak, not its own (a 40 MB child of a 343 MB process: 304 MB). Elsewhere
// maxRSS is all there is.
//
// With BENCH_PEAK_FILE set (bench/cli.mjs loads this with --require), the peak is written there
// when the process exits.
const { readFileSync, writeFileSync } = require("node:fs")

const ownPeakKb = () => {
  try {
    const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"))
    if (hwm) return Number(hwm[1])
  } catch {}
  return process.resourceUsage().maxRSS
}

if (process.env.BENCH_PEAK_FILE) {
  process.on("exit", () => writeFileSync(process.env.BENCH_PEAK_FILE, String(ownPeakKb())))
}

module.exports = { ownPeakKb }
