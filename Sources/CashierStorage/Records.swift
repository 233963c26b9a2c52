import CashierCore
import CashierCrypto

/// Why a storage call failed. Only `unavailable` counts against a group for order hopping.
public enum StorageError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The database could not be reached or written (I/O error, locked too long, connection lost,
    /// statement timeout). Retrying later may work.
    case unavailable(String)
    /// A unique key already exists (order number, refund reference, nonce).
    case duplicateKey(String)
    /// Anything else: a bug or corrupt data.
    case failed(String)

    public var description: String {
        switch self {
        case .unavailable(let s): return "storage unavailable: \(s)"
        case .duplicateKey(let s): return "duplicate key: \(s)"
        case .failed(let s): return "storage failed: \(s)"
        }
    }
}

// MARK: - Base data

public struct MerchantRecord: Equatable, Sendable {
    public var id: String
    public var name: String
    public var createdAt: Int64
    public init(id: String, name: String, createdAt: Int64) { self.id = id; self.name = name; self.createdAt = createdAt }
}

public struct StoreRecord: Equatable, Sendable {
    public var id: String
    public var merchantID: String
    public var name: String
    public var currency: String
    public var createdAt: Int64
    /// The store's time zone, an IANA name; what people read is shown in it (`StoreTime`).
    public var timeZone: String
    public init(id: String, merchantID: String, name: String, currency: String, createdAt: Int64, timeZone: String = "UTC") {
        self.id = id; self.merchantID = merchantID; self.name = name; self.currency = currency; self.createdAt = createdAt
        self.timeZone = timeZone
    }
}

/// One payment channel a store takes, with its merchant settings (JSON, as the channel's adapter reads
/// it). Secrets are not kept here: the settings name owner-only files that hold them (docs/CHANNELS.md).
public struct StoreChannelRecord: Equatable, Sendable {
    public var storeID: String
    /// `ChannelKind` raw value: `wechatpay`, `alipay`, `sandbox`.
    public var channel: String
    public var settings: String
    public var updatedAt: Int64
    public init(storeID: String, channel: String, settings: String, updatedAt: Int64) {
        self.storeID = storeID; self.channel = channel; self.settings = settings; self.updatedAt = updatedAt
    }
}

public enum StaffRole: String, Codable, Sendable, CaseIterable {
    case cashier
    case supervisor
}

public struct StaffRecord: Equatable, Sendable {
    public var id: String
    public var storeID: String
    public var name: String
    public var role: StaffRole
    public var pinHash: PINHash
    public var createdAt: Int64
    public init(id: String, storeID: String, name: String, role: StaffRole, pinHash: PINHash, createdAt: Int64) {
        self.id = id; self.storeID = storeID; self.name = name; self.role = role; self.pinHash = pinHash; self.createdAt = createdAt
    }
}

public struct ActivationCodeRecord: Equatable, Sendable {
    /// Normalized form (no dash, upper case).
    public var code: String
    public var storeID: String
    public var createdAt: Int64
    public var expiresAt: Int64
    /// Set when redeemed.
    public var usedAt: Int64?
    public var deviceID: String?
    public init(code: String, storeID: String, createdAt: Int64, expiresAt: Int64, usedAt: Int64? = nil, deviceID: String? = nil) {
        self.code = code; self.storeID = storeID; self.createdAt = createdAt; self.expiresAt = expiresAt
        self.usedAt = usedAt; self.deviceID = deviceID
    }
}

public struct DeviceRecord: Equatable, Sendable {
    public var id: String
    public var storeID: String
    public var name: String
    /// What checks the device's signatures, and so which scheme it signs with: an Ed25519 public key, or
    /// for a terminal activated before public keys the 32-byte HMAC secret, which the service needs in the
    /// clear (until the terminal rotates to a key pair).
    public var key: VerifyingKey
    public var activatedAt: Int64
    public var revokedAt: Int64?
    public init(id: String, storeID: String, name: String, key: VerifyingKey, activatedAt: Int64, revokedAt: Int64? = nil) {
        self.id = id; self.storeID = storeID; self.name = name; self.key = key; self.activatedAt = activatedAt; self.revokedAt = revokedAt
    }

    /// A device with an HMAC secret (a terminal from before public keys).
    public init(id: String, storeID: String, name: String, secret: [UInt8], activatedAt: Int64, revokedAt: Int64? = nil) {
        self.init(id: id, storeID: storeID, name: name, key: .hmacSHA256(secret: secret), activatedAt: activatedAt, revokedAt: revokedAt)
    }
}

