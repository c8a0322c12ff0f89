"""Notification workers: rules, templates, channels and the ledger."""
