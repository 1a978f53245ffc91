import { supplierIdArgument } from "../../options/prompted.js"
import { type GlobalOptions, withInventory } from "../../session.js"
import { note, printJson } from "../../ui/output.js"
import { askIfMissing, confirmOrRequireYes } from "../../ui/prompt.js"

export interface RemoveSupplierOptions extends GlobalOptions {
  readonly yes?: boolean
}

export const run = async (idText: string | undefined, options: RemoveSupplierOptions): Promise<void> => {
  const id = await askIfMissing(idText, supplierIdArgument)
  if (
    !(await confirmOrRequireYes(
      {
        question: `Remove supplier ${id}, with its catalog items and sync runs?`,
        action: `removing supplier ${id}`
      },
      options.yes
    ))
  ) {
    note("Nothing was changed.")
    return
  }
  await withInventory(options, (inventory) => inventory.suppliers.remove(id))
  if (options.json) printJson({ supplierId: id, removed: true })
  else note(`Removed supplier ${id}, with its catalog items and sync runs.`)
}
