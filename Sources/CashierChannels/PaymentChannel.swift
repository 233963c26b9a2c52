import CashierCore

/// One payment provider as the service sees it: pay with a customer's payment code, ask, cancel,
/// refund, and fetch the day's statement, with every answer in our own terms.
///
/// The order handlers, the sweep of stale payments and reconciliation use only this interface; each
/// provider (`SandboxChannel`, the out-of-process sandbox, WeChat Pay, Alipay) is one adapter. An
/// adapter **throws** when it has no answer it can believe — a timeout, a refused connection, an answer
/// whose signature fails — and the caller treats that as "unknown: ask again later", never as declined.
/// Everything an adapter returns has been verified as coming from the provider.
public protocol PaymentChannel: AnyObject, Sendable {
    /// The channel's configuration name: `sandbox`, `wechatpay`, `alipay`.
    var name: String { get }
    /// How the service paces this channel's payments (poll interval, deadline, earliest reverse).
    var timing: ChannelTiming { get }

    /// Charges `request.paymentCode` for the merchant order `request.outTradeNo`. Idempotent by
    /// `outTradeNo` at the provider: a repeat never charges twice, it answers how the payment stands.
    func pay(_ request: ChannelPayRequest) throws -> ChannelPaymentState
    /// Where the payment for `outTradeNo` stands; `.notFound` when the provider has never seen it.
    func query(outTradeNo: String, now: Int64) throws -> ChannelPaymentState
    /// Cancels the payment for `outTradeNo` (WeChat's reverse, Alipay's cancel): an unpaid one is closed
    /// so that it can never be charged, a paid one's money is returned. Returns once the provider says it
    /// is done; throws if it cannot say so (the caller sends it again later). `payStartedAt` is when the
    /// pay call was made, for providers that refuse an early reverse.
    func reverse(outTradeNo: String, payStartedAt: Int64, now: Int64) throws
    /// Refunds part or all of a paid order under our refund number (idempotent by `refundNo`).
    func refund(_ request: ChannelRefundRequest) throws -> ChannelRefundState
    /// Where the refund `refundNo` of `outTradeNo` stands.
    func queryRefund(refundNo: String, outTradeNo: String, now: Int64) throws -> ChannelRefundState
    /// The provider's statement of one day (`yyyy-MM-dd` in the provider's time zone): every payment
    /// and refund it made for this merchant.
    func statement(day: String) throws -> ChannelStatement
    /// The provider's statement of `day` read from a file the operator has (as the provider serves it for
    /// download, or the adapter's documented form); throws when the bytes are not such a statement, or are
    /// another day's.
    func statement(day: String, fromFile bytes: [UInt8]) throws -> ChannelStatement
    /// Seconds east of UTC of the provider's statement days: a day's statement holds what the provider
    /// did from that day's midnight there to the next.
    var statementUTCOffsetSeconds: Int64 { get }
}

extension PaymentChannel {
    /// China time (UTC+8), where WeChat Pay and Alipay keep their statements; an adapter for a provider
    /// elsewhere says its own.
    public var statementUTCOffsetSeconds: Int64 { 8 * 3_600 }

    /// For adapters without a file form of their statements.
    public func statement(day: String, fromFile bytes: [UInt8]) throws -> ChannelStatement {
        throw ChannelError(.refused, "this channel's statements cannot be read from a file")
    }
}

/// A pay call: the merchant's order number, the amount and the customer's code, together.
public struct ChannelPayRequest: Sendable, Equatable {
    /// Our order number (23 digits): the provider's `out_trade_no`.
    public var outTradeNo: String
    /// Minor units (fen).
    public var amount: Int64
    public var currency: String
    /// The customer's payment code as scanned.
    public var paymentCode: String
    /// What the customer's wallet shows as the purchase (WeChat `body`, Alipay `subject`).
    public var description: String
    /// The store and terminal, for the provider's records (WeChat `device_info`, Alipay `store_id`/`terminal_id`).
    public var storeID: String
    public var deviceID: String
    /// The client's address as the provider wants it (WeChat `spbill_create_ip`).
    public var clientAddress: String
    /// Unix ms.
    public var now: Int64

    public init(outTradeNo: String, amount: Int64, currency: String, paymentCode: String, description: String,
                storeID: String, deviceID: String, clientAddress: String = "127.0.0.1", now: Int64) {
        self.outTradeNo = outTradeNo
        self.amount = amount
        self.currency = currency
        self.paymentCode = paymentCode
        self.description = description
        self.storeID = storeID
        self.deviceID = deviceID
        self.clientAddress = clientAddress
        self.now = now
    }
}

/// How a payment stands, in our terms (docs/CHANNELS.md maps each provider's states to these).
public enum ChannelPaymentState: Equatable, Sendable {
    /// Money taken; `txn` is the provider's transaction id.
    case paid(txn: String)
    /// Waiting for the customer to confirm on the phone (WeChat USERPAYING, Alipay 10003 / WAIT_BUYER_PAY).
    case userConfirming
    /// Refused, nothing charged; `reason` is a stable code of `DeclineReason`.
    case declined(reason: String, message: String)
    /// Cancelled (reversed); any money taken was returned.
    case reversed
    /// The provider answered but does not know yet (WeChat SYSTEMERROR/BANKERROR, Alipay 20000): ask again.
    case unknown
    /// The provider has no payment for this order number.
    case notFound
}

/// A refund call.
public struct ChannelRefundRequest: Sendable, Equatable {
    /// Our refund number (`R…`): the provider's `out_refund_no` / `out_request_no`.
    public var refundNo: String
    public var outTradeNo: String
    /// The order's whole amount (WeChat needs `total_fee`).
    public var orderAmount: Int64
    public var amount: Int64
    public var currency: String
    public var reason: String?
    public var now: Int64

