import Foundation

/// Request and response bodies of the service API (JSON, snake_case keys; see docs/PROTOCOL.md).
///
/// Amounts are integers in minor units with a separate `currency`; times are Unix milliseconds.
public enum API {
    /// Paths of the API, in one place.
    public enum Path {
        public static let health = "/healthz"
        public static let metrics = "/metrics"
        public static let openAPI = "/openapi.json"
        public static let activate = "/v1/activate"
        public static let ping = "/v1/ping"
        public static let rotateKey = "/v1/device/rotate-key"
        public static let orders = "/v1/orders"
        public static let sales = "/v1/sales"
        public static let orderNumbers = "/v1/order-numbers"
        public static let staffSignIn = "/v1/staff/sign-in"
        public static func order(_ n: OrderNumber) -> String { "/v1/orders/\(n.digits)" }
        public static func pay(_ n: OrderNumber) -> String { "/v1/orders/\(n.digits)/pay" }
        public static func reverse(_ n: OrderNumber) -> String { "/v1/orders/\(n.digits)/reverse" }
        public static func refunds(_ n: OrderNumber) -> String { "/v1/orders/\(n.digits)/refunds" }
    }

    /// The encoder every JSON body is written with.
    public static func makeEncoder() -> JSONEncoder {
        let e = JSONEncoder()
        e.keyEncodingStrategy = .convertToSnakeCase
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }

    /// The decoder every JSON body is read with.
    public static func makeDecoder() -> JSONDecoder {
        let d = JSONDecoder()
        d.keyDecodingStrategy = .convertFromSnakeCase
        return d
    }

    /// A value as JSON: the wire types (`WireEncodable`) by hand, anything else with `makeEncoder()`;
    /// both give the same bytes.
    public static func encode<T: Encodable>(_ value: T) -> [UInt8] {
        if let wire = value as? any WireEncodable { return wire.wireBytes() }
        // Encoding our own Codable types cannot fail.
        return Array(try! makeEncoder().encode(value))
    }

    /// A value read from JSON: the wire types (`WireDecodable`) by hand, anything else with
    /// `makeDecoder()`; both throw Foundation's `DecodingError`s.
    public static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        if let wire = type as? any WireDecodable.Type {
            return try wire.init(wire: JSONParser.parse(bytes)) as! T
        }
        return try makeDecoder().decode(type, from: Data(bytes))
    }
}

// MARK: - Activation

public struct ActivateRequest: Codable, Equatable, Sendable {
    public var code: String
    public var deviceName: String?
    /// The terminal's Ed25519 public key, 32 bytes as 64 lower-case hex digits. With it the service stores
    /// only this key and answers with `KeyActivationResponse`; without it (terminals from before public
    /// keys) the service makes a shared secret and answers with `ActivateResponse`.
    public var publicKey: String?
    public init(code: String, deviceName: String? = nil, publicKey: String? = nil) {
        self.code = code; self.deviceName = deviceName; self.publicKey = publicKey
    }
}

public struct StoreInfo: Codable, Equatable, Sendable {
    public var storeId: String
    public var storeName: String
    public var merchantId: String
    public var merchantName: String
    public var currency: String
    /// The store's time zone, an IANA name (`Asia/Shanghai`): what people read (screens, receipts) is in
    /// it. Absent from services before store time zones: then UTC.
    public var timeZone: String?
    public init(storeId: String, storeName: String, merchantId: String, merchantName: String, currency: String,
                timeZone: String? = nil) {
        self.storeId = storeId; self.storeName = storeName; self.merchantId = merchantId
        self.merchantName = merchantName; self.currency = currency; self.timeZone = timeZone
    }
}

public struct ActivateResponse: Codable, Equatable, Sendable {
    public var deviceId: String
    /// The device key, 32 bytes as 64 hex characters. Sent once, at activation.
    public var deviceSecret: String
    public var store: StoreInfo
    public init(deviceId: String, deviceSecret: String, store: StoreInfo) {
        self.deviceId = deviceId; self.deviceSecret = deviceSecret; self.store = store
    }
}

