// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/**
 * @title ICollectibleRewards
 * @notice What Credance collectible rewards add to ERC-1155: limited editions whose supply cap is
 * fixed when they are created, minted to members who redeem points for them (once per outbox
 * operation), and polls in which each holder of an edition votes once.
 *
 * @dev Holds the structs, events and errors of the collectibles (OpenZeppelin's `IAccessControl`
 * habit). Errors follow ERC-6093's grammar with the domain `CollectibleRewards`. Holder changes
 * are ERC-1155's own `TransferSingle`/`TransferBatch` events. No event or argument names a
 * person: holders are pseudonymous addresses, editions and polls are numbers.
 *
 * Custody: the contract counts, per (address, edition), the copies the platform holds in custody
 * (minted with `custodial`, or relayed to a custodial address). Only those move by
 * {relayTransfer}; a holder's ordinary ERC-1155 transfer moves its other copies first, and any
 * custodial copy it moves leaves custody for good ({CustodyReleased}).
 */
interface ICollectibleRewards {
    /**
     * @notice One mint ({mint}, {mintBatch}): a redemption's edition copies.
     * @param holder Pseudonymous address the copies are minted to (custodial or the member's wallet).
     * @param operationId Outbox id of the redemption's mint; usable once.
     * @param edition The edition minted.
     * @param amount How many copies.
     * @param custodial Whether `holder` is a custodial address (no key exists for it): the copies
     * are then held in custody, and the platform may relay them with the member's consent.
     */
    struct Mint {
        address holder;
        uint64 operationId;
        uint256 edition;
        uint64 amount;
        bool custodial;
    }

    /**
     * @notice What the contract keeps about an edition.
     * @param cap Copies that may ever exist (0: never created).
     * @param minted Copies minted so far (never more than `cap`; there is no burn).
     */
    struct Edition {
        uint64 cap;
        uint64 minted;
    }

    /**
     * @notice What the contract keeps about a poll.
     * @param edition Whose holders vote (0 with `options` 0: never opened).
     * @param snapshotBlock The block the poll was opened in: voters must have held the edition then.
     * @param closeBlock The last block a vote is accepted in.
     * @param options Number of options (votes name 0 … options - 1).
     */
    struct Poll {
        uint256 edition;
        uint64 snapshotBlock;
        uint64 closeBlock;
        uint8 options;
    }

    /// @notice Emitted when the edition `edition` was created with the supply cap `cap`.
    event EditionCreated(uint256 indexed edition, uint64 cap);

    /**
     * @notice Emitted when `amount` copies of `edition` were minted to `holder` by operation
     * `operationId`, held in custody if `custodial`.
     */
    event CollectiblesMinted(
        uint64 indexed operationId, uint256 indexed edition, address indexed holder, uint64 amount, bool custodial
    );

    /**
     * @notice Emitted when the platform relayed `amount` custodial copies of `edition` from `from`
     * to `to` by operation `operationId`; they stay in custody at `to` if `toCustodial`.
     */
    event CollectiblesRelayed(
        uint64 indexed operationId,
        uint256 indexed edition,
        address indexed from,
        address to,
        uint64 amount,
        bool toCustodial
    );

    /**
     * @notice Emitted when a transfer signed for `holder` itself moved `amount` of its custodial
     * copies of `edition`: they left custody (the platform can no longer relay them).
     */
    event CustodyReleased(address indexed holder, uint256 indexed edition, uint256 amount);

    /// @notice Emitted when the poll `pollId` was opened for the holders of `edition` at block `snapshotBlock`.
    event PollOpened(
        uint64 indexed pollId, uint256 indexed edition, uint8 options, uint64 snapshotBlock, uint64 closeBlock
    );

    /// @notice Emitted when `voter` voted `option` in `pollId` (`operationId`: the relay's outbox id, 0 for a direct vote).
    event PollVoted(uint64 indexed pollId, address indexed voter, uint64 indexed operationId, uint8 option);

    /// @notice The operation id 0 is never valid.
    error CollectibleRewardsInvalidOperationId();

