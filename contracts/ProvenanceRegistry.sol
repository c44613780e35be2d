// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {Multicall} from "@openzeppelin/contracts/utils/Multicall.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";

import {IProvenanceRegistry} from "./interfaces/IProvenanceRegistry.sol";

/**
 * @title ProvenanceRegistry
 * @notice Public record of who makes and handles which products: organisations and their
 * roles, GS1 company prefixes owned by organisations, products (GTINs) owned by brands under
 * their own prefixes, serialized items committed in Merkle batches, supply-chain events (GS1
 * EPCIS) anchored in Merkle batches, and recalls whose scope belongs to the recalling brand.
 *
 * @dev No serial number or personal data is stored: an item is the leaf
 * `keccak256(bytes.concat(keccak256(abi.encode(gtin, commitment))))` where
 * `commitment = keccak256(abi.encode(salt, serial))` uses a per-item secret salt, since
 * serial numbers are guessable. Event batches commit to canonical EPCIS event hashes the
 * same way. Anyone holding a leaf and its proof can check it with {isItemRegistered},
 * {isEventAnchored} or {isItemRecalled} against any node.
 *
 * Structs, events and errors are declared in {IProvenanceRegistry}. Internal helpers named
 * `_check…` only read and revert.
 */
contract ProvenanceRegistry is IProvenanceRegistry, AccessControl, Pausable, Multicall {
    /// @notice Role that admits organisations and changes their roles.
    bytes32 public constant REGISTRAR_ROLE = keccak256("REGISTRAR_ROLE");
    /// @notice Role allowed to pause and unpause every write in an emergency.
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");

    /// @notice Organisation role flag (roles combine as a bit mask): registers and recalls its GTINs.
    uint8 public constant BRAND = 1;
    /// @notice Organisation role flag: registers items of the GTINs a brand authorised it for.
    uint8 public constant MANUFACTURER = 2;
    /// @notice Organisation role flag: moves goods between organisations.
    uint8 public constant DISTRIBUTOR = 4;
    /// @notice Organisation role flag: sells to consumers.
    uint8 public constant RETAILER = 8;
    uint8 private constant _ALL_ROLES = BRAND | MANUFACTURER | DISTRIBUTOR | RETAILER;
    uint64 private constant _GTIN_LIMIT = 1e14;
    uint256 private constant _MIN_PREFIX_DIGITS = 6;
    uint256 private constant _MAX_PREFIX_DIGITS = 12;

    mapping(bytes32 orgId => Organisation) private _organisations;
    /// @inheritdoc IProvenanceRegistry
    mapping(address controller => bytes32 orgId) public organisationOf;
    /// @inheritdoc IProvenanceRegistry
    mapping(uint64 gtin => bytes32 brandId) public brandOf;
    /// @inheritdoc IProvenanceRegistry
    mapping(uint64 prefixKey => bytes32 orgId) public ownerOfPrefix;
    /// @inheritdoc IProvenanceRegistry
    /// @dev The owner is a brand, or any organisation owning identifiers such as SSCCs.
    mapping(bytes32 ownerId => mapping(bytes32 partnerId => uint8 roles)) public partnerRoles;
    /// @inheritdoc IProvenanceRegistry
    mapping(bytes32 root => ItemBatch) public itemBatches;
    /// @inheritdoc IProvenanceRegistry
    mapping(bytes32 root => EventAnchor) public eventAnchors;
    /// @inheritdoc IProvenanceRegistry
    mapping(uint64 gtin => bool) public isGtinRecalled;
    /// @inheritdoc IProvenanceRegistry
    /// @dev Keyed by brand so that no organisation can take (or front-run) another brand's scope root.
    mapping(bytes32 brandId => mapping(bytes32 scopeRoot => uint256 recallId)) public recallOfScope;
    /// @inheritdoc IProvenanceRegistry
    mapping(uint256 recallId => Recall) public recalls;
    /// @inheritdoc IProvenanceRegistry
    uint256 public recallCount;

    /// @param admin Receives DEFAULT_ADMIN_ROLE and REGISTRAR_ROLE.
    constructor(address admin) {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(REGISTRAR_ROLE, admin);
    }

    /// @inheritdoc IProvenanceRegistry
    function organisation(bytes32 orgId) external view returns (Organisation memory) {
        return _organisations[orgId];
    }

    /// @inheritdoc IProvenanceRegistry
    function setOrganisation(bytes32 orgId, address controller, uint8 roles, bool active)
        external
        onlyRole(REGISTRAR_ROLE)
        whenNotPaused
    {
        if (orgId == bytes32(0) || controller == address(0) || roles & ~_ALL_ROLES != 0) {
            revert ProvenanceInvalidOrganisation(orgId);
        }
        bytes32 current = organisationOf[controller];
        if (current != bytes32(0) && current != orgId) revert ProvenanceInvalidController(controller, current);
        address previous = _organisations[orgId].controller;
        if (previous != address(0) && previous != controller) delete organisationOf[previous];
        _organisations[orgId] = Organisation(controller, roles, active);
        organisationOf[controller] = orgId;
        emit OrganisationUpdated(orgId, controller, roles, active);
    }

    /**
     * @inheritdoc IProvenanceRegistry
     * @dev Any admitted organisation may hold a prefix: a logistics company owns its SSCCs.
     * Registered GTINs keep their brand (`brandOf` never changes); registration needs the
     * prefix, so no GTIN can lie under a prefix held by another organisation.
     */
    function assignCompanyPrefix(uint64 key, bytes32 orgId) external onlyRole(REGISTRAR_ROLE) whenNotPaused {
        if (_prefixDigits(key) == 0) revert ProvenanceInvalidPrefixKey(key);
        if (orgId != bytes32(0) && _organisations[orgId].controller == address(0)) {
            revert ProvenanceInvalidOrganisation(orgId);
        }
        ownerOfPrefix[key] = orgId;
        emit CompanyPrefixAssigned(key, orgId);
    }

    /// @inheritdoc IProvenanceRegistry
    function prefixOwnerOf(uint64 gtin) public view returns (bytes32 orgId, uint64 key) {
        // The company prefix starts after the indicator digit: digits 2 .. 1 + length of the GTIN-14.
        for (uint256 digits = _MIN_PREFIX_DIGITS; digits <= _MAX_PREFIX_DIGITS; ++digits) {
            key = _prefixKey((gtin / 10 ** (13 - digits)) % 10 ** digits, digits);
            orgId = ownerOfPrefix[key];
            if (orgId != bytes32(0)) return (orgId, key);
        }
        return (bytes32(0), 0);
    }

    /// @inheritdoc IProvenanceRegistry
    function prefixKey(uint64 prefix, uint256 digits) external pure returns (uint64) {
        return _prefixKey(prefix, digits);
    }

    /// @inheritdoc IProvenanceRegistry
    function registerProduct(uint64 gtin) external whenNotPaused {
        bytes32 brandId = _callerOrganisation(BRAND);
        if (gtin == 0 || gtin >= _GTIN_LIMIT) revert ProvenanceInvalidGtin(gtin);
        bytes32 owner = brandOf[gtin];
        if (owner != bytes32(0)) revert ProvenanceAlreadyRegisteredProduct(gtin, owner);
        _checkPrefixOwner(gtin, brandId);
        brandOf[gtin] = brandId;
        emit ProductRegistered(gtin, brandId);
    }

    /// @inheritdoc IProvenanceRegistry
    function setPartnerRoles(bytes32 partnerId, uint8 roles) external whenNotPaused {
        bytes32 ownerId = _callerOrganisation(0);
        Organisation storage partner = _organisations[partnerId];
        bool usable = roles == 0 ? partner.controller != address(0) : partner.active;
        if (!usable || roles & ~_ALL_ROLES != 0) revert ProvenanceInvalidOrganisation(partnerId);
        partnerRoles[ownerId][partnerId] = roles;
        emit PartnerRolesUpdated(ownerId, partnerId, roles);
    }

    /// @inheritdoc IProvenanceRegistry
    function registerItems(uint64 gtin, bytes32 root, uint32 count) external whenNotPaused {
        bytes32 manufacturerId = _callerOrganisation(MANUFACTURER);
        bytes32 brandId = brandOf[gtin];
        if (brandId == bytes32(0)) revert ProvenanceNonexistentProduct(gtin);
        _checkAuthorisedByBrand(brandId, manufacturerId, MANUFACTURER);
        uint64 registeredAt = SafeCast.toUint64(block.timestamp);
        // Field by field through one storage pointer: the slot is hashed once and the packed
        // fields go out in one SSTORE, cheaper than copying a struct from memory.
        ItemBatch storage batch = itemBatches[root];
        if (root == bytes32(0) || count == 0 || batch.count != 0) revert ProvenanceInvalidBatch(root, count);
        batch.gtin = gtin;
        batch.count = count;
        batch.registeredAt = registeredAt;
        batch.manufacturer = manufacturerId;
        emit ItemsRegistered(root, gtin, manufacturerId, count);
    }

    /**
     * @inheritdoc IProvenanceRegistry
     * @dev Which organisation may write which event is checked before anchoring, against the
     * rules and the roles recorded here; the anchor records who vouched for the batch.
     */
    function anchorEvents(bytes32 root, uint32 count) external whenNotPaused {
        bytes32 orgId = _callerOrganisation(0);
        uint64 anchoredAt = SafeCast.toUint64(block.timestamp);
        // As in registerItems: one slot hash, one SSTORE per slot (bench/provenance.py gas/event).
        EventAnchor storage anchor = eventAnchors[root];
        if (root == bytes32(0) || count == 0 || anchor.count != 0) revert ProvenanceInvalidBatch(root, count);
        anchor.organisation = orgId;
        anchor.count = count;
        anchor.anchoredAt = anchoredAt;
        emit EventsAnchored(root, orgId, count);
    }

    /**
     * @inheritdoc IProvenanceRegistry
     * @dev A scope covers a lot, a set of serials, and the brand's own items packed with or made
     * from them. It belongs to the caller's brand: {isItemRecalled} counts it only for items of
     * GTINs that brand owns, whatever leaves the root commits to.
     */
    function recall(uint64 gtin, bytes32 scopeRoot, uint32 count, bytes32 reasonRef)
        external
        whenNotPaused
        returns (uint256 recallId)
    {
        bytes32 brandId = _callerOrganisation(BRAND);
        bytes32 owner = brandOf[gtin];
        if (owner != brandId) revert ProvenanceUnauthorizedPartner(owner, brandId, BRAND);
        if (scopeRoot == bytes32(0)) {
            isGtinRecalled[gtin] = true;
        } else {
            if (count == 0 || recallOfScope[brandId][scopeRoot] != 0) revert ProvenanceInvalidBatch(scopeRoot, count);
        }
        recallId = ++recallCount;
        if (scopeRoot != bytes32(0)) recallOfScope[brandId][scopeRoot] = recallId;
        uint64 issuedAt = SafeCast.toUint64(block.timestamp);
        // As in registerItems: one slot hash, one SSTORE per slot.
        Recall storage issued = recalls[recallId];
        issued.gtin = gtin;
        issued.count = count;
        issued.issuedAt = issuedAt;
        issued.brand = brandId;
        issued.scopeRoot = scopeRoot;
        emit RecallIssued(recallId, gtin, brandId, scopeRoot, count, reasonRef);
    }

    /// @inheritdoc IProvenanceRegistry
    function isItemRegistered(uint64 gtin, bytes32 commitment, bytes32 root, bytes32[] calldata proof)
        external
        view
        returns (bool)
    {
        ItemBatch storage batch = itemBatches[root];
        if (batch.count == 0 || batch.gtin != gtin) return false;
        return MerkleProof.verifyCalldata(proof, root, itemLeaf(gtin, commitment));
    }

    /// @inheritdoc IProvenanceRegistry
    function isItemRecalled(uint64 gtin, bytes32 commitment, bytes32 scopeRoot, bytes32[] calldata proof)
        external
        view
        returns (bool)
    {
        if (isGtinRecalled[gtin]) return true;
        bytes32 brandId = brandOf[gtin];
        if (brandId == bytes32(0) || scopeRoot == bytes32(0) || recallOfScope[brandId][scopeRoot] == 0) return false;
        return MerkleProof.verifyCalldata(proof, scopeRoot, itemLeaf(gtin, commitment));
    }

    /// @inheritdoc IProvenanceRegistry
    function isEventAnchored(bytes32 eventHash, bytes32 root, bytes32[] calldata proof) external view returns (bool) {
        if (eventAnchors[root].count == 0) return false;
        return MerkleProof.verifyCalldata(proof, root, hashLeaf(eventHash));
    }

    /// @inheritdoc IProvenanceRegistry
    function itemLeaf(uint64 gtin, bytes32 commitment) public pure returns (bytes32) {
        return hashLeaf(keccak256(abi.encode(gtin, commitment)));
    }

    /// @inheritdoc IProvenanceRegistry
    function hashLeaf(bytes32 value) public pure returns (bytes32) {
        return keccak256(bytes.concat(value));
    }

    /// @notice Stops every write in an emergency.
    function pause() external onlyRole(PAUSER_ROLE) {
        _pause();
    }

    /// @notice Resumes writes.
    function unpause() external onlyRole(PAUSER_ROLE) {
        _unpause();
    }

    /// @inheritdoc AccessControl
    /// @dev Also answers true for {IProvenanceRegistry}.
    function supportsInterface(bytes4 interfaceId) public view override returns (bool) {
        return interfaceId == type(IProvenanceRegistry).interfaceId || super.supportsInterface(interfaceId);
    }

    /// @dev `10 ** digits + prefix`; reverts (SafeCast) where a uint64 cannot hold it.
    function _prefixKey(uint256 prefix, uint256 digits) private pure returns (uint64) {
        return SafeCast.toUint64(10 ** digits + prefix);
    }

    function _prefixDigits(uint64 key) private pure returns (uint256) {
        for (uint256 digits = _MIN_PREFIX_DIGITS; digits <= _MAX_PREFIX_DIGITS; ++digits) {
            if (key >= 10 ** digits && key < 2 * 10 ** digits) return digits;
        }
        return 0;
    }

    /// @dev The active organisation the caller signs for, which must hold `neededRole` (0: any).
    function _callerOrganisation(uint8 neededRole) private view returns (bytes32 orgId) {
        orgId = organisationOf[_msgSender()];
        Organisation storage org = _organisations[orgId];
        if (orgId == bytes32(0) || !org.active || (neededRole != 0 && org.roles & neededRole == 0)) {
            revert ProvenanceUnauthorizedAccount(_msgSender(), neededRole);
        }
    }

    /// @dev Reverts unless `gtin` lies under a company prefix assigned to `brandId`.
    function _checkPrefixOwner(uint64 gtin, bytes32 brandId) private view {
        (bytes32 prefixOwner, uint64 key) = prefixOwnerOf(gtin);
        if (prefixOwner == bytes32(0)) revert ProvenanceUnassignedCompanyPrefix(gtin);
        if (prefixOwner != brandId) revert ProvenanceIncorrectPrefixOwner(gtin, key, prefixOwner);
    }

    /// @dev Reverts unless `orgId` is the brand itself or a partner it granted `neededRole`.
    function _checkAuthorisedByBrand(bytes32 brandId, bytes32 orgId, uint8 neededRole) private view {
        if (orgId != brandId && partnerRoles[brandId][orgId] & neededRole == 0) {
            revert ProvenanceUnauthorizedPartner(brandId, orgId, neededRole);
        }
    }
}