/// How a device key is kept in the base data: its type in one column, the secret or the public key in
/// another; the column for the other type is NULL.
enum DeviceKeyColumns {
    static let hmacType = "hmac-sha256"
    static let ed25519Type = "ed25519"

    /// (key type, secret, public key) of a key.
    static func split(_ key: VerifyingKey) -> (type: String, secret: [UInt8]?, publicKey: [UInt8]?) {
        switch key {
        case .hmacSHA256(let secret): return (hmacType, secret, nil)
        case .ed25519(let publicKey): return (ed25519Type, nil, publicKey)
        }
    }

    /// The key of a stored row; a type the program does not know, or a missing value, is corrupt data.
    static func join(type: String, secret: [UInt8]?, publicKey: [UInt8]?, device: String) throws(StorageError) -> VerifyingKey {
        switch type {
        case hmacType:
            guard let secret, !secret.isEmpty else { throw .failed("device \(device) has no secret") }
            return .hmacSHA256(secret: secret)
        case ed25519Type:
            guard let publicKey, publicKey.count == Ed25519.publicKeyLength else { throw .failed("device \(device) has no valid public key") }
            return .ed25519(publicKey: publicKey)
        default:
            throw .failed("device \(device) has a key of unknown type \(type)")
        }
    }
}

/// What redeeming an activation code did.
public enum RedeemOutcome: Equatable, Sendable {
    case activated(DeviceRecord)
    case unknownCode
    case alreadyUsed
    case expired
}

// MARK: - Order data

public struct OrderRecord: Equatable, Sendable {
    public var orderNo: OrderNumber
    public var merchantID: String
    public var storeID: String
    public var deviceID: String
    public var amount: Int64
    public var currency: String
    public var status: OrderStatus
    public var refundedAmount: Int64
    public var items: [OrderItem]
    public var clientRef: String?
    /// The payment code of the payment under way or done (kept for the channel calls).
    public var paymentCode: String?
    public var channelTxn: String?
    public var failureReason: String?
    public var failureMessage: String?
    public var createdAt: Int64
    public var updatedAt: Int64
    public var paidAt: Int64?
    /// Who rang it up and in which shift (as the terminal said; its reports count the order).
    public var staffID: String?
    public var shiftID: String?
    public var tender: Tender
    /// For cash: what the customer handed over.
    public var cashGiven: Int64?

    public init(orderNo: OrderNumber, merchantID: String, storeID: String, deviceID: String, amount: Int64,
                currency: String, status: OrderStatus = .created, refundedAmount: Int64 = 0, items: [OrderItem] = [],
                clientRef: String? = nil, paymentCode: String? = nil, channelTxn: String? = nil,
                failureReason: String? = nil, failureMessage: String? = nil, createdAt: Int64, updatedAt: Int64,
                paidAt: Int64? = nil, staffID: String? = nil, shiftID: String? = nil, tender: Tender = .code,
                cashGiven: Int64? = nil) {
        self.orderNo = orderNo; self.merchantID = merchantID; self.storeID = storeID; self.deviceID = deviceID
        self.amount = amount; self.currency = currency; self.status = status; self.refundedAmount = refundedAmount
        self.items = items; self.clientRef = clientRef; self.paymentCode = paymentCode; self.channelTxn = channelTxn
        self.failureReason = failureReason; self.failureMessage = failureMessage; self.createdAt = createdAt
        self.updatedAt = updatedAt; self.paidAt = paidAt
        self.staffID = staffID; self.shiftID = shiftID; self.tender = tender; self.cashGiven = cashGiven
    }

    /// How a shift report names the order's tender: `cash`, or the channel of its payment code.
    public var tenderName: String {
        if tender == .cash { return Tender.cash.rawValue }
        return paymentCode.flatMap { ChannelKind(paymentCode: $0)?.rawValue } ?? "unknown"
    }
}

/// Fields a status transition may set; nil leaves a field unchanged.
public struct OrderChange: Equatable, Sendable {
    public var status: OrderStatus
    public var paymentCode: String?
    public var channelTxn: String?
    public var failureReason: String?
    public var failureMessage: String?
    public var paidAt: Int64?
    public init(status: OrderStatus, paymentCode: String? = nil, channelTxn: String? = nil,
                failureReason: String? = nil, failureMessage: String? = nil, paidAt: Int64? = nil) {
        self.status = status; self.paymentCode = paymentCode; self.channelTxn = channelTxn
        self.failureReason = failureReason; self.failureMessage = failureMessage; self.paidAt = paidAt
    }
}

