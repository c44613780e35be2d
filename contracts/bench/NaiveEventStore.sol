// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/**
 * @title NaiveEventStore
 * @notice BENCHMARK BASELINE ONLY, never deployed by the platform: stores each EPCIS event hash
 * in its own storage slot, one transaction per event, the way a naive provenance contract would.
 * `bench/provenance.py` compiles and deploys it to compare against Merkle-batched anchoring.
 */
contract NaiveEventStore {
    /// @notice When each event hash was stored (zero if never).
    mapping(bytes32 eventHash => uint256 storedAt) public storedAt;

    /// @notice Emitted when an event hash is stored.
    event EventStored(bytes32 indexed eventHash, address indexed writer);

    /// @notice The event hash was stored before.
    error AlreadyStored(bytes32 eventHash);

    /// @notice Stores one event hash.
    function storeEvent(bytes32 eventHash) external {
        if (storedAt[eventHash] != 0) revert AlreadyStored(eventHash);
        storedAt[eventHash] = block.timestamp;
        emit EventStored(eventHash, msg.sender);
    }
}
