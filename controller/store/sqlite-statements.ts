/**
 * Prepared statements, compiled once per SQL text. better-sqlite3's `prepare` compiles every call;
 * the stores' statements are fixed strings, so a collection's thousand writes reuse a handful.
 */
import type Database from "better-sqlite3";

export type PrepareStatement = (sql: string) => Database.Statement;

export function statementCache(db: Database.Database): PrepareStatement {
  const statements = new Map<string, Database.Statement>();
  return (sql) => {
    let statement = statements.get(sql);
    if (!statement) {
      statement = db.prepare(sql);
      statements.set(sql, statement);
    }
    return statement;
  };
}
