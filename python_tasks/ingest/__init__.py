"""Ingestion: land deliveries, validate them against their contracts, load raw partitions."""
