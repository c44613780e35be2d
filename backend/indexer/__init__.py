"""The indexer: mirrors contract events into SQL, with its checkpoint in the same transaction."""
