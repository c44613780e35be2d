// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Pausable} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Pausable.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {BitMaps} from "@openzeppelin/contracts/utils/structs/BitMaps.sol";
import {Multicall} from "@openzeppelin/contracts/utils/Multicall.sol";

import {ILoyaltyPoints} from "./interfaces/ILoyaltyPoints.sol";

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
 *
 * Structs, events and errors are declared in {ILoyaltyPoints}. Internal helpers named `_check…`
 * only read and revert; `_use…` and `_record…` write.
 */
contract LoyaltyPoints is ILoyaltyPoints, ERC20, ERC20Permit, ERC20Pausable, AccessControl, Multicall {
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

    /// @dev Points a member sent on one UTC day (day number: timestamp / 1 day), in one slot.
    struct DailySpend {
        uint64 day;
        uint192 amount;
    }

    BitMaps.BitMap private _appliedOperations;

    /// @inheritdoc ILoyaltyPoints
    mapping(address account => uint256) public debtOf;
    /// @inheritdoc ILoyaltyPoints
    mapping(address account => bool) public isSelfCustodied;
    /// @inheritdoc ILoyaltyPoints
    mapping(uint32 version => bytes32) public ruleSetHash;
    /// @inheritdoc ILoyaltyPoints
    uint32 public latestRuleVersion;

    /// @inheritdoc ILoyaltyPoints
    bool public memberTransfersEnabled;
    /// @inheritdoc ILoyaltyPoints
    uint256 public dailyTransferCap;

    mapping(address account => DailySpend) private _sentToday;

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

    /// @inheritdoc ILoyaltyPoints
    function isOperationApplied(uint64 operationId) external view returns (bool) {
        return _appliedOperations.get(operationId);
    }

    /// @inheritdoc ILoyaltyPoints
    function publishRuleSet(uint32 version, bytes32 contentHash) external onlyRole(PROGRAM_MANAGER_ROLE) {
        if (version != latestRuleVersion + 1 || contentHash == bytes32(0)) {
            revert LoyaltyPointsInvalidRuleSet(version, contentHash);
        }
        ruleSetHash[version] = contentHash;
        latestRuleVersion = version;
        emit RuleSetPublished(version, contentHash);
    }

    /// @inheritdoc ILoyaltyPoints
    function awardBatch(Award[] calldata awards) external onlyRole(ISSUER_ROLE) whenNotPaused {
        for (uint256 i = 0; i < awards.length; ++i) {
            Award calldata award = awards[i];
            _useOperation(award.operationId);
            if (award.amount == 0) revert LoyaltyPointsZeroAmount();
            if (ruleSetHash[award.ruleVersion] == bytes32(0)) revert LoyaltyPointsNonexistentRuleSet(award.ruleVersion);
            uint256 repaid = _repayDebt(award.account, award.amount);
            if (award.amount > repaid) _mint(award.account, award.amount - repaid);
            emit PointsAwarded(
                award.account, award.operationId, award.orderRef, award.amount, repaid, award.ruleVersion
            );
        }
    }

    /// @inheritdoc ILoyaltyPoints
    function reverse(address account, uint64 operationId, uint256 amount, bytes32 refundRef)
        external
        onlyRole(ISSUER_ROLE)
        whenNotPaused
    {
        _useOperation(operationId);
        if (amount == 0) revert LoyaltyPointsZeroAmount();
        uint256 burned = Math.min(amount, balanceOf(account));
        uint256 debtIncurred;
        unchecked {
            // Cannot underflow: burned <= amount.
            debtIncurred = amount - burned;
        }
        if (burned > 0) _burn(account, burned);
        if (debtIncurred > 0) debtOf[account] += debtIncurred;
        emit PointsReversed(account, operationId, refundRef, burned, debtIncurred);
    }

    /// @inheritdoc ILoyaltyPoints
    function redeemFor(address account, uint64 operationId, uint256 amount, bytes32 rewardRef)
        external
        onlyRole(ISSUER_ROLE)
        whenNotPaused
    {
        _checkCustodial(account);
        _useOperation(operationId);
        if (amount == 0) revert LoyaltyPointsZeroAmount();
        _burn(account, amount);
        emit PointsRedeemed(account, operationId, rewardRef, amount);
    }

    /**
     * @inheritdoc ILoyaltyPoints
     * @dev An allowance the owner once gave this contract (by `approve`, or by submitting a
     * permit themselves) can never be redeemed without a new signature. A permit someone else
     * already submitted has used its nonce and fails here.
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
        if (amount == 0) revert LoyaltyPointsZeroAmount();
        _checkRedemptionPermit(owner, amount, _useNonce(owner), deadline, v, r, s);
        _burn(owner, amount);
        emit PointsRedeemed(owner, operationId, rewardRef, amount);
    }

    /// @inheritdoc ILoyaltyPoints
    function expireBatch(Expiry[] calldata expiries) external onlyRole(ISSUER_ROLE) whenNotPaused {
        for (uint256 i = 0; i < expiries.length; ++i) {
            Expiry calldata expiry = expiries[i];
            _useOperation(expiry.operationId);
            uint256 burned = Math.min(expiry.amount, balanceOf(expiry.account));
            if (burned > 0) _burn(expiry.account, burned);
            emit PointsExpired(expiry.account, expiry.operationId, burned);
        }
    }

    /// @inheritdoc ILoyaltyPoints
    function transferFor(uint64 operationId, address from, address to, uint256 amount, bytes32 transferRef)
        external
        onlyRole(ISSUER_ROLE)
        whenNotPaused
    {
        _checkCustodial(from);
        _useOperation(operationId);
        _checkMemberTransfer(from, to, amount);
        _recordDailySpend(from, amount);
        _transfer(from, to, amount);
        emit PointsTransferred(from, to, operationId, transferRef, amount);
    }

    /// @inheritdoc ILoyaltyPoints
    function claimWallet(uint64 operationId, address custodial, address wallet)
        external
        onlyRole(ISSUER_ROLE)
        whenNotPaused
    {
        _checkCustodial(custodial);
        _useOperation(operationId);
        if (custodial == wallet) revert LoyaltyPointsInvalidReceiver(wallet);
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

    /// @inheritdoc ILoyaltyPoints
    function setTransferPolicy(bool enabled, uint256 dailyCap) external onlyRole(PROGRAM_MANAGER_ROLE) {
        memberTransfersEnabled = enabled;
        dailyTransferCap = dailyCap;
        emit TransferPolicyUpdated(enabled, dailyCap);
    }

    /// @inheritdoc ILoyaltyPoints
    function remainingTransferAllowance(address account) public view returns (uint256) {
        if (dailyTransferCap == 0) return type(uint256).max;
        return Math.saturatingSub(dailyTransferCap, _spentToday(account));
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
    /// @dev Only while member transfers are enabled, and within the sender's daily cap.
    function transfer(address to, uint256 value) public override returns (bool) {
        address from = _msgSender();
        _checkMemberTransfer(from, to, value);
        _recordDailySpend(from, value);
        return super.transfer(to, value);
    }

    /// @inheritdoc ERC20
    /// @dev Only while member transfers are enabled, and within `from`'s daily cap.
    function transferFrom(address from, address to, uint256 value) public override returns (bool) {
        _checkMemberTransfer(from, to, value);
        _recordDailySpend(from, value);
        return super.transferFrom(from, to, value);
    }

    /// @inheritdoc AccessControl
    /// @dev Also answers true for {ILoyaltyPoints}.
    function supportsInterface(bytes4 interfaceId) public view override returns (bool) {
        return interfaceId == type(ILoyaltyPoints).interfaceId || super.supportsInterface(interfaceId);
    }

    /// @inheritdoc ERC20Permit
    function nonces(address owner) public view override returns (uint256) {
        return super.nonces(owner);
    }

    function _update(address from, address to, uint256 value) internal override(ERC20, ERC20Pausable) {
        super._update(from, to, value);
    }

    /// @dev Marks an operation id used; reverts if it is 0 or was used before.
    function _useOperation(uint64 operationId) private {
        if (operationId == 0) revert LoyaltyPointsInvalidOperationId();
        if (_appliedOperations.get(operationId)) revert LoyaltyPointsAlreadyAppliedOperation(operationId);
        _appliedOperations.set(operationId);
    }

    /// @dev Repays `account`'s debt from an award of `amount`; returns the part used for it.
    function _repayDebt(address account, uint256 amount) private returns (uint256 repaid) {
        uint256 debt = debtOf[account];
        if (debt == 0) return 0;
        repaid = Math.min(amount, debt);
        unchecked {
            // Cannot underflow: repaid <= debt.
            debtOf[account] = debt - repaid;
        }
    }

    /// @dev Adds `amount` to what `account` sent today, when a daily cap applies (checked first
    /// by {_checkMemberTransfer}).
    function _recordDailySpend(address account, uint256 amount) private {
        if (dailyTransferCap == 0) return;
        _sentToday[account] = DailySpend(_today(), SafeCast.toUint192(_spentToday(account) + amount));
    }

    /// @dev ERC20Permit.permit's checks, without the approval: the owner signed a Permit for this
    /// contract, this amount and `nonce` (which the caller uses up) before `deadline`.
    function _checkRedemptionPermit(
        address owner,
        uint256 amount,
        uint256 nonce,
        uint256 deadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) private view {
        if (block.timestamp > deadline) revert ERC2612ExpiredSignature(deadline);
        bytes32 structHash = keccak256(abi.encode(_PERMIT_TYPEHASH, owner, address(this), amount, nonce, deadline));
        address signer = ECDSA.recover(_hashTypedDataV4(structHash), v, r, s);
        if (signer != owner) revert ERC2612InvalidSigner(signer, owner);
    }

    /// @dev Reverts if the customer holds the keys of `account`.
    function _checkCustodial(address account) private view {
        if (isSelfCustodied[account]) revert LoyaltyPointsSelfCustodiedAccount(account);
    }

    /// @dev Reverts unless `from` may send `amount` points to `to` now: transfers enabled, another
    /// account, a positive amount, within today's cap. Writes nothing: see {_recordDailySpend}.
    function _checkMemberTransfer(address from, address to, uint256 amount) private view {
        if (!memberTransfersEnabled) revert LoyaltyPointsDisabledMemberTransfers();
        if (from == to) revert LoyaltyPointsInvalidReceiver(to);
        if (amount == 0) revert LoyaltyPointsZeroAmount();
        uint256 remaining = remainingTransferAllowance(from);
        if (amount > remaining) revert LoyaltyPointsExceededDailyTransferCap(from, amount, remaining);
    }

    /// @dev Points `account` sent today (a counter of an earlier day counts as nothing).
    function _spentToday(address account) private view returns (uint256) {
        DailySpend memory spent = _sentToday[account];
        return spent.day == _today() ? spent.amount : 0;
    }

    function _today() private view returns (uint64) {
        return SafeCast.toUint64(block.timestamp / 1 days);
    }
}
