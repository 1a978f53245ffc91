import * as StoreProcess from "@invkit/sdk/store-process"
import { embeddedDataDir, type GlobalOptions, namingDataDirSource } from "../../session.js"
import { printJson, printLine } from "../../ui/output.js"

export const run = async (options: GlobalOptions): Promise<void> => {
  const dataDir = embeddedDataDir(options, "inv store status")
  const found = await StoreProcess.status(dataDir).catch(namingDataDirSource(options))
  const { hello } = found
  if (options.json) {
    printJson({
      dataDir,
      running: found.running,
      responding: hello !== undefined,
      pid: hello?.pid ?? found.unresponsivePid ?? null,
      version: hello?.version ?? null,
      startedAt: hello?.startedAt ?? null,
      idleSeconds: hello?.idleSeconds ?? null,
      idleLimitSeconds: hello?.idleLimitSeconds ?? null,
      socket: found.socket
    })
    return
  }
  if (hello !== undefined) {
    printLine(`store process for ${dataDir}: running`)
    printLine(`pid:      ${hello.pid}`)
    printLine(`version:  ${hello.version}`)
    printLine(`since:    ${hello.startedAt}`)
    printLine(`idle:     ${hello.idleSeconds} s (stops after ${hello.idleLimitSeconds} s idle)`)
    printLine(`socket:   ${found.socket}`)
  } else if (found.unresponsivePid !== undefined) {
    printLine(
      `store process for ${dataDir}: pid ${found.unresponsivePid} holds it but does not answer (the next command replaces it; inv store stop kills it)`
    )
  } else {
    printLine(`store process for ${dataDir}: not running (the next command starts one)`)
  }
}
