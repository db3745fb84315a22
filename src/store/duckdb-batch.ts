// The embedded store's insert path: a batch of records is encoded column by column in JS, then
// DuckDB reads it through a table function, `INSERT INTO flows SELECT * FROM flowvis_batch(<id>)`.
//
//   records ──encodeBatch──> numbers: one Float64Array per column
//                            strings: per batch dictionary (distinct values) + index array,
//                                     or, for columns with mostly distinct values, the values
//   flowvis_batch(id) ──main()──> 2048-row output chunks: typed arrays copied into the vectors,
//                                 dictionary columns as ENUM vectors (DuckDB casts them to VARCHAR)
//
// Why not the appender: appending a data chunk runs DuckDB's conversion and storage work on the
// JS thread at about 50 ns a value (52 values a row), and assigning a string into a VARCHAR
// vector crosses the binding for every value (0.3-0.6 µs). Here the binding is crossed once
// per column per chunk, strings once per distinct value, and the INSERT's work runs on DuckDB's
// threads. Measured: docs/store.md, "Figures".
import duckdb from '@duckdb/node-bindings';
import { DOUBLE, DuckDBLogicalType, DuckDBTableFunction, VARCHAR, type DuckDBConnection, type DuckDBType } from '@duckdb/node-api';
import { CHUNK_ROWS, type EncodedBatch, type EncodedColumn } from './columnar.js';
import { COLUMNS } from './schema.js';

export { encodeBatch } from './columnar.js';

interface ScanState {
  batch: EncodedBatch;
  offset: number;
}

/**
 * The batches a connection's `flowvis_batch(id)` can read. Register it once per connection;
 * `insert` stages a batch under a fresh id for the duration of one statement.
 */
export class BatchSource {
  private readonly staged = new Map<number, EncodedBatch>();
  private nextId = 1;

  constructor(
    /** The result columns' names, in the batches' column order. */
    private readonly names: readonly string[] = COLUMNS.map((c) => c.name),
    readonly functionName = 'flowvis_batch',
  ) {}

  register(connection: DuckDBConnection): void {
    const fn = DuckDBTableFunction.create({
      name: this.functionName,
      parameterTypes: [DOUBLE],
      bindFunction: (bind) => {
        const id = Number(bind.getParameter(0));
        const batch = this.staged.get(id);
        if (!batch) {
          bind.setError(`${this.functionName}(${id}): no batch is staged under this id`);
          return;
        }
        const names = batch.names ?? this.names;
        for (let c = 0; c < names.length; c++) bind.addResultColumn(names[c], typeOf(batch.columns[c]));
        bind.setCardinality(batch.rows, true);
        bind.setBindData({ batch, offset: 0 } satisfies ScanState);
      },
      initFunction: () => undefined,
      mainFunction: (info, output) => {
        const state = info.bindData as ScanState;
        const m = Math.min(CHUNK_ROWS, state.batch.rows - state.offset);
        output.rowCount = Math.max(0, m);
        if (m <= 0) return;
        const chunk = output.chunk;
        const from = state.offset;
        const columns = state.batch.columns;
        for (let c = 0; c < columns.length; c++) {
          const col = columns[c];
          const vector = duckdb.data_chunk_get_vector(chunk, c);
          if (col.kind === 'strings') {
            const { dictionary, indexes } = col;
            for (let i = 0; i < m; i++) duckdb.vector_assign_string_element(vector, i, dictionary[indexes[from + i]]);
            continue;
          }
          const data = col.kind === 'number' ? col.values : col.indexes;
          const width = data.BYTES_PER_ELEMENT;
          duckdb.copy_data_to_vector(vector, 0, data.buffer as ArrayBuffer, data.byteOffset + from * width, m * width);
        }
        state.offset += m;
      },
    });
    connection.registerTableFunction(fn);
  }

  /** Runs `fn` with the batch staged under an id; `fn` names it in SQL as `flowvis_batch(<id>)`. */
  async with<T>(batch: EncodedBatch, fn: (call: string) => Promise<T>): Promise<T> {
    const id = this.nextId++;
    this.staged.set(id, batch);
    try {
      return await fn(`${this.functionName}(${id})`);
    } finally {
      this.staged.delete(id);
    }
  }
}

function typeOf(column: EncodedColumn): DuckDBType {
  switch (column.kind) {
    case 'number':
      return DOUBLE;
    case 'strings':
      return VARCHAR;
    case 'dictionary':
      return enumType(column.dictionary);
  }
}

/**
 * An ENUM type for a dictionary, created through DuckDBLogicalType.createEnum: node-api's ENUM()
 * also builds a value-to-index object, which this path never reads (4 times slower).
 */
function enumType(dictionary: readonly string[]): DuckDBType {
  const logical = DuckDBLogicalType.createEnum(dictionary);
  return { toLogicalType: () => logical } as unknown as DuckDBType;
}
