"""Ingest: read files, map their columns onto the canonical schema, validate, land batches."""
