import CashierCrypto
import Foundation

/// The sandbox as a service (`cashierd sandbox serve`, docs/SANDBOX.md "The sandbox as a service"):
/// JSON over HTTP(S), one POST per call, written and read here for both sides — the service
/// (CashierService/SandboxService.swift) and its adapter (`SandboxHTTPChannel`).
///
/// Every body is a JSON object with the keys spelled out below (snake case); `now` is the caller's
/// clock (Unix ms), which the ledger uses as the in-process sandbox does.
public enum SandboxWire {
    public static let payPath = "/v1/pay"
    public static let queryPath = "/v1/query"
    public static let reversePath = "/v1/reverse"
    public static let refundPath = "/v1/refund"
    public static let refundQueryPath = "/v1/refund/query"
    public static let statementPath = "/v1/statement"
    public static let booksPath = "/v1/books"

    /// Carries the HMAC of a request (when the service has a secret), and of its answer.
    public static let signatureHeader = "X-Sandbox-Signature"

    // MARK: Requests

    public struct PayBody: Codable, Equatable, Sendable {
        public var outTradeNo: String
        public var amount: Int64
        public var currency: String
        public var paymentCode: String
        public var now: Int64
        enum CodingKeys: String, CodingKey {
            case outTradeNo = "out_trade_no", amount, currency, paymentCode = "payment_code", now
        }
        public init(outTradeNo: String, amount: Int64, currency: String, paymentCode: String, now: Int64) {
            self.outTradeNo = outTradeNo; self.amount = amount; self.currency = currency
            self.paymentCode = paymentCode; self.now = now
        }
    }

    public struct QueryBody: Codable, Equatable, Sendable {
        public var outTradeNo: String
        public var now: Int64
        enum CodingKeys: String, CodingKey { case outTradeNo = "out_trade_no", now }
        public init(outTradeNo: String, now: Int64) { self.outTradeNo = outTradeNo; self.now = now }
    }

    public struct ReverseBody: Codable, Equatable, Sendable {
        public var outTradeNo: String
        public var payStartedAt: Int64
        public var now: Int64
        enum CodingKeys: String, CodingKey { case outTradeNo = "out_trade_no", payStartedAt = "pay_started_at", now }
        public init(outTradeNo: String, payStartedAt: Int64, now: Int64) {
            self.outTradeNo = outTradeNo; self.payStartedAt = payStartedAt; self.now = now
        }
    }

    public struct RefundBody: Codable, Equatable, Sendable {
        public var refundNo: String
        public var outTradeNo: String
        public var orderAmount: Int64
        public var amount: Int64
        public var currency: String
        public var reason: String?
        public var now: Int64
        enum CodingKeys: String, CodingKey {
            case refundNo = "refund_no", outTradeNo = "out_trade_no", orderAmount = "order_amount", amount, currency, reason, now
        }
        public init(_ r: ChannelRefundRequest) {
            refundNo = r.refundNo; outTradeNo = r.outTradeNo; orderAmount = r.orderAmount; amount = r.amount
            currency = r.currency; reason = r.reason; now = r.now
        }
        public var request: ChannelRefundRequest {
            ChannelRefundRequest(refundNo: refundNo, outTradeNo: outTradeNo, orderAmount: orderAmount, amount: amount,
                                 currency: currency, reason: reason, now: now)
        }
    }

    public struct RefundQueryBody: Codable, Equatable, Sendable {
        public var refundNo: String
        public var outTradeNo: String
        public var now: Int64
        enum CodingKeys: String, CodingKey { case refundNo = "refund_no", outTradeNo = "out_trade_no", now }
        public init(refundNo: String, outTradeNo: String, now: Int64) {
            self.refundNo = refundNo; self.outTradeNo = outTradeNo; self.now = now
        }
    }

    public struct StatementBody: Codable, Equatable, Sendable {
        public var day: String
        public init(day: String) { self.day = day }
    }

    public struct BooksBody: Codable, Equatable, Sendable {
        public var now: Int64
        public init(now: Int64) { self.now = now }
    }

    // MARK: Answers

