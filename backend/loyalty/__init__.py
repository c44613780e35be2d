"""Loyalty domain: earning rules, purchases, balances and the ledger (no HTTP in here)."""
