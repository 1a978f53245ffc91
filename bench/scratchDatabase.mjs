/**
 * What every benchmark does with PostgreSQL (and the other local services) before it measures:
 * refuse anything but this machine, and work in a database of its own, dropped afterwards.
 */
import { randomBytes } from "node:crypto"
import pg from "pg"

/** Throws unless `raw` (the URL in the variable `name`) points at this machine. */
export const requireLocal = (name, raw) => {
  const host = new URL(raw).hostname
  if (!["127.0.0.1", "localhost", "[::1]"].includes(host)) {
    throw new Error(`refusing a non-local ${name} (${host}); use 127.0.0.1`)
  }
}

/**
 * A database `<prefix>_<random>` created on the server of `adminUrl`: its name, its URL, the
 * server's version, and `drop` (which drops it with its connections, and closes the admin client).
 */
export const scratchDatabase = async (adminUrl, prefix) => {
  requireLocal("BENCH_PG_URL", adminUrl)
  const admin = new pg.Client({ connectionString: adminUrl })
  await admin.connect()
  const { rows } = await admin.query("show server_version")
  const name = `${prefix}_${randomBytes(4).toString("hex")}`
  await admin.query(`create database ${name}`)
  const url = new URL(adminUrl)
  url.pathname = `/${name}`
  return {
    name,
    url: url.toString(),
    serverVersion: rows[0].server_version,
    drop: async () => {
      await admin.query(`drop database if exists ${name} with (force)`).catch(() => {})
      await admin.end()
    }
  }
}

/** The pool the SDK builds (pg.Pool, int8 parsed to numbers), for the raw side of a comparison. */
export const rawPool = (url, max) => {
  const pool = new pg.Pool({
    connectionString: url,
    max,
    application_name: "invkit-bench-raw",
    types: {
      getTypeParser: (oid, format) =>
        oid === pg.types.builtins.INT8 ? Number : pg.types.getTypeParser(oid, format)
    }
  })
  // pool.end() resolves before its connections are gone, so dropping the database right after
  // reaches an idle connection as an error; without a listener that would crash the run at its end.
  pool.on("error", (error) => {
    if (error.code !== "57P01") console.error(`raw pool: ${error.message}`)
  })
  return pool
}