    public init(refundNo: String, outTradeNo: String, orderAmount: Int64, amount: Int64, currency: String,
                reason: String? = nil, now: Int64) {
        self.refundNo = refundNo
        self.outTradeNo = outTradeNo
        self.orderAmount = orderAmount
        self.amount = amount
        self.currency = currency
        self.reason = reason
        self.now = now
    }
}

/// How a refund stands at the provider.
public enum ChannelRefundState: Equatable, Sendable {
    /// The money is on its way back to the customer.
    case succeeded
    /// Accepted but not yet done: ask again (WeChat's PROCESSING; "accepted" is not "refunded").
    case processing
    /// Refused; nothing refunded (`reason` a stable code, e.g. `ORDER_NOT_PAID`, `REFUND_EXCEEDS_PAID`).
    case refused(reason: String, message: String)
    /// The provider has no refund under that number.
    case notFound
}

/// How the service paces one channel's payments; the provider's published rules (docs/CHANNELS.md).
public struct ChannelTiming: Sendable, Equatable {
    /// Ask a payment the customer is confirming no more often than this.
    public var pollIntervalMs: Int64
    /// A payment still undecided this long after the pay call is reversed.
    public var payDeadlineMs: Int64
    /// The provider refuses a reverse sooner than this after the pay call.
    public var earliestReverseMs: Int64

    public init(pollIntervalMs: Int64, payDeadlineMs: Int64, earliestReverseMs: Int64) {
        self.pollIntervalMs = pollIntervalMs
        self.payDeadlineMs = payDeadlineMs
        self.earliestReverseMs = earliestReverseMs
    }
}

/// One day's statement from the provider.
public struct ChannelStatement: Sendable, Equatable {
    public var day: String
    public var lines: [StatementLine]

    public init(day: String, lines: [StatementLine]) {
        self.day = day
        self.lines = lines
    }
}

/// One line of a provider's statement.
public struct StatementLine: Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable {
        /// A payment the provider took.
        case payment
        /// A refund the provider made.
        case refund
    }

    public var kind: Kind
    public var outTradeNo: String
    /// Our refund number, for refunds.
    public var refundNo: String?
    /// Minor units, positive for both kinds.
    public var amount: Int64
    /// The provider's transaction (or refund) id.
    public var providerID: String
    /// Unix ms, as far as the statement says.
    public var time: Int64?

    public init(kind: Kind, outTradeNo: String, refundNo: String? = nil, amount: Int64, providerID: String, time: Int64? = nil) {
        self.kind = kind
        self.outTradeNo = outTradeNo
        self.refundNo = refundNo
        self.amount = amount
        self.providerID = providerID
        self.time = time
    }
}

/// Why an adapter has no answer it can believe. The caller treats every case as "unknown".
public struct ChannelError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable {
        /// Nothing came back (connect failure, timeout, reset): the call may or may not have reached the provider.
        case noAnswer
        /// An answer came back but its signature failed, or it could not be read: ignored.
        case unverifiedAnswer
        /// The provider refused the call itself (bad credentials, bad request): a set-up problem.
        case refused
        /// The call cannot be made now (e.g. a reverse earlier than the provider allows): try again later.
        case notYet
    }

    public var kind: Kind
    /// For logs and operators; never contains a credential.
    public var detail: String

    public init(_ kind: Kind, _ detail: String) {
        self.kind = kind
        self.detail = detail
    }

    public var description: String { "\(kind.rawValue): \(detail)" }
}

/// Days of providers' statements, `yyyy-MM-dd`, in a provider's time zone.
public enum StatementDay {
    /// Unix ms of the day's first moment at `utcOffsetSeconds` east of UTC; nil for a malformed day.
    public static func startMs(_ day: String, utcOffsetSeconds: Int64) -> Int64? {
        let parts = day.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
              let y = Int64(parts[0]), let m = Int64(parts[1]), let d = Int64(parts[2]),
              (1970...9999).contains(y), (1...12).contains(m), (1...daysIn(month: m, year: y)).contains(d) else { return nil }
        return (CivilTime.epochSeconds(year: y, month: m, day: d) - utcOffsetSeconds) * 1_000
    }

    /// The day (`yyyy-MM-dd`) that Unix ms `ms` falls on at `utcOffsetSeconds` east of UTC.
    public static func day(ofMs ms: Int64, utcOffsetSeconds: Int64) -> String {
        let seconds = ms >= 0 ? ms / 1_000 : (ms - 999) / 1_000
        return CivilTime(epochSeconds: seconds + utcOffsetSeconds).dayDisplay
    }

    private static func daysIn(month m: Int64, year y: Int64) -> Int64 {
        switch m {
        case 2: return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }
}

extension ChannelTiming {
    /// Whether a payment under way, last asked of the provider at `lastAskedAtMs`, may be asked again at
    /// `nowMs` (the provider's poll interval; WeChat Pay: about 5 s).
    public func mayAskAgain(lastAskedAtMs: Int64?, nowMs: Int64) -> Bool {
        guard let last = lastAskedAtMs else { return true }
        return nowMs - last >= pollIntervalMs || nowMs < last
    }

    /// Whether a payment claimed at `claimedAtMs` and still undecided at `nowMs` is past the provider's
    /// deadline, after which it is to be reversed (WeChat Pay: 30 s; Alipay: 60 s).
    public func isPastDeadline(claimedAtMs: Int64, nowMs: Int64) -> Bool {
        nowMs - claimedAtMs >= payDeadlineMs
    }
}
