// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/**
 * @title IProvenanceRegistry
 * @notice The public record of Credance provenance: organisations and their roles, GS1 company
 * prefixes, brand-owned products (GTINs), serialized items committed in Merkle batches, anchored
 * supply-chain event batches and recalls.
 *
 * @dev Holds the structs, events and errors of the registry (OpenZeppelin's `IAccessControl`
 * habit), so a client or a verifier decodes everything from the interface alone. Errors follow
 * ERC-6093's grammar `<Domain><ErrorPrefix><Subject>(who, what, why)` with the domain `Provenance`
 * (shortened as OpenZeppelin's `TimelockController` uses `Timelock`). Organisation roles are the
 * bit flags BRAND = 1, MANUFACTURER = 2, DISTRIBUTOR = 4, RETAILER = 8.
 */
interface IProvenanceRegistry {
    /**
     * @notice An organisation and the account that signs for it.
     * @param controller Account that signs for the organisation.
     * @param roles Bit mask of the organisation's roles.
     * @param active False while the organisation is suspended: it can no longer write.
     */
    struct Organisation {
        address controller;
        uint8 roles;
        bool active;
    }

    /// @notice A batch of serialized items of one GTIN committed by a manufacturer.
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

    /// @notice The organisation id, controller or roles are not acceptable, or no such organisation.
    error ProvenanceInvalidOrganisation(bytes32 orgId);

    /// @notice The controller already signs for another organisation, `orgId`.
    error ProvenanceInvalidController(address controller, bytes32 orgId);

    /// @notice The account signs for no active organisation with the needed role.
    error ProvenanceUnauthorizedAccount(address account, uint8 neededRole);

    /// @notice The GTIN is zero or has more than 14 digits.
    error ProvenanceInvalidGtin(uint64 gtin);

    /// @notice The GTIN is already owned by the brand `brandId`.
    error ProvenanceAlreadyRegisteredProduct(uint64 gtin, bytes32 brandId);

    /// @notice The GTIN lies under no GS1 company prefix assigned to any organisation.
    error ProvenanceUnassignedCompanyPrefix(uint64 gtin);

    /// @notice The GTIN lies under the company prefix `prefixKey`, assigned to another organisation, `owner`.
    error ProvenanceIncorrectPrefixOwner(uint64 gtin, uint64 prefixKey, bytes32 owner);

    /// @notice Not the key of a 6- to 12-digit GS1 company prefix (see {prefixKey}).
    error ProvenanceInvalidPrefixKey(uint64 prefixKey);

    /// @notice The GTIN was never registered.
    error ProvenanceNonexistentProduct(uint64 gtin);

    /// @notice The organisation `partnerId` is not authorised by the brand `brandId` (the GTIN's
    /// owner; zero if none) for the needed role: a brand acts only on its own GTINs.
    error ProvenanceUnauthorizedPartner(bytes32 brandId, bytes32 partnerId, uint8 neededRole);

    /// @notice A Merkle root was already used, or is zero, or covers no leaf.
    error ProvenanceInvalidBatch(bytes32 root, uint32 count);

    /// @notice Returns an organisation's controller, roles and status.
    function organisation(bytes32 orgId) external view returns (Organisation memory);

    /// @notice Organisation an account signs for (zero if none).
    function organisationOf(address controller) external view returns (bytes32);

    /// @notice Brand organisation owning a GTIN (zero if none).
    function brandOf(uint64 gtin) external view returns (bytes32);

    /// @notice Organisation a GS1 company prefix is assigned to, by prefix key (see {prefixKey}).
    function ownerOfPrefix(uint64 key) external view returns (bytes32);

    /// @notice Roles an owner granted to a partner organisation for what it owns.
    function partnerRoles(bytes32 ownerId, bytes32 partnerId) external view returns (uint8);

    /// @notice Item batch committed under a Merkle root: GTIN, count, time, manufacturer.
    function itemBatches(bytes32 root)
        external
        view
        returns (uint64 gtin, uint32 count, uint64 registeredAt, bytes32 manufacturer);

    /// @notice Event anchor under a Merkle root: organisation, count, time.
    function eventAnchors(bytes32 root) external view returns (bytes32 orgId, uint32 count, uint64 anchoredAt);

    /// @notice Whether every item of a GTIN is recalled.
    function isGtinRecalled(uint64 gtin) external view returns (bool);

    /// @notice Recall id of a scope root issued by the brand `brandId` (zero if none).
    function recallOfScope(bytes32 brandId, bytes32 scopeRoot) external view returns (uint256);

    /// @notice Recall `recallId` (ids start at 1): GTIN, count, time, brand, scope root.
    function recalls(uint256 recallId)
        external
        view
        returns (uint64 gtin, uint32 count, uint64 issuedAt, bytes32 brand, bytes32 scopeRoot);

    /// @notice Number of recalls issued.
    function recallCount() external view returns (uint256);

    /// @notice The organisation holding the GS1 company prefix of a GTIN-14, and that prefix's key (zeros if none).
    function prefixOwnerOf(uint64 gtin) external view returns (bytes32 orgId, uint64 key);

    /// @notice Key of a company prefix of `digits` digits (leading zeros included) and value
    /// `prefix`: `10 ** digits + prefix`, so "0614141" is 10614141.
    function prefixKey(uint64 prefix, uint256 digits) external pure returns (uint64);

    /**
     * @notice Admits an organisation or changes its controller, roles or status.
     * @dev Emits {OrganisationUpdated}.
     * @param orgId Public identifier of the organisation (e.g. hash of its GLN or slug).
     * @param controller Account that signs for the organisation.
     * @param roles Bit mask of BRAND, MANUFACTURER, DISTRIBUTOR, RETAILER.
     * @param active False suspends the organisation: it can no longer write.
     */
    function setOrganisation(bytes32 orgId, address controller, uint8 roles, bool active) external;

    /**
     * @notice Assigns a GS1 company prefix to an organisation (`orgId == 0` frees it), as GS1
     * licensed it. From then on only that organisation may register GTINs under the prefix (if it
     * is a brand), and it owns the other identifiers under it (SSCCs, GRAIs, GIAIs, GLNs).
     * @dev Emits {CompanyPrefixAssigned}.
     * @param key The prefix key (see {prefixKey}).
     */
    function assignCompanyPrefix(uint64 key, bytes32 orgId) external;

    /**
     * @notice Registers a product: the caller's brand owns the GTIN from now on. The GTIN must lie
     * under a GS1 company prefix the registrar assigned to the caller's brand.
     * @dev Emits {ProductRegistered}.
     */
    function registerProduct(uint64 gtin) external;

    /**
     * @notice Grants (or with `roles == 0` revokes) a partner's roles for what the caller's
     * organisation owns: a brand's products, or the identifiers under its company prefixes.
     * @dev Granting needs an active partner; revoking works for a suspended one too. Emits
     * {PartnerRolesUpdated}.
     */
    function setPartnerRoles(bytes32 partnerId, uint8 roles) external;

    /**
     * @notice Commits a batch of serialized items of one GTIN.
     * @dev The caller must be a manufacturer authorised by the GTIN's brand (or the brand itself,
     * if it also manufactures). Emits {ItemsRegistered}.
     */
    function registerItems(uint64 gtin, bytes32 root, uint32 count) external;

    /**
     * @notice Anchors a Merkle root of canonical EPCIS event hashes written by the caller's
     * organisation.
     * @dev Emits {EventsAnchored}.
     */
    function anchorEvents(bytes32 root, uint32 count) external;

    /**
     * @notice Recalls every item of a GTIN (`scopeRoot == 0`) or the items whose leaves are under
     * `scopeRoot`; only the GTIN's brand may.
     * @dev Emits {RecallIssued}.
     * @return recallId The new recall's id.
     */
    function recall(uint64 gtin, bytes32 scopeRoot, uint32 count, bytes32 reasonRef) external returns (uint256 recallId);

    /// @notice Whether an item (GTIN and salted serial commitment) belongs to a committed batch.
    function isItemRegistered(uint64 gtin, bytes32 commitment, bytes32 root, bytes32[] calldata proof)
        external
        view
        returns (bool);

    /**
     * @notice Whether an item (GTIN and salted serial commitment) is recalled: its whole GTIN is,
     * or `scopeRoot` is the scope of a recall by the GTIN's own brand and `proof` proves the
     * item's leaf under it. A scope issued by any other organisation never counts.
     */
    function isItemRecalled(uint64 gtin, bytes32 commitment, bytes32 scopeRoot, bytes32[] calldata proof)
        external
        view
        returns (bool);

    /// @notice Whether an event hash belongs to an anchored batch.
    function isEventAnchored(bytes32 eventHash, bytes32 root, bytes32[] calldata proof) external view returns (bool);

    /// @notice Leaf of an item in item batches and recall scopes.
    function itemLeaf(uint64 gtin, bytes32 commitment) external pure returns (bytes32);

    /// @notice Double-hashed leaf, so a leaf can never be confused with an inner node.
    function hashLeaf(bytes32 value) external pure returns (bytes32);
}
