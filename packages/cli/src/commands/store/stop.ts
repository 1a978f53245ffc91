import * as StoreProcess from "@invkit/sdk/store-process"
import { embeddedDataDir, type GlobalOptions, namingDataDirSource } from "../../session.js"
import { note, printJson } from "../../ui/output.js"

export const run = async (options: GlobalOptions): Promise<void> => {
  const dataDir = embeddedDataDir(options, "inv store stop")
  const pid = await StoreProcess.stop(dataDir).catch(namingDataDirSource(options))
  if (options.json) printJson({ dataDir, stopped: pid !== undefined, pid: pid ?? null })
  else if (pid === undefined) note(`No store process runs for ${dataDir}.`)
  else note(`Stopped the store process for ${dataDir} (pid ${pid}).`)
}