extension OrderRecord {
    /// The order as `change` leaves it, computed in memory the way the stores' compare-and-set writes it
    /// (fields the change leaves nil keep their value). Used to answer with what the channel said when
    /// the order's group cannot record it.
    public func applying(_ change: OrderChange, now: Int64) -> OrderRecord {
        var after = self
        after.status = change.status
        after.paymentCode = change.paymentCode ?? paymentCode
        after.channelTxn = change.channelTxn ?? channelTxn
        after.failureReason = change.failureReason ?? failureReason
        after.failureMessage = change.failureMessage ?? failureMessage
        after.paidAt = change.paidAt ?? paidAt
        after.updatedAt = now
        return after
    }
}

public struct RefundRecord: Equatable, Sendable {
    public var refundNo: RefundNumber
    public var orderNo: OrderNumber
    public var amount: Int64
    public var currency: String
    public var refundRef: String
    public var status: RefundStatus
    /// The supervisor whose PIN allowed it.
    public var staffID: String
    public var reason: String?
    public var createdAt: Int64
    public var completedAt: Int64?
    /// The staff member signed in at the terminal, and their shift (whose reports count the refund).
    public var cashierID: String?
    public var shiftID: String?
    public init(refundNo: RefundNumber, orderNo: OrderNumber, amount: Int64, currency: String, refundRef: String,
                status: RefundStatus, staffID: String, reason: String? = nil, createdAt: Int64, completedAt: Int64? = nil,
                cashierID: String? = nil, shiftID: String? = nil) {
        self.refundNo = refundNo; self.orderNo = orderNo; self.amount = amount; self.currency = currency
        self.refundRef = refundRef; self.status = status; self.staffID = staffID; self.reason = reason
        self.createdAt = createdAt; self.completedAt = completedAt; self.cashierID = cashierID; self.shiftID = shiftID
    }
}

// MARK: - Shifts

/// A staff member as a shift names them (kept as they were when the shift was opened or closed).
public struct ShiftStaff: Equatable, Sendable {
    public var id: String
    public var name: String
    public var role: StaffRole
    public init(id: String, name: String, role: StaffRole) { self.id = id; self.name = name; self.role = role }
}

/// A shift in the base data. Its Z report (JSON, `ShiftReport`) is written once, when it closes.
public struct ShiftRecord: Equatable, Sendable {
    public var id: String
    public var storeID: String
    public var deviceID: String
    public var currency: String
    public var openingFloat: Int64
    public var openedAt: Int64
    public var openedBy: ShiftStaff
    public var closedAt: Int64?
    public var closedBy: ShiftStaff?
    public var countedCash: Int64?
    public var zNumber: Int?
    public var zReport: String?
    public init(id: String, storeID: String, deviceID: String, currency: String, openingFloat: Int64, openedAt: Int64,
                openedBy: ShiftStaff, closedAt: Int64? = nil, closedBy: ShiftStaff? = nil, countedCash: Int64? = nil,
                zNumber: Int? = nil, zReport: String? = nil) {
        self.id = id; self.storeID = storeID; self.deviceID = deviceID; self.currency = currency
        self.openingFloat = openingFloat; self.openedAt = openedAt; self.openedBy = openedBy; self.closedAt = closedAt
        self.closedBy = closedBy; self.countedCash = countedCash; self.zNumber = zNumber; self.zReport = zReport
    }

    public var isOpen: Bool { closedAt == nil }
}

/// What opening a shift did.
public enum ShiftOpening: Equatable, Sendable {
    case opened(ShiftRecord)
    /// The terminal has an open shift already (one at a time): that one.
    case alreadyOpen(ShiftRecord)
}

/// What closing a shift did.
public enum ShiftClosing: Equatable, Sendable {
    /// Closed now, with the next Z number of its store.
    case closed(ShiftRecord)
    /// It was closed before: as it was then (its Z number and report are never made twice).
    case alreadyClosed(ShiftRecord)
    case notFound
}

/// What reserving a refund did.
public enum RefundReservation: Equatable, Sendable {
    /// A new refund row was written and its amount added to the order's refunded amount.
    case reserved(RefundRecord)
    /// A refund with this reference already exists for the order (same amount): the first result.
    case existing(RefundRecord)
    /// This reference exists with a different amount.
    case conflict(RefundRecord)
    /// The order is not paid.
    case orderNotPaid
    /// The refund would take the refunded total above the paid amount.
    case exceedsPaid(remaining: Int64)
    /// The order already has the maximum number of refunds.
    case limitReached
    case orderNotFound
}