/// The answer to an activation that sent a public key: the service keeps no secret for this device.
public struct KeyActivationResponse: Codable, Equatable, Sendable {
    public var deviceId: String
    /// The service's Ed25519 public key, 64 lower-case hex digits: every later answer to this device is
    /// signed with the matching private key.
    public var servicePublicKey: String
    public var store: StoreInfo
    public init(deviceId: String, servicePublicKey: String, store: StoreInfo) {
        self.deviceId = deviceId; self.servicePublicKey = servicePublicKey; self.store = store
    }
}

public struct PingResponse: Codable, Equatable, Sendable {
    public var instance: String
    public var time: Int64
    public var deviceId: String
    public var store: StoreInfo
    /// The service's Ed25519 public key (64 lower-case hex digits), so that a terminal with a shared
    /// secret learns it, in an answer signed with that secret, before it rotates to a key pair.
    public var servicePublicKey: String?
    public init(instance: String, time: Int64, deviceId: String, store: StoreInfo, servicePublicKey: String? = nil) {
        self.instance = instance; self.time = time; self.deviceId = deviceId; self.store = store
        self.servicePublicKey = servicePublicKey
    }
}

// MARK: - Key rotation

/// `POST /v1/device/rotate-key`, signed with the device's current key: from the answer on, only `publicKey` is.
public struct RotateKeyRequest: Codable, Equatable, Sendable {
    /// The new Ed25519 public key, 64 lower-case hex digits.
    public var publicKey: String
    public init(publicKey: String) { self.publicKey = publicKey }
}

/// The answer to a rotation, signed with the key that signed the request (the old one).
public struct RotateKeyResponse: Codable, Equatable, Sendable {
    public var deviceId: String
    /// The service's Ed25519 public key, which signs every answer to the device from now on.
    public var servicePublicKey: String
    public init(deviceId: String, servicePublicKey: String) { self.deviceId = deviceId; self.servicePublicKey = servicePublicKey }
}

// MARK: - Staff

/// `POST /v1/staff/sign-in`: a cashier signs in at the terminal with their staff PIN. Wrong PINs count
/// against the terminal as for refunds (`PIN_INVALID`, then `PIN_LOCKED`).
public struct StaffSignInRequest: Codable, Equatable, Sendable {
    public var pin: String
    public init(pin: String) { self.pin = pin }
}

/// A member of the store's staff as a terminal shows them (never their PIN).
public struct StaffView: Codable, Equatable, Sendable {
    public var staffId: String
    public var name: String
    /// `cashier` or `supervisor`.
    public var role: String
    public var isSupervisor: Bool { role == "supervisor" }
    public init(staffId: String, name: String, role: String) { self.staffId = staffId; self.name = name; self.role = role }
}

public struct StaffSignInResponse: Codable, Equatable, Sendable {
    public var staff: StaffView
    public init(staff: StaffView) { self.staff = staff }
}

// MARK: - Orders

public struct OrderItem: Codable, Equatable, Sendable {
    public var sku: String?
    public var name: String
    public var quantity: Int
    /// Price of one unit, minor units.
    public var unitPrice: Int64
    /// Taken off the line, minor units (0 to quantity × unit price); the receipt shows it.
    public var discount: Int64?
    public init(sku: String? = nil, name: String, quantity: Int, unitPrice: Int64, discount: Int64? = nil) {
        self.sku = sku; self.name = name; self.quantity = quantity; self.unitPrice = unitPrice; self.discount = discount
    }

    /// What the line comes to: quantity × unit price, less its discount.
    public var total: Int64 { unitPrice * Int64(quantity) - (discount ?? 0) }
}

