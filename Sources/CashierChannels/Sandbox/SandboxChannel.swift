import CashierCore
import Foundation
import SQLite

/// The sandbox channel as the service uses it, in process (`SandboxChannel`) or as a service of its own
/// (`SandboxHTTPChannel`, talking to `cashierd sandbox serve`): a channel whose books reconciliation reads.
public protocol SandboxLedgerChannel: PaymentChannel {
    /// The channel's books as they stand at `now`, for reconciliation with the order data.
    func books(now: Int64) throws -> SandboxChannel.Books
}

/// A sandbox payment channel that behaves like a real micropay channel, with its own ledger.
///
/// The ledger is a database apart from the order data, as a real channel's books are; the drill's
/// reconciliation compares the two. Outcomes are chosen by the payment code (`SandboxScenario`).
/// Like real channels it is idempotent by the merchant's order number (`outTradeNo`): a second pay
/// for the same order never charges again, a payment code is single-use, a reversed order can never
/// be charged afterwards, and a refund number is refunded at most once.
public final class SandboxChannel: SandboxLedgerChannel {
    private let db: Database
    private let settings: Settings

    public let name = ChannelKind.sandbox.rawValue
    /// The terminal's own schedule (poll about every 3 s, reverse at 45 s); the sandbox takes a reverse at once.
    public static let standardTiming = ChannelTiming(pollIntervalMs: 3_000, payDeadlineMs: 45_000, earliestReverseMs: 0)
    public let timing: ChannelTiming

    /// How the sandbox's simulated customers behave.
    public struct Settings: Sendable, Equatable {
        /// How long a customer takes to confirm a USERPAYING payment (scenario 4).
        public var confirmDelayMs: Int64
        /// How long the slow scenario (8) takes to answer.
        public var slowDelayMs: Int64
        /// After this long an unconfirmed payment is closed by the channel.
        public var autoCloseMs: Int64

        public init(confirmDelayMs: Int64 = 6_000, slowDelayMs: Int64 = 3_000, autoCloseMs: Int64 = 180_000) {
            self.confirmDelayMs = confirmDelayMs
            self.slowDelayMs = slowDelayMs
            self.autoCloseMs = autoCloseMs
        }
    }

    /// The ledger's own answer to a pay, before it is put in the interface's terms.
    enum PayAnswer: Equatable, Sendable {
        case paid(txn: String)
        case userPaying
        case declined(reason: String, message: String)
        case systemError
    }

    struct ChannelFailure: Error, CustomStringConvertible {
        var description: String
    }

    /// - Parameter timing: how the service paces this channel's payments (the standard one unless a test
    ///   or a demo wants a shorter deadline).
    public init(path: String, settings: Settings = Settings(), timing: ChannelTiming = SandboxChannel.standardTiming) throws {
        self.timing = timing
        // The sandbox stands in for the provider's own systems, so it does not spend this service's fsyncs:
        // its books survive a crash or kill of cashierd (WAL, synchronous=NORMAL), not a power cut.
        db = try Database(.path(path), options: Database.Options(synchronousFull: false, checkpoints: .inBackground(everyMilliseconds: 1_000)))
        self.settings = settings
        try db.exec("""
            CREATE TABLE IF NOT EXISTS payments (
                out_trade_no TEXT PRIMARY KEY,
                payment_code TEXT,
                amount INTEGER NOT NULL,
                currency TEXT NOT NULL,
                scenario INTEGER NOT NULL,
                status TEXT NOT NULL,          -- USERPAYING, PAID, CLOSED, REVERSED
                txn TEXT,
                reason TEXT,
                created_at INTEGER NOT NULL,
                confirm_at INTEGER,
                updated_at INTEGER NOT NULL
            );
            CREATE UNIQUE INDEX IF NOT EXISTS payments_code ON payments(payment_code) WHERE payment_code IS NOT NULL;
            CREATE TABLE IF NOT EXISTS refunds (
                refund_no TEXT PRIMARY KEY,
                out_trade_no TEXT NOT NULL REFERENCES payments(out_trade_no),
                amount INTEGER NOT NULL,
                created_at INTEGER NOT NULL
            );
            """)
    }

