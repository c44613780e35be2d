// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {Multicall} from "@openzeppelin/contracts/utils/Multicall.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";

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
 */
contract ProvenanceRegistry is AccessControl, Pausable, Multicall {
    /// @notice Role that admits organisations and changes their roles.
    bytes32 public constant REGISTRAR_ROLE = keccak256("REGISTRAR_ROLE");
    /// @notice Role allowed to pause and unpause every write in an emergency.
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");

    /// @notice Organisation role flags (combined as a bit mask).
    uint8 public constant BRAND = 1;
    uint8 public constant MANUFACTURER = 2;
    uint8 public constant DISTRIBUTOR = 4;
    uint8 public constant RETAILER = 8;
    uint8 private constant _ALL_ROLES = BRAND | MANUFACTURER | DISTRIBUTOR | RETAILER;
    uint64 private constant _GTIN_LIMIT = 1e14;
    uint256 private constant _MIN_PREFIX_DIGITS = 6;
    uint256 private constant _MAX_PREFIX_DIGITS = 12;

    /// @notice An organisation and the account that signs for it.
    struct Organisation {
        address controller;
        uint8 roles;
        bool active;
    }

    /// @notice A batch of serialized items committed by a manufacturer.
    struct ItemBatch {
        uint64 gtin;
        uint32 count;
        uint64 registeredAt;
        bytes32 manufacturer;
    }

    /// @notice A batch of supply-chain event hashes anchored by an organisation.
    struct EventAnchor {
        bytes32 organisation;
        uint32 count;
        uint64 anchoredAt;
    }

    /// @notice A recall of a whole GTIN (`scopeRoot == 0`) or of the items under `scopeRoot`.
    struct Recall {
        uint64 gtin;
        uint32 count;
        uint64 issuedAt;
        bytes32 brand;
        bytes32 scopeRoot;
    }

    mapping(bytes32 orgId => Organisation) private _organisations;
    /// @notice Organisation an account signs for (zero if none).
    mapping(address controller => bytes32 orgId) public organisationOf;
    /// @notice Brand organisation owning each GTIN.
    mapping(uint64 gtin => bytes32 brandId) public brandOf;
    /// @notice Organisation a GS1 company prefix is assigned to, by prefix key (see {prefixKey}).
    mapping(uint64 prefixKey => bytes32 orgId) public ownerOfPrefix;
    /// @notice Roles an owner (a brand, or any organisation owning identifiers such as SSCCs)
    /// granted to a partner organisation for what it owns.
    mapping(bytes32 ownerId => mapping(bytes32 partnerId => uint8 roles)) public partnerRoles;
    /// @notice Item batches by Merkle root.
    mapping(bytes32 root => ItemBatch) public itemBatches;
    /// @notice Event anchors by Merkle root.
    mapping(bytes32 root => EventAnchor) public eventAnchors;
    /// @notice Whether every item of a GTIN is recalled.
    mapping(uint64 gtin => bool) public isGtinRecalled;
    /// @notice Recall id of each recall scope root, per recalling brand (zero if none). Keyed by
    /// brand so that no organisation can take (or front-run) another brand's scope root.
    mapping(bytes32 brandId => mapping(bytes32 scopeRoot => uint256 recallId)) public recallOfScope;
    /// @notice Recalls by id (ids start at 1).
    mapping(uint256 recallId => Recall) public recalls;
    /// @notice Number of recalls issued.
    uint256 public recallCount;

    /// @notice Emitted when an organisation is admitted or its controller, roles or status change.
    event OrganisationUpdated(bytes32 indexed orgId, address indexed controller, uint8 roles, bool active);
    /// @notice Emitted when the registrar assigns a GS1 company prefix to an organisation (or frees it: zero id).
    event CompanyPrefixAssigned(uint64 indexed prefixKey, bytes32 indexed orgId);
    /// @notice Emitted when a brand registers a product.
    event ProductRegistered(uint64 indexed gtin, bytes32 indexed brandId);
    /// @notice Emitted when an owner grants or revokes a partner's roles for what it owns.
    event PartnerRolesUpdated(bytes32 indexed ownerId, bytes32 indexed partnerId, uint8 roles);
    /// @notice Emitted when a manufacturer commits a batch of serialized items.
    event ItemsRegistered(bytes32 indexed root, uint64 indexed gtin, bytes32 indexed manufacturerId, uint32 count);
    /// @notice Emitted when an organisation anchors a batch of event hashes.
    event EventsAnchored(bytes32 indexed root, bytes32 indexed orgId, uint32 count);
    /// @notice Emitted when a brand recalls a GTIN or a set of items.
    event RecallIssued(
        uint256 indexed recallId,
        uint64 indexed gtin,
        bytes32 indexed brandId,
        bytes32 scopeRoot,
        uint32 count,
        bytes32 reasonRef
    );

    /// @notice The organisation id, controller or roles are not acceptable.
    error InvalidOrganisation(bytes32 orgId);
    /// @notice The controller already signs for another organisation.
    error ControllerInUse(address controller, bytes32 orgId);
    /// @notice The caller signs for no active organisation with the required role.
    error UnauthorisedOrganisation(address caller, uint8 requiredRole);
    /// @notice The GTIN is zero or has more than 14 digits.
    error InvalidGtin(uint64 gtin);
    /// @notice The GTIN is already owned by a brand.
    error ProductAlreadyRegistered(uint64 gtin, bytes32 brandId);
    /// @notice The GTIN lies under no GS1 company prefix assigned to any organisation.
    error UnassignedCompanyPrefix(uint64 gtin);
    /// @notice The GTIN lies under a GS1 company prefix assigned to another organisation.
    error PrefixOwnedByAnotherOrganisation(uint64 gtin, uint64 prefixKey, bytes32 orgId);
    /// @notice Not a prefix key of a 6- to 12-digit GS1 company prefix.
    error InvalidPrefix(uint64 prefixKey);
    /// @notice The GTIN was never registered.
    error UnknownProduct(uint64 gtin);
    /// @notice The caller's organisation is not authorised by the GTIN's brand for this role.
    error NotAuthorisedByBrand(bytes32 brandId, bytes32 orgId, uint8 requiredRole);
    /// @notice A Merkle root was already used, or is zero, or covers no leaf.
    error InvalidBatch(bytes32 root, uint32 count);

    /// @param admin Receives DEFAULT_ADMIN_ROLE and REGISTRAR_ROLE.
    constructor(address admin) {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(REGISTRAR_ROLE, admin);
    }

    /// @notice Returns an organisation's controller, roles and status.
    function organisation(bytes32 orgId) external view returns (Organisation memory) {
        return _organisations[orgId];
    }

    /**
     * @notice Admits an organisation or changes its controller, roles or status.
     * @param orgId Public identifier of the organisation (e.g. hash of its GLN or slug).
     * @param controller Account that signs for the organisation.
     * @param roles Bit mask of BRAND, MANUFACTURER, DISTRIBUTOR, RETAILER.
     * @param active False suspends the organisation: it can no longer write.
     */
    function setOrganisation(bytes32 orgId, address controller, uint8 roles, bool active)
        external
        onlyRole(REGISTRAR_ROLE)
        whenNotPaused
    {
        if (orgId == bytes32(0) || controller == address(0) || roles & ~_ALL_ROLES != 0) {
            revert InvalidOrganisation(orgId);
        }
        bytes32 current = organisationOf[controller];
        if (current != bytes32(0) && current != orgId) revert ControllerInUse(controller, current);
        address previous = _organisations[orgId].controller;
        if (previous != address(0) && previous != controller) delete organisationOf[previous];
        _organisations[orgId] = Organisation(controller, roles, active);
        organisationOf[controller] = orgId;
        emit OrganisationUpdated(orgId, controller, roles, active);
    }

    /**
     * @notice Assigns a GS1 company prefix to an organisation (`orgId == 0` frees it), as GS1
     * licensed it. From then on only that organisation may register GTINs under the prefix (if it
     * is a brand), and it owns the other identifiers under it (SSCCs, GRAIs, GIAIs, GLNs).
     * @dev Any admitted organisation may hold a prefix: a logistics company owns its SSCCs.
     * Registered GTINs keep their brand (`brandOf` never changes); registration needs the
     * prefix, so no GTIN can lie under a prefix held by another organisation.
     * @param key The prefix key: `10 ** digits + prefix`, so leading zeros count ("0614141" is
     * 10614141); see {prefixKey}.
     */
    function assignCompanyPrefix(uint64 key, bytes32 orgId) external onlyRole(REGISTRAR_ROLE) whenNotPaused {
        if (_prefixDigits(key) == 0) revert InvalidPrefix(key);
        if (orgId != bytes32(0) && _organisations[orgId].controller == address(0)) revert InvalidOrganisation(orgId);
        ownerOfPrefix[key] = orgId;
        emit CompanyPrefixAssigned(key, orgId);
    }

    /// @notice The organisation holding the GS1 company prefix of a GTIN-14, and that prefix's key (zeros if none).
    function prefixOwnerOf(uint64 gtin) public view returns (bytes32 orgId, uint64 key) {
        // The company prefix starts after the indicator digit: digits 2 .. 1 + length of the GTIN-14.
        for (uint256 digits = _MIN_PREFIX_DIGITS; digits <= _MAX_PREFIX_DIGITS; ++digits) {
            key = prefixKey((gtin / uint64(10 ** (13 - digits))) % uint64(10 ** digits), digits);
            orgId = ownerOfPrefix[key];
            if (orgId != bytes32(0)) return (orgId, key);
        }
        return (bytes32(0), 0);
    }

    /// @notice Key of a company prefix of `digits` digits (leading zeros included) and value `prefix`.
    function prefixKey(uint64 prefix, uint256 digits) public pure returns (uint64) {
        return uint64(10 ** digits) + prefix;
    }

    /**
     * @notice Registers a product: the caller's brand owns the GTIN from now on. The GTIN must lie
     * under a GS1 company prefix the registrar assigned to the caller's brand.
     */
    function registerProduct(uint64 gtin) external whenNotPaused {
        bytes32 brandId = _callerOrganisation(BRAND);
        if (gtin == 0 || gtin >= _GTIN_LIMIT) revert InvalidGtin(gtin);
        bytes32 owner = brandOf[gtin];
        if (owner != bytes32(0)) revert ProductAlreadyRegistered(gtin, owner);
        (bytes32 prefixOwner, uint64 key) = prefixOwnerOf(gtin);
        if (prefixOwner == bytes32(0)) revert UnassignedCompanyPrefix(gtin);
        if (prefixOwner != brandId) revert PrefixOwnedByAnotherOrganisation(gtin, key, prefixOwner);
        brandOf[gtin] = brandId;
        emit ProductRegistered(gtin, brandId);
    }

    /**
     * @notice Grants (or with `roles == 0` revokes) a partner's roles for what the caller's
     * organisation owns: a brand's products, or the identifiers under its company prefixes.
     * @dev Granting needs an active partner; revoking works for a suspended one too, so an owner
     * can always withdraw its authorisation.
     */
    function setPartnerRoles(bytes32 partnerId, uint8 roles) external whenNotPaused {
        bytes32 ownerId = _callerOrganisation(0);
        Organisation storage partner = _organisations[partnerId];
        bool usable = roles == 0 ? partner.controller != address(0) : partner.active;
        if (!usable || roles & ~_ALL_ROLES != 0) revert InvalidOrganisation(partnerId);
        partnerRoles[ownerId][partnerId] = roles;
        emit PartnerRolesUpdated(ownerId, partnerId, roles);
    }

    /**
     * @notice Commits a batch of serialized items of one GTIN.
     * @dev The caller must be a manufacturer authorised by the GTIN's brand (or the brand
     * itself, if it also manufactures).
     */
    function registerItems(uint64 gtin, bytes32 root, uint32 count) external whenNotPaused {
        bytes32 manufacturerId = _callerOrganisation(MANUFACTURER);
        bytes32 brandId = brandOf[gtin];
        if (brandId == bytes32(0)) revert UnknownProduct(gtin);
        if (manufacturerId != brandId && partnerRoles[brandId][manufacturerId] & MANUFACTURER == 0) {
            revert NotAuthorisedByBrand(brandId, manufacturerId, MANUFACTURER);
        }
        if (root == bytes32(0) || count == 0 || itemBatches[root].count != 0) revert InvalidBatch(root, count);
        itemBatches[root] = ItemBatch(gtin, count, uint64(block.timestamp), manufacturerId);
        emit ItemsRegistered(root, gtin, manufacturerId, count);
    }

    /**
     * @notice Anchors a Merkle root of canonical EPCIS event hashes written by the caller's
     * organisation.
     * @dev Which organisation may write which event is checked before anchoring, against the
     * rules and the roles recorded here; the anchor records who vouched for the batch.
     */
    function anchorEvents(bytes32 root, uint32 count) external whenNotPaused {
        bytes32 orgId = _callerOrganisation(0);
        if (root == bytes32(0) || count == 0 || eventAnchors[root].count != 0) revert InvalidBatch(root, count);
        eventAnchors[root] = EventAnchor(orgId, count, uint64(block.timestamp));
        emit EventsAnchored(root, orgId, count);
    }

    /**
     * @notice Recalls every item of a GTIN (`scopeRoot == 0`) or the items whose leaves are
     * under `scopeRoot` (a lot, a set of serials, and the brand's own items packed with or made
     * from them).
     * @dev The scope belongs to the caller's brand: {isItemRecalled} counts it only for items of
     * GTINs that brand owns, whatever leaves the root commits to.
     */
    function recall(uint64 gtin, bytes32 scopeRoot, uint32 count, bytes32 reasonRef)
        external
        whenNotPaused
        returns (uint256 recallId)
    {
        bytes32 brandId = _callerOrganisation(BRAND);
        if (brandOf[gtin] != brandId) revert NotAuthorisedByBrand(brandOf[gtin], brandId, BRAND);
        if (scopeRoot == bytes32(0)) {
            isGtinRecalled[gtin] = true;
        } else {
            if (count == 0 || recallOfScope[brandId][scopeRoot] != 0) revert InvalidBatch(scopeRoot, count);
        }
        recallId = ++recallCount;
        if (scopeRoot != bytes32(0)) recallOfScope[brandId][scopeRoot] = recallId;
        recalls[recallId] = Recall(gtin, count, uint64(block.timestamp), brandId, scopeRoot);
        emit RecallIssued(recallId, gtin, brandId, scopeRoot, count, reasonRef);
    }

    /// @notice Whether an item (GTIN and salted serial commitment) belongs to a committed batch.
    function isItemRegistered(uint64 gtin, bytes32 commitment, bytes32 root, bytes32[] calldata proof)
        external
        view
        returns (bool)
    {
        ItemBatch storage batch = itemBatches[root];
        if (batch.count == 0 || batch.gtin != gtin) return false;
        return MerkleProof.verifyCalldata(proof, root, itemLeaf(gtin, commitment));
    }

    /**
     * @notice Whether an item (GTIN and salted serial commitment) is recalled: its whole GTIN is,
     * or `scopeRoot` is the scope of a recall by the GTIN's own brand and `proof` proves the
     * item's leaf under it. A scope issued by any other organisation never counts.
     */
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

    /// @notice Whether an event hash belongs to an anchored batch.
    function isEventAnchored(bytes32 eventHash, bytes32 root, bytes32[] calldata proof) external view returns (bool) {
        if (eventAnchors[root].count == 0) return false;
        return MerkleProof.verifyCalldata(proof, root, hashLeaf(eventHash));
    }

    /// @notice Leaf of an item in item batches and recall scopes.
    function itemLeaf(uint64 gtin, bytes32 commitment) public pure returns (bytes32) {
        return hashLeaf(keccak256(abi.encode(gtin, commitment)));
    }

    /// @notice Double-hashed leaf, so a leaf can never be confused with an inner node.
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

    function _prefixDigits(uint64 key) private pure returns (uint256) {
        for (uint256 digits = _MIN_PREFIX_DIGITS; digits <= _MAX_PREFIX_DIGITS; ++digits) {
            if (key >= 10 ** digits && key < 2 * 10 ** digits) return digits;
        }
        return 0;
    }

    function _callerOrganisation(uint8 requiredRole) private view returns (bytes32 orgId) {
        orgId = organisationOf[_msgSender()];
        Organisation storage org = _organisations[orgId];
        if (orgId == bytes32(0) || !org.active || (requiredRole != 0 && org.roles & requiredRole == 0)) {
            revert UnauthorisedOrganisation(_msgSender(), requiredRole);
        }
    }
}
