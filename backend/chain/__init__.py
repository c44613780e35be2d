"""Everything that talks to the EVM: compiler, Anvil, deployment, signing and sending."""