    public func pay(_ request: ChannelPayRequest) throws -> ChannelPaymentState {
        do {
            switch try ledgerPay(outTradeNo: request.outTradeNo, amount: request.amount, currency: request.currency,
                                 code: request.paymentCode, now: request.now) {
            case .paid(let txn): return .paid(txn: txn)
            case .userPaying: return .userConfirming
            case .declined(let reason, let message): return .declined(reason: reason, message: message)
            case .systemError: return .unknown
            }
        } catch {
            throw ChannelError(.noAnswer, "sandbox ledger: \(error)")
        }
    }

    /// Charges `code` for `outTradeNo`, or answers with the state of the existing payment for it.
    func ledgerPay(outTradeNo: String, amount: Int64, currency: String, code: String, now: Int64) throws -> PayAnswer {
        guard let scenario = SandboxScenario(paymentCode: code) else {
            return .declined(reason: DeclineReason.codeInvalid.rawValue, message: DeclineReason.codeInvalid.message)
        }
        if scenario == .slow { Thread.sleep(forTimeInterval: Double(settings.slowDelayMs) / 1000) }
        let answer: PayAnswer = try ledger {
            if let existing = try self.payment(outTradeNo) {
                // Idempotent by order number: never a second charge.
                return self.payAnswer(for: existing, now: now)
            }
            if try self.db.query("SELECT 1 FROM payments WHERE payment_code = ?", [.text(code)], row: { _ in 1 }).first != nil {
                try self.insert(outTradeNo, code: nil, amount: amount, currency: currency, scenario: scenario,
                                status: "CLOSED", reason: "CODE_USED", now: now)
                return .declined(reason: DeclineReason.codeUsed.rawValue, message: DeclineReason.codeUsed.message)
            }
            switch scenario {
            case .paid, .slow, .unknownButPaid:
                try self.insert(outTradeNo, code: code, amount: amount, currency: currency, scenario: scenario, status: "PAID", now: now)
                return scenario == .unknownButPaid ? .systemError : .paid(txn: Self.txn(outTradeNo))
            case .userConfirms, .userNeverConfirms:
                try self.insert(outTradeNo, code: code, amount: amount, currency: currency, scenario: scenario,
                                status: "USERPAYING", confirmAt: scenario == .userConfirms ? now + self.settings.confirmDelayMs : nil, now: now)
                return .userPaying
            case .insufficientFunds:
                try self.insert(outTradeNo, code: code, amount: amount, currency: currency, scenario: scenario,
                                status: "CLOSED", reason: "INSUFFICIENT_FUNDS", now: now)
                return .declined(reason: DeclineReason.insufficientFunds.rawValue, message: DeclineReason.insufficientFunds.message)
            case .unknownNotPaid:
                try self.insert(outTradeNo, code: code, amount: amount, currency: currency, scenario: scenario,
                                status: "CLOSED", reason: "SYSTEM_ERROR", now: now)
                return .systemError
            }
        }
        return answer
    }

    /// Where the payment for `outTradeNo` stands now.
    public func query(outTradeNo: String, now: Int64) throws -> ChannelPaymentState {
        try ledger {
            guard let p = try self.payment(outTradeNo) else { return .notFound }
            let status = try self.settle(p, now: now)
            switch status {
            case "PAID": return .paid(txn: p.txn ?? Self.txn(outTradeNo))
            case "USERPAYING": return .userConfirming
            case "REVERSED": return .reversed
            default:
                let reason = p.reason ?? DeclineReason.orderClosed.rawValue
                return .declined(reason: reason, message: DeclineReason.message(forCode: reason))
            }
        }
    }

    /// Cancels the payment for `outTradeNo`, returning any money taken; marks an unknown order reversed so a
    /// late pay call can never charge it.
    public func reverse(outTradeNo: String, payStartedAt: Int64, now: Int64) throws {
        try ledger {
            if try self.payment(outTradeNo) == nil {
                try self.insert(outTradeNo, code: nil, amount: 0, currency: "", scenario: .paid, status: "REVERSED", now: now)
            } else {
                _ = try self.db.run("UPDATE payments SET status = 'REVERSED', updated_at = ? WHERE out_trade_no = ?",
                                    [.integer(now), .text(outTradeNo)])
            }
        }
    }

