// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";
import {ERC721Pausable} from "@openzeppelin/contracts/token/ERC721/extensions/ERC721Pausable.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {BitMaps} from "@openzeppelin/contracts/utils/structs/BitMaps.sol";
import {Strings} from "@openzeppelin/contracts/utils/Strings.sol";

import {IItemPassports} from "./interfaces/IItemPassports.sol";
import {IProvenanceRegistry} from "./interfaces/IProvenanceRegistry.sol";

/**
 * @title ItemPassports
 * @notice Digital product passports: an ERC-721 token per serialized item of the
 * {ProvenanceRegistry}, owned by the item's buyer, that keeps the item's history of owners.
 *
 * @dev The token id is the registry's item leaf `keccak256(bytes.concat(keccak256(abi.encode(gtin,
 * commitment))))`, where the commitment hides the serial with a per-item salt: no serial is ever
 * on chain. The platform proves the sale off chain (only the buyer may claim); the contract checks
 * the item is registered and issues one passport per item, ever (there is no burn). Each issue and
 * relayed transfer carries the outbox's operation id, usable once. A passport minted to a
 * custodial address (no private key exists for it) moves only by {relayTransfer}; once in a
 * member's own wallet it moves only by its holder, like any ERC-721 token. The metadata URI is the
 * base URI followed by the token id in hex, a page that names the item's product, never its serial.
 *
 * Roles: ISSUER_ROLE issues and relays (the platform's issuer key); PAUSER_ROLE pauses every
 * transfer, issue and relay; DEFAULT_ADMIN_ROLE grants roles only.
 */
contract ItemPassports is IItemPassports, ERC721Pausable, AccessControl {
    using BitMaps for BitMaps.BitMap;

    /// @notice Role that issues passports and relays the transfers of custodial ones.
    bytes32 public constant ISSUER_ROLE = keccak256("ISSUER_ROLE");
    /// @notice Role allowed to pause and unpause every transfer in an emergency.
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");

    IProvenanceRegistry private immutable _REGISTRY;
    string private _base;
    mapping(uint256 tokenId => Passport) private _passports;
    BitMaps.BitMap private _appliedOperations;

    /// @param admin Receives DEFAULT_ADMIN_ROLE.
    /// @param itemRegistry The registry items are checked against.
    /// @param baseURI Prefix of every token URI (the platform's passport metadata path).
    constructor(address admin, IProvenanceRegistry itemRegistry, string memory baseURI)
        ERC721("Credance Item Passport", "CPASS")
    {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _REGISTRY = itemRegistry;
        _base = baseURI;
    }

    /// @inheritdoc IItemPassports
    function registry() external view returns (address) {
        return address(_REGISTRY);
    }

    /// @inheritdoc IItemPassports
    function isOperationApplied(uint64 operationId) external view returns (bool) {
        return _appliedOperations.get(operationId);
    }

    /// @inheritdoc IItemPassports
    function passport(uint256 tokenId) external view returns (Passport memory) {
        return _passports[tokenId];
    }

    /// @inheritdoc IItemPassports
    function passportId(uint64 gtin, bytes32 commitment) public pure returns (uint256) {
        return uint256(keccak256(bytes.concat(keccak256(abi.encode(gtin, commitment)))));
    }

    /// @inheritdoc IItemPassports
    function issue(Claim calldata claim) external onlyRole(ISSUER_ROLE) returns (uint256 tokenId) {
        return _issue(claim);
    }

    /// @inheritdoc IItemPassports
    function issueBatch(Claim[] calldata claims) external onlyRole(ISSUER_ROLE) {
        for (uint256 i = 0; i < claims.length; ++i) {
            _issue(claims[i]);
        }
    }

    /// @inheritdoc IItemPassports
    function relayTransfer(uint64 operationId, uint256 tokenId, address to, bool custodial)
        external
        onlyRole(ISSUER_ROLE)
    {
        address holder = _requireOwned(tokenId);
        Passport storage held = _passports[tokenId];
        if (!held.custodial) revert ItemPassportsUnauthorizedRelay(tokenId, holder);
        _useOperation(operationId);
        // _update clears the custody flag of every transfer; a relay sets the receiver's.
        _transfer(holder, to, tokenId);
        held.custodial = custodial;
        emit PassportRelayed(tokenId, operationId, custodial);
    }

    /// @inheritdoc IItemPassports
    function isRecalled(uint256 tokenId, bytes32 commitment, bytes32 scopeRoot, bytes32[] calldata proof)
        external
        view
        returns (bool)
    {
        _requireOwned(tokenId); // passports are never burned: issued means owned
        uint64 gtin = _passports[tokenId].gtin;
        if (passportId(gtin, commitment) != tokenId) revert ItemPassportsIncorrectCommitment(tokenId, commitment);
        return _REGISTRY.isItemRecalled(gtin, commitment, scopeRoot, proof);
    }

    /// @inheritdoc ERC721
    /// @dev The base URI followed by the token id as 32 bytes of hex.
    function tokenURI(uint256 tokenId) public view override returns (string memory) {
        _requireOwned(tokenId);
        return string.concat(_base, Strings.toHexString(tokenId, 32));
    }

    /// @notice Stops every transfer, issue and relay.
    function pause() external onlyRole(PAUSER_ROLE) {
        _pause();
    }

    /// @notice Resumes them.
    function unpause() external onlyRole(PAUSER_ROLE) {
        _unpause();
    }

    /// @inheritdoc AccessControl
    /// @dev Also answers true for ERC-721 and {IItemPassports}.
    function supportsInterface(bytes4 interfaceId) public view override(ERC721, AccessControl) returns (bool) {
        return interfaceId == type(IItemPassports).interfaceId || super.supportsInterface(interfaceId);
    }

    /// @dev Every transfer but a mint takes the passport out of custody (a relay sets it again).
    function _update(address to, uint256 tokenId, address auth)
        internal
        override(ERC721Pausable)
        returns (address from)
    {
        from = super._update(to, tokenId, auth);
        if (from != address(0)) _passports[tokenId].custodial = false;
    }

    function _issue(Claim calldata claim) private returns (uint256 tokenId) {
        _useOperation(claim.operationId);
        _checkRegistered(claim);
        tokenId = passportId(claim.gtin, claim.commitment);
        if (_passports[tokenId].gtin != 0) revert ItemPassportsAlreadyIssued(tokenId);
        Passport storage issued = _passports[tokenId];
        issued.gtin = claim.gtin;
        issued.issuedAt = SafeCast.toUint64(block.timestamp);
        issued.custodial = claim.custodial;
        _mint(claim.holder, tokenId);
        emit PassportIssued(tokenId, claim.operationId, claim.gtin);
    }

    /// @dev Reverts unless the claimed item is in the registry's batch `claim.root`.
    function _checkRegistered(Claim calldata claim) private view {
        if (!_REGISTRY.isItemRegistered(claim.gtin, claim.commitment, claim.root, claim.proof)) {
            revert ItemPassportsUnregisteredItem(claim.gtin, claim.commitment, claim.root);
        }
    }

    /// @dev Marks an operation id used; reverts if it is 0 or was used before.
    function _useOperation(uint64 operationId) private {
        if (operationId == 0) revert ItemPassportsInvalidOperationId();
        if (_appliedOperations.get(operationId)) revert ItemPassportsAlreadyAppliedOperation(operationId);
        _appliedOperations.set(operationId);
    }
}
