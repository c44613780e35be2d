// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/**
 * @title IItemPassports
 * @notice What a Credance item passport adds to ERC-721: one passport per registered item, ever,
 * issued to the item's buyer, its token id derived from the item's salted commitment (no serial
 * on chain), and transfers the platform relays for members whose passport it holds in custody.
 *
 * @dev Holds the structs, events and errors of the passports (OpenZeppelin's `IAccessControl`
 * habit). Errors follow ERC-6093's grammar with the domain `ItemPassports`. Ownership changes are
 * ERC-721's own `Transfer` events.
 */
interface IItemPassports {
    /**
     * @notice One passport to issue ({issue}, {issueBatch}).
     * @param holder Pseudonymous address the passport is minted to (custodial or the member's wallet).
     * @param operationId Outbox id of the issue; usable once.
     * @param gtin The item's GTIN.
     * @param custodial Whether `holder` is a custodial address the platform relays transfers for.
     * @param commitment The item's salted commitment `keccak256(abi.encode(salt, serial))`.
     * @param root The registry's item batch holding the item.
     * @param proof Merkle proof of the item's leaf in `root`.
     */
    struct Claim {
        address holder;
        uint64 operationId;
        uint64 gtin;
        bool custodial;
        bytes32 commitment;
        bytes32 root;
        bytes32[] proof;
    }

    /**
     * @notice What the contract keeps about a passport.
     * @param gtin The item's GTIN (0: never issued).
     * @param issuedAt Block timestamp of the issue.
     * @param custodial Whether the platform holds it in custody (may relay its transfer).
     */
    struct Passport {
        uint64 gtin;
        uint64 issuedAt;
        bool custodial;
    }

    /// @notice Emitted when the passport `tokenId` of an item of `gtin` is issued by operation `operationId`.
    event PassportIssued(uint256 indexed tokenId, uint64 indexed operationId, uint64 indexed gtin);

    /// @notice Emitted when the platform relays the transfer of a custodial passport (operation `operationId`).
    event PassportRelayed(uint256 indexed tokenId, uint64 indexed operationId, bool custodial);

    /// @notice The operation id 0 is never valid.
    error ItemPassportsInvalidOperationId();

    /// @notice The operation `operationId` was applied before (a retried transaction).
    error ItemPassportsAlreadyAppliedOperation(uint64 operationId);

    /// @notice The item `(gtin, commitment)` is not in the registry's batch `root`.
    error ItemPassportsUnregisteredItem(uint64 gtin, bytes32 commitment, bytes32 root);

    /// @notice The item's passport `tokenId` was issued before (one per item, ever).
    error ItemPassportsAlreadyIssued(uint256 tokenId);

    /// @notice The passport `tokenId` is held by `holder` itself, not in custody: only its holder moves it.
    error ItemPassportsUnauthorizedRelay(uint256 tokenId, address holder);

    /// @notice `commitment` is not the commitment of the item of passport `tokenId`.
    error ItemPassportsIncorrectCommitment(uint256 tokenId, bytes32 commitment);

    /// @notice The registry the passports check items against.
    function registry() external view returns (address);

    /// @notice Whether the operation `operationId` was applied.
    function isOperationApplied(uint64 operationId) external view returns (bool);

    /// @notice The passport `tokenId` (gtin 0: never issued).
    function passport(uint256 tokenId) external view returns (Passport memory);

    /// @notice The token id of the passport of the item `(gtin, commitment)`: the registry's item leaf.
    function passportId(uint64 gtin, bytes32 commitment) external pure returns (uint256);

    /**
     * @notice Issues the passport of a registered item to its buyer (ISSUER_ROLE). The platform
     * proves the sale off chain; the contract checks the item is registered and issues one
     * passport per item, ever.
     */
    function issue(Claim calldata claim) external returns (uint256 tokenId);

    /// @notice Issues several passports in one transaction (ISSUER_ROLE); reverts if any fails.
    function issueBatch(Claim[] calldata claims) external;

    /**
     * @notice Moves a passport held in custody to `to` (ISSUER_ROLE), with the member's consent
     * checked by the platform; `custodial` says whether `to` is a custodial address. A passport
     * in a member's own wallet moves only by its holder (ERC-721 transfers).
     */
    function relayTransfer(uint64 operationId, uint256 tokenId, address to, bool custodial) external;

    /**
     * @notice Whether the passport's item is recalled: its GTIN, or a recall scope of its brand
     * holding it (`scopeRoot`, `proof`; zero and empty for the GTIN alone).
     */
    function isRecalled(uint256 tokenId, bytes32 commitment, bytes32 scopeRoot, bytes32[] calldata proof)
        external
        view
        returns (bool);
}
