import { supplierIdArgument } from "../../options/prompted.js"
import { type GlobalOptions, withInventory } from "../../session.js"
import { askIfMissing } from "../../ui/prompt.js"
import { printSupplier } from "../../ui/suppliers.js"

export const run = async (idText: string | undefined, options: GlobalOptions): Promise<void> => {
  const id = await askIfMissing(idText, supplierIdArgument)
  printSupplier(await withInventory(options, (inventory) => inventory.suppliers.get(id)), options.json)
}
