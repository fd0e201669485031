"""The topological-materials database: SQLite schema, label sources, curated spot checks, queries."""
