"""A verifier that trusts nothing but the chain it was pointed at (issue 11, finding 10).

It is given the item (a GS1 Digital Link, or a GTIN and serial) and the chain (a node, plus a
pinned registry address or a trusted deployment manifest), and an answer from a server that it
does not trust. It recomputes every value from what it was asked and from the bodies shown
(the item's commitment and leaf, each event's canonical hash), asks the pinned contract about
each, checks that every transaction is on the node's chain and emitted the right event from the
pinned contract, and fails on anything missing, malformed or inconsistent. Recalls are asked of
the chain through one hook, :func:`backend.provenance.proofcheck.check_recalls`.

The formulas are in docs/verification.md; ``credance verify`` is the command line.
"""
