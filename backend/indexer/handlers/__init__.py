"""Turn decoded events into mirror rows. Each handler module exposes ``apply`` (events of a block
range, in chain order) and ``rollback`` (undo everything above a block)."""
