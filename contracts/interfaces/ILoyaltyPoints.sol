// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/**
 * @title ILoyaltyPoints
 * @notice What a Credance loyalty program's points token adds to ERC-20 and ERC-2612: issuer
 * operations that each carry a once-only operation id, published earning rule sets, debt after
 * reversals, custody of accounts and the member transfer policy.
 *
 * @dev Holds the structs, events and errors of the token (OpenZeppelin's `IAccessControl` habit),
 * so a client decodes everything from the interface alone. Errors follow ERC-6093's grammar
 * `<Domain><ErrorPrefix><Subject>(who, what, why)` with the domain `LoyaltyPoints`. A redemption
 * permit that fails reverts with ERC-2612's own errors, `ERC2612ExpiredSignature(deadline)` and
 * `ERC2612InvalidSigner(signer, owner)`, declared by OpenZeppelin's `ERC20Permit`.
 */
interface ILoyaltyPoints {
    /**
     * @notice One award of an {awardBatch}.
     * @param account Pseudonymous address of the customer.
     * @param operationId Outbox id of the award; usable once.
     * @param ruleVersion Version of the published earning rules that computed `amount`.
     * @param amount Points earned, before debt repayment.
     * @param orderRef Commitment to the order (hash of store and order id, no personal data).
     */
    struct Award {
        address account;
        uint64 operationId;
        uint32 ruleVersion;
        uint128 amount;
        bytes32 orderRef;
    }

    /**
     * @notice One expiry of an {expireBatch}.
     * @param account Account whose lot expired.
     * @param operationId Outbox id of the expiry; usable once.
     * @param amount Points of the lot; at most the account's balance is burned.
     */
    struct Expiry {
        address account;
        uint64 operationId;
        uint128 amount;
    }

    /// @notice Emitted when the rule set `version` with content hash `contentHash` is published.
    event RuleSetPublished(uint32 indexed version, bytes32 contentHash);

    /// @notice Emitted for each award; `amount - debtRepaid` points were minted to `account`.
    event PointsAwarded(
        address indexed account,
        uint64 indexed operationId,
        bytes32 orderRef,
        uint256 amount,
        uint256 debtRepaid,
        uint32 ruleVersion
    );

    /// @notice Emitted for each reversal: `burned` points were burned, `debtIncurred` became debt.
    event PointsReversed(
        address indexed account,
        uint64 indexed operationId,
        bytes32 refundRef,
        uint256 burned,
        uint256 debtIncurred
    );

    /// @notice Emitted when `amount` points of `account` are burned against the reward `rewardRef`.
    event PointsRedeemed(address indexed account, uint64 indexed operationId, bytes32 rewardRef, uint256 amount);

    /// @notice Emitted when `amount` points of an expired lot of `account` are burned.
    event PointsExpired(address indexed account, uint64 indexed operationId, uint256 amount);

    /// @notice Emitted when the issuer relays a member-to-member transfer.
    event PointsTransferred(
        address indexed from,
        address indexed to,
        uint64 indexed operationId,
        bytes32 transferRef,
        uint256 amount
    );

    /// @notice Emitted when a customer's points (`amount`) and debt move from a custodial address
    /// to their own wallet.
    event WalletClaimed(
        address indexed custodial,
        address indexed wallet,
        uint64 indexed operationId,
        uint256 amount,
        uint256 debt
    );

    /// @notice Emitted when the member transfer policy changes.
    event TransferPolicyUpdated(bool enabled, uint256 dailyCap);

    /// @notice The operation id was already used by an earlier operation.
    error LoyaltyPointsAlreadyAppliedOperation(uint64 operationId);

    /// @notice The operation id 0 is reserved.
    error LoyaltyPointsInvalidOperationId();

    /// @notice The award refers to a rule set that was never published.
    error LoyaltyPointsNonexistentRuleSet(uint32 version);

    /// @notice A rule set must be published with the next version number and a non-zero hash.
    error LoyaltyPointsInvalidRuleSet(uint32 version, bytes32 contentHash);

    /// @notice Amounts must be positive.
    error LoyaltyPointsZeroAmount();

    /// @notice Member-to-member transfers are switched off by the program manager.
    error LoyaltyPointsDisabledMemberTransfers();

    /// @notice Sending `amount` would exceed `sender`'s daily cap; `remaining` is left today.
    error LoyaltyPointsExceededDailyTransferCap(address sender, uint256 amount, uint256 remaining);

    /// @notice The receiver cannot take these points (it is the sender itself).
    error LoyaltyPointsInvalidReceiver(address receiver);

    /// @notice The issuer cannot operate an account whose keys the customer holds.
    error LoyaltyPointsSelfCustodiedAccount(address account);

    /// @notice Whether an operation id has been used.
    function isOperationApplied(uint64 operationId) external view returns (bool);

    /// @notice Points owed by `account` after a reversal larger than its balance.
    function debtOf(address account) external view returns (uint256);

    /// @notice Whether the customer holds the keys of `account`: the issuer cannot move its points.
    function isSelfCustodied(address account) external view returns (bool);

    /// @notice Content hash of the published earning rule set `version` (zero if never published).
    function ruleSetHash(uint32 version) external view returns (bytes32);

    /// @notice Highest rule-set version published so far.
    function latestRuleVersion() external view returns (uint32);

    /// @notice Whether members may move points to other members.
    function memberTransfersEnabled() external view returns (bool);

    /// @notice Most points a member may send per UTC day (0 means no cap).
    function dailyTransferCap() external view returns (uint256);

    /// @notice Points `account` may still send today under the daily cap.
    function remainingTransferAllowance(address account) external view returns (uint256);

    /**
     * @notice Publishes the content hash of a new earning rule set.
     * @dev Versions are consecutive, so the history of rules is complete and cannot be rewritten.
     * Emits {RuleSetPublished}.
     * @param version The next version: {latestRuleVersion} + 1.
     * @param contentHash Hash of the rule set's canonical document; not zero.
     */
    function publishRuleSet(uint32 version, bytes32 contentHash) external;

    /**
     * @notice Mints the points of many purchases in one transaction.
     * @dev Reverts as a whole if any operation id was already used: a batch applies at most once.
     * Outstanding debt of an account is repaid before anything is minted to it. Emits one
     * {PointsAwarded} per award.
     */
    function awardBatch(Award[] calldata awards) external;

    /**
     * @notice Takes back points of a refunded purchase.
     * @dev Burns what the account holds, up to `amount`; the rest becomes debt. Emits {PointsReversed}.
     */
    function reverse(address account, uint64 operationId, uint256 amount, bytes32 refundRef) external;

    /**
     * @notice Burns points of a custodial account against a reward of the catalog.
     * @dev Self-custodied accounts redeem with {redeemWithPermit} instead. Emits {PointsRedeemed}.
     */
    function redeemFor(address account, uint64 operationId, uint256 amount, bytes32 rewardRef) external;

    /**
     * @notice Burns points of a self-custodied account against a reward, authorised by the
     * owner's ERC-2612 signature (spender: this contract, value: `amount`), so the customer never
     * needs gas.
     * @dev The signature is always checked and its nonce used, for exactly this amount: no
     * allowance is granted or spent. Emits {PointsRedeemed}.
     */
    function redeemWithPermit(
        address owner,
        uint64 operationId,
        uint256 amount,
        bytes32 rewardRef,
        uint256 deadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external;

    /**
     * @notice Burns the points of expired lots, up to each account's balance.
     * @dev Emits one {PointsExpired} per expiry, with the points actually burned.
     */
    function expireBatch(Expiry[] calldata expiries) external;

    /**
     * @notice Relays a member-to-member transfer out of a custodial account, under the same
     * policy and daily cap as direct transfers.
     * @dev Emits {PointsTransferred}.
     */
    function transferFor(uint64 operationId, address from, address to, uint256 amount, bytes32 transferRef) external;

    /**
     * @notice Moves a customer's points and debt from their custodial address to a wallet they
     * control, which becomes self-custodied for good.
     * @dev Emits {WalletClaimed}.
     */
    function claimWallet(uint64 operationId, address custodial, address wallet) external;

    /**
     * @notice Sets whether members may transfer points, and the daily cap per sender (0: none).
     * @dev Emits {TransferPolicyUpdated}.
     */
    function setTransferPolicy(bool enabled, uint256 dailyCap) external;
}
