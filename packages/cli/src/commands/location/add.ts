import { type GlobalOptions, withInventory } from "../../session.js"
import { note, printJson, printLine } from "../../ui/output.js"
import { askIfMissing } from "../../ui/prompt.js"

export interface AddLocationOptions extends GlobalOptions {
  readonly name?: string
}

export const run = async (codeText: string | undefined, options: AddLocationOptions): Promise<void> => {
  const code = await askIfMissing(codeText, {
    name: "<code>",
    passIt: "as the first argument",
    question: "Location code"
  })
  const location = await withInventory(options, (inventory) =>
    inventory.locations.add({ code, name: options.name })
  )
  if (options.json) {
    printJson(location)
    return
  }
  printLine(`${location.code} (${location.name})`)
  note(`Added location ${location.code}.`)
}
