/**
 * The one-definition query compiler (controller/store/sql.ts): named parameters to each dialect's
 * numbered placeholders, dialect pieces in place, and strictness about missing parameters. Every
 * shared query also compiles to SQL both real databases accept: the store contract runs them all.
 */
import { describe, expect, it } from "vitest";
import * as Q from "../../../controller/store/queries.js";
import { argsOf, compile, differ, perDialect, rowsOf, sql } from "../../../controller/store/sql.js";

describe("sql", () => {
  it("numbers named parameters by first appearance, the same in both dialects", () => {
    const q = sql<{ a: string; b: number }>`SELECT * FROM t WHERE x = :b OR y = :a OR z = :b`;
    expect(q.sqlite).toEqual({ text: "SELECT * FROM t WHERE x = ?1 OR y = ?2 OR z = ?1", names: ["b", "a"] });
    expect(q.postgres).toEqual({
      text: "SELECT * FROM t WHERE x = $1 OR y = $2 OR z = $1",
      names: ["b", "a"],
    });
    expect(argsOf(q.postgres, { a: "A", b: 2 })).toEqual([2, "A"]);
  });

  it("leaves string literals, quoted identifiers and :: casts alone", () => {
    expect(compile(`SELECT ':not' || "a:b", x::text, :p FROM t`, "postgres")).toEqual({
      text: `SELECT ':not' || "a:b", x::text, $1 FROM t`,
      names: ["p"],
    });
    expect(() => compile("SELECT 'open", "sqlite")).toThrow(/unterminated/);
  });

  it("puts each dialect's piece where the query differs", () => {
    const q = sql<{ id: string }>`SELECT * FROM t WHERE id = :id${differ("", " FOR UPDATE")}`;
    expect(q.sqlite.text).toBe("SELECT * FROM t WHERE id = ?1");
    // Trimmed, so monitoring sees the statement's first word first.
    expect(
      sql`
  UPDATE t SET x = 1
`.postgres.text,
    ).toBe("UPDATE t SET x = 1");
    expect(q.postgres.text).toBe("SELECT * FROM t WHERE id = $1 FOR UPDATE");
    const both = perDialect<{ n: number }>({
      sqlite: sql`SELECT max(:n, 1)`,
      postgres: sql`SELECT GREATEST(:n, 1)`,
    });
    expect([both.sqlite.text, both.postgres.text]).toEqual(["SELECT max(?1, 1)", "SELECT GREATEST($1, 1)"]);
  });

  it("refuses a missing parameter instead of binding NULL; null is a value", () => {
    const q = sql<{ a: string | null; b: string }>`SELECT :a, :b`;
    expect(() => argsOf(q.sqlite, { a: null } as never)).toThrow(/:b is missing/);
    expect(argsOf(q.sqlite, { a: null, b: "x" })).toEqual([null, "x"]);
  });

  it("repeats a single-row INSERT's tuple for PostgreSQL, numbering each row after the last", () => {
    const q = sql<{ a: string; b: string }>`INSERT INTO t (a, b, c) VALUES (:a, :b, :a)`;
    expect(rowsOf(q, 3)).toBe("INSERT INTO t (a, b, c) VALUES ($1, $2, $1), ($3, $4, $3), ($5, $6, $5)");
    expect(rowsOf(Q.insertAudit, 2)).toMatch(/VALUES \(\$1, .*\$10\), \(\$11, .*\$20\)$/);
    expect(() => rowsOf(Q.requestById, 2)).toThrow(/not a single-row INSERT/);
  });
});
