/**
 * One SQLite connection through Node's built-in `node:sqlite` (no native addon to compile or ship),
 * with what the store needs on top of it: statements prepared once per query, the shared queries
 * (sql.ts) bound by position, and a BEGIN IMMEDIATE transaction helper.
 *
 * node:sqlite is synchronous, like the library it replaced: a transaction runs from BEGIN to COMMIT
 * without yielding to the event loop, so nothing else on this connection can interleave with it.
 * Rows come back as objects without a prototype; integers as numbers (an integer beyond 2^53 would
 * throw ERR_OUT_OF_RANGE rather than lose precision: ours are epoch milliseconds and counts).
 */
import { DatabaseSync, type SQLInputValue, type StatementSync } from "node:sqlite";
import type { Row } from "./rows.js";
import type { CompiledQuery, Query } from "./sql.js";

export class SqliteDb {
  readonly raw: DatabaseSync;
  private readonly statements = new Map<
    CompiledQuery,
    { statement: StatementSync; names: readonly string[] }
  >();

  constructor(path: string) {
    this.raw = new DatabaseSync(path);
  }

  get open(): boolean {
    return this.raw.isOpen;
  }

  /** Runs SQL text without parameters (pragmas, schema). */
  exec(sqlText: string): void {
    this.raw.exec(sqlText);
  }

  /** One pragma's value (`PRAGMA name`), e.g. "wal" for journal_mode. */
  pragma(name: string): unknown {
    const row = this.raw.prepare(`PRAGMA ${name}`).get() as Row | undefined;
    return row === undefined ? undefined : Object.values(row)[0];
  }

  get<P extends object>(query: Query<P>, params: P): Row | undefined {
    const { statement, names } = this.prepared(query);
    return statement.get(...bind(names, params)) as Row | undefined;
  }

  all<P extends object>(query: Query<P>, params: P): Row[] {
    const { statement, names } = this.prepared(query);
    return statement.all(...bind(names, params)) as Row[];
  }

  /** Runs a statement; answers the number of rows it changed. */
  run<P extends object>(query: Query<P>, params: P): number {
    const { statement, names } = this.prepared(query);
    return Number(statement.run(...bind(names, params)).changes);
  }

  /**
   * Runs `fn` in one BEGIN IMMEDIATE transaction: the write lock is taken before `fn` reads anything
   * (e.g. the audit chain's tail), COMMIT when it returns, ROLLBACK when it throws. `fn` must be
   * synchronous, and transactions do not nest.
   */
  transaction<T>(fn: () => T): T {
    if (this.raw.isTransaction) throw new Error("a SQLite transaction is already open on this connection");
    this.raw.exec("BEGIN IMMEDIATE");
    try {
      const result = fn();
      if (result instanceof Promise) throw new TypeError("a SQLite transaction function must be synchronous");
      this.raw.exec("COMMIT");
      return result;
    } catch (err) {
      // Some errors (a full disk, an I/O error) end the transaction by themselves.
      if (this.raw.isTransaction) this.raw.exec("ROLLBACK");
      throw err;
    }
  }

  close(): void {
    if (this.raw.isOpen) this.raw.close();
  }

  /** Prepared once per query: the stores' queries are fixed, so a collection's writes reuse a handful. */
  private prepared(query: Query<object>) {
    const compiled = query.sqlite;
    let entry = this.statements.get(compiled);
    if (!entry) {
      entry = { statement: this.raw.prepare(compiled.text), names: compiled.names };
      this.statements.set(compiled, entry);
    }
    return entry;
  }
}

/** Arguments in the query's order; booleans as 0/1 (SQLite has no boolean type). */
function bind(names: readonly string[], params: object): SQLInputValue[] {
  const values = params as Record<string, unknown>;
  const args = new Array<SQLInputValue>(names.length);
  for (let i = 0; i < names.length; i++) {
    const value = values[names[i]!];
    if (value === undefined) throw new Error(`query parameter :${names[i]} is missing`);
    args[i] = typeof value === "boolean" ? (value ? 1 : 0) : (value as SQLInputValue);
  }
  return args;
}
