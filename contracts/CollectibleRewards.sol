// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ERC1155} from "@openzeppelin/contracts/token/ERC1155/ERC1155.sol";
import {ERC1155Pausable} from "@openzeppelin/contracts/token/ERC1155/extensions/ERC1155Pausable.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {BitMaps} from "@openzeppelin/contracts/utils/structs/BitMaps.sol";

import {ICollectibleRewards} from "./interfaces/ICollectibleRewards.sol";

/**
 * @title CollectibleRewards
 * @notice Collectible rewards: limited editions (ERC-1155 token ids) that members get for points,
 * each with a supply cap fixed when it is created, and polls in which each holder of an edition
 * votes once.
 *
 * @dev The platform burns the points on {LoyaltyPoints} and mints the copies here, each mint
 * carrying its outbox operation id, usable once. Copies move by their holder like any ERC-1155
 * token. A custodial address has no key: the copies minted to it (a mint marked `custodial`) are
 * counted as held in custody, and only those move by {relayTransfer}, the issuer acting with the
 * member's consent (checked by the platform). The platform's keys can never move a copy held in a
 * member's own wallet: a relay moves at most {custodialBalanceOf}, and a transfer the holder signs
 * (which a custodial address never does) moves its non-custodial copies first and takes any
 * custodial copy it moves out of custody for good, so the count never exceeds the balance. A poll's
 * snapshot is the block it was opened in; the contract accepts one vote per address holding the
 * edition when it votes, and the recount (off chain, from the logs) keeps the votes of addresses
 * that held the edition at the snapshot block, so a copy sold after the snapshot does not vote twice.
 *
 * Roles: PROGRAM_MANAGER_ROLE creates editions and opens polls (the platform's operator key);
 * ISSUER_ROLE mints on redemption and relays custodial holders' votes and transfers (the issuer key);
 * PAUSER_ROLE pauses every transfer and mint; DEFAULT_ADMIN_ROLE grants roles only.
 */
