/**
 * Server mode is not built yet (issue "Server mode"): this package only reserves the name and
 * the place in the workspace. See docs/server.md.
 */
export const notBuiltYet = true