    /// @notice The operation `operationId` was applied before (a retried transaction).
    error CollectibleRewardsAlreadyAppliedOperation(uint64 operationId);

    /// @notice The edition `edition` exists already, or its cap `cap` is 0.
    error CollectibleRewardsInvalidEdition(uint256 edition, uint64 cap);

    /// @notice The edition `edition` was never created.
    error CollectibleRewardsUnknownEdition(uint256 edition);

    /// @notice Minting `amount` more copies of `edition` would pass its cap (`remaining` left).
    error CollectibleRewardsCapExceeded(uint256 edition, uint64 amount, uint64 remaining);

    /// @notice The poll `pollId` exists already, or it offers fewer than two options, or it closes before it opens.
    error CollectibleRewardsInvalidPoll(uint64 pollId);

    /// @notice The poll `pollId` was never opened, or is closed.
    error CollectibleRewardsPollNotOpen(uint64 pollId);

    /// @notice `option` is not an option of the poll `pollId`.
    error CollectibleRewardsInvalidOption(uint64 pollId, uint8 option);

    /// @notice `voter` does not hold the poll's edition.
    error CollectibleRewardsNotHolder(uint64 pollId, address voter);

    /// @notice `voter` has voted in the poll `pollId` already.
    error CollectibleRewardsAlreadyVoted(uint64 pollId, address voter);

    /// @notice `holder` has `custodial` copies of `edition` in custody: a relay of `amount` (0 or more) is refused.
    error CollectibleRewardsInsufficientCustody(address holder, uint256 edition, uint256 amount, uint256 custodial);

    /// @notice Whether the operation `operationId` was applied.
    function isOperationApplied(uint64 operationId) external view returns (bool);

    /// @notice The edition `edition` (cap 0: never created).
    function edition(uint256 editionId) external view returns (Edition memory);

    /// @notice The poll `pollId` (options 0: never opened).
    function poll(uint64 pollId) external view returns (Poll memory);

    /// @notice Whether `voter` has voted in the poll `pollId`.
    function hasVoted(uint64 pollId, address voter) external view returns (bool);

    /// @notice The copies of `editionId` at `holder` that the platform holds in custody (at most its balance).
    function custodialBalanceOf(address holder, uint256 editionId) external view returns (uint256);

    /// @notice Creates an edition with its supply cap, fixed for ever (PROGRAM_MANAGER_ROLE).
    function createEdition(uint256 editionId, uint64 cap) external;

    /// @notice Mints a redemption's copies (ISSUER_ROLE); reverts past the edition's cap.
    function mint(Mint calldata request) external;

    /// @notice Mints several redemptions' copies in one transaction (ISSUER_ROLE); reverts if any fails.
    function mintBatch(Mint[] calldata requests) external;

    /**
     * @notice Opens a poll for the holders of `editionId` (PROGRAM_MANAGER_ROLE); the current block
     * is its snapshot, votes are accepted up to `closeBlock` included.
     */
    function openPoll(uint64 pollId, uint256 editionId, uint8 options, uint64 closeBlock) external;

    /// @notice Votes `option` in `pollId`, once per holder of the poll's edition.
    function vote(uint64 pollId, uint8 option) external;

    /**
     * @notice Votes for a custodial holder `voter` (ISSUER_ROLE), with the member's consent checked
     * by the platform; once per holder as {vote}.
     */
    function relayVote(uint64 operationId, uint64 pollId, address voter, uint8 option) external;

    /**
     * @notice Moves `amount` copies of `editionId` that `from` holds in custody to `to`
     * (ISSUER_ROLE), with the member's consent checked by the platform; `toCustodial` says whether
     * `to` is a custodial address (the copies then stay in custody there). Never more than
     * {custodialBalanceOf}: copies in a member's own wallet move only by their holder.
     */
    function relayTransfer(
        uint64 operationId,
        address from,
        address to,
        uint256 editionId,
        uint64 amount,
        bool toCustodial
    ) external;
}
