// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Pausable} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Pausable.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {BitMaps} from "@openzeppelin/contracts/utils/structs/BitMaps.sol";
import {Multicall} from "@openzeppelin/contracts/utils/Multicall.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";

/**
 * @title LoyaltyPoints
 * @notice Loyalty points of a Credance program: an ERC-20 token with 0 decimals (a point is
 * whole) whose supply changes only through recorded operations of the program.
 *
 * @dev Every operation of the issuer (award, reversal, redemption, expiry, relayed transfer,
 * wallet claim) carries an `operationId` assigned by the platform's durable outbox. Each id can
 * be used once, so a retried or replayed transaction can never apply an operation twice.
 * The ids live in a bitmap: consecutive ids in one batch share a storage slot, which keeps the
 * exactly-once guard at about a hundred gas per award.
 *
 * Customers hold points at pseudonymous addresses. Custodial addresses (no known key) are
 * operated by the issuer; a customer who claims a wallet becomes self-custodied, after which
 * the issuer can no longer move or redeem their points without their ERC-2612 signature.
 * Reversals and expiry follow the program terms and apply to every account.
 *
 * Points reversed after they were spent become a debt of the account, repaid first by its
 * later awards, so a refund never silently loses points.
 *
 * Roles are split so that no hot key is an admin: DEFAULT_ADMIN_ROLE (the deployer, meant for a
 * multisig) only grants and revokes roles; PROGRAM_MANAGER_ROLE (the platform's operator key)
 * publishes rule sets and sets the transfer policy; ISSUER_ROLE (the sender's key) runs the
 * operations; PAUSER_ROLE pauses.
 */