contract CollectibleRewards is ICollectibleRewards, ERC1155Pausable, AccessControl {
    using BitMaps for BitMaps.BitMap;

    /// @notice Role that mints on redemption and relays the votes and transfers of custodial holders.
    bytes32 public constant ISSUER_ROLE = keccak256("ISSUER_ROLE");
    /// @notice Role that creates editions and opens polls.
    bytes32 public constant PROGRAM_MANAGER_ROLE = keccak256("PROGRAM_MANAGER_ROLE");
    /// @notice Role allowed to pause and unpause every transfer and mint in an emergency.
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");

    mapping(uint256 editionId => Edition) private _editions;
    mapping(uint64 pollId => Poll) private _polls;
    mapping(uint64 pollId => mapping(address voter => bool)) private _voted;
    BitMaps.BitMap private _appliedOperations;
    mapping(address holder => mapping(uint256 editionId => uint256)) private _custody;

    /// @param admin Receives DEFAULT_ADMIN_ROLE.
    /// @param uri The ERC-1155 metadata URI template (`{id}` replaced by clients).
    constructor(address admin, string memory uri) ERC1155(uri) {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    /// @inheritdoc ICollectibleRewards
    function isOperationApplied(uint64 operationId) external view returns (bool) {
        return _appliedOperations.get(operationId);
    }

    /// @inheritdoc ICollectibleRewards
    function edition(uint256 editionId) external view returns (Edition memory) {
        return _editions[editionId];
    }

    /// @inheritdoc ICollectibleRewards
    function poll(uint64 pollId) external view returns (Poll memory) {
        return _polls[pollId];
    }

    /// @inheritdoc ICollectibleRewards
    function hasVoted(uint64 pollId, address voter) external view returns (bool) {
        return _voted[pollId][voter];
    }

    /// @inheritdoc ICollectibleRewards
    function custodialBalanceOf(address holder, uint256 editionId) external view returns (uint256) {
        return _custody[holder][editionId];
    }

    /// @inheritdoc ICollectibleRewards
    function createEdition(uint256 editionId, uint64 cap) external onlyRole(PROGRAM_MANAGER_ROLE) {
        if (cap == 0 || _editions[editionId].cap != 0) revert CollectibleRewardsInvalidEdition(editionId, cap);
        _editions[editionId].cap = cap;
        emit EditionCreated(editionId, cap);
    }

    /// @inheritdoc ICollectibleRewards
    function mint(Mint calldata request) external onlyRole(ISSUER_ROLE) {
        _mintCopies(request);
    }

    /// @inheritdoc ICollectibleRewards
    function mintBatch(Mint[] calldata requests) external onlyRole(ISSUER_ROLE) {
        for (uint256 i = 0; i < requests.length; ++i) {
            _mintCopies(requests[i]);
        }
    }

    /// @inheritdoc ICollectibleRewards
    function openPoll(uint64 pollId, uint256 editionId, uint8 options, uint64 closeBlock)
        external
        onlyRole(PROGRAM_MANAGER_ROLE)
    {
        uint64 snapshot = SafeCast.toUint64(block.number);
        if (_polls[pollId].options != 0 || options < 2 || closeBlock < snapshot) {
            revert CollectibleRewardsInvalidPoll(pollId);
        }
        if (_editions[editionId].cap == 0) revert CollectibleRewardsUnknownEdition(editionId);
        _polls[pollId] = Poll({edition: editionId, snapshotBlock: snapshot, closeBlock: closeBlock, options: options});
        emit PollOpened(pollId, editionId, options, snapshot, closeBlock);
    }

    /// @inheritdoc ICollectibleRewards
    function vote(uint64 pollId, uint8 option) external whenNotPaused {
        _vote(pollId, _msgSender(), option, 0);
    }

    /// @inheritdoc ICollectibleRewards
    function relayVote(uint64 operationId, uint64 pollId, address voter, uint8 option)
        external
        onlyRole(ISSUER_ROLE)
        whenNotPaused
    {
        _useOperation(operationId);
        _vote(pollId, voter, option, operationId);
    }

    /// @inheritdoc ICollectibleRewards
    function relayTransfer(
        uint64 operationId,
        address from,
        address to,
        uint256 editionId,
        uint64 amount,
        bool toCustodial
    ) external onlyRole(ISSUER_ROLE) whenNotPaused {
        uint256 held = _custody[from][editionId];
        if (amount == 0 || amount > held) {
            revert CollectibleRewardsInsufficientCustody(from, editionId, amount, held);
        }
        _useOperation(operationId);
        // Out of custody before the move, so that _update sees no custodial copy leave by a holder's transfer.
        _custody[from][editionId] = held - amount;
        if (toCustodial) _custody[to][editionId] += amount;
        _safeTransferFrom(from, to, editionId, amount, "");
        emit CollectiblesRelayed(operationId, editionId, from, to, amount, toCustodial);
    }

    /// @notice Stops every transfer, mint, vote and relay.
    function pause() external onlyRole(PAUSER_ROLE) {
        _pause();
    }

    /// @notice Resumes them.
    function unpause() external onlyRole(PAUSER_ROLE) {
        _unpause();
    }

    /// @inheritdoc AccessControl
    /// @dev Also answers true for ERC-1155 and {ICollectibleRewards}.
    function supportsInterface(bytes4 interfaceId) public view override(ERC1155, AccessControl) returns (bool) {
        return interfaceId == type(ICollectibleRewards).interfaceId || super.supportsInterface(interfaceId);
    }

    /// @dev A transfer out of an address (not a mint) keeps its custodial count within its balance:
    /// the holder's own copies leave first, custodial ones it moves leave custody ({CustodyReleased}).
    /// A relay has taken its copies out of custody before it moves them, so it releases nothing.
    function _update(address from, address to, uint256[] memory ids, uint256[] memory values)
        internal
        override(ERC1155Pausable)
    {
        super._update(from, to, ids, values);
        if (from == address(0)) return;
        for (uint256 i = 0; i < ids.length; ++i) {
            uint256 custodial = _custody[from][ids[i]];
            if (custodial == 0) continue;
            uint256 left = balanceOf(from, ids[i]);
            if (custodial > left) {
                _custody[from][ids[i]] = left;
                emit CustodyReleased(from, ids[i], custodial - left);
            }
        }
    }

    function _mintCopies(Mint calldata request) private {
        _useOperation(request.operationId);
        Edition storage minted = _editions[request.edition];
        _checkWithinCap(request.edition, minted, request.amount);
        minted.minted += request.amount;
        if (request.custodial) _custody[request.holder][request.edition] += request.amount;
        _mint(request.holder, request.edition, request.amount, "");
        emit CollectiblesMinted(
            request.operationId, request.edition, request.holder, request.amount, request.custodial
        );
    }

    function _vote(uint64 pollId, address voter, uint8 option, uint64 operationId) private {
        Poll storage open = _polls[pollId];
        _checkOpen(pollId, open);
        if (option >= open.options) revert CollectibleRewardsInvalidOption(pollId, option);
        if (balanceOf(voter, open.edition) == 0) revert CollectibleRewardsNotHolder(pollId, voter);
        if (_voted[pollId][voter]) revert CollectibleRewardsAlreadyVoted(pollId, voter);
        _voted[pollId][voter] = true;
        emit PollVoted(pollId, voter, operationId, option);
    }

    /// @dev Reverts unless the edition exists and `amount` (more than 0) more copies stay within its cap.
    function _checkWithinCap(uint256 editionId, Edition storage existing, uint64 amount) private view {
        if (existing.cap == 0) revert CollectibleRewardsUnknownEdition(editionId);
        uint64 remaining = existing.cap - existing.minted;
        if (amount == 0 || amount > remaining) revert CollectibleRewardsCapExceeded(editionId, amount, remaining);
    }

    /// @dev Reverts unless the poll was opened and the current block is at most its close block.
    function _checkOpen(uint64 pollId, Poll storage existing) private view {
        if (existing.options == 0 || block.number > existing.closeBlock) revert CollectibleRewardsPollNotOpen(pollId);
    }

    /// @dev Marks an operation id used; reverts if it is 0 or was used before.
    function _useOperation(uint64 operationId) private {
        if (operationId == 0) revert CollectibleRewardsInvalidOperationId();
        if (_appliedOperations.get(operationId)) revert CollectibleRewardsAlreadyAppliedOperation(operationId);
        _appliedOperations.set(operationId);
    }
}
