import { optionalNumberArgument } from "../../numberArgument.js"
import { clearableText } from "../../options/clearable.js"
import { type ConnectorFlags, connectorFlagsGiven, connectorFromFlags } from "../../options/connector.js"
import { supplierIdArgument } from "../../options/prompted.js"
import { type GlobalOptions, previewConnector, withInventory } from "../../session.js"
import { note, printJson, printLine } from "../../ui/output.js"
import { askIfMissing, canPrompt } from "../../ui/prompt.js"
import { printSupplier, renderPreview } from "../../ui/suppliers.js"

export interface AddSupplierOptions extends GlobalOptions, ConnectorFlags {
  readonly name?: string
  readonly schedule?: string
  readonly createMissingProducts?: boolean
  readonly leadTimeDays?: string
  readonly dryRun?: boolean
}

export const run = async (idText: string | undefined, options: AddSupplierOptions): Promise<void> => {
  if (!connectorFlagsGiven(options) && canPrompt()) {
    const { addStepByStep } = await import("./addStepByStep.js")
    await addStepByStep(idText, options)
    return
  }
  if (options.dryRun) {
    await tryConnector(options)
    return
  }
  const id = await askIfMissing(idText, supplierIdArgument)
  const name = await askIfMissing(options.name, {
    name: "--name",
    passIt: 'as --name "Acme Ltd"',
    question: "Name"
  })
  const connector = connectorFromFlags(options)
  const supplier = await withInventory(options, (inventory) =>
    inventory.suppliers.add({
      id,
      name,
      connector,
      schedule: clearableText(options.schedule),
      createMissingProducts: options.createMissingProducts,
      leadTimeDays: optionalNumberArgument(options.leadTimeDays, "leadTimeDays")
    })
  )
  printSupplier(supplier, options.json)
  if (!options.json)
    note(`Added supplier ${supplier.id}. Sync its catalog now with: inv supplier sync ${supplier.id}`)
}

/** --dry-run: only the connector matters, so no id or name is needed. */
const tryConnector = async (options: AddSupplierOptions): Promise<void> => {
  const connector = connectorFromFlags(options)
  const preview = await previewConnector(options, connector)
  if (options.json) printJson(preview)
  else printLine(renderPreview(preview))
  note("Dry run: nothing was saved.")
}