    /// Refunds `amount` of a paid order under `refundNo`; a repeat of the same refund number is a no-op.
    public func refund(_ request: ChannelRefundRequest) throws -> ChannelRefundState {
        let (refundNo, outTradeNo, amount, now) = (request.refundNo, request.outTradeNo, request.amount, request.now)
        return try ledger {
            if try self.db.query("SELECT 1 FROM refunds WHERE refund_no = ?", [.text(refundNo)], row: { _ in 1 }).first != nil {
                return .succeeded
            }
            guard let p = try self.payment(outTradeNo), try self.settle(p, now: now) == "PAID" else {
                return .refused(reason: "ORDER_NOT_PAID", message: "order \(outTradeNo) is not paid at the channel")
            }
            let refunded = try self.db.query("SELECT COALESCE(SUM(amount), 0) FROM refunds WHERE out_trade_no = ?",
                                             [.text(outTradeNo)]) { $0.int64(0) }.first ?? 0
            guard refunded + amount <= p.amount else {
                return .refused(reason: "REFUND_EXCEEDS_PAID", message: "the refund exceeds the paid amount at the channel")
            }
            _ = try self.db.run("INSERT INTO refunds (refund_no, out_trade_no, amount, created_at) VALUES (?, ?, ?, ?)",
                                [.text(refundNo), .text(outTradeNo), .integer(amount), .integer(now)])
            return .succeeded
        }
    }

    public func queryRefund(refundNo: String, outTradeNo: String, now: Int64) throws -> ChannelRefundState {
        try ledger {
            try self.db.query("SELECT 1 FROM refunds WHERE refund_no = ? AND out_trade_no = ?",
                              [.text(refundNo), .text(outTradeNo)], row: { _ in 1 }).first != nil ? .succeeded : .notFound
        }
    }

    /// The sandbox keeps its books in UTC: a statement day runs from midnight to midnight UTC.
    public var statementUTCOffsetSeconds: Int64 { 0 }

    /// The payments made and refunds made on `day` (`yyyy-MM-dd`, UTC): payments by the time they were
    /// paid (the confirmation time for a customer who confirmed), refunds by the time they were made.
    public func statement(day: String) throws -> ChannelStatement {
        guard let start = StatementDay.startMs(day, utcOffsetSeconds: 0) else {
            throw ChannelError(.refused, "the day must be yyyy-MM-dd")
        }
        let end = start + 86_400_000
        return try ledger {
            // Confirmations due by the end of the day (or by now, for today) count as paid.
            _ = try self.books(now: min(end, Int64(Date().timeIntervalSince1970 * 1000)))
            return ChannelStatement(day: day, lines: try self.lines(from: start, to: end))
        }
    }

    /// Payments still paid (a payment reversed afterwards gave its money back: it is on no statement) and
    /// refunds made in `[from, to)`.
    private func lines(from: Int64, to: Int64) throws -> [StatementLine] {
        let paid = try db.query("""
            SELECT out_trade_no, amount, txn, updated_at FROM payments
            WHERE status = 'PAID' AND updated_at >= ? AND updated_at < ? ORDER BY updated_at, out_trade_no
            """, [.integer(from), .integer(to)]) {
            StatementLine(kind: .payment, outTradeNo: $0.string(0), amount: $0.int64(1), providerID: $0.string(2), time: $0.int64(3))
        }
        let refunds = try db.query("""
            SELECT refund_no, out_trade_no, amount, created_at FROM refunds
            WHERE created_at >= ? AND created_at < ? ORDER BY created_at, refund_no
            """, [.integer(from), .integer(to)]) {
            StatementLine(kind: .refund, outTradeNo: $0.string(1), refundNo: $0.string(0), amount: $0.int64(2),
                          providerID: "SBXR" + $0.string(0), time: $0.int64(3))
        }
        return paid + refunds
    }

    /// A statement read from a file: the JSON document `statementFile(_:)` writes (docs/OPERATIONS.md,
    /// "Reconciliation"): `{"channel": "sandbox", "day": "yyyy-MM-dd", "lines": [{"kind": "payment" or
    /// "refund", "out_trade_no", "refund_no" (refunds), "amount" (minor units, above 0), "provider_id",
    /// "time" (Unix ms, optional)}]}`.
    public func statement(day: String, fromFile bytes: [UInt8]) throws -> ChannelStatement {
        try Self.readStatementFile(day: day, bytes)
    }