    /// How a payment stands: `state` is `paid` (with `txn`), `user_confirming`, `declined` (with `reason`
    /// and `message`), `reversed`, `unknown` or `not_found`; `out_trade_no` repeats the request's.
    public struct PaymentAnswer: Codable, Equatable, Sendable {
        public var outTradeNo: String
        public var state: String
        public var txn: String?
        public var reason: String?
        public var message: String?
        enum CodingKeys: String, CodingKey { case outTradeNo = "out_trade_no", state, txn, reason, message }

        public init(outTradeNo: String, _ state: ChannelPaymentState) {
            self.outTradeNo = outTradeNo
            switch state {
            case .paid(let txn): self.state = "paid"; self.txn = txn
            case .userConfirming: self.state = "user_confirming"
            case let .declined(reason, message): self.state = "declined"; self.reason = reason; self.message = message
            case .reversed: self.state = "reversed"
            case .unknown: self.state = "unknown"
            case .notFound: self.state = "not_found"
            }
        }

        /// The state in our terms; nil when the answer is not one the protocol has.
        public var paymentState: ChannelPaymentState? {
            switch state {
            case "paid": return txn.flatMap { $0.isEmpty ? nil : .paid(txn: $0) }
            case "user_confirming": return .userConfirming
            case "declined":
                guard let reason, !reason.isEmpty else { return nil }
                return .declined(reason: reason, message: message ?? "")
            case "reversed": return .reversed
            case "unknown": return .unknown
            case "not_found": return .notFound
            default: return nil
            }
        }
    }

    /// The answer to a reverse: `done` is true once the payment can never be charged.
    public struct ReverseAnswer: Codable, Equatable, Sendable {
        public var outTradeNo: String
        public var done: Bool
        enum CodingKeys: String, CodingKey { case outTradeNo = "out_trade_no", done }
        public init(outTradeNo: String, done: Bool) { self.outTradeNo = outTradeNo; self.done = done }
    }

    /// How a refund stands: `state` is `succeeded`, `processing`, `refused` (with `reason`, `message`)
    /// or `not_found`; `refund_no` repeats the request's.
    public struct RefundAnswer: Codable, Equatable, Sendable {
        public var refundNo: String
        public var state: String
        public var reason: String?
        public var message: String?
        enum CodingKeys: String, CodingKey { case refundNo = "refund_no", state, reason, message }

        public init(refundNo: String, _ state: ChannelRefundState) {
            self.refundNo = refundNo
            switch state {
            case .succeeded: self.state = "succeeded"
            case .processing: self.state = "processing"
            case let .refused(reason, message): self.state = "refused"; self.reason = reason; self.message = message
            case .notFound: self.state = "not_found"
            }
        }

        public var refundState: ChannelRefundState? {
            switch state {
            case "succeeded": return .succeeded
            case "processing": return .processing
            case "refused":
                guard let reason, !reason.isEmpty else { return nil }
                return .refused(reason: reason, message: message ?? "")
            case "not_found": return .notFound
            default: return nil
            }
        }
    }

    public struct StatementAnswer: Codable, Equatable, Sendable {
        public struct Line: Codable, Equatable, Sendable {
            /// `payment` or `refund`.
            public var kind: String
            public var outTradeNo: String
            public var refundNo: String?
            public var amount: Int64
            public var providerId: String
            public var time: Int64?
            enum CodingKeys: String, CodingKey {
                case kind, outTradeNo = "out_trade_no", refundNo = "refund_no", amount, providerId = "provider_id", time
            }
        }

        public var day: String
        public var lines: [Line]

        public init(_ statement: ChannelStatement) {
            day = statement.day
            lines = statement.lines.map {
                Line(kind: $0.kind.rawValue, outTradeNo: $0.outTradeNo, refundNo: $0.refundNo, amount: $0.amount,
                     providerId: $0.providerID, time: $0.time)
            }
        }

        /// The statement in our terms; nil when a line's kind is not one we know.
        public var statement: ChannelStatement? {
            var out: [StatementLine] = []
            for line in lines {
                guard let kind = StatementLine.Kind(rawValue: line.kind) else { return nil }
                out.append(StatementLine(kind: kind, outTradeNo: line.outTradeNo, refundNo: line.refundNo, amount: line.amount,
                                         providerID: line.providerId, time: line.time))
            }
            return ChannelStatement(day: day, lines: out)
        }
    }