public struct CreateOrderRequest: Codable, Equatable, Sendable {
    /// Total, minor units; when items are given it must equal their sum.
    public var amount: Int64
    public var currency: String?
    public var items: [OrderItem]?
    /// The terminal's own reference for the sale (shown on receipts, searchable).
    public var clientRef: String?
    /// Who rang the sale up (the staff member signed in at the terminal), recorded on the order.
    public var staffId: String?
    /// The shift (`POST /v1/shifts`) the sale belongs to, so its reports count it.
    public var shiftId: String?
    public init(amount: Int64, currency: String? = nil, items: [OrderItem]? = nil, clientRef: String? = nil,
                staffId: String? = nil, shiftId: String? = nil) {
        self.amount = amount; self.currency = currency; self.items = items; self.clientRef = clientRef
        self.staffId = staffId; self.shiftId = shiftId
    }
}

/// How a sale is paid: by the customer's payment code through a channel, or in cash at the till.
public enum Tender: String, Codable, Sendable, CaseIterable {
    case code
    case cash
}

/// Where an order stands.
public enum OrderStatus: String, Codable, Sendable, CaseIterable {
    /// Made, no payment attempted yet.
    case created
    /// A payment is under way: the customer may be confirming, or the channel's answer is unknown.
    case paying
    /// Paid (possibly partly or wholly refunded since; see `refundedAmount`).
    case paid
    /// The channel declined the payment; final.
    case declined
    /// A payment under way was cancelled and any money returned; final.
    case reversed
    /// Cancelled before any payment; final.
    case closed

    /// Whether no further payment state change can happen.
    public var isFinal: Bool { self == .paid || self == .declined || self == .reversed || self == .closed }
}

/// Why a payment under way is not final yet; the terminal polls with `GET /v1/orders/{no}`.
public enum PaymentPending: String, Codable, Sendable {
    /// The customer must confirm on the phone (the channel's USERPAYING): poll every few seconds.
    case userConfirming = "USER_CONFIRMING"
    /// The channel's answer is unknown (system error or no answer): wait a little, then poll.
    case unknown = "UNKNOWN"
}

public struct PayRequest: Codable, Equatable, Sendable {
    public var paymentCode: String
    public init(paymentCode: String) { self.paymentCode = paymentCode }
}

/// Why a payment did not go through, as the channel said it.
public struct PaymentFailure: Codable, Equatable, Sendable {
    /// Channel reason, e.g. `INSUFFICIENT_FUNDS`, `CODE_INVALID`, `CODE_USED`, `EXPIRED`.
    public var reason: String
    public var message: String
    public init(reason: String, message: String) { self.reason = reason; self.message = message }
}

public enum RefundStatus: String, Codable, Sendable {
    /// Accepted and reserved against the order; the channel has not confirmed yet. Retrying with the
    /// same reference completes it.
    case pending
    case succeeded
}

public struct RefundView: Codable, Equatable, Sendable {
    public var refundNo: RefundNumber
    public var orderNo: OrderNumber
    public var amount: Int64
    public var currency: String
    public var refundRef: String
    public var status: RefundStatus
    public var createdAt: Int64
    public init(refundNo: RefundNumber, orderNo: OrderNumber, amount: Int64, currency: String,
                refundRef: String, status: RefundStatus, createdAt: Int64) {
        self.refundNo = refundNo; self.orderNo = orderNo; self.amount = amount; self.currency = currency
        self.refundRef = refundRef; self.status = status; self.createdAt = createdAt
    }
}

public struct OrderView: Codable, Equatable, Sendable {
    public var orderNo: OrderNumber
    public var storeId: String
    public var deviceId: String
    public var amount: Int64
    public var currency: String
    public var status: OrderStatus
    /// Sum of refunds accepted so far, minor units.
    public var refundedAmount: Int64
    public var items: [OrderItem]
    public var clientRef: String?
    public var createdAt: Int64
    public var updatedAt: Int64
    public var paidAt: Int64?
    /// The channel's transaction id once paid.
    public var channelTxn: String?
    public var failure: PaymentFailure?
    /// While `status` is `paying`: why the payment is not final yet.
    public var pending: PaymentPending?
    public var refunds: [RefundView]
    /// How it is paid; absent means `code` (answers of services from before cash).
    public var tender: Tender?
    /// For a cash sale: what the customer handed over, minor units (the change is this minus `amount`).
    public var cashGiven: Int64?
    public var staffId: String?
    public var shiftId: String?

