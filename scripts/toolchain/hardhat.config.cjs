// Hardhat Network as a plain local node for Credance (`CREDANCE_NODE=hardhat`; started by
// backend/chain/anvil.py as `hardhat --config this-file node`). Nothing is compiled here: the
// contracts are built by `credance build`. Accounts: Hardhat's default mnemonic, the same as
// Anvil's, so the platform's dev keys are the same on every local node.
module.exports = {
  networks: {
    hardhat: {
      chainId: 31337,
      hardfork: "cancun",
      // Blocks keep the wall clock's second (a burst of blocks must not push time ahead).
      allowBlocksWithSameTimestamp: true,
      accounts: { count: 10 },
    },
  },
};
