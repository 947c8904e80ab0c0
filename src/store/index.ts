/**
 * The store layer: SQLite (better-sqlite3) for collections, documents, chunks, vectors, metadata filters, FTS5 keyword
 * search and ingest bookkeeping; and the IndexManager that keeps each collection's vector index in step with it.
 * See docs/store.md.
 */
export * from './store.ts';
export * from './errors.ts';
export { Filter, parseFilter, normalizeMetadata, fieldNameProblem, FIELD_OPERATORS, LOGICAL_OPERATORS } from './filter.ts';
export type { FilterNode, Metadata, MetadataValue, Scalar, SqlFragment, ComparisonOp, SetOp } from './filter.ts';
export { toFtsQuery, queryTerms, MAX_QUERY_TERMS } from './fts.ts';
export type { KeywordMatch } from './fts.ts';
export { MIGRATIONS, LATEST_VERSION, migrate, currentVersion } from './migrations.ts';
export type { Migration } from './migrations.ts';
export { IndexManager } from './index-manager.ts';
export type { CollectionStats, IndexManagerOptions, Logger, SearchHit, SearchMode, SearchRequest, VectorSearchOptions } from './index-manager.ts';
export * from './tokens.ts';
