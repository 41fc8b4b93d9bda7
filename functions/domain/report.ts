/**
 * The report of a run, in three modules: what `report.json` holds and its JSON Schema
 * (report-schema.ts), the builder from evaluations (report-builder.ts), and the usage CSV
 * (report-csv.ts). Importers take them from here.
 */
export * from './report-builder.js';
export * from './report-csv.js';
export * from './report-schema.js';