    /// The ledger's books (`SandboxChannel.Books`) for reconciliation.
    public struct BooksAnswer: Codable, Equatable, Sendable {
        /// Order number → amount of every paid payment.
        public var paid: [String: Int64]
        /// Refund number → amount.
        public var refunds: [String: Int64]
        public var doubleCharges: Int
        /// The same payments and refunds as statement lines (the ledger's whole life).
        public var lines: [StatementAnswer.Line]
        enum CodingKeys: String, CodingKey { case paid, refunds, doubleCharges = "double_charges", lines }

        public init(_ books: SandboxChannel.Books) {
            paid = books.paid; refunds = books.refunds; doubleCharges = books.doubleCharges
            lines = StatementAnswer(ChannelStatement(day: "", lines: books.lines)).lines
        }

        /// The books in our terms; nil when a line's kind is not one we know.
        public var books: SandboxChannel.Books? {
            var answer = StatementAnswer(ChannelStatement(day: "", lines: []))
            answer.lines = lines
            guard let statement = answer.statement else { return nil }
            return SandboxChannel.Books(paid: paid, refunds: refunds, doubleCharges: doubleCharges, lines: statement.lines)
        }
    }

    /// Any answer other than 200: `error` is a `ChannelError.Kind` (`refused`, `noAnswer`, …), `detail` says why.
    public struct ErrorAnswer: Codable, Equatable, Sendable {
        public var error: String
        public var detail: String
        public init(error: String, detail: String) { self.error = error; self.detail = detail }
    }

    // MARK: Coding

    /// A body as JSON (keys sorted, so the bytes are the same every time).
    public static func encode<T: Encodable>(_ value: T) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding these plain structs cannot fail.
        return Array(try! encoder.encode(value))
    }

    /// A body read from JSON; throws when it is not one.
    public static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        try JSONDecoder().decode(type, from: Data(bytes))
    }
}

/// The secret the sandbox service and its adapters share, when they sign (docs/SANDBOX.md "Signing").
///
/// A request carries `X-Sandbox-Signature: hex(HMAC-SHA256(secret, "sandbox-request\n" METHOD "\n" PATH "\n" BODY))`;
/// its answer `hex(HMAC-SHA256(secret, "sandbox-answer\n" REQUEST_SIGNATURE "\n" STATUS "\n" BODY))`, so an
/// answer is bound to the one request it answers and cannot be replayed for another.
public struct SandboxSecret: Sendable, Equatable {
    public let key: [UInt8]

    /// Refused when shorter than 16 bytes.
    public init(key: [UInt8]) throws {
        guard key.count >= 16 else { throw ChannelError(.refused, "the sandbox secret must be at least 16 bytes") }
        self.key = key
    }

    /// The secret is the file's contents without surrounding white space; the file must be owner-only.
    public init(contentsOfFile path: String) throws {
        if let mode = (try? FileManager.default.attributesOfItem(atPath: path))?[.posixPermissions] as? NSNumber,
           mode.intValue & 0o077 != 0 {
            throw ChannelError(.refused, "the sandbox secret file \(path) is readable by others; chmod 600 it")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ChannelError(.refused, "the sandbox secret file \(path) cannot be read")
        }
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        try self.init(key: Array(text.utf8))
    }

    public func requestSignature(method: String, path: String, body: [UInt8]) -> String {
        Hex.encode(Crypto.hmacSHA256(key: key, message: Array("sandbox-request\n\(method)\n\(path)\n".utf8) + body))
    }

    public func answerSignature(requestSignature: String, status: Int, body: [UInt8]) -> String {
        Hex.encode(Crypto.hmacSHA256(key: key, message: Array("sandbox-answer\n\(requestSignature)\n\(status)\n".utf8) + body))
    }

    /// Whether `given` is `expected`, compared in constant time.
    public static func matches(_ given: String?, _ expected: String) -> Bool {
        guard let given else { return false }
        return Crypto.constantTimeEqual(Array(given.lowercased().utf8), Array(expected.utf8))
    }
}