contract LoyaltyPoints is ERC20, ERC20Permit, ERC20Pausable, AccessControl, Multicall {
    using BitMaps for BitMaps.BitMap;

    /// @notice Role of the platform key that awards, reverses, redeems, expires and relays.
    bytes32 public constant ISSUER_ROLE = keccak256("ISSUER_ROLE");
    /// @notice Role allowed to pause and unpause every balance change in an emergency.
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");
    /// @notice Role of the platform key that publishes earning rule sets and the transfer policy.
    bytes32 public constant PROGRAM_MANAGER_ROLE = keccak256("PROGRAM_MANAGER_ROLE");

    /// @dev ERC-2612's Permit struct: `redeemWithPermit` checks the owner's signature of exactly
    /// this redemption (spender this contract, value the amount) without granting an allowance.
    bytes32 private constant _PERMIT_TYPEHASH =
        keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)");

    /// @notice One award of an `awardBatch`.
    /// @param account Pseudonymous address of the customer.
    /// @param operationId Outbox id of the award; usable once.
    /// @param ruleVersion Version of the published earning rules that computed `amount`.
    /// @param amount Points earned, before debt repayment.
    /// @param orderRef Commitment to the order (hash of store and order id, no personal data).
    struct Award {
        address account;
        uint64 operationId;
        uint32 ruleVersion;
        uint128 amount;
        bytes32 orderRef;
    }

    /// @notice One expiry of an `expireBatch`.
    struct Expiry {
        address account;
        uint64 operationId;
        uint128 amount;
    }

    BitMaps.BitMap private _appliedOperations;

    /// @notice Points owed by an account after a reversal larger than its balance.
    mapping(address account => uint256) public debtOf;
    /// @notice Accounts whose keys the customer holds; the issuer cannot move their points.
    mapping(address account => bool) public isSelfCustodied;
    /// @notice Content hash of each published earning rule set.
    mapping(uint32 version => bytes32) public ruleSetHash;
    /// @notice Highest rule-set version published so far.
    uint32 public latestRuleVersion;

    /// @notice Whether members may move points to other members.
    bool public memberTransfersEnabled;
    /// @notice Most points a member may send per UTC day (0 means no cap).
    uint256 public dailyTransferCap;

    struct DailySpend {
        uint64 day;
        uint192 amount;
    }

    mapping(address account => DailySpend) private _sentToday;

    /// @notice Emitted when a rule set is published.
    event RuleSetPublished(uint32 indexed version, bytes32 contentHash);
    /// @notice Emitted for each award; `amount - debtRepaid` points were minted.
    event PointsAwarded(
        address indexed account,
        uint64 indexed operationId,
        bytes32 orderRef,
        uint256 amount,
        uint256 debtRepaid,
        uint32 ruleVersion
    );
    /// @notice Emitted for each reversal; the part that could not be burned became debt.
    event PointsReversed(
        address indexed account,
        uint64 indexed operationId,
        bytes32 refundRef,
        uint256 burned,
        uint256 debtIncurred
    );
    /// @notice Emitted when points are burned against a reward of the catalog.
    event PointsRedeemed(address indexed account, uint64 indexed operationId, bytes32 rewardRef, uint256 amount);
    /// @notice Emitted when points of an expired lot are burned.
    event PointsExpired(address indexed account, uint64 indexed operationId, uint256 amount);
    /// @notice Emitted when the issuer relays a member-to-member transfer.
    event PointsTransferred(
        address indexed from,
        address indexed to,
        uint64 indexed operationId,
        bytes32 transferRef,
        uint256 amount
    );
    /// @notice Emitted when a customer moves from a custodial address to their own wallet.
    event WalletClaimed(
        address indexed custodial,
        address indexed wallet,
        uint64 indexed operationId,
        uint256 amount,
        uint256 debt
    );
    /// @notice Emitted when the member transfer policy changes.
    event TransferPolicyUpdated(bool enabled, uint256 dailyCap);

    /// @notice The operation id was already used.
    error OperationAlreadyApplied(uint64 operationId);
    /// @notice The operation id 0 is reserved.
    error InvalidOperationId();
    /// @notice The award refers to a rule set that was never published.
    error UnknownRuleSet(uint32 version);
    /// @notice A rule set must be published with the next version number and a non-zero hash.
    error InvalidRuleSet(uint32 version, bytes32 contentHash);
    /// @notice Amounts must be positive.
    error ZeroAmount();
    /// @notice Member-to-member transfers are switched off by the admin.
    error MemberTransfersDisabled();
    /// @notice A transfer would exceed the sender's daily cap.
    error DailyTransferCapExceeded(address account, uint256 attempted, uint256 remaining);
    /// @notice Sender and recipient are the same account.
    error SelfTransfer(address account);
    /// @notice The issuer cannot operate an account whose keys the customer holds.
    error AccountSelfCustodied(address account);
    /// @notice The owner's permit for a redemption has expired.
    error RedemptionPermitExpired(uint256 deadline);
    /// @notice The permit for a redemption was not signed by the owner for exactly this amount and nonce.
    error InvalidRedemptionPermit(address signer, address owner);

    /**
     * @param admin Receives DEFAULT_ADMIN_ROLE; grants the other roles after deployment.
     * @param name_ Token name, also the ERC-2612 domain name.
     * @param symbol_ Token symbol.
     */
    constructor(address admin, string memory name_, string memory symbol_)
        ERC20(name_, symbol_)
        ERC20Permit(name_)
    {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    /// @notice Points are whole: the token has no decimals.
    function decimals() public pure override returns (uint8) {
        return 0;
    }

    /// @notice Whether an operation id has been used.
    function isOperationApplied(uint64 operationId) external view returns (bool) {
        return _appliedOperations.get(operationId);
    }

    /**
     * @notice Publishes the content hash of a new earning rule set.
     * @dev Versions are consecutive, so the history of rules is complete and cannot be rewritten.
     */
    function publishRuleSet(uint32 version, bytes32 contentHash) external onlyRole(PROGRAM_MANAGER_ROLE) {
        if (version != latestRuleVersion + 1 || contentHash == bytes32(0)) {
            revert InvalidRuleSet(version, contentHash);
        }
        ruleSetHash[version] = contentHash;
        latestRuleVersion = version;
        emit RuleSetPublished(version, contentHash);
    }

    /**
     * @notice Mints the points of many purchases in one transaction.
     * @dev Reverts as a whole if any operation id was already used: a batch applies at most once.
     * Outstanding debt of an account is repaid before anything is minted to it.
     */
    function awardBatch(Award[] calldata awards) external onlyRole(ISSUER_ROLE) whenNotPaused {
        for (uint256 i = 0; i < awards.length; ++i) {
            Award calldata award = awards[i];
            _useOperation(award.operationId);
            if (award.amount == 0) revert ZeroAmount();
            if (ruleSetHash[award.ruleVersion] == bytes32(0)) revert UnknownRuleSet(award.ruleVersion);
            uint256 repaid = _repayDebt(award.account, award.amount);
            if (award.amount > repaid) _mint(award.account, award.amount - repaid);
            emit PointsAwarded(
                award.account, award.operationId, award.orderRef, award.amount, repaid, award.ruleVersion
            );
        }
    }

    /**
     * @notice Takes back points of a refunded purchase.
     * @dev Burns what the account holds, up to `amount`; the rest becomes debt.
     */
    function reverse(address account, uint64 operationId, uint256 amount, bytes32 refundRef)
        external
        onlyRole(ISSUER_ROLE) whenNotPaused
    {
        _useOperation(operationId);
        if (amount == 0) revert ZeroAmount();
        uint256 balance = balanceOf(account);
        uint256 burned = amount < balance ? amount : balance;
        uint256 debtIncurred = amount - burned;
        if (burned > 0) _burn(account, burned);
        if (debtIncurred > 0) debtOf[account] += debtIncurred;
        emit PointsReversed(account, operationId, refundRef, burned, debtIncurred);
    }

    /**
     * @notice Burns points of a custodial account against a reward of the catalog.
     * @dev Self-custodied accounts redeem with `redeemWithPermit` instead.
     */
    function redeemFor(address account, uint64 operationId, uint256 amount, bytes32 rewardRef)
        external
        onlyRole(ISSUER_ROLE) whenNotPaused
    {
        _requireCustodial(account);
        _useOperation(operationId);
        if (amount == 0) revert ZeroAmount();
        _burn(account, amount);
        emit PointsRedeemed(account, operationId, rewardRef, amount);
    }

    /**
     * @notice Burns points of a self-custodied account against a reward, authorised by the
     * owner's ERC-2612 signature (spender: this contract, value: `amount`), so the customer never
     * needs gas.
     * @dev The signature is always checked and its nonce used, for exactly this amount: no
     * allowance is granted or spent, so an allowance the owner once gave this contract (by
     * `approve`, or by submitting a permit themselves) can never be redeemed without a new
     * signature. A permit someone else already submitted has used its nonce and fails here.
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
    ) external onlyRole(ISSUER_ROLE) whenNotPaused {
        _useOperation(operationId);
        if (amount == 0) revert ZeroAmount();
        _verifyRedemptionPermit(owner, amount, deadline, v, r, s);
        _burn(owner, amount);
        emit PointsRedeemed(owner, operationId, rewardRef, amount);
    }

    /// @notice Burns the points of expired lots, up to each account's balance.
    function expireBatch(Expiry[] calldata expiries) external onlyRole(ISSUER_ROLE) whenNotPaused {
        for (uint256 i = 0; i < expiries.length; ++i) {
            Expiry calldata expiry = expiries[i];
            _useOperation(expiry.operationId);
            uint256 balance = balanceOf(expiry.account);
            uint256 burned = expiry.amount < balance ? expiry.amount : balance;
            if (burned > 0) _burn(expiry.account, burned);
            emit PointsExpired(expiry.account, expiry.operationId, burned);
        }
    }

    /**
     * @notice Relays a member-to-member transfer out of a custodial account, under the same
     * policy and daily cap as direct transfers.
     */
    function transferFor(uint64 operationId, address from, address to, uint256 amount, bytes32 transferRef)
        external
        onlyRole(ISSUER_ROLE) whenNotPaused
    {
        _requireCustodial(from);
        _useOperation(operationId);
        _checkMemberTransfer(from, to, amount);
        _transfer(from, to, amount);
        emit PointsTransferred(from, to, operationId, transferRef, amount);
    }

    /**
     * @notice Moves a customer's points and debt from their custodial address to a wallet they
     * control, which becomes self-custodied.
     */
    function claimWallet(uint64 operationId, address custodial, address wallet)
        external
        onlyRole(ISSUER_ROLE)
        whenNotPaused
    {
        _requireCustodial(custodial);
        _useOperation(operationId);
        if (custodial == wallet) revert SelfTransfer(wallet);
        uint256 amount = balanceOf(custodial);
        uint256 debt = debtOf[custodial];
        isSelfCustodied[wallet] = true;
        if (amount > 0) _transfer(custodial, wallet, amount);
        if (debt > 0) {
            delete debtOf[custodial];
            debtOf[wallet] += debt;
        }
        emit WalletClaimed(custodial, wallet, operationId, amount, debt);
    }

    /// @notice Sets whether members may transfer points, and the daily cap per sender.
    function setTransferPolicy(bool enabled, uint256 dailyCap) external onlyRole(PROGRAM_MANAGER_ROLE) {
        memberTransfersEnabled = enabled;
        dailyTransferCap = dailyCap;
        emit TransferPolicyUpdated(enabled, dailyCap);
    }

    /// @notice Points `account` may still send today under the daily cap.
    function remainingTransferAllowance(address account) public view returns (uint256) {
        if (dailyTransferCap == 0) return type(uint256).max;
        DailySpend memory spent = _sentToday[account];
        uint256 used = spent.day == _today() ? spent.amount : 0;
        return used >= dailyTransferCap ? 0 : dailyTransferCap - used;
    }

    /// @notice Stops every balance change (mint, burn, transfer) and every issuer operation, so
    /// debts and operation ids are frozen too.
    function pause() external onlyRole(PAUSER_ROLE) {
        _pause();
    }

    /// @notice Resumes balance changes.
    function unpause() external onlyRole(PAUSER_ROLE) {
        _unpause();
    }

    /// @inheritdoc ERC20
    function transfer(address to, uint256 value) public override returns (bool) {
        _checkMemberTransfer(_msgSender(), to, value);
        return super.transfer(to, value);
    }

    /// @inheritdoc ERC20
    function transferFrom(address from, address to, uint256 value) public override returns (bool) {
        _checkMemberTransfer(from, to, value);
        return super.transferFrom(from, to, value);
    }

    /// @inheritdoc AccessControl
    function supportsInterface(bytes4 interfaceId) public view override returns (bool) {
        return super.supportsInterface(interfaceId);
    }

    /// @inheritdoc ERC20Permit
    function nonces(address owner) public view override returns (uint256) {
        return super.nonces(owner);
    }

    function _update(address from, address to, uint256 value) internal override(ERC20, ERC20Pausable) {
        super._update(from, to, value);
    }

    function _useOperation(uint64 operationId) private {
        if (operationId == 0) revert InvalidOperationId();
        if (_appliedOperations.get(operationId)) revert OperationAlreadyApplied(operationId);
        _appliedOperations.set(operationId);
    }

    function _repayDebt(address account, uint256 amount) private returns (uint256 repaid) {
        uint256 debt = debtOf[account];
        if (debt == 0) return 0;
        repaid = amount < debt ? amount : debt;
        debtOf[account] = debt - repaid;
    }

    /// @dev ERC20Permit.permit's checks, without the approval: the owner signed a Permit for this
    /// contract, this amount and their current nonce (which is used up).
    function _verifyRedemptionPermit(address owner, uint256 amount, uint256 deadline, uint8 v, bytes32 r, bytes32 s)
        private
    {
        if (block.timestamp > deadline) revert RedemptionPermitExpired(deadline);
        bytes32 structHash =
            keccak256(abi.encode(_PERMIT_TYPEHASH, owner, address(this), amount, _useNonce(owner), deadline));
        address signer = ECDSA.recover(_hashTypedDataV4(structHash), v, r, s);
        if (signer != owner) revert InvalidRedemptionPermit(signer, owner);
    }

    function _requireCustodial(address account) private view {
        if (isSelfCustodied[account]) revert AccountSelfCustodied(account);
    }

    function _checkMemberTransfer(address from, address to, uint256 amount) private {
        if (!memberTransfersEnabled) revert MemberTransfersDisabled();
        if (from == to) revert SelfTransfer(from);
        if (amount == 0) revert ZeroAmount();
        if (dailyTransferCap == 0) return;
        uint256 remaining = remainingTransferAllowance(from);
        if (amount > remaining) revert DailyTransferCapExceeded(from, amount, remaining);
        uint64 today = _today();
        DailySpend storage spent = _sentToday[from];
        if (spent.day != today) {
            spent.day = today;
            spent.amount = 0;
        }
        spent.amount += uint192(amount);
    }

    function _today() private view returns (uint64) {
        return uint64(block.timestamp / 1 days);
    }
}
