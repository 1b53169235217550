"""Chinese national code standards (USCC, GB/T 4754 industries, GB/T 2260 regions).

Pure, standard-library-only validators and lookups, kept apart from any I/O so that the
ingest gates, dbt seeds and tests all agree on one definition of "a valid code".
"""
