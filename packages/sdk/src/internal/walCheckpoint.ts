/**
 * PostgreSQL in single-user mode (PGlite) never starts a checkpoint on its own, so the embedded
 * store's writers start one themselves: once `CHECKPOINT_AFTER_BYTES` of WAL were written since
 * the last checkpoint, half of max_wal_size (internal/pgliteClient.ts), as PostgreSQL's
 * checkpointer would. Not after every write: each checkpoint makes the next change of every page
 * log the whole page again.
 */
export const CHECKPOINT_AFTER_BYTES = 32 * 1024 * 1024

/** Whether a checkpoint is due: `$1` is `CHECKPOINT_AFTER_BYTES`. */
export const CHECKPOINT_DUE =
  "select pg_current_wal_lsn() - (select redo_lsn from pg_control_checkpoint()) > $1 as due"
