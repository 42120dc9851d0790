"""The composition root: builds the platform from Settings, and the CLI commands around it.

main.py is the thin launcher; this package is the one place that imports every layer
(docs/architecture.md). Nothing in the product imports it.
"""
