/**
 * One SQLite connection through Node's built-in `node:sqlite` (no native addon to compile or ship),
 * with what the store needs on top of it: statements prepared once per query, the shared queries
 * (sql.ts) bound by position, and a BEGIN IMMEDIATE transaction helper.
 *
 * node:sqlite is synchronous, like the library it replaced: a transaction runs from BEGIN to COMMIT
 * without yielding to the event loop, so nothing else on this connection can interleave with it.
 * Integers come back as numbers (an integer beyond 2^53 would throw ERR_OUT_OF_RANGE rather than
 * lose precision: ours are epoch milliseconds and counts).
 *
 * Rows are read as arrays and made into plain objects here (rowMaker): node:sqlite's own row objects
 * have no prototype and V8 keeps them in dictionary mode, which made every read of a column a hash
 * lookup.
 * Measured in one process against the better-sqlite3 store it replaced (docs/operations.md#the-sqlite-store):
 * reads were 1.4–2× slower that way, and are not any more.
 */
import { DatabaseSync, type SQLInputValue, type StatementSync } from "node:sqlite";
import type { Row } from "./rows.js";
import type { CompiledQuery, Query } from "./sql.js";

interface Prepared {
  readonly statement: StatementSync;
  /** The parameters' names, in binding order. */
  readonly names: readonly string[];
  /** Its result rows (arrays, in column order) as objects. */
  readonly toRow: RowMaker;
}

export class SqliteDb {
  readonly raw: DatabaseSync;
  private readonly statements = new Map<CompiledQuery, Prepared>();
  /** Prepared once, like any statement: exec() would compile them again for every transaction. */
  private readonly begin: StatementSync;
  private readonly commit: StatementSync;
  private readonly rollback: StatementSync;

  constructor(path: string) {
    this.raw = new DatabaseSync(path);
    this.begin = this.raw.prepare("BEGIN IMMEDIATE");
    this.commit = this.raw.prepare("COMMIT");
    this.rollback = this.raw.prepare("ROLLBACK");
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
    const { statement, names, toRow } = this.prepared(query);
    const values = statement.get(...bind(names, params)) as unknown as unknown[] | undefined;
    return values && toRow(values);
  }

  all<P extends object>(query: Query<P>, params: P): Row[] {
    const { statement, names, toRow } = this.prepared(query);
    const rows = statement.all(...bind(names, params)) as unknown as unknown[][];
    return rows.map(toRow);
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
    this.begin.run();
    try {
      const result = fn();
      if (result instanceof Promise) throw new TypeError("a SQLite transaction function must be synchronous");
      this.commit.run();
      return result;
    } catch (err) {
      // Some errors (a full disk, an I/O error) end the transaction by themselves.
      if (this.raw.isTransaction) this.rollback.run();
      throw err;
    }
  }

  close(): void {
    if (this.raw.isOpen) this.raw.close();
  }

  /** Prepared once per query: the stores' queries are fixed, so a collection's writes reuse a handful. */
  private prepared(query: Query<object>): Prepared {
    const compiled = query.sqlite;
    let entry = this.statements.get(compiled);
    if (!entry) {
      const statement = this.raw.prepare(compiled.text);
      statement.setReturnArrays(true);
      entry = { statement, names: compiled.names, toRow: rowMaker(statement.columns().map((c) => c.name)) };
      this.statements.set(compiled, entry);
    }
    return entry;
  }
}

type RowMaker = (values: readonly unknown[]) => Row;

/**
 * Makes a query's rows into plain objects of one shape: an object literal compiled once per query
 * (V8 then keeps the columns in-object: the fastest to build and to read), or, where code generation
 * from strings is disallowed, properties added one by one in column order. The names are the
 * columns of our own SQL, quoted as string literals.
 */
function rowMaker(columns: readonly string[]): RowMaker {
  if (columns.includes("__proto__"))
    throw new Error("a column named __proto__ cannot be read into an object");
  try {
    return new Function(
      "v",
      `return { ${columns.map((name, i) => `${JSON.stringify(name)}: v[${i}]`).join(", ")} };`,
    ) as RowMaker;
  } catch {
    return (values) => {
      const row: Row = {};
      for (let i = 0; i < columns.length; i++) row[columns[i]!] = values[i];
      return row;
    };
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