    public init(orderNo: OrderNumber, storeId: String, deviceId: String, amount: Int64, currency: String,
                status: OrderStatus, refundedAmount: Int64 = 0, items: [OrderItem] = [], clientRef: String? = nil,
                createdAt: Int64, updatedAt: Int64, paidAt: Int64? = nil, channelTxn: String? = nil,
                failure: PaymentFailure? = nil, pending: PaymentPending? = nil, refunds: [RefundView] = [],
                tender: Tender? = nil, cashGiven: Int64? = nil, staffId: String? = nil, shiftId: String? = nil) {
        self.orderNo = orderNo; self.storeId = storeId; self.deviceId = deviceId; self.amount = amount
        self.currency = currency; self.status = status; self.refundedAmount = refundedAmount; self.items = items
        self.clientRef = clientRef; self.createdAt = createdAt; self.updatedAt = updatedAt; self.paidAt = paidAt
        self.channelTxn = channelTxn; self.failure = failure; self.pending = pending; self.refunds = refunds
        self.tender = tender; self.cashGiven = cashGiven; self.staffId = staffId; self.shiftId = shiftId
    }

    /// Whether the order was paid in cash.
    public var isCash: Bool { tender == .cash }
    /// For a cash sale, the change handed back.
    public var change: Int64? { cashGiven.map { max(0, $0 - amount) } }

    public var money: Money { Money(minorUnits: amount, currency: currency) }
    public var refundable: Int64 { status == .paid ? amount - refundedAmount : 0 }
}

public struct RefundRequest: Codable, Equatable, Sendable {
    public var amount: Int64
    /// The terminal's own refund reference; a retry with the same reference never refunds twice.
    public var refundRef: String
    /// A supervisor's PIN of the order's store.
    public var pin: String
    public var reason: String?
    /// The staff member signed in at the terminal, and their shift: the refund counts in that shift's reports.
    public var staffId: String?
    public var shiftId: String?
    public init(amount: Int64, refundRef: String, pin: String, reason: String? = nil, staffId: String? = nil, shiftId: String? = nil) {
        self.amount = amount; self.refundRef = refundRef; self.pin = pin; self.reason = reason
        self.staffId = staffId; self.shiftId = shiftId
    }
}

/// The answer to a refund: the refund and the order as it now stands.
public struct RefundResponse: Codable, Equatable, Sendable {
    public var refund: RefundView
    public var order: OrderView
    public init(refund: RefundView, order: OrderView) { self.refund = refund; self.order = order }
}

/// The one-call sale (`POST /v1/sales`): the order, how it is paid and the number the terminal holds
/// for it, in one request. The number makes it idempotent: the same sale sent again (after any failure, to
/// either domain) meets the order it placed, never a second one.
public struct SaleRequest: Codable, Equatable, Sendable {
    /// A number this terminal was given (`POST /v1/order-numbers`, or a sale's answer) and has not used for
    /// another sale; it names the order's group.
    public var orderNo: OrderNumber
    public var amount: Int64
    public var currency: String?
    public var items: [OrderItem]?
    public var clientRef: String?
    /// The customer's payment code; required for `code`, absent for `cash`.
    public var paymentCode: String?
    /// How many fresh numbers the answer should carry for the next sales (0–5).
    public var reserve: Int?
    /// Absent means `code`. A cash sale is paid when it is placed: the cash is in the drawer.
    public var tender: Tender?
    /// For cash: what the customer handed over (at least `amount`), so receipts and reports show the change.
    public var cashGiven: Int64?
    public var staffId: String?
    public var shiftId: String?
    public init(orderNo: OrderNumber, amount: Int64, currency: String? = nil, items: [OrderItem]? = nil, clientRef: String? = nil,
                paymentCode: String?, reserve: Int? = nil, tender: Tender? = nil, cashGiven: Int64? = nil,
                staffId: String? = nil, shiftId: String? = nil) {
        self.orderNo = orderNo; self.amount = amount; self.currency = currency; self.items = items
        self.clientRef = clientRef; self.paymentCode = paymentCode; self.reserve = reserve
        self.tender = tender; self.cashGiven = cashGiven; self.staffId = staffId; self.shiftId = shiftId
    }
}

