"""Provenance domain: GTINs, salted serial commitments, Merkle batches, verification verdicts."""