    /// Reads the statement file of the sandbox (in process or as a service: the same document).
    public static func readStatementFile(day: String, _ bytes: [UInt8]) throws -> ChannelStatement {
        let name = ChannelKind.sandbox.rawValue
        guard StatementDay.startMs(day, utcOffsetSeconds: 0) != nil else { throw ChannelError(.refused, "the day must be yyyy-MM-dd") }
        let file: StatementFile
        do {
            file = try JSONDecoder().decode(StatementFile.self, from: Data(bytes))
        } catch {
            throw ChannelError(.unverifiedAnswer, "the sandbox statement file is not its JSON document: \(error)")
        }
        guard file.channel == name else { throw ChannelError(.refused, "the statement file is of channel \(file.channel), not \(name)") }
        guard file.day == day else { throw ChannelError(.refused, "the statement file is the statement of \(file.day), not of \(day)") }
        var lines: [StatementLine] = []
        for (index, line) in file.lines.enumerated() {
            func bad(_ problem: String) -> ChannelError { ChannelError(.unverifiedAnswer, "statement file line \(index + 1): \(problem)") }
            guard let kind = StatementLine.Kind(rawValue: line.kind) else { throw bad("kind is payment or refund, not \(line.kind)") }
            guard !line.outTradeNo.isEmpty else { throw bad("out_trade_no is empty") }
            guard line.amount > 0 else { throw bad("amount must be above 0 (minor units)") }
            if kind == .refund, (line.refundNo ?? "").isEmpty { throw bad("a refund needs its refund_no") }
            lines.append(StatementLine(kind: kind, outTradeNo: line.outTradeNo, refundNo: kind == .refund ? line.refundNo : nil,
                                       amount: line.amount, providerID: line.providerID, time: line.time))
        }
        return ChannelStatement(day: day, lines: lines)
    }

    /// `statement` as the file `statement(day:fromFile:)` reads (keys sorted, one line per key).
    public static func statementFile(_ statement: ChannelStatement) -> [UInt8] {
        let file = StatementFile(channel: ChannelKind.sandbox.rawValue, day: statement.day, lines: statement.lines.map {
            StatementFile.Line(kind: $0.kind.rawValue, outTradeNo: $0.outTradeNo, refundNo: $0.refundNo, amount: $0.amount,
                               providerID: $0.providerID, time: $0.time)
        })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return Array((try? encoder.encode(file)) ?? Data())
    }

    struct StatementFile: Codable {
        var channel: String
        var day: String
        var lines: [Line]

        struct Line: Codable {
            var kind: String
            var outTradeNo: String
            var refundNo: String?
            var amount: Int64
            var providerID: String
            var time: Int64?

            enum CodingKeys: String, CodingKey {
                case kind, outTradeNo = "out_trade_no", refundNo = "refund_no", amount, providerID = "provider_id", time
            }
        }
    }

    /// The channel's books, for reconciliation with the order data.
    public struct Books: Equatable, Sendable {
        /// Paid payments: order number → amount.
        public var paid: [String: Int64]
        /// Refunds: refund number → amount.
        public var refunds: [String: Int64]
        /// Payment codes charged more than once (must always be empty).
        public var doubleCharges: Int
        /// The same payments and refunds as statement lines: the statement of the ledger's whole life.
        public var lines: [StatementLine]
    }

    public func books(now: Int64) throws -> Books {
        try ledger {
            let rows = try self.db.query("SELECT out_trade_no FROM payments WHERE status IN ('PAID', 'USERPAYING')") { $0.string(0) }
            for no in rows { if let p = try self.payment(no) { _ = try self.settle(p, now: now) } }
            let lines = try self.lines(from: Int64.min, to: Int64.max)
            let doubles = try self.db.query("SELECT COUNT(*) FROM (SELECT payment_code FROM payments WHERE status = 'PAID' AND payment_code IS NOT NULL GROUP BY payment_code HAVING COUNT(*) > 1)") { $0.int64(0) }.first ?? 0
            let paid = lines.filter { $0.kind == .payment }.map { ($0.outTradeNo, $0.amount) }
            let refunds = lines.filter { $0.kind == .refund }.map { ($0.refundNo ?? "", $0.amount) }
            return Books(paid: Dictionary(paid, uniquingKeysWith: { a, _ in a }),
                         refunds: Dictionary(refunds, uniquingKeysWith: { a, _ in a }), doubleCharges: Int(doubles), lines: lines)
        }
    }

