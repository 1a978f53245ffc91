import { optionalNumberArgument } from "../../numberArgument.js"
import { type ClearableOption, clearableText } from "../../options/clearable.js"
import { type ConnectorFlags, connectorChangedByFlags } from "../../options/connector.js"
import { supplierIdArgument } from "../../options/prompted.js"
import { type GlobalOptions, withInventory } from "../../session.js"
import { note } from "../../ui/output.js"
import { askIfMissing } from "../../ui/prompt.js"
import { printSupplier } from "../../ui/suppliers.js"
import { UsageError } from "../../usageError.js"

export interface UpdateSupplierOptions extends GlobalOptions, ConnectorFlags {
  readonly name?: string
  readonly schedule?: ClearableOption
  readonly createMissingProducts?: boolean
  readonly leadTimeDays?: string
  readonly active?: boolean
  readonly inactive?: boolean
}

export const run = async (idText: string | undefined, options: UpdateSupplierOptions): Promise<void> => {
  const id = await askIfMissing(idText, supplierIdArgument)
  if (options.active && options.inactive) throw new UsageError("pass either --active or --inactive, not both")
  const patch = {
    name: options.name,
    schedule: clearableText(options.schedule),
    createMissingProducts: options.createMissingProducts,
    leadTimeDays: optionalNumberArgument(options.leadTimeDays, "leadTimeDays"),
    active: options.active ? true : options.inactive ? false : undefined
  }
  const supplier = await withInventory(options, async (inventory) => {
    // Connector flags change the stored connector, so it is read first; an unknown id fails here.
    const connector = connectorChangedByFlags(options, (await inventory.suppliers.get(id)).connector)
    return inventory.suppliers.update(id, { ...patch, connector })
  })
  printSupplier(supplier, options.json)
  if (!options.json) note(`Updated supplier ${supplier.id}.`)
}