/// The answer to a one-call sale: the order as it stands, and fresh numbers for the next sales.
public struct SaleResponse: Codable, Equatable, Sendable {
    public var order: OrderView
    public var orderNumbers: [OrderNumber]
    public init(order: OrderView, orderNumbers: [OrderNumber]) { self.order = order; self.orderNumbers = orderNumbers }
}

/// `POST /v1/order-numbers`: numbers for one-call sales, each in a group that takes orders now.
public struct OrderNumbersRequest: Codable, Equatable, Sendable {
    /// 1–20.
    public var count: Int
    public init(count: Int) { self.count = count }
}

public struct OrderNumbersResponse: Codable, Equatable, Sendable {
    public var orderNumbers: [OrderNumber]
    /// Unix ms; a sale with a number given before this minus a day is refused.
    public var validUntil: Int64
    public init(orderNumbers: [OrderNumber], validUntil: Int64) { self.orderNumbers = orderNumbers; self.validUntil = validUntil }
}

/// One row of the store's order list.
public struct OrderSummary: Codable, Equatable, Sendable {
    public var orderNo: OrderNumber
    public var amount: Int64
    public var currency: String
    public var status: OrderStatus
    public var refundedAmount: Int64
    public var createdAt: Int64
    public var deviceId: String
    public init(orderNo: OrderNumber, amount: Int64, currency: String, status: OrderStatus,
                refundedAmount: Int64, createdAt: Int64, deviceId: String) {
        self.orderNo = orderNo; self.amount = amount; self.currency = currency; self.status = status
        self.refundedAmount = refundedAmount; self.createdAt = createdAt; self.deviceId = deviceId
    }
}

public struct OrderListResponse: Codable, Equatable, Sendable {
    /// Newest first.
    public var orders: [OrderSummary]
    /// Pass as `cursor` to get the next page; absent on the last page.
    public var nextCursor: String?
    /// Groups that did not answer: their orders are missing from this page.
    public var unavailableGroups: [Int]
    public init(orders: [OrderSummary], nextCursor: String?, unavailableGroups: [Int]) {
        self.orders = orders; self.nextCursor = nextCursor; self.unavailableGroups = unavailableGroups
    }
}

/// A position in the merged order list: orders strictly older than (createdAt, orderNo).
public struct OrderListCursor: Equatable, Sendable {
    public var createdAt: Int64
    public var orderNo: String
    public init(createdAt: Int64, orderNo: String) { self.createdAt = createdAt; self.orderNo = orderNo }

    /// `<createdAt>.<orderNo>`.
    public var token: String { "\(createdAt).\(orderNo)" }

    public init?(token: String) {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let t = Int64(parts[0]), t >= 0, OrderNumber(String(parts[1])) != nil else { return nil }
        createdAt = t
        orderNo = String(parts[1])
    }
}

// MARK: - Health

public struct GroupHealth: Codable, Equatable, Sendable {
    public var group: Int
    /// Whether new orders go to the group now: configured to take them, not frozen, and its recent
    /// failures below the hopping threshold.
    public var accepting: Bool
    public var recentFailures: Double
    public init(group: Int, accepting: Bool, recentFailures: Double) {
        self.group = group; self.accepting = accepting; self.recentFailures = recentFailures
    }
}

public struct HealthResponse: Codable, Equatable, Sendable {
    /// "ok" when new orders can be taken, "degraded" when some groups are skipped, "down" when none can.
    public var status: String
    public var instance: String
    public var time: Int64
    public var groups: [GroupHealth]
    /// "ok" when the base data takes writes, "unavailable" when it does not (then `status` is "down").
    public var base: String?
    public init(status: String, instance: String, time: Int64, groups: [GroupHealth], base: String? = nil) {
        self.status = status; self.instance = instance; self.time = time; self.groups = groups; self.base = base
    }
}
