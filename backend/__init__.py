"""Credance: blockchain-backed loyalty points and product provenance."""

__version__ = "0.1.0"