    // MARK: - Ledger internals

    private struct Payment {
        var outTradeNo: String
        var amount: Int64
        var scenario: SandboxScenario
        var status: String
        var txn: String?
        var reason: String?
        var createdAt: Int64
        var confirmAt: Int64?
    }

    /// Runs `body` in one immediate transaction; any database failure becomes a `ChannelError` (no answer).
    private func ledger<T>(_ body: () throws -> T) throws -> T {
        do {
            return try db.write(body)
        } catch let failure as ChannelError {
            throw failure
        } catch {
            throw ChannelError(.noAnswer, "sandbox ledger: \(error)")
        }
    }

    private func payment(_ outTradeNo: String) throws -> Payment? {
        try db.query("SELECT out_trade_no, amount, scenario, status, txn, reason, created_at, confirm_at FROM payments WHERE out_trade_no = ?",
                     [.text(outTradeNo)]) {
            Payment(outTradeNo: $0.string(0), amount: $0.int64(1), scenario: SandboxScenario(rawValue: Int($0.int64(2))) ?? .paid,
                    status: $0.string(3), txn: $0.optionalString(4), reason: $0.optionalString(5), createdAt: $0.int64(6),
                    confirmAt: $0.optionalInt64(7))
        }.first
    }

    /// Moves a USERPAYING payment on by the clock (confirmed, or closed after the auto-close time).
    private func settle(_ p: Payment, now: Int64) throws -> String {
        guard p.status == "USERPAYING" else { return p.status }
        if let confirmAt = p.confirmAt, now >= confirmAt {
            _ = try db.run("UPDATE payments SET status = 'PAID', txn = ?, updated_at = ? WHERE out_trade_no = ? AND status = 'USERPAYING'",
                           [.text(Self.txn(p.outTradeNo)), .integer(now), .text(p.outTradeNo)])
            return "PAID"
        }
        if now >= p.createdAt + settings.autoCloseMs {
            _ = try db.run("UPDATE payments SET status = 'CLOSED', reason = 'USER_CANCELLED', updated_at = ? WHERE out_trade_no = ? AND status = 'USERPAYING'",
                           [.integer(now), .text(p.outTradeNo)])
            return "CLOSED"
        }
        return "USERPAYING"
    }

    private func insert(_ outTradeNo: String, code: String?, amount: Int64, currency: String, scenario: SandboxScenario,
                        status: String, reason: String? = nil, confirmAt: Int64? = nil, now: Int64) throws {
        _ = try db.run("""
            INSERT INTO payments (out_trade_no, payment_code, amount, currency, scenario, status, txn, reason, created_at, confirm_at, updated_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, [.text(outTradeNo), .text(code), .integer(amount), .text(currency), .integer(Int64(scenario.rawValue)),
                  .text(status), .text(status == "PAID" ? Self.txn(outTradeNo) : nil), .text(reason), .integer(now),
                  .integer(confirmAt), .integer(now)])
    }

    private func payAnswer(for p: Payment, now: Int64) -> PayAnswer {
        let status = (try? settle(p, now: now)) ?? p.status
        switch status {
        case "PAID": return .paid(txn: p.txn ?? Self.txn(p.outTradeNo))
        case "USERPAYING": return .userPaying
        case "REVERSED": return .declined(reason: DeclineReason.orderReversed.rawValue, message: DeclineReason.orderReversed.message)
        default:
            let reason = p.reason ?? DeclineReason.orderClosed.rawValue
            return .declined(reason: reason, message: DeclineReason.message(forCode: reason))
        }
    }

    static func txn(_ outTradeNo: String) -> String { "SBX" + outTradeNo }

}
