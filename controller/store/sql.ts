/**
 * One definition of each query for both stores. A query is written once, with named parameters
 * (`:name`), and compiled at load time for each dialect: SQLite's numbered `?N` and PostgreSQL's
 * `$N`, numbered alike (by first appearance), so one argument array serves both. Where the dialects
 * must differ, the query says so in place with `differ(sqlite, postgres)`, so the difference is
 * visible in that one query and nowhere else.
 *
 * Why not a query builder (Kysely): see docs/operations.md#one-definition-of-each-query.
 */

export type Dialect = "sqlite" | "postgres";

/** A piece of SQL that differs between the dialects, written where the query is. */
export interface DialectText {
  readonly sqlite: string;
  readonly postgres: string;
}

/** The SQLite and the PostgreSQL spelling of one piece of a query. */
export const differ = (sqlite: string, postgres: string): DialectText => ({ sqlite, postgres });

/** A query as one dialect runs it: its text, and its parameters' names in binding order. */
export interface CompiledQuery {
  readonly text: string;
  readonly names: readonly string[];
}

/** A query with the parameters `P`, compiled for both dialects. */
export interface Query<P extends object = Record<string, never>> {
  readonly sqlite: CompiledQuery;
  readonly postgres: CompiledQuery;
  /** Never set: carries the parameters' type to the call sites. */
  readonly params?: P;
}

/** The type of a query's parameters. */
export type ParamsOf<Q> = Q extends Query<infer P> ? P : never;

/**
 * Writes a query once: `sql<{ id: string }>\`SELECT * FROM tokens WHERE id = :id\``. Interpolations
 * are `differ(…)` pieces only, never values: values are always bound as parameters.
 */
export function sql<P extends object = Record<string, never>>(
  strings: TemplateStringsArray,
  ...pieces: DialectText[]
): Query<P> {
  // Trimmed: the text is what pg_stat_activity and logs show (`UPDATE requests SET status…`).
  const textFor = (dialect: Dialect) =>
    strings.reduce((text, s, i) => text + s + (i < pieces.length ? pieces[i]![dialect] : ""), "").trim();
  return { sqlite: compile(textFor("sqlite"), "sqlite"), postgres: compile(textFor("postgres"), "postgres") };
}

/** A query whose two dialects share nothing but its parameters (e.g. a batch spelled two ways). */
export function perDialect<P extends object>(queries: {
  readonly sqlite: Query<P>;
  readonly postgres: Query<P>;
}): Query<P> {
  return { sqlite: queries.sqlite.sqlite, postgres: queries.postgres.postgres };
}

/**
 * Replaces each `:name` outside string literals, quoted identifiers and `::` casts with the
 * dialect's numbered placeholder; a name used twice binds the same value.
 */
export function compile(text: string, dialect: Dialect): CompiledQuery {
  const names: string[] = [];
  let out = "";
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === "'" || c === '"') {
      const end = text.indexOf(c, i + 1);
      if (end < 0) throw new Error(`unterminated ${c} in query: ${text}`);
      out += text.slice(i, end + 1);
      i = end + 1;
    } else if (c === ":" && text[i + 1] === ":") {
      out += "::";
      i += 2;
    } else if (c === ":" && /[A-Za-z_]/.test(text[i + 1] ?? "")) {
      const name = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i + 1))![0];
      let index = names.indexOf(name);
      if (index < 0) index = names.push(name) - 1;
      out += dialect === "sqlite" ? `?${index + 1}` : `$${index + 1}`;
      i += 1 + name.length;
    } else {
      out += c;
      i++;
    }
  }
  return { text: out, names };
}

/**
 * The arguments for a compiled query, in its order. A missing parameter is a programming error and
 * throws (SQLite would bind it as NULL without a word); `null` is a value.
 */
export function argsOf(query: CompiledQuery, params: object): unknown[] {
  const values = params as Record<string, unknown>;
  return query.names.map((name) => {
    const value = values[name];
    if (value === undefined) throw new Error(`query parameter :${name} is missing`);
    return value;
  });
}

/**
 * A single-row `INSERT … VALUES (…)` as PostgreSQL runs it for `n` rows in one statement: the
 * tuple repeated, row k's parameters numbered after row k-1's. Its arguments are each row's
 * `argsOf(query.postgres, row)`, concatenated.
 */
export function rowsOf(query: Query<object>, n: number): string {
  const { text, names } = query.postgres;
  const at = text.lastIndexOf("VALUES");
  const tuple = text.slice(at + "VALUES".length).trim();
  if (at < 0 || !/^\(.*\)$/s.test(tuple)) throw new Error(`not a single-row INSERT … VALUES (…): ${text}`);
  const tuples = Array.from({ length: n }, (_, row) =>
    tuple.replace(/\$(\d+)/g, (_m, i: string) => `$${row * names.length + Number(i)}`),
  );
  return `${text.slice(0, at)}VALUES ${tuples.join(", ")}`;
}

/** LIMIT's "no limit" for both dialects (SQLite refuses LIMIT NULL, PostgreSQL LIMIT -1). */
export const NO_LIMIT = Number.MAX_SAFE_INTEGER;
